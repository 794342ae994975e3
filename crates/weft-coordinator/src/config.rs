//! Coordinator configuration: flags and `WEFT_*` environment variables through clap,
//! converted to a validated [`Config`].
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;
use weft_telemetry::LogFormat;

/// weft coordinator: holds definitions and runs, assigns tasks to workers over gRPC.
#[derive(Debug, Parser)]
#[command(name = "weft-coordinator", version, about)]
pub struct Args {
    /// gRPC listen address (WorkflowService, WorkerService, MonitorService, health, reflection).
    #[arg(long, env = "WEFT_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Prometheus /metrics listen address, or `off`.
    #[arg(long, env = "WEFT_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    pub metrics_listen: String,
    /// Interval at which workers send heartbeats (e.g. 1s, 500ms).
    #[arg(long, env = "WEFT_HEARTBEAT_INTERVAL", default_value = "1s")]
    pub heartbeat_interval: String,
    /// A worker silent this long is declared dead and its attempts are re-queued.
    #[arg(long, env = "WEFT_LEASE_TIMEOUT", default_value = "5s")]
    pub lease_timeout: String,
    /// Arrivals after which a waiting task gains one priority level (anti-starvation).
    #[arg(long, env = "WEFT_AGING_STEP", default_value_t = 100)]
    pub aging_step: u32,
    /// Log filter, RUST_LOG syntax. Heartbeat lines are on target `weft::heartbeat`:
    /// `info,weft::heartbeat=off` silences them.
    #[arg(long, env = "WEFT_LOG", default_value = "info")]
    pub log: String,
    /// Log line format: human or json.
    #[arg(long, env = "WEFT_LOG_FORMAT", default_value = "human")]
    pub log_format: String,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub heartbeat_interval: Duration,
    pub lease_timeout: Duration,
    pub aging_step: u32,
    pub log: String,
    pub log_format: LogFormat,
}

/// A flag with a bad value.
#[derive(Debug, thiserror::Error)]
#[error("--{flag}: {problem}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub problem: String,
}

fn err(flag: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { flag, problem: problem.into() }
}

fn duration(flag: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(text).map_err(|e| err(flag, format!("`{text}` is not a duration: {e}")))?;
    if d.is_zero() {
        return Err(err(flag, "must be greater than zero"));
    }
    Ok(d)
}

fn addr(flag: &'static str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|e| err(flag, format!("`{text}` is not an IP:port address: {e}")))
}

impl TryFrom<Args> for Config {
    type Error = ConfigError;
    fn try_from(a: Args) -> Result<Self, ConfigError> {
        let heartbeat_interval = duration("heartbeat-interval", &a.heartbeat_interval)?;
        let lease_timeout = duration("lease-timeout", &a.lease_timeout)?;
        if lease_timeout < heartbeat_interval * 2 {
            return Err(err(
                "lease-timeout",
                format!(
                    "{} must be at least twice --heartbeat-interval ({}), or one late heartbeat kills a worker",
                    humantime::format_duration(lease_timeout),
                    humantime::format_duration(heartbeat_interval)
                ),
            ));
        }
        if a.aging_step == 0 {
            return Err(err("aging-step", "must be at least 1"));
        }
        weft_telemetry::parse_filter(&a.log).map_err(|e| err("log", e.to_string()))?;
        Ok(Config {
            listen: addr("listen", &a.listen)?,
            metrics_listen: match a.metrics_listen.as_str() {
                "off" | "" => None,
                text => Some(addr("metrics-listen", text)?),
            },
            heartbeat_interval,
            lease_timeout,
            aging_step: a.aging_step,
            log_format: a.log_format.parse().map_err(|e: String| err("log-format", e))?,
            log: a.log,
        })
    }
}

impl Config {
    pub fn engine(&self) -> weft_engine::Config {
        weft_engine::Config {
            heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u64,
            lease_timeout_ms: self.lease_timeout.as_millis() as u64,
            aging_step: self.aging_step,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["weft-coordinator"];
        argv.extend_from_slice(extra);
        Config::try_from(Args::parse_from(argv))
    }

    #[test]
    fn defaults_are_valid() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn errors_name_the_flag() {
        assert_eq!(parse(&["--listen", "nowhere"]).unwrap_err().flag, "listen");
        assert_eq!(parse(&["--heartbeat-interval", "soon"]).unwrap_err().flag, "heartbeat-interval");
        let e = parse(&["--heartbeat-interval", "2s", "--lease-timeout", "3s"]).unwrap_err();
        assert_eq!(e.flag, "lease-timeout");
        assert!(e.to_string().contains("twice"));
        assert_eq!(parse(&["--log-format", "xml"]).unwrap_err().flag, "log-format");
        assert_eq!(parse(&["--log", "info,weft=loud"]).unwrap_err().flag, "log");
        assert_eq!(parse(&["--metrics-listen", "off"]).unwrap().metrics_listen, None);
    }
}

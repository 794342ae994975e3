//! Coordinator configuration: flags and `WEFT_*` environment variables through clap,
//! converted to a validated [`Config`].
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// A worker whose connection closed and that is not back within this long loses its
    /// attempts (they run elsewhere) without waiting for the whole lease. At most the lease;
    /// default 400ms or the lease if shorter: a worker whose process died is replaced fast,
    /// and a live one whose connection broke is back well within it (it redials after
    /// 50 to 100 ms); raise it where reconnecting takes longer (a slow TLS path).
    #[arg(long, env = "WEFT_DISCONNECT_GRACE")]
    pub disconnect_grace: Option<String>,
    /// Arrivals after which a waiting task gains one priority level (anti-starvation).
    #[arg(long, env = "WEFT_AGING_STEP", default_value_t = 100)]
    pub aging_step: u32,
    /// Directory of the embedded store (SQLite, `weft.db`), created if missing. `memory`
    /// keeps state in memory only: nothing survives a restart.
    #[arg(long, env = "WEFT_DATA_DIR", default_value = "weft-data")]
    pub data_dir: String,
    /// A shared store for high availability: `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`.
    /// Several coordinators on one database elect one leader under a lease; the others
    /// stand by and take over when it stops renewing. Without it the store is SQLite in
    /// --data-dir, for one coordinator.
    #[arg(long, env = "WEFT_STORE", value_name = "URL", conflicts_with = "data_dir")]
    pub store: Option<String>,
    /// With --store: the address clients and workers reach this coordinator at, told to
    /// them by standbys (host:port). Defaults to --listen unless that is 0.0.0.0 or [::].
    #[arg(long, env = "WEFT_ADVERTISE", value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// With --store: how long the leader's lease lasts without a renewal. A dead leader is
    /// replaced within about this long; the leader renews it four times as often.
    #[arg(long, env = "WEFT_LEADER_LEASE", default_value = "2s")]
    pub leader_lease: String,
    /// `full`: every commit is fsync'd (survives machine crashes). `relaxed`: fsync at
    /// checkpoints only (survives a coordinator crash, not a machine crash); faster.
    #[arg(long, env = "WEFT_DURABILITY", default_value = "full")]
    pub durability: String,
    /// Group commit: after the first change of a group, wait this long for more before the
    /// disk sync. 0ms commits whatever queued during the previous sync (lowest latency).
    #[arg(long, env = "WEFT_COMMIT_WINDOW", default_value = "0ms")]
    pub commit_window: String,
    /// Group commit: most records (tasks, events, runs) in one commit.
    #[arg(long, env = "WEFT_COMMIT_MAX_RECORDS", default_value_t = 50_000)]
    pub commit_max_records: usize,
    /// Finished runs are removed from memory and store after this long.
    #[arg(long, env = "WEFT_RETENTION", default_value = "7d")]
    pub retention: String,
    /// Print what each flag was given and where from (command line, WEFT_* variable,
    /// default) as JSON, then exit: values are parsed, not checked further.
    #[arg(long)]
    pub print_config: bool,
    /// Threads of the async runtime. 1 (the default) serves everything from one thread, the
    /// fastest on small machines; the store's commits always have a thread of their own.
    #[arg(long, env = "WEFT_THREADS", default_value_t = 1)]
    pub threads: usize,
    /// Log filter, RUST_LOG syntax. Heartbeat lines are on target `weft::heartbeat`:
    /// `info,weft::heartbeat=off` silences them.
    #[arg(long, env = "WEFT_LOG", default_value = "info")]
    pub log: String,
    /// Log line format: human or json.
    #[arg(long, env = "WEFT_LOG_FORMAT", default_value = "human")]
    pub log_format: String,
    /// Serve gRPC over TLS with this certificate chain (PEM, leaf first). Reloaded on
    /// SIGHUP and when the file changes; open connections keep theirs.
    #[arg(long, env = "WEFT_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "WEFT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: every client (workers, weftctl, other clients) must present a
    /// certificate signed by this CA (PEM). Reloaded with the certificate.
    #[arg(long, env = "WEFT_TLS_CLIENT_CA", value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plaintext gRPC on an address reachable beyond this machine. Without TLS flags
    /// a coordinator listens in plaintext only on a loopback address unless this is given.
    #[arg(long, env = "WEFT_INSECURE_PLAINTEXT", conflicts_with = "tls_cert")]
    pub insecure_plaintext: bool,
    /// Tokens file: one accepted bearer token a line, hashed (`sha256:<hex> NAME ROLES`;
    /// `weftctl admin token new` makes them). Every request then needs a token with the
    /// method's role; health and reflection stay open. Without it nothing is checked.
    #[arg(long, env = "WEFT_TOKENS", value_name = "FILE")]
    pub tokens: Option<std::path::PathBuf>,
}

/// Where state is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataDir {
    /// In memory only: lost on restart.
    Memory,
    /// SQLite in this directory.
    Path(std::path::PathBuf),
}

/// Several coordinators sharing a PostgreSQL store, one leading (`--store`).
#[derive(Clone, Debug)]
pub struct HaConfig {
    pub url: weft_store_postgres::PgUrl,
    /// Where clients reach this coordinator (`--advertise`).
    pub advertise: String,
    pub lease: Duration,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: DataDir,
    /// `Some`: the PostgreSQL store and leader election, instead of `data_dir`.
    pub ha: Option<HaConfig>,
    pub durability: weft_store_sqlite::Durability,
    pub group_commit: weft_store::GroupCommitConfig,
    pub retention: Duration,
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub heartbeat_interval: Duration,
    pub lease_timeout: Duration,
    pub disconnect_grace: Duration,
    pub aging_step: u32,
    pub threads: usize,
    pub log: String,
    pub log_format: LogFormat,
    /// TLS for the gRPC listener; `None` serves plaintext.
    pub tls: Option<weft_net::tls::ServerTlsFiles>,
    /// Plaintext beyond loopback was asked for (`--insecure-plaintext`).
    pub insecure_plaintext: bool,
    /// Accepted bearer tokens; `None`: requests are not authenticated.
    pub tokens: Option<std::sync::Arc<weft_net::auth::Tokens>>,
    /// The file they came from, read again on SIGHUP and when it changes.
    pub tokens_file: Option<std::path::PathBuf>,
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

/// `host:port`, as told to clients: a name or an address, and a port.
fn advertised(text: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| err("advertise", format!("`{text}` {why}; expected host:port"));
    let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
    port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("has no valid port"))?;
    if host.is_empty() || host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c == '/' || c == ',') {
        return Err(bad("has no valid host"));
    }
    Ok(text.to_string())
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
        let disconnect_grace = match &a.disconnect_grace {
            Some(text) => duration("disconnect-grace", text)?,
            None => Duration::from_millis(400).min(lease_timeout),
        };
        if disconnect_grace > lease_timeout {
            return Err(err("disconnect-grace", "must not be longer than --lease-timeout"));
        }
        if !(1..=256).contains(&a.threads) {
            return Err(err("threads", format!("is {}, must be 1 to 256", a.threads)));
        }
        if a.aging_step == 0 {
            return Err(err("aging-step", "must be at least 1"));
        }
        weft_telemetry::parse_filter(&a.log).map_err(|e| err("log", e.to_string()))?;
        let durability = match a.durability.as_str() {
            "full" => weft_store_sqlite::Durability::Full,
            "relaxed" => weft_store_sqlite::Durability::Relaxed,
            other => return Err(err("durability", format!("unknown mode `{other}`: use `full` or `relaxed`"))),
        };
        let window = humantime::parse_duration(&a.commit_window)
            .map_err(|e| err("commit-window", format!("`{}` is not a duration: {e}", a.commit_window)))?;
        if window > Duration::from_secs(1) {
            return Err(err("commit-window", "at most 1s: every acknowledgement waits for it"));
        }
        if a.commit_max_records == 0 {
            return Err(err("commit-max-records", "must be at least 1"));
        }
        let listen = addr("listen", &a.listen)?;
        let tls = match (a.tls_cert, a.tls_key) {
            (Some(cert), Some(key)) => Some(weft_net::tls::ServerTlsFiles { cert, key, client_ca: a.tls_client_ca }),
            (None, None) if a.tls_client_ca.is_some() => {
                return Err(err("tls-client-ca", "needs --tls-cert and --tls-key"));
            }
            (None, None) => None,
            (Some(_), None) => return Err(err("tls-key", "is needed with --tls-cert")),
            (None, Some(_)) => return Err(err("tls-cert", "is needed with --tls-key")),
        };
        if tls.is_none() && !listen.ip().is_loopback() && !a.insecure_plaintext {
            return Err(err(
                "listen",
                format!(
                    "{listen} is reachable beyond this machine: serve TLS (--tls-cert, --tls-key, and \
                     --tls-client-ca for mutual TLS), or pass --insecure-plaintext to serve plaintext anyway"
                ),
            ));
        }
        let ha = match &a.store {
            None => None,
            Some(url) => {
                let url = weft_store_postgres::PgUrl::parse(url).map_err(|e| err("store", e))?;
                let advertise = match &a.advertise {
                    Some(text) => advertised(text)?,
                    None if listen.ip().is_unspecified() => {
                        return Err(err(
                            "advertise",
                            format!(
                                "is needed with --store when --listen is {listen}: the address others reach this coordinator at"
                            ),
                        ));
                    }
                    None => listen.to_string(),
                };
                let lease = duration("leader-lease", &a.leader_lease)?;
                if lease < Duration::from_millis(200) || lease > Duration::from_secs(60) {
                    return Err(err("leader-lease", "must be between 200ms and 60s"));
                }
                Some(HaConfig { url, advertise, lease })
            }
        };
        if ha.is_none() && a.advertise.is_some() {
            return Err(err("advertise", "is only used with --store (several coordinators)"));
        }
        Ok(Config {
            ha,
            data_dir: match a.data_dir.as_str() {
                "" => return Err(err("data-dir", "must not be empty (use `memory` for no store)")),
                "memory" => DataDir::Memory,
                path => DataDir::Path(path.into()),
            },
            durability,
            group_commit: weft_store::GroupCommitConfig { window, max_records: a.commit_max_records },
            retention: duration("retention", &a.retention)?,
            listen,
            metrics_listen: match a.metrics_listen.as_str() {
                "off" | "" => None,
                text => Some(addr("metrics-listen", text)?),
            },
            heartbeat_interval,
            lease_timeout,
            disconnect_grace,
            aging_step: a.aging_step,
            threads: a.threads,
            log_format: a.log_format.parse().map_err(|e: String| err("log-format", e))?,
            log: a.log,
            tls,
            insecure_plaintext: a.insecure_plaintext,
            tokens: match &a.tokens {
                Some(path) => Some(std::sync::Arc::new(
                    weft_net::auth::Tokens::load(path).map_err(|e| err("tokens", e.to_string()))?,
                )),
                None => None,
            },
            tokens_file: a.tokens.clone(),
        })
    }
}

impl Config {
    /// Once the gRPC listener is bound: an address defaulted from a `--listen` on port 0 is
    /// the port actually bound (standbys must point clients somewhere real).
    pub fn bound(&mut self, grpc: SocketAddr) {
        let listen = self.listen;
        if let Some(ha) = self.ha.as_mut()
            && listen.port() == 0
            && ha.advertise == listen.to_string()
        {
            ha.advertise = grpc.to_string();
        }
    }

    pub fn engine(&self) -> weft_engine::Config {
        weft_engine::Config {
            heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u64,
            lease_timeout_ms: self.lease_timeout.as_millis() as u64,
            aging_step: self.aging_step,
            disconnect_grace_ms: self.disconnect_grace.as_millis() as u64,
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
        assert_eq!(parse(&["--durability", "lax"]).unwrap_err().flag, "durability");
        assert_eq!(parse(&["--commit-window", "5s"]).unwrap_err().flag, "commit-window");
        assert_eq!(parse(&["--retention", "0s"]).unwrap_err().flag, "retention");
        assert_eq!(parse(&["--data-dir", "memory"]).unwrap().data_dir, DataDir::Memory);
        assert_eq!(parse(&["--disconnect-grace", "6s"]).unwrap_err().flag, "disconnect-grace");
        assert_eq!(parse(&["--threads", "0"]).unwrap_err().flag, "threads");
        assert_eq!(parse(&["--listen", "0.0.0.0:7070"]).unwrap_err().flag, "listen");
        assert_eq!(parse(&["--tokens", "/nonexistent/tokens"]).unwrap_err().flag, "tokens");
        assert!(parse(&[]).unwrap().tokens.is_none());
        assert_eq!(parse(&["--store", "mysql://x/y"]).unwrap_err().flag, "store");
        assert_eq!(parse(&["--advertise", "h:1"]).unwrap_err().flag, "advertise");
        let pg = ["--store", "postgres://weft@db:5432/weft"];
        assert_eq!(parse(&[&pg[..], &["--leader-lease", "100ms"]].concat()).unwrap_err().flag, "leader-lease");
        assert_eq!(parse(&[&pg[..], &["--advertise", "h"]].concat()).unwrap_err().flag, "advertise");
        let wide = ["--listen", "0.0.0.0:7070", "--insecure-plaintext"];
        assert_eq!(parse(&[&pg[..], &wide[..]].concat()).unwrap_err().flag, "advertise");
        let c = parse(&[&pg[..], &wide[..], &["--advertise", "coord-1:7070"]].concat()).unwrap();
        let ha = c.ha.unwrap();
        assert_eq!((ha.advertise.as_str(), ha.lease), ("coord-1:7070", Duration::from_secs(2)));
        assert_eq!(parse(&pg).unwrap().ha.unwrap().advertise, "127.0.0.1:7070");
    }

    #[test]
    fn an_advertised_address_defaulted_from_port_0_becomes_the_bound_port() {
        let pg = ["--store", "postgres://weft@db/weft"];
        let mut c = parse(&[&pg[..], &["--listen", "127.0.0.1:0"]].concat()).unwrap();
        c.bound("127.0.0.1:4567".parse().unwrap());
        assert_eq!(c.ha.unwrap().advertise, "127.0.0.1:4567");
        let mut c = parse(&[&pg[..], &["--listen", "127.0.0.1:0", "--advertise", "lb:7070"]].concat()).unwrap();
        c.bound("127.0.0.1:4567".parse().unwrap());
        assert_eq!(c.ha.unwrap().advertise, "lb:7070", "an explicit --advertise stays");
    }

    #[test]
    fn plaintext_beyond_loopback_must_be_asked_for() {
        let e = parse(&["--listen", "0.0.0.0:7070"]).unwrap_err();
        assert!(e.to_string().contains("--insecure-plaintext"), "{e}");
        let c = parse(&["--listen", "0.0.0.0:7070", "--insecure-plaintext"]).unwrap();
        assert!(c.tls.is_none() && c.insecure_plaintext);
        assert!(parse(&["--listen", "[::1]:7070"]).unwrap().tls.is_none());
        let c = parse(&["--listen", "0.0.0.0:7070", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!((tls.cert.to_str(), tls.client_ca), (Some("c.pem"), None));
        let c = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem"]).unwrap();
        assert_eq!(c.tls.unwrap().client_ca.unwrap().to_str(), Some("ca.pem"));
    }

    #[test]
    fn tls_flags_come_in_pairs() {
        for args in [
            &["--tls-cert", "c.pem"][..],
            &["--tls-key", "k.pem"][..],
            &["--tls-client-ca", "ca.pem"][..],
            &["--tls-cert", "c.pem", "--tls-key", "k.pem", "--insecure-plaintext"][..],
        ] {
            let e = Args::try_parse_from(std::iter::once("weft-coordinator").chain(args.iter().copied())).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
    }
}

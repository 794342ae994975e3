//! Logging for weft binaries: `tracing` to stderr, human-readable or JSON, filtered with
//! `RUST_LOG`-style directives (`info,weft::heartbeat=off`); their runtime; and the
//! `--print-config` report ([`config_report`]).
use std::fmt;
use std::str::FromStr;

pub mod config_report;
pub use config_report::config_report;

/// Builds the async runtime of a weft binary. With one thread everything runs on the
/// calling thread: no cross-thread wake-ups, which on a small machine is the fastest for
/// processes that mostly wait on sockets, timers and child processes (measured in
/// BENCHMARKS.md). More threads suit CPU-heavy custom task handlers.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.enable_all().build()
}

/// Target of the one-line-per-heartbeat log. Switch it with `weft::heartbeat=info|off`.
pub const HEARTBEAT_TARGET: &str = "weft::heartbeat";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "human" | "text" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format `{other}`: use `human` or `json`")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid log filter `{filter}`: {reason}")]
    Filter { filter: String, reason: String },
    #[error("logging was already set up")]
    AlreadyInitialised,
}

/// Checks a filter without installing it, so flags can be validated up front.
pub fn parse_filter(filter: &str) -> Result<tracing_subscriber::EnvFilter, Error> {
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map_err(|e| Error::Filter { filter: filter.to_string(), reason: e.to_string() })
}

/// Installs the global subscriber writing to stderr.
pub fn init(filter: &str, format: LogFormat) -> Result<(), Error> {
    let filter = parse_filter(filter)?;
    // Colour only for a person at a terminal: a log file or a collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    result.map_err(|_| Error::AlreadyInitialised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_filters_and_formats() {
        assert!(parse_filter("info,weft::heartbeat=off").is_ok());
        assert!(matches!(parse_filter("info,weft=loud"), Err(Error::Filter { .. })));
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().unwrap_err().contains("xml"));
    }
}

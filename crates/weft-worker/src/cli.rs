//! Flags of the `weft-worker` binary. Every flag has a `WEFT_*` environment variable;
//! errors name the flag, not the config field behind it.
use crate::config::{DEFAULT_COORDINATOR, default_name, default_slots};
use crate::executors::ExecutorOptions;
use crate::{Error, Worker, WorkerConfig};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;
use weft_telemetry::LogFormat;

/// Runs tasks for a weft coordinator. Prints `{"worker_id":..,"name":..}` on stdout once
/// registered; logs go to stderr.
#[derive(Clone, Debug, Parser)]
#[command(name = "weft-worker", version, long_about = None)]
pub struct Args {
    /// Coordinator address, `http://host:port`, `https://host:port` or `host:port`. Several
    /// (comma-separated) are tried in turn.
    #[arg(long = "coordinator", env = "WEFT_COORDINATOR", value_name = "URL", default_value = DEFAULT_COORDINATOR,
        value_delimiter = ',')]
    pub coordinators: Vec<String>,

    /// Connect over TLS, verifying the coordinator's certificate with this CA (PEM).
    /// Addresses are then dialled as https://.
    #[arg(long, env = "WEFT_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// This worker's certificate (PEM), for a coordinator that requires one (mutual TLS).
    /// Read again at every reconnect, so a rotated certificate is picked up.
    #[arg(long, env = "WEFT_TLS_CERT", value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "WEFT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// File holding this worker's bearer token (a token with the `worker` role), for a
    /// coordinator started with --tokens.
    #[arg(long, env = "WEFT_WORKER_TOKEN_FILE", value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,

    /// The bearer token itself. Prefer the environment variable or --token-file: a flag's
    /// value is visible to every user of the machine in the process list.
    #[arg(long, env = "WEFT_WORKER_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print what each flag was given and where from (command line, WEFT_* variable,
    /// default) as JSON, then exit: values are parsed, not checked further.
    #[arg(long)]
    pub print_config: bool,

    /// Threads of the async runtime: 1 (the default) runs everything on one thread, the
    /// fastest for the built-in kinds, which wait on processes, timers and sockets; more
    /// for CPU-heavy custom task handlers.
    #[arg(long, env = "WEFT_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,

    /// Name shown in cluster views [default: HOSTNAME-PID].
    #[arg(long, env = "WEFT_NAME")]
    pub name: Option<String>,

    /// Queues (routing labels) to serve, comma-separated.
    #[arg(long, env = "WEFT_QUEUES", value_name = "A,B", default_value = "default", value_delimiter = ',')]
    pub queues: Vec<String>,

    /// Task kinds to serve, comma-separated [default: every available kind].
    #[arg(long, env = "WEFT_KINDS", value_name = "A,B", value_delimiter = ',')]
    pub kinds: Option<Vec<String>>,

    /// Attempts run at once [default: number of CPUs].
    #[arg(long, env = "WEFT_SLOTS", value_name = "N")]
    pub slots: Option<u32>,

    /// Relative speed of this machine (1.0 = reference), used for placement and estimates.
    #[arg(long, env = "WEFT_SPEED", value_name = "F", default_value_t = 1.0, allow_negative_numbers = true)]
    pub speed: f64,

    /// Serve `shell` tasks: they run any program as this worker's user (or --shell-user).
    #[arg(long, env = "WEFT_ALLOW_SHELL")]
    pub allow_shell: bool,

    /// Variables of this worker's environment that `shell` tasks inherit, besides their own
    /// `env`: names, or prefixes ending in `*` (`LC_*`), comma-separated; '' for none. PATH
    /// is always set (to /usr/local/bin:/usr/bin:/bin when not inherited); WEFT_SECRET_*
    /// variables are never inherited.
    #[arg(long, env = "WEFT_SHELL_ENV_ALLOW", value_name = "A,B", default_value = "PATH", value_delimiter = ',')]
    pub shell_env_allow: Vec<String>,

    /// Run `shell` tasks as this user (its uid and primary group); the worker must run as root.
    #[arg(long, env = "WEFT_SHELL_USER", value_name = "NAME")]
    pub shell_user: Option<String>,

    /// What `http` tasks may reach although it is loopback, private, link-local, multicast,
    /// broadcast, reserved or the coordinator: CIDRs, addresses or host names, comma-separated.
    /// The coordinator's address needs an entry naming it exactly.
    #[arg(long, env = "WEFT_HTTP_ALLOW", value_name = "CIDR|HOST,..", value_delimiter = ',')]
    pub http_allow: Vec<String>,

    /// Directory of secrets that task params reference (`{secret: NAME}`): one file per
    /// secret, named like it. Looked in before the WEFT_SECRET_<NAME> variables.
    #[arg(long, env = "WEFT_SECRETS_DIR", value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,

    /// On SIGTERM or Ctrl-C, how long to let running tasks finish before stopping them.
    #[arg(long, env = "WEFT_DRAIN_GRACE", value_name = "DUR", default_value = "30s",
        value_parser = humantime::parse_duration)]
    pub drain_grace: Duration,

    /// Log filter, e.g. `info` or `info,weft_worker=debug`.
    #[arg(long, env = "WEFT_LOG", value_name = "FILTER", default_value = "info")]
    pub log: String,

    /// Log format: `human` or `json`.
    #[arg(long, env = "WEFT_LOG_FORMAT", value_name = "FORMAT", default_value = "human")]
    pub log_format: LogFormat,
}

impl Args {
    /// The library configuration these flags describe, validated.
    pub fn into_config(self) -> Result<WorkerConfig, Error> {
        let tls = self.tls_ca.map(|ca| weft_net::tls::ClientTls { ca, cert: self.tls_cert, key: self.tls_key });
        let token = match (&self.token_file, self.token.as_deref()) {
            (Some(path), _) => Some(
                weft_net::auth::read_token_file(path)
                    .map_err(|reason| Error::Config { field: "--token-file".into(), reason })?,
            ),
            (None, token) => token.map(String::from),
        };
        let token = weft_net::auth::Bearer::new(token.as_deref())
            .map_err(|reason| Error::Config { field: "--token".into(), reason })?;
        let mut config = WorkerConfig {
            coordinators: self.coordinators,
            tls,
            token,
            name: self.name.unwrap_or_else(default_name),
            queues: self.queues.into_iter().map(|q| q.trim().to_string()).collect(),
            kinds: self.kinds.map(|kinds| kinds.into_iter().map(|k| k.trim().to_string()).collect()),
            slots: self.slots.unwrap_or_else(default_slots),
            speed: self.speed,
            allow_shell: self.allow_shell,
            executors: ExecutorOptions {
                shell_env_allow: non_empty(self.shell_env_allow),
                shell_user: self.shell_user,
                http_allow: non_empty(self.http_allow),
                secrets_dir: self.secrets_dir,
            },
            drain_grace: self.drain_grace,
            ..WorkerConfig::default()
        };
        config.validate().map_err(to_flag)?;
        Ok(config)
    }

    /// A worker serving the built-in kinds these flags allow.
    pub fn into_worker(self) -> Result<Worker, Error> {
        Worker::builder(self.into_config()?).build().map_err(to_flag)
    }
}

/// Trimmed entries of a list flag, empty ones dropped: `--shell-env-allow ''` is no entry.
fn non_empty(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
}

/// Renames config fields to the flags that set them.
fn to_flag(error: Error) -> Error {
    match error {
        Error::Config { field, reason } => {
            let base = field.split('[').next().unwrap_or(&field);
            let flag = match base {
                "coordinators" => "--coordinator",
                "tls_ca" => "--tls-ca",
                "tls_cert" => "--tls-cert",
                "tls_key" => "--tls-key",
                "name" => "--name",
                "queues" => "--queues",
                "kinds" => "--kinds",
                "slots" => "--slots",
                "speed" => "--speed",
                "drain_grace" => "--drain-grace",
                "shell_env_allow" => "--shell-env-allow",
                "shell_user" => "--shell-user",
                "http_allow" => "--http-allow",
                "secrets_dir" => "--secrets-dir",
                _ => return Error::Config { field, reason },
            };
            Error::Config { field: flag.to_string(), reason }
        }
        Error::UnknownKind { kind, .. } => {
            let hint = if kind == weft_model::builtin::SHELL { "; add --allow-shell to serve it" } else { "" };
            Error::Config { field: "--kinds".into(), reason: format!("no executor for kind `{kind}`{hint}") }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("weft-worker").chain(args.iter().copied()))
    }

    fn error(args: &[&str]) -> String {
        parse(args).unwrap().into_worker().unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_lists() {
        let config = parse(&["--coordinator", "a:1,http://b:2", "--queues", "q1, q2", "--slots", "3"])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(config.coordinators, ["http://a:1", "http://b:2"]);
        assert_eq!(config.queues, ["q1", "q2"]);
        assert_eq!(config.slots, 3);
        assert_eq!(config.drain_grace, Duration::from_secs(30));
        assert!(!config.allow_shell);
        assert_eq!(config.executors.shell_env_allow, ["PATH"]);
        assert!(config.executors.http_allow.is_empty() && config.executors.secrets_dir.is_none());
        let config = parse(&["--shell-env-allow", "", "--http-allow", "10.0.0.0/8, billing.internal"])
            .unwrap()
            .into_config()
            .unwrap();
        assert!(config.executors.shell_env_allow.is_empty());
        assert_eq!(config.executors.http_allow, ["10.0.0.0/8", "billing.internal"]);
        let worker = parse(&["--kinds", "noop,sleep"]).unwrap().into_worker().unwrap();
        assert_eq!(worker.kinds(), ["noop", "sleep"]);
    }

    #[test]
    fn errors_name_the_flag() {
        assert!(error(&["--slots", "0"]).starts_with("invalid --slots"));
        assert!(error(&["--speed", "-1"]).starts_with("invalid --speed"));
        assert!(error(&["--queues", "ok,bad queue"]).starts_with("invalid --queues"));
        assert!(error(&["--coordinator", "https://x:1"]).starts_with("invalid --coordinator"));
        assert!(error(&["--name", "a b"]).starts_with("invalid --name"));
        assert!(error(&["--shell-env-allow", "PATH,A=B"]).starts_with("invalid --shell-env-allow"));
        assert!(error(&["--http-allow", "10.0.0.0/40"]).starts_with("invalid --http-allow"));
        assert!(error(&["--secrets-dir", "/nonexistent/weft-secrets"]).starts_with("invalid --secrets-dir"));
        let user = error(&["--allow-shell", "--shell-user", "weft-no-such-user"]);
        assert!(user.starts_with("invalid --shell-user") && user.contains("weft-no-such-user"), "{user}");
        let shell = error(&["--kinds", "shell"]);
        assert!(shell.starts_with("invalid --kinds") && shell.contains("--allow-shell"), "{shell}");
        let missing = error(&["--tls-ca", "/nonexistent/ca.crt"]);
        assert!(missing.starts_with("invalid --tls-ca") && missing.contains("/nonexistent/ca.crt"), "{missing}");
        let clap_error = parse(&["--tls-cert", "w.crt", "--tls-ca", "ca.crt"]).unwrap_err().to_string();
        assert!(clap_error.contains("--tls-key"), "{clap_error}");
        let missing = error(&["--token-file", "/nonexistent/worker.token"]);
        assert!(missing.starts_with("invalid --token-file") && missing.contains("/nonexistent"), "{missing}");
        let clap_error = parse(&["--token-file", "t", "--token", "x"]).unwrap_err().to_string();
        assert!(clap_error.contains("--token"), "{clap_error}");
        let clap_error = parse(&["--drain-grace", "soon"]).unwrap_err().to_string();
        assert!(clap_error.contains("--drain-grace"), "{clap_error}");
        let clap_error = parse(&["--log-format", "xml"]).unwrap_err().to_string();
        assert!(clap_error.contains("--log-format"), "{clap_error}");
    }
}

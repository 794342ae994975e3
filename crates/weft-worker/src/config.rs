//! The library's configuration. The binary's flags convert into it (`cli.rs`); a custom
//! worker fills it in code. [`WorkerConfig::validate`] names the field that is wrong.
use crate::Error;
use std::time::Duration;
use weft_model::WorkerId;
use weft_model::limits::MAX_SLOTS;
use weft_model::validate::check_name;

/// Default coordinator address; dialled as `http://`, or `https://` with TLS settings.
pub const DEFAULT_COORDINATOR: &str = "127.0.0.1:7070";

/// How a worker connects, what it serves and how it leaves.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Coordinator addresses (`http://host:port`, `https://host:port` or `host:port`). The
    /// worker tries them in turn until one accepts its registration, and again after every
    /// lost connection.
    pub coordinators: Vec<String>,
    /// TLS to the coordinators: the CA their certificate must be signed by and, for mutual
    /// TLS, this worker's certificate and key. The files are read again at every connect,
    /// so a worker picks up a rotated certificate when it reconnects. `None`: plaintext.
    pub tls: Option<weft_net::tls::ClientTls>,
    /// The bearer token sent with every call, for a coordinator started with `--tokens`
    /// (it needs the `worker` role). `Bearer::default()` sends none.
    pub token: weft_net::auth::Bearer,
    /// Stable identity for the life of the process; a reconnect reuses it.
    pub worker_id: WorkerId,
    /// Human-friendly name shown in cluster views.
    pub name: String,
    /// Routing labels served.
    pub queues: Vec<String>,
    /// Kinds to serve; `None` serves every registered executor.
    pub kinds: Option<Vec<String>>,
    /// Attempts run at once (1 to `MAX_SLOTS`).
    pub slots: u32,
    /// Relative speed (1.0 = reference machine).
    pub speed: f64,
    /// Registers the `shell` executor. Off by default: it runs arbitrary programs.
    pub allow_shell: bool,
    /// What `shell` tasks inherit and run as, what `http` tasks may reach, and where secrets
    /// referenced by params are found; safe by default.
    pub executors: crate::executors::ExecutorOptions,
    /// How long a draining worker waits for running attempts before it cancels them.
    pub drain_grace: Duration,
    /// Prints `{"worker_id":..,"name":..}` on stdout after the first registration, for
    /// scripts and tests that wait for a worker to be ready.
    pub ready_line: bool,
    /// Reconnect backoff: first delay, doubled up to `reconnect_max`, with jitter.
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    /// Bound on connecting and registering with one coordinator.
    pub connect_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            coordinators: vec![DEFAULT_COORDINATOR.to_string()],
            tls: None,
            token: Default::default(),
            worker_id: WorkerId::new_v7(),
            name: default_name(),
            queues: vec!["default".to_string()],
            kinds: None,
            slots: default_slots(),
            speed: 1.0,
            allow_shell: false,
            executors: Default::default(),
            drain_grace: Duration::from_secs(30),
            ready_line: true,
            reconnect_initial: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl WorkerConfig {
    /// Defaults with one coordinator address.
    pub fn new(coordinator: impl Into<String>) -> Self {
        WorkerConfig { coordinators: vec![coordinator.into()], ..Default::default() }
    }

    /// Checks every field (reading the TLS files, if any) and normalises coordinator
    /// addresses to URLs.
    pub fn validate(&mut self) -> Result<(), Error> {
        if self.coordinators.is_empty() {
            return Err(Error::config("coordinators", "at least one address is needed"));
        }
        let tls = self.tls.is_some();
        for (i, addr) in self.coordinators.iter_mut().enumerate() {
            *addr =
                normalize_address(addr, tls).map_err(|reason| Error::config(format!("coordinators[{i}]"), reason))?;
        }
        if let Some(tls) = &self.tls {
            // Fail at start, naming the file, rather than at every connect.
            tls.load().map_err(|e| Error::config(tls_field(tls, &e), e.to_string()))?;
        }
        check_name(&self.name).map_err(|reason| Error::config("name", reason))?;
        if self.queues.is_empty() {
            return Err(Error::config("queues", "at least one queue is needed"));
        }
        for (i, queue) in self.queues.iter().enumerate() {
            check_name(queue).map_err(|reason| Error::config(format!("queues[{i}]"), reason))?;
        }
        if let Some(kinds) = &self.kinds {
            if kinds.is_empty() {
                return Err(Error::config("kinds", "at least one kind is needed"));
            }
            for (i, kind) in kinds.iter().enumerate() {
                check_name(kind).map_err(|reason| Error::config(format!("kinds[{i}]"), reason))?;
            }
        }
        if !(1..=MAX_SLOTS).contains(&self.slots) {
            return Err(Error::config("slots", format!("{} is not in 1..={MAX_SLOTS}", self.slots)));
        }
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(Error::config("speed", format!("{} is not a finite number above 0", self.speed)));
        }
        if self.reconnect_initial.is_zero() || self.reconnect_max < self.reconnect_initial {
            return Err(Error::config("reconnect_initial", "must be above 0 and at most reconnect_max"));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::config("connect_timeout", "must be above 0"));
        }
        self.executors.validate()?;
        Ok(())
    }
}

/// `<hostname>-<pid>`, so several workers on one host have distinct default names.
pub fn default_name() -> String {
    let host = sysinfo::System::host_name().unwrap_or_default();
    // Host names may hold characters names do not allow (`_` is fine, but not e.g. spaces).
    let host: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '-' }).collect();
    let host = if host.is_empty() { "worker".to_string() } else { host };
    format!("{host}-{}", std::process::id())
}

/// One slot per CPU.
pub fn default_slots() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1).clamp(1, MAX_SLOTS)
}

/// Which TLS setting a file error is about, for the message naming the flag.
fn tls_field(tls: &weft_net::tls::ClientTls, error: &weft_net::tls::TlsError) -> &'static str {
    use weft_net::tls::TlsError;
    match error {
        TlsError::Read { path, .. } | TlsError::File { path, .. } if Some(path) == tls.key.as_ref() => "tls_key",
        TlsError::Read { path, .. } | TlsError::File { path, .. } if Some(path) == tls.cert.as_ref() => "tls_cert",
        TlsError::Read { .. } | TlsError::File { .. } => "tls_ca",
        TlsError::Config(_) => "tls_cert",
    }
}

/// `host:port` becomes `http://host:port`, or `https://host:port` with TLS. A written
/// scheme must agree with the TLS settings: tonic dials `http://` in plaintext whatever
/// its TLS settings, and `https://` needs a CA to verify the coordinator with.
pub(crate) fn normalize_address(addr: &str, tls: bool) -> Result<String, String> {
    let addr = addr.trim();
    if addr.is_empty() {
        return Err("must not be empty".into());
    }
    let scheme = if tls { "https" } else { "http" };
    let url = if addr.contains("://") { addr.to_string() } else { format!("{scheme}://{addr}") };
    if url.starts_with("https://") && !tls {
        return Err(format!("`{addr}`: https:// needs the CA that signed the coordinator's certificate (--tls-ca)"));
    }
    if url.starts_with("http://") && tls {
        return Err(format!("`{addr}`: http:// is plaintext, but TLS settings were given; use https:// or host:port"));
    }
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!("`{addr}` is not an http:// or https:// URL or host:port"));
    }
    let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| format!("`{addr}` is not a valid URL: {e}"))?;
    if endpoint.uri().host().is_none_or(str::is_empty) {
        return Err(format!("`{addr}` has no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_or_refused() {
        assert_eq!(normalize_address("127.0.0.1:7070", false).unwrap(), "http://127.0.0.1:7070");
        assert_eq!(normalize_address("http://coord:7070", false).unwrap(), "http://coord:7070");
        assert!(normalize_address("https://coord:7070", false).unwrap_err().contains("--tls-ca"));
        assert_eq!(normalize_address("127.0.0.1:7070", true).unwrap(), "https://127.0.0.1:7070");
        assert_eq!(normalize_address("https://coord:7070", true).unwrap(), "https://coord:7070");
        assert!(normalize_address("http://coord:7070", true).unwrap_err().contains("plaintext"));
        assert!(normalize_address("ftp://coord", false).is_err());
        assert!(normalize_address("", false).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |f: fn(&mut WorkerConfig)| {
            let mut c = WorkerConfig::default();
            f(&mut c);
            match c.validate() {
                Err(Error::Config { field, .. }) => field,
                other => panic!("expected a config error, got {other:?}"),
            }
        };
        assert_eq!(bad(|c| c.slots = 0), "slots");
        assert_eq!(bad(|c| c.slots = MAX_SLOTS + 1), "slots");
        assert_eq!(bad(|c| c.speed = f64::NAN), "speed");
        assert_eq!(bad(|c| c.speed = 0.0), "speed");
        assert_eq!(bad(|c| c.queues = vec!["ok".into(), "not ok".into()]), "queues[1]");
        assert_eq!(bad(|c| c.kinds = Some(vec![])), "kinds");
        assert_eq!(bad(|c| c.coordinators = vec!["https://x:1".into()]), "coordinators[0]");
        assert_eq!(bad(|c| c.name = String::new()), "name");
        let mut good = WorkerConfig::new("localhost:7070");
        good.validate().unwrap();
        assert_eq!(good.coordinators, ["http://localhost:7070"]);
        check_name(&default_name()).unwrap();
    }
}

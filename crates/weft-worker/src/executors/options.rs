//! [`ExecutorOptions`]: what the operator of a worker decides about the built-in executors'
//! reach (the environment and user of `shell` tasks, the addresses `http` tasks may call)
//! and where the worker finds the secrets that task parameters reference.
use super::http::guard;
use super::shell::env;
use crate::Error;
use std::path::PathBuf;

/// Safe defaults: a `shell` task inherits only `PATH` and runs as the worker's user; an
/// `http` task reaches public addresses only; secrets come from `WEFT_SECRET_<NAME>`
/// variables only. Part of [`crate::WorkerConfig`].
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// Variables of the worker's environment a `shell` task inherits besides its own `env`:
    /// names, or prefixes ending in `*` (`LC_*`); empty for none. `PATH` is always set, to
    /// [`SAFE_PATH`](super::SAFE_PATH) when not inherited. `WEFT_SECRET_*` variables are
    /// never inherited, whatever the list says. Default: `PATH`.
    pub shell_env_allow: Vec<String>,
    /// Runs `shell` tasks as this user (its uid and primary group, no supplementary groups).
    /// The worker must run as root to use it. Default: the worker's own user.
    pub shell_user: Option<String>,
    /// What `http` tasks may reach although it is loopback, private (RFC 1918, ULA),
    /// link-local, shared (CGNAT), unspecified, multicast, broadcast or reserved, or the
    /// coordinator's address: CIDRs (`10.1.0.0/16`), addresses (`127.0.0.1`) or host names
    /// (`billing.internal`, matched exactly, whatever it resolves to). The coordinator's
    /// address is reached only when an entry names it exactly (an address, a /32 or /128,
    /// or its host name), never by a wider range. Default: nothing.
    pub http_allow: Vec<String>,
    /// A directory of secrets, one file per secret, named like it (`bank-token`); one
    /// trailing newline is dropped. Looked in before the `WEFT_SECRET_<NAME>` variables.
    pub secrets_dir: Option<PathBuf>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            shell_env_allow: vec!["PATH".to_string()],
            shell_user: None,
            http_allow: Vec::new(),
            secrets_dir: None,
        }
    }
}

impl ExecutorOptions {
    /// Checks every entry; the error names the field (`http_allow[2]`).
    pub(crate) fn validate(&self) -> Result<(), Error> {
        for (i, entry) in self.shell_env_allow.iter().enumerate() {
            env::check_allow_entry(entry).map_err(|reason| Error::config(format!("shell_env_allow[{i}]"), reason))?;
        }
        if let Some(user) = &self.shell_user
            && user.trim().is_empty()
        {
            return Err(Error::config("shell_user", "must not be empty"));
        }
        for (i, entry) in self.http_allow.iter().enumerate() {
            guard::AllowEntry::parse(entry).map_err(|reason| Error::config(format!("http_allow[{i}]"), reason))?;
        }
        if let Some(dir) = &self.secrets_dir
            && !dir.is_dir()
        {
            return Err(Error::config("secrets_dir", format!("`{}` is not a directory", dir.display())));
        }
        Ok(())
    }
}

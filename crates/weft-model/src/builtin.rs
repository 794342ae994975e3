//! Parameters of the built-in task kinds. The coordinator validates them at submission
//! (so a typo fails the request, not the run); workers decode the same structs.
use crate::spec::duration_ms;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const NOOP: &str = "noop";
pub const SLEEP: &str = "sleep";
pub const SHELL: &str = "shell";
pub const HTTP: &str = "http";

/// Every built-in kind.
pub const KINDS: [&str; 4] = [NOOP, SLEEP, SHELL, HTTP];

/// `noop`: succeeds at once. Its result is `result` when given, else null.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoopParams {
    #[serde(default)]
    pub result: serde_json::Value,
}

/// `sleep`: waits, then succeeds with null.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepParams {
    /// "250ms", "5s" or milliseconds.
    #[serde(with = "duration_ms")]
    pub duration: Option<u64>,
}

/// `shell`: runs a program (no shell unless argv names one). Its result is
/// `{"exit_code": N, "stdout": "...", "stderr": "..."}`; a non-zero exit fails the attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellParams {
    /// Program and arguments; must not be empty.
    pub argv: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory; the worker's own when unset.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Captured bytes kept of stdout and of stderr each (default 64 KiB).
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
}

/// `http`: one request. Its result is `{"status": N, "body": "..."}`; a status of 500 or
/// more fails the attempt (retryable), 4xx fails it for good.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpParams {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 30 s).
    #[serde(default, with = "duration_ms")]
    pub timeout: Option<u64>,
    /// Bytes of the response body kept (default 64 KiB).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// Default bound on captured output and bodies.
pub const DEFAULT_CAPTURE_BYTES: usize = 64 * 1024;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Checks the parameters of a built-in kind. `Ok(())` for kinds that are not built in.
pub fn check_params(kind: &str, params: &serde_json::Value) -> Result<(), String> {
    fn decode<T: serde::de::DeserializeOwned>(params: &serde_json::Value) -> Result<T, String> {
        serde_json::from_value(params.clone()).map_err(|e| e.to_string())
    }
    match kind {
        NOOP => decode::<NoopParams>(params).map(drop),
        SLEEP => match decode::<SleepParams>(params)?.duration {
            Some(_) => Ok(()),
            None => Err("missing field `duration`".into()),
        },
        SHELL => {
            let p: ShellParams = decode(params)?;
            if p.argv.is_empty() || p.argv[0].is_empty() {
                return Err("`argv` must name a program".into());
            }
            Ok(())
        }
        HTTP => {
            let p: HttpParams = decode(params)?;
            if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                return Err(format!("`url` must start with http:// or https://, got `{}`", p.url));
            }
            if !METHODS.contains(&p.method.to_ascii_uppercase().as_str()) {
                return Err(format!("`method` must be one of {}, got `{}`", METHODS.join(", "), p.method));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

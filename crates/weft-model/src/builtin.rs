//! Parameters of the built-in task kinds. The coordinator validates them at submission
//! (so a typo fails the request, not the run); workers decode the same structs. Every
//! size and duration is bounded here ([`crate::limits`]), so no task can ask a worker for
//! more than a result can carry or for a wait longer than any run may take.
use crate::limits::{MAX_CAPTURE_BYTES, MAX_HTTP_TIMEOUT_MS, MAX_SLEEP_MS};
use crate::spec::duration_ms;
use crate::validate::echo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const NOOP: &str = "noop";
pub const SLEEP: &str = "sleep";
pub const SHELL: &str = "shell";
pub const HTTP: &str = "http";
/// Not run by a worker: the coordinator starts a registered definition as a child run and
/// the task ends with it (see the engine's `children`).
pub const PROCESS: &str = "process";

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
    /// "250ms", "5s" or milliseconds; 0 succeeds at once; at most [`MAX_SLEEP_MS`].
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
    /// Captured bytes kept of stdout and of stderr each (default 64 KiB, at most
    /// [`MAX_CAPTURE_BYTES`]); 0 keeps none.
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
    /// Request timeout (default 30 s; 1 ms to [`MAX_HTTP_TIMEOUT_MS`]).
    #[serde(default, with = "duration_ms")]
    pub timeout: Option<u64>,
    /// Bytes of the response body kept (default 64 KiB, at most [`MAX_CAPTURE_BYTES`]); 0 keeps none.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

/// `process`: starts `definition` (its `version`, or the latest) as a child run, with
/// `input` (when given) or else the task's inputs (its dependencies' results by name), and
/// succeeds with `{"run_id", "results"}` (the child's last tasks' results) or fails with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessParams {
    pub definition: String,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub input: Option<serde_json::Value>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// Default bound on captured output and bodies.
pub const DEFAULT_CAPTURE_BYTES: usize = 64 * 1024;

/// What a built-in kind's parameters say about how long its task takes, for the cost model:
/// exactly (a sleep's `duration`) or at most (an http request's `timeout`, 30 s by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurationHint {
    pub exact_ms: Option<u64>,
    pub at_most_ms: Option<u64>,
}

/// The [`DurationHint`] of a task of `kind` with `params`; none for other kinds or params
/// that do not decode (validation reports those).
pub fn duration_hint(kind: &str, params: &serde_json::Value) -> DurationHint {
    match kind {
        // Does nothing: as good as instant (a join, a marker), not the cluster's default cost.
        NOOP => DurationHint { exact_ms: Some(0), at_most_ms: None },
        SLEEP => DurationHint {
            exact_ms: serde_json::from_value::<SleepParams>(params.clone()).ok().and_then(|p| p.duration),
            at_most_ms: None,
        },
        HTTP => DurationHint {
            exact_ms: None,
            at_most_ms: params.get("timeout").map_or(Some(DEFAULT_HTTP_TIMEOUT_MS), |_| {
                serde_json::from_value::<HttpParams>(params.clone()).ok().and_then(|p| p.timeout)
            }),
        },
        _ => DurationHint::default(),
    }
}

/// An `http` task's request timeout when its params set none.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 30_000;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Checks the parameters of a built-in kind. `Ok(())` for kinds that are not built in.
/// The message names the parameter (`` `duration` is ... ``).
///
/// A [secret reference](crate::secret) stands for a string whose text is unknown here: it
/// is checked as a placeholder string, and a `url` that is a reference is not checked.
pub fn check_params(kind: &str, params: &serde_json::Value) -> Result<(), String> {
    let url_is_secret = params.get("url").is_some_and(crate::secret::is_reference);
    let placeholders;
    let params = if crate::secret::has_references(params) {
        placeholders = crate::secret::with_placeholders(params);
        &placeholders
    } else {
        params
    };
    fn decode<T: serde::de::DeserializeOwned>(params: &serde_json::Value) -> Result<T, String> {
        serde_json::from_value(params.clone()).map_err(|e| e.to_string())
    }
    fn at_most(name: &str, value: usize, max: usize) -> Result<(), String> {
        if value > max { Err(format!("`{name}` is {value} bytes, at most {max} allowed")) } else { Ok(()) }
    }
    match kind {
        NOOP => decode::<NoopParams>(params).map(drop),
        SLEEP => match decode::<SleepParams>(params)?.duration {
            Some(ms) if ms > MAX_SLEEP_MS => Err(format!("`duration` is {ms} ms, at most {MAX_SLEEP_MS} ms allowed")),
            Some(_) => Ok(()),
            None => Err("missing field `duration`".into()),
        },
        SHELL => {
            let p: ShellParams = decode(params)?;
            if p.argv.is_empty() || p.argv[0].is_empty() {
                return Err("`argv` must name a program".into());
            }
            at_most("max_output_bytes", p.max_output_bytes.unwrap_or(0), MAX_CAPTURE_BYTES)
        }
        HTTP => {
            let p: HttpParams = decode(params)?;
            if !(url_is_secret || p.url.starts_with("http://") || p.url.starts_with("https://")) {
                return Err(format!("`url` must start with http:// or https://, got `{}`", echo(&p.url)));
            }
            if !METHODS.contains(&p.method.to_ascii_uppercase().as_str()) {
                return Err(format!("`method` must be one of {}, got `{}`", METHODS.join(", "), echo(&p.method)));
            }
            if let Some(ms) = p.timeout
                && !(1..=MAX_HTTP_TIMEOUT_MS).contains(&ms)
            {
                return Err(format!("`timeout` is {ms} ms, must be 1 ms to {MAX_HTTP_TIMEOUT_MS} ms"));
            }
            at_most("max_body_bytes", p.max_body_bytes.unwrap_or(0), MAX_CAPTURE_BYTES)
        }
        PROCESS => {
            let p: ProcessParams = decode(params)?;
            crate::validate::check_name(&p.definition).map_err(|e| format!("`definition` {e}"))?;
            match p.version {
                Some(0) => Err("`version` is 0; versions start at 1 (leave it out for the latest)".into()),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    #[test]
    fn a_noop_is_hinted_instant_and_a_sleep_its_duration() {
        assert_eq!(duration_hint(NOOP, &serde_json::json!({})).exact_ms, Some(0));
        assert_eq!(duration_hint(SLEEP, &serde_json::json!({"duration": "250ms"})).exact_ms, Some(250));
        assert_eq!(duration_hint("custom", &serde_json::json!({})), DurationHint::default());
    }
}

//! `http`: one request with reqwest. TLS is rustls with the ring provider (the one tonic
//! uses too; aws-lc is kept out of the build, see STACK.md).
use super::capture::Capture;
use crate::error::error_chain;
use crate::{Error, Executor, Task, TaskError, TaskResult};
use reqwest::Method;
use std::time::Duration;
use weft_model::builtin::{DEFAULT_CAPTURE_BYTES, HttpParams};

/// Request timeout when the task sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `http`: result `{"status": N, "body": "..."}` (plus `"body_truncated": true` when the
/// body went past `max_body_bytes`). 5xx fails retryable, 4xx fails for good, and so do
/// malformed requests; connection errors and timeouts are retryable.
#[derive(Clone, Debug)]
pub struct Http {
    // One client for all attempts: it pools connections.
    client: reqwest::Client,
}

impl Http {
    pub fn new() -> Result<Self, Error> {
        // reqwest is built without a crypto provider; use ring unless the process already
        // chose one (then that one is used, which is what the process wants).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("weft-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::HttpClient(error_chain(&e)))?;
        Ok(Http { client })
    }
}

impl Executor for Http {
    async fn execute(&self, task: Task) -> TaskResult {
        let params: HttpParams = task.params_as()?;
        tokio::select! {
            result = self.request(&params) => result,
            _ = task.cancel.cancelled() => Err(TaskError::retryable("cancelled")),
        }
    }
}

impl Http {
    async fn request(&self, params: &HttpParams) -> TaskResult {
        let method = Method::from_bytes(params.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| TaskError::fatal(format!("invalid params for kind `http`: bad method `{}`", params.method)))?;
        let timeout = params.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        let what = format!("{method} {}", params.url);
        let mut request = self.client.request(method, &params.url).timeout(timeout);
        for (name, value) in &params.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &params.body {
            request = request.body(body.clone());
        }

        let failed = |e: reqwest::Error| classify(&what, timeout, e);
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let mut body = Capture::new(params.max_body_bytes.unwrap_or(DEFAULT_CAPTURE_BYTES));
        // Stop reading once past the bound: the rest would be dropped anyway.
        while !body.truncated() {
            match response.chunk().await.map_err(failed)? {
                Some(chunk) => body.push(&chunk),
                None => break,
            }
        }

        match status {
            500.. => Err(TaskError::retryable(status_message(&what, status, &body))),
            400..=499 => Err(TaskError::fatal(status_message(&what, status, &body))),
            _ => {
                let mut result = serde_json::json!({"status": status, "body": body.text()});
                if body.truncated() {
                    result["body_truncated"] = true.into();
                }
                Ok(result)
            }
        }
    }
}

fn status_message(what: &str, status: u16, body: &Capture) -> String {
    let tail = body.tail_text();
    if tail.is_empty() { format!("{what} answered {status}") } else { format!("{what} answered {status}: {tail}") }
}

/// A request that cannot be built will fail the same way next time; the network may do
/// better.
fn classify(what: &str, timeout: Duration, e: reqwest::Error) -> TaskError {
    if e.is_builder() {
        TaskError::fatal(format!("invalid request {what}: {}", error_chain(&e)))
    } else if e.is_timeout() {
        TaskError::retryable(format!("{what} timed out after {}", humantime::format_duration(timeout)))
    } else if e.is_redirect() {
        TaskError::fatal(format!("{what}: {}", error_chain(&e)))
    } else {
        TaskError::retryable(format!("{what} failed: {}", error_chain(&e)))
    }
}

#[cfg(test)]
mod tests;

//! `http`: one request with reqwest. TLS is rustls with the ring provider (the one tonic
//! uses too; aws-lc is kept out of the build, see STACK.md). Where a request may go is
//! [`guard`]'s business: every address it connects to, redirects included, is checked.
use super::capture::Capture;
use crate::error::error_chain;
use crate::{Error, Executor, Task, TaskError, TaskResult};
use guard::{Guard, GuardedResolver, Refused};
use reqwest::{Method, Url};
use std::sync::Arc;
use std::time::Duration;
use weft_model::builtin::{DEFAULT_CAPTURE_BYTES, HttpParams};

pub(crate) mod guard;

/// Request timeout when the task sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed, each checked like the first URL.
const MAX_REDIRECTS: usize = 10;

/// `http`: result `{"status": N, "body": "..."}` (plus `"body_truncated": true` when the
/// body went past `max_body_bytes`). 5xx fails retryable, 4xx fails for good, and so do
/// malformed requests; connection errors and timeouts are retryable. A target the guard
/// refuses (loopback, private and other non-public addresses, the coordinator) fails for
/// good, naming why.
#[derive(Clone, Debug)]
pub struct Http {
    // One client for all attempts: it pools connections.
    client: reqwest::Client,
    guard: Arc<Guard>,
}

impl Http {
    /// Reaches public addresses only.
    pub fn new() -> Result<Self, Error> {
        Self::with_guard(Guard::default())
    }

    /// Also reaches what `allow` names (see
    /// [`ExecutorOptions::http_allow`](crate::executors::ExecutorOptions::http_allow)), and
    /// never the `coordinators`' addresses unless `allow` names them exactly.
    pub fn with_allow(allow: &[String], coordinators: &[String]) -> Result<Self, Error> {
        let guard = Guard::new(allow, coordinators).map_err(|reason| Error::config("http_allow", reason))?;
        Self::with_guard(guard)
    }

    fn with_guard(guard: Guard) -> Result<Self, Error> {
        // reqwest is built without a crypto provider; use ring unless the process already
        // chose one (then that one is used, which is what the process wants).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = Arc::new(guard);
        let redirects = guard.clone();
        let client = reqwest::Client::builder()
            .user_agent(concat!("weft-worker/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(GuardedResolver(guard.clone()))
            // A proxy would resolve and connect on the client's behalf, past the guard.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(Refused(format!("more than {MAX_REDIRECTS} redirects")));
                }
                match redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            }))
            .build()
            .map_err(|e| Error::HttpClient(error_chain(&e)))?;
        Ok(Http { client, guard })
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
        let url = Url::parse(&params.url).map_err(|e| TaskError::fatal(format!("invalid request {what}: {e}")))?;
        self.guard.refresh_coordinator().await;
        self.guard.check_url(&url).map_err(|refused| TaskError::fatal(format!("{what}: {refused}")))?;
        let mut request = self.client.request(method, url).timeout(timeout);
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
    if let Some(refused) = guard::refusal(&e) {
        TaskError::fatal(format!("{what}: {refused}"))
    } else if e.is_builder() {
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

//! The built-in task kinds. Each decodes its parameters with the `weft-model` struct the
//! coordinator validated them with, so both sides agree on the format.
//!
//! - [`Noop`]: succeeds at once with `params.result`.
//! - [`Sleep`]: waits `duration`, cancellable.
//! - [`Shell`]: runs a program in its own process group, with only the environment the
//!   operator allows; only on workers started with `allow_shell`.
//! - [`Http`]: one HTTP request, to public addresses unless the operator allows more.
//! - [`ExecutorOptions`]: the operator's limits on `shell` and `http`, and the secrets
//!   directory.
//! - `secrets`: secret references in params resolved before a task runs, and their values
//!   masked in what it reports; wraps every executor, built-in or custom.
mod capture;
mod http;
mod noop;
mod options;
pub(crate) mod secrets;
mod shell;
mod sleep;

pub use http::Http;
pub use noop::Noop;
pub use options::ExecutorOptions;
pub use secrets::MASK;
pub use shell::Shell;
pub use shell::env::SAFE_PATH;
pub use sleep::Sleep;

#[cfg(test)]
pub(crate) mod testing {
    //! Builds tasks for executor unit tests.
    use crate::Task;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;
    use weft_proto::pb::AttemptRef;

    pub(crate) fn task(kind: &str, params: serde_json::Value) -> Task {
        let attempt = AttemptRef { run_id: "run".into(), workflow: "wf".into(), task: "t".into(), attempt: 1 };
        Task {
            idempotency_key: attempt.key(),
            attempt,
            kind: kind.into(),
            params,
            inputs: Default::default(),
            run_input: serde_json::Value::Null,
            timeout: None,
            cancel: CancellationToken::new(),
        }
    }

    /// Bounds every executor test, so a hang fails instead of stalling the suite.
    pub(crate) async fn within<F: std::future::Future>(secs: u64, f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(secs), f).await.expect("test timed out")
    }
}

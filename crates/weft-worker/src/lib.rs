//! weft-worker: runs tasks for a weft coordinator.
//!
//! A worker registers on a `WorkerService.Session` stream, receives assignments and
//! cancels on it, runs attempts concurrently up to its slots, and reports heartbeats and
//! task status on a `MonitorService.Report` stream. It reconnects with backoff, keeps
//! running attempts across reconnects, re-sends unacknowledged final statuses, and drains
//! on shutdown.
//!
//! Layout:
//! - [`config`]: [`WorkerConfig`], validated with the field named on error.
//! - `task`: [`Task`], [`TaskError`], the [`Executor`] trait.
//! - [`executors`]: built-in kinds `noop`, `sleep`, `shell` (opt-in), `http`; the operator's
//!   limits on them ([`executors::ExecutorOptions`]); secret references in params, resolved
//!   before a task runs and masked in what it reports.
//! - `worker`: [`Worker`] and [`WorkerBuilder`] (which executors serve which kinds).
//! - `driver`: the event loop that owns all worker state (one task, no locks).
//! - `session`: connecting and registering, the two streams, reconnect backoff.
//! - `runner`: one attempt from assignment to result: timeout, cancellation, size bound.
//! - `reports`: task statuses and the outbox of unacknowledged final ones.
//! - `host`: CPU and memory for heartbeats.
//! - [`cli`]: the `weft-worker` binary's flags, converted into a [`WorkerConfig`].
//!
//! A custom worker:
//!
//! ```no_run
//! # async fn example() -> Result<(), weft_worker::Error> {
//! let config = weft_worker::WorkerConfig::new("127.0.0.1:7070");
//! let worker = weft_worker::Worker::builder(config)
//!     .executor("charge", |task: weft_worker::Task| async move {
//!         Ok(serde_json::json!({ "charged": task.params["amount"] }))
//!     })
//!     .build()?;
//! worker.run(weft_worker::shutdown_signal()).await
//! # }
//! ```

pub mod cli;
pub mod config;
mod driver;
mod error;
pub mod executors;
mod host;
mod reports;
mod runner;
mod session;
mod task;
mod worker;

pub use config::WorkerConfig;
pub use error::Error;
pub use task::{Executor, Task, TaskError, TaskResult};
pub use tokio_util::sync::CancellationToken;
pub use weft_proto::pb::AttemptRef;
pub use worker::{Worker, WorkerBuilder};

/// Completes on Ctrl-C or SIGTERM: pass it to [`Worker::run`] to drain on either.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop the worker");
                std::future::pending::<()>().await;
            }
        }
    };
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM received"),
        _ = interrupt => tracing::info!("Ctrl-C received"),
    }
}

//! A team's own worker: the standard flags and built-in kinds, plus `charge` (a closure)
//! and `refund` (a struct with state).
//!
//! ```text
//! cargo run -p weft-worker --example custom_worker -- --coordinator 127.0.0.1:7070 --queues payments
//! ```
use anyhow::Context;
use clap::Parser;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use weft_worker::{Executor, Task, TaskError, TaskResult, Worker};

#[derive(Deserialize)]
struct ChargeParams {
    amount: u64,
    #[serde(default = "default_currency")]
    currency: String,
}

fn default_currency() -> String {
    "EUR".to_string()
}

/// A struct-based executor: it keeps state across attempts (here a counter; in real life
/// a client or a connection pool).
#[derive(Default)]
struct Refund {
    issued: AtomicU64,
}

impl Executor for Refund {
    async fn execute(&self, task: Task) -> TaskResult {
        // The result of the `charge` task this one depends on, if any.
        let charged = task.inputs.get("charge").and_then(|r| r["charged"].as_u64()).unwrap_or(0);
        // Stop early when the attempt is cancelled or times out.
        if task.cancel.is_cancelled() {
            return Err(TaskError::retryable("cancelled before the refund was issued"));
        }
        let number = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(json!({ "refunded": charged, "refund_number": number }))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = weft_worker::cli::Args::parse();
    weft_telemetry::init(&args.log, args.log_format).context("invalid --log")?;
    let worker = Worker::builder(args.into_config()?)
        .executor("charge", |task: Task| async move {
            let params: ChargeParams = task.params_as()?;
            if params.amount == 0 {
                return Err(TaskError::fatal("`amount` must be above 0"));
            }
            // A real payment API would get `task.idempotency_key`, so a redelivered
            // attempt does not charge twice.
            Ok(json!({ "charged": params.amount, "currency": params.currency, "key": task.idempotency_key }))
        })
        .executor_impl("refund", Refund::default())
        .build()?;
    tracing::info!(kinds = ?worker.kinds(), "custom worker ready to connect");
    worker.run(weft_worker::shutdown_signal()).await?;
    Ok(())
}

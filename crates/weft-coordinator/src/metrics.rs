//! Metric names and descriptions in one place, and the Prometheus /metrics listener.
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::BTreeSet;
use std::sync::Arc;
use weft_engine::{AckOutcome, Engine, EventKind, Liveness, RunEvent};

pub const RUNS_STARTED: &str = "weft_runs_started_total";
pub const RUNS_FINISHED: &str = "weft_runs_finished_total";
pub const TASKS_DISPATCHED: &str = "weft_tasks_dispatched_total";
pub const TASKS_FINISHED: &str = "weft_tasks_finished_total";
pub const TASK_RETRIES: &str = "weft_task_retries_total";
pub const REPORTS: &str = "weft_worker_reports_total";
pub const QUEUE_DEPTH: &str = "weft_queue_depth";
pub const WORKERS: &str = "weft_workers";
pub const RUNS_RUNNING: &str = "weft_runs_running";
pub const ANOMALIES: &str = "weft_anomalies_total";
pub const DISPATCH_LATENCY: &str = "weft_dispatch_latency_seconds";
pub const TASK_DURATION: &str = "weft_task_duration_seconds";
pub const WORKER_LOAD: &str = "weft_worker_load";
pub const WORKER_PENALIZED: &str = "weft_worker_penalized";
pub const GRPC_REQUESTS: &str = "weft_grpc_requests_total";
pub const STORE_COMMIT_SECONDS: &str = "weft_store_commit_seconds";
pub const STORE_COMMIT_RECORDS: &str = "weft_store_commit_records";
pub const STORE_COMMIT_BATCHES: &str = "weft_store_commit_batches";

/// Installs the Prometheus recorder (once per process) and describes every metric.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    describe_counter!(RUNS_STARTED, "Runs started.");
    describe_counter!(RUNS_FINISHED, "Runs finished, by outcome.");
    describe_counter!(TASKS_DISPATCHED, "Attempts assigned to workers.");
    describe_counter!(TASKS_FINISHED, "Tasks finished, by outcome.");
    describe_counter!(TASK_RETRIES, "Attempts that failed or were lost and will be retried.");
    describe_counter!(REPORTS, "Task status reports from workers, by outcome (accepted, duplicate, stale).");
    describe_gauge!(QUEUE_DEPTH, "Ready tasks waiting for a slot, by queue.");
    describe_gauge!(WORKERS, "Workers by liveness.");
    describe_gauge!(RUNS_RUNNING, "Runs not yet finished.");
    describe_counter!(ANOMALIES, "Anomalies found by the monitor, by kind.");
    describe_histogram!(DISPATCH_LATENCY, "Time from a task becoming ready to its assignment, in seconds.");
    describe_histogram!(TASK_DURATION, "Running time of finished attempts, by task kind and outcome, in seconds.");
    describe_gauge!(WORKER_LOAD, "Attempts held / slots, by worker.");
    describe_gauge!(WORKER_PENALIZED, "1 when the worker gets fewer new attempts (slow or failing), by worker.");
    describe_counter!(GRPC_REQUESTS, "gRPC requests handled, by method and status code.");
    describe_histogram!(STORE_COMMIT_SECONDS, "Time of one durable store commit (group), in seconds.");
    describe_histogram!(STORE_COMMIT_RECORDS, "Records written by one store commit.");
    describe_histogram!(STORE_COMMIT_BATCHES, "Driver steps merged into one store commit (group commit).");
    Ok(handle)
}

/// Serves `GET /metrics` in the Prometheus text format on `listener` until `shutdown`.
pub async fn serve(
    handle: PrometheusHandle,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

pub fn run_started() {
    counter!(RUNS_STARTED).increment(1);
}

/// An attempt left for a worker `waited` ms after its task became ready.
pub fn dispatched(waited: Option<i64>) {
    counter!(TASKS_DISPATCHED).increment(1);
    if let Some(ms) = waited {
        histogram!(DISPATCH_LATENCY).record(ms.max(0) as f64 / 1000.0);
    }
}

pub fn task_finished(kind: &str, outcome: &'static str, ms: i64) {
    histogram!(TASK_DURATION, "kind" => kind.to_string(), "outcome" => outcome).record(ms.max(0) as f64 / 1000.0);
}

pub fn anomaly(kind: weft_engine::AnomalyKind) {
    let label = match kind {
        weft_engine::AnomalyKind::LateHeartbeat => "late_heartbeat",
        weft_engine::AnomalyKind::StuckTask => "stuck_task",
        weft_engine::AnomalyKind::QueueBacklog => "queue_backlog",
        weft_engine::AnomalyKind::FailingWorker => "failing_worker",
        weft_engine::AnomalyKind::Recovered => "recovered",
    };
    counter!(ANOMALIES, "kind" => label).increment(1);
}

/// One gRPC request answered with `code`.
pub fn grpc(method: &'static str, code: tonic::Code) {
    counter!(GRPC_REQUESTS, "method" => method, "code" => format!("{code:?}")).increment(1);
}

pub fn report(outcome: AckOutcome) {
    let label = match outcome {
        AckOutcome::Accepted => "accepted",
        AckOutcome::Duplicate => "duplicate",
        AckOutcome::Stale => "stale",
    };
    counter!(REPORTS, "outcome" => label).increment(1);
}

pub fn event(e: &RunEvent) {
    match e.kind {
        EventKind::TaskSucceeded => counter!(TASKS_FINISHED, "outcome" => "succeeded").increment(1),
        EventKind::TaskFailed => counter!(TASKS_FINISHED, "outcome" => "failed").increment(1),
        EventKind::TaskCancelled => counter!(TASKS_FINISHED, "outcome" => "cancelled").increment(1),
        EventKind::TaskRetrying => counter!(TASK_RETRIES).increment(1),
        EventKind::RunSucceeded => counter!(RUNS_FINISHED, "outcome" => "succeeded").increment(1),
        EventKind::RunFailed => counter!(RUNS_FINISHED, "outcome" => "failed").increment(1),
        EventKind::RunCancelled => counter!(RUNS_FINISHED, "outcome" => "cancelled").increment(1),
        _ => {}
    }
}

/// Gauges read off the engine; `seen_queues` remembers queues that once had a depth so
/// that an emptied queue reads 0 rather than its last value.
pub fn gauges(engine: &Engine, seen_queues: &mut BTreeSet<(Arc<str>, i32)>) {
    let depths = engine.queue_depths_by_priority();
    seen_queues.extend(depths.keys().cloned());
    // Every served queue has a depth, 0 included, from the moment a worker serves it.
    seen_queues.extend(engine.workers().flat_map(|w| w.queues.iter().map(|q| (q.clone(), 0))));
    for key in seen_queues.iter() {
        let depth = depths.get(key).copied().unwrap_or(0);
        gauge!(QUEUE_DEPTH, "queue" => key.0.to_string(), "priority" => key.1.to_string()).set(depth as f64);
    }
    for w in engine.workers() {
        let id = w.id.to_string();
        gauge!(WORKER_LOAD, "worker" => id.clone()).set(w.attempts.len() as f64 / f64::from(w.slots.max(1)));
        gauge!(WORKER_PENALIZED, "worker" => id).set(if w.health.penalty.is_some() { 1.0 } else { 0.0 });
    }
    let mut counts = [0usize; 4];
    for w in engine.workers() {
        counts[w.liveness as usize] += 1;
    }
    for (liveness, n) in [Liveness::Live, Liveness::Suspect, Liveness::Dead, Liveness::Draining].iter().zip(counts) {
        let label = format!("{liveness:?}").to_lowercase();
        gauge!(WORKERS, "liveness" => label).set(n as f64);
    }
    gauge!(RUNS_RUNNING).set(engine.run_counts().0 as f64);
}

/// One group commit finished (called on the commit thread).
pub fn commit(stats: weft_store::CommitStats) {
    histogram!(STORE_COMMIT_SECONDS).record(stats.took.as_secs_f64());
    histogram!(STORE_COMMIT_RECORDS).record(stats.records as f64);
    histogram!(STORE_COMMIT_BATCHES).record(stats.batches as f64);
}

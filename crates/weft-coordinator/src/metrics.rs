//! Metric names and descriptions in one place, and the Prometheus /metrics listener.
//!
//! Series labelled by what the cluster names (queues, workers) are bounded: they are not
//! kept in the `metrics` recorder, which never forgets a series, but rebuilt from the engine
//! at every refresh and rendered after the recorder's text ([`cluster_series`]). So a queue
//! or worker that is gone has no series any more, and past [`MAX_QUEUE_SERIES`] queue
//! series or [`MAX_WORKER_SERIES`] workers the rest are summed under the label `other`.
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
pub const AUTH_FAILURES: &str = "weft_auth_failures_total";
pub const LEADER: &str = "weft_coordinator_leader";
pub const ESTIMATE_ERROR: &str = "weft_estimate_error_ratio";
pub const LEADER_CHANGES: &str = "weft_coordinator_leadership_changes_total";

/// Installs the Prometheus recorder (once per process) and describes every metric.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    // Histograms with buckets, not summaries: Prometheus aggregates and takes quantiles of
    // buckets across instances (`histogram_quantile`, as deploy/ queries them).
    use metrics_exporter_prometheus::Matcher;
    const SECONDS: &[f64] =
        &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
    const RATIOS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0];
    const COUNTS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0, 20000.0, 50000.0];
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
        .set_buckets_for_metric(Matcher::Full(STORE_COMMIT_RECORDS.into()), COUNTS)?
        .set_buckets_for_metric(Matcher::Full(STORE_COMMIT_BATCHES.into()), COUNTS)?
        .set_buckets_for_metric(Matcher::Full(ESTIMATE_ERROR.into()), RATIOS)?
        .install_recorder()?;
    describe_counter!(RUNS_STARTED, "Runs started.");
    describe_counter!(RUNS_FINISHED, "Runs finished, by outcome.");
    describe_counter!(TASKS_DISPATCHED, "Attempts assigned to workers.");
    describe_counter!(TASKS_FINISHED, "Tasks finished, by outcome.");
    describe_counter!(TASK_RETRIES, "Attempts that failed or were lost and will be retried.");
    describe_counter!(REPORTS, "Task status reports from workers, by outcome (accepted, duplicate, stale).");
    describe_gauge!(WORKERS, "Workers by liveness.");
    describe_gauge!(RUNS_RUNNING, "Runs not yet finished.");
    describe_counter!(ANOMALIES, "Anomalies found by the monitor, by kind.");
    describe_histogram!(DISPATCH_LATENCY, "Time from a task becoming ready to its assignment, in seconds.");
    describe_histogram!(TASK_DURATION, "Running time of finished attempts, by task kind and outcome, in seconds.");
    describe_counter!(GRPC_REQUESTS, "gRPC requests handled, by method and status code.");
    describe_histogram!(STORE_COMMIT_SECONDS, "Time of one durable store commit (group), in seconds.");
    describe_histogram!(STORE_COMMIT_RECORDS, "Records written by one store commit.");
    describe_histogram!(STORE_COMMIT_BATCHES, "Driver steps merged into one store commit (group commit).");
    describe_histogram!(
        ESTIMATE_ERROR,
        "How far a finished run's predicted finish was from its actual finish, as a share of the run's duration \
         (absolute), by when the prediction was made: checkpoint 0 (the start), 25, 50 or 75 (% of tasks finished)."
    );
    describe_gauge!(LEADER, "1 while this coordinator leads (always, on its own store), 0 while it stands by.");
    describe_counter!(
        LEADER_CHANGES,
        "Times this coordinator started or stopped leading, by direction (led, stepped_down)."
    );
    describe_counter!(
        AUTH_FAILURES,
        "Refused requests and worker messages, by reason: missing_token, bad_token, missing_role (bearer \
         tokens); worker_id_in_use (a registration of a live worker's id without its session secret), \
         bad_session (a report or heartbeat not on the session that registered its worker)."
    );
    // Every coordinator starts as a standby; one on its own store leads at once.
    gauge!(LEADER).set(0.0);
    ENABLED.store(true, Ordering::Relaxed);
    Ok(handle)
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
    counter!(ANOMALIES, "kind" => anomaly_label(kind)).increment(1);
}

/// The snake_case name of an anomaly kind: its metric label and its log field.
pub fn anomaly_label(kind: weft_engine::AnomalyKind) -> &'static str {
    match kind {
        weft_engine::AnomalyKind::LateHeartbeat => "late_heartbeat",
        weft_engine::AnomalyKind::StuckTask => "stuck_task",
        weft_engine::AnomalyKind::QueueBacklog => "queue_backlog",
        weft_engine::AnomalyKind::FailingWorker => "failing_worker",
        weft_engine::AnomalyKind::Recovered => "recovered",
        weft_engine::AnomalyKind::UnservableTask => "unservable_task",
        weft_engine::AnomalyKind::DeadlineAtRisk => "deadline_at_risk",
    }
}

/// One gRPC request answered with `code`.
pub fn grpc(method: &'static str, code: tonic::Code) {
    counter!(GRPC_REQUESTS, "method" => method, "code" => format!("{code:?}")).increment(1);
}

/// A request or worker message refused for who sent it; `reason` is one of the labels
/// [`AUTH_FAILURES`] lists.
pub fn auth_failure(reason: &'static str) {
    counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}

pub fn report(outcome: AckOutcome) {
    let label = match outcome {
        AckOutcome::Accepted => "accepted",
        AckOutcome::Duplicate => "duplicate",
        AckOutcome::Stale => "stale",
    };
    counter!(REPORTS, "outcome" => label).increment(1);
}

/// A run finished: how far off each of its predictions was.
pub fn estimate_errors(predictions: &[weft_engine::predictions::Prediction], created_at: i64, finished_at: i64) {
    for p in predictions {
        let checkpoint = match p.checkpoint {
            0 => "0",
            25 => "25",
            50 => "50",
            _ => "75",
        };
        histogram!(ESTIMATE_ERROR, "checkpoint" => checkpoint).record(p.error(created_at, finished_at).abs());
    }
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

/// Queue series (queue and priority pairs) with a label of their own; the rest go to `other`.
pub const MAX_QUEUE_SERIES: usize = 1_000;
/// Workers with series of their own; the rest go to `other`.
pub const MAX_WORKER_SERIES: usize = 1_000;
/// The label of what is past a cap.
const OTHER: &str = "other";

/// Set once the recorder is installed: without a /metrics listener nothing is built.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The series labelled by the cluster, as last built. A std Mutex: held only to copy or
/// swap the state, never across an await.
static CLUSTER: Mutex<ClusterSeries> = Mutex::new(ClusterSeries { workers: BTreeSet::new(), text: String::new() });

struct ClusterSeries {
    /// Workers that have series of their own (sticky while they are around).
    workers: BTreeSet<weft_model::WorkerId>,
    /// Rendered Prometheus text.
    text: String,
}

/// The cluster-labelled series as Prometheus text, for the /metrics answer.
pub(crate) fn cluster_series() -> String {
    CLUSTER.lock().map(|c| c.text.clone()).unwrap_or_default()
}

/// Gauges read off the engine. `labelled` holds the queue series that have a label of
/// their own, kept from one refresh to the next so that a queue keeps its label while it is
/// around; a queue is around while it has ready tasks or a live worker serves it.
/// This coordinator started (`true`) or stopped leading.
pub fn leading(leads: bool) {
    gauge!(LEADER).set(if leads { 1.0 } else { 0.0 });
    counter!(LEADER_CHANGES, "direction" => if leads { "led" } else { "stepped_down" }).increment(1);
}

pub fn gauges(engine: &Engine, labelled: &mut BTreeSet<(Arc<str>, i32)>) {
    let mut counts = [0usize; 4];
    for w in engine.workers() {
        counts[w.liveness as usize] += 1;
    }
    for (liveness, n) in [Liveness::Live, Liveness::Suspect, Liveness::Dead, Liveness::Draining].iter().zip(counts) {
        let label = format!("{liveness:?}").to_lowercase();
        gauge!(WORKERS, "liveness" => label).set(n as f64);
    }
    gauge!(RUNS_RUNNING).set(engine.run_counts().0 as f64);
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let mut text = String::new();
    queue_depths(engine, labelled, &mut text);
    if let Ok(mut cluster) = CLUSTER.lock() {
        worker_gauges(engine, &mut cluster.workers, &mut text);
        cluster.text = text;
    }
}

fn queue_depths(engine: &Engine, labelled: &mut BTreeSet<(Arc<str>, i32)>, out: &mut String) {
    let mut present: BTreeMap<(Arc<str>, i32), usize> = engine.queue_depths_by_priority().clone();
    // Every served queue has a depth, 0 included, from the moment a live worker serves it.
    for w in engine.workers().filter(|w| w.liveness != Liveness::Dead) {
        for q in &w.queues {
            present.entry((q.clone(), 0)).or_insert(0);
        }
    }
    labelled.retain(|key| present.contains_key(key));
    let mut other: Option<usize> = None;
    family(out, QUEUE_DEPTH, "Ready tasks waiting for a slot, by queue and priority.");
    for (key, depth) in &present {
        if labelled.contains(key) || labelled.len() < MAX_QUEUE_SERIES {
            labelled.insert(key.clone());
            sample(out, QUEUE_DEPTH, &[("queue", &key.0), ("priority", &key.1.to_string())], *depth as f64);
        } else {
            *other.get_or_insert(0) += depth;
        }
    }
    if let Some(depth) = other {
        sample(out, QUEUE_DEPTH, &[("queue", OTHER), ("priority", OTHER)], depth as f64);
    }
}

/// Load and penalty of each worker that is not dead. Past the cap, `other` has the load
/// of the rest together (held / slots) and how many of them are penalized.
fn worker_gauges(engine: &Engine, labelled: &mut BTreeSet<weft_model::WorkerId>, out: &mut String) {
    let around: Vec<_> = engine.workers().filter(|w| w.liveness != Liveness::Dead).collect();
    labelled.retain(|id| around.iter().any(|w| w.id == *id));
    let (mut load, mut penalized) = (String::new(), String::new());
    let (mut held, mut slots, mut other_penalized, mut others) = (0usize, 0u64, 0usize, 0usize);
    for w in &around {
        let is_penalized = w.health.penalty.is_some();
        if labelled.contains(&w.id) || labelled.len() < MAX_WORKER_SERIES {
            labelled.insert(w.id);
            let id = w.id.to_string();
            sample(&mut load, WORKER_LOAD, &[("worker", &id)], w.attempts.len() as f64 / f64::from(w.slots.max(1)));
            sample(&mut penalized, WORKER_PENALIZED, &[("worker", &id)], if is_penalized { 1.0 } else { 0.0 });
        } else {
            others += 1;
            held += w.attempts.len();
            slots += u64::from(w.slots);
            other_penalized += usize::from(is_penalized);
        }
    }
    if others > 0 {
        sample(&mut load, WORKER_LOAD, &[("worker", OTHER)], held as f64 / slots.max(1) as f64);
        sample(&mut penalized, WORKER_PENALIZED, &[("worker", OTHER)], other_penalized as f64);
    }
    family(out, WORKER_LOAD, "Attempts held / slots, by worker.");
    out.push_str(&load);
    family(out, WORKER_PENALIZED, "1 when the worker gets fewer new attempts (slow or failing), by worker.");
    out.push_str(&penalized);
}

/// The HELP and TYPE lines of a gauge family.
fn family(out: &mut String, name: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    out.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{key}=\"");
        // The text format escapes backslash, double quote and line feed in label values.
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    let _ = writeln!(out, "}} {value}");
}

/// One group commit finished (called on the commit thread).
pub fn commit(stats: weft_store::CommitStats) {
    histogram!(STORE_COMMIT_SECONDS).record(stats.took.as_secs_f64());
    histogram!(STORE_COMMIT_RECORDS).record(stats.records as f64);
    histogram!(STORE_COMMIT_BATCHES).record(stats.batches as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_engine::{Config, RunSource, StartRun, WorkerRegistration};
    use weft_model::{ProcessSpec, RunId, TaskSpec, WorkerId, WorkflowSpec};

    fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(&format!("{name}{{"))).collect()
    }

    #[test]
    fn queue_and_worker_series_are_capped_and_gone_with_what_they_describe() {
        ENABLED.store(true, Ordering::Relaxed);
        let mut engine = Engine::new(Config::default());
        for n in 0..(MAX_WORKER_SERIES as u128 + 5) {
            let reg = WorkerRegistration {
                id: WorkerId::from_u128(n + 1),
                session: 1,
                secret: weft_engine::SessionSecret([1; 32]),
                proof: None,
                name: format!("w{n}"),
                queues: vec!["default".into()],
                kinds: vec!["noop".into()],
                slots: 1,
                speed: 1.0,
                version: "test".into(),
                holding: vec![],
            };
            engine.register_worker(reg, 0).unwrap();
        }
        let tasks = (0..1_500)
            .map(|i| {
                let mut t = TaskSpec::new(format!("t{i}"), "noop");
                t.queue = format!("q{i}");
                t
            })
            .collect();
        let workflow = WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None };
        let spec = ProcessSpec::new("p", vec![workflow]);
        let id = RunId::from_u128(7);
        let start = StartRun { id, source: RunSource::Spec(spec), idempotency_key: None, input_json: String::new() };
        engine.start_run(start, 1).unwrap();
        let mut labelled = BTreeSet::new();
        gauges(&engine, &mut labelled);
        let text = cluster_series();
        let depth = series(&text, QUEUE_DEPTH);
        assert_eq!(depth.len(), MAX_QUEUE_SERIES + 1, "1,000 labelled and `other`");
        // `default` (served, empty) and 999 of the run's queues have a label; 501 fold.
        assert!(depth.contains(&r#"weft_queue_depth{queue="default",priority="0"} 0"#));
        assert!(depth.contains(&r#"weft_queue_depth{queue="q0",priority="0"} 1"#));
        assert!(depth.contains(&r#"weft_queue_depth{queue="other",priority="other"} 501"#));
        let load = series(&text, WORKER_LOAD);
        assert_eq!(load.len(), MAX_WORKER_SERIES + 1);
        assert!(load.contains(&r#"weft_worker_load{worker="other"} 0"#), "{:?}", &load[load.len() - 2..]);
        assert_eq!(series(&text, WORKER_PENALIZED).len(), MAX_WORKER_SERIES + 1);

        engine.cancel_run(id, "done", 2).unwrap();
        gauges(&engine, &mut labelled);
        let text = cluster_series();
        assert_eq!(series(&text, QUEUE_DEPTH), vec![r#"weft_queue_depth{queue="default",priority="0"} 0"#]);
        assert_eq!(labelled.len(), 1);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw"), ("b", "1")], 0.5);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\",b=\"1\"} 0.5\n");
    }
}

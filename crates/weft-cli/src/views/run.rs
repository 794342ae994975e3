//! Runs, tasks and definitions as JSON views and tables.
use super::estimate::{EstimateView, estimate_text};
use super::{WorkerNames, cost_source_name, run_status_name, task_state_name};
use crate::output::{Table, duration, json_value, render_fields, rfc3339, span_ms, truncate};
use serde::Serialize;
use weft_client::pb;

/// Characters of a task result shown in a table; `--output json` has all of it.
const RESULT_WIDTH: usize = 48;
/// Characters of an error message shown in a table.
const ERROR_WIDTH: usize = 60;

#[derive(Debug, Serialize)]
pub struct RunView {
    pub run_id: String,
    pub process_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<DefinitionRefView>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub tasks_total: u32,
    pub tasks_succeeded: u32,
    pub tasks_failed: u32,
    pub input: serde_json::Value,
    /// True when compensations ran because a workflow failed.
    pub compensated: bool,
    /// The cost model's estimate, when the coordinator sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<EstimateView>,
    /// Empty (and left out) in list results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<WorkflowView>,
}

#[derive(Debug, Serialize)]
pub struct DefinitionRefView {
    pub name: String,
    pub version: u32,
}

#[derive(Debug, Serialize)]
pub struct WorkflowView {
    pub name: String,
    pub status: String,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Serialize)]
pub struct TaskView {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub attempt: u32,
    pub worker_id: Option<String>,
    pub worker_name: Option<String>,
    pub priority: i32,
    pub queue: String,
    pub depends_on: Vec<String>,
    pub ready_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// What the estimate takes it to cost (seconds at speed 1), and where that came from:
    /// declared, history, hint, kind_history or default.
    pub cost_seconds: Option<f64>,
    pub cost_source: Option<String>,
    /// Why it waits though ready, at a limit: `limit bank-api 5/5`.
    pub waiting: Option<String>,
    pub result: serde_json::Value,
    pub error: Option<TaskErrorView>,
}

#[derive(Debug, Serialize)]
pub struct TaskErrorView {
    pub message: String,
    pub retryable: bool,
}

impl RunView {
    pub fn new(run: &pb::Run, names: &WorkerNames) -> Self {
        RunView {
            run_id: run.run_id.clone(),
            process_name: run.process_name.clone(),
            definition: (!run.definition_name.is_empty())
                .then(|| DefinitionRefView { name: run.definition_name.clone(), version: run.definition_version }),
            status: run_status_name(run.status),
            reason: non_empty(&run.reason),
            idempotency_key: non_empty(&run.idempotency_key),
            created_at: rfc3339(run.created_at_ms),
            finished_at: rfc3339(run.finished_at_ms),
            duration_ms: span_ms(run.created_at_ms, run.finished_at_ms),
            tasks_total: run.tasks_total,
            tasks_succeeded: run.tasks_succeeded,
            tasks_failed: run.tasks_failed,
            input: json_value(&run.input_json),
            compensated: run.compensated,
            estimate: run.estimate.as_ref().map(EstimateView::new),
            workflows: run
                .workflows
                .iter()
                .map(|w| WorkflowView {
                    name: w.name.clone(),
                    status: run_status_name(w.status),
                    tasks: w.tasks.iter().map(|t| TaskView::new(t, names)).collect(),
                })
                .collect(),
        }
    }
}

impl TaskView {
    fn new(t: &pb::TaskRun, names: &WorkerNames) -> Self {
        TaskView {
            name: t.name.clone(),
            kind: t.kind.clone(),
            state: task_state_name(t.state),
            attempt: t.attempt,
            worker_id: non_empty(&t.worker_id),
            worker_name: names.name(&t.worker_id).map(str::to_string),
            priority: t.priority,
            queue: t.queue.clone(),
            depends_on: t.depends_on.clone(),
            ready_at: rfc3339(t.ready_at_ms),
            started_at: rfc3339(t.started_at_ms),
            finished_at: rfc3339(t.finished_at_ms),
            duration_ms: span_ms(t.started_at_ms, t.finished_at_ms),
            cost_seconds: (t.cost_source != pb::CostSource::Unspecified as i32).then_some(t.cost_seconds),
            cost_source: (t.cost_source != pb::CostSource::Unspecified as i32).then(|| cost_source_name(t.cost_source)),
            waiting: non_empty(&t.waiting),
            result: json_value(&t.result_json),
            error: t.error.as_ref().map(|e| TaskErrorView { message: e.message.clone(), retryable: e.retryable }),
        }
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// The detail view of one run: its fields, whether it was compensated and its estimate
/// (predicted finish relative to now), then one row per task.
pub fn run_detail(run: &pb::Run, names: &WorkerNames) -> String {
    run_detail_at(run, names, now_ms())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// [`run_detail`] as of `now_ms` (epoch milliseconds).
pub fn run_detail_at(run: &pb::Run, names: &WorkerNames, now_ms: i64) -> String {
    let definition = if run.definition_name.is_empty() {
        "(inline spec)".to_string()
    } else {
        format!("{} v{}", run.definition_name, run.definition_version)
    };
    let took = span_ms(run.created_at_ms, run.finished_at_ms).map(duration).unwrap_or_default();
    let mut text = render_fields(&[
        ("run", run.run_id.clone()),
        ("process", format!("{} — {definition}", run.process_name)),
        ("status", run_status_name(run.status)),
        ("reason", run.reason.clone()),
        ("key", run.idempotency_key.clone()),
        ("created", rfc3339(run.created_at_ms).unwrap_or_default()),
        ("finished", rfc3339(run.finished_at_ms).unwrap_or_default()),
        ("took", took),
        ("tasks", format!("{} total, {} succeeded, {} failed", run.tasks_total, run.tasks_succeeded, run.tasks_failed)),
        ("input", if json_value(&run.input_json).is_null() { String::new() } else { truncate(&run.input_json, 100) }),
    ]);
    let estimate = estimate_text(run, now_ms);
    if !estimate.is_empty() {
        text.push('\n');
        text.push_str(&estimate);
    }
    let tasks = task_table(run, names);
    if !tasks.is_empty() {
        text.push('\n');
        text.push_str(&tasks.render());
    }
    text
}

/// `waiting: no live worker serves kind shell on queue default (build, ship)`: one line per
/// (queue, kind) of the run's ready tasks that no live (or suspect) worker of `status`
/// serves. Such tasks would wait forever; the coordinator reports them too
/// (`unservable_task`), this says it where the run is looked at.
pub fn unserved_notes(run: &pb::Run, status: &pb::ClusterStatus) -> Vec<String> {
    let serves = |queue: &str, kind: &str| {
        status.workers.iter().any(|w| {
            let alive =
                w.liveness == pb::WorkerLiveness::Live as i32 || w.liveness == pb::WorkerLiveness::Suspect as i32;
            alive && w.queues.iter().any(|q| q == queue) && w.kinds.iter().any(|k| k == kind)
        })
    };
    let mut waiting: std::collections::BTreeMap<(&str, &str), Vec<&str>> = std::collections::BTreeMap::new();
    for t in run.workflows.iter().flat_map(|w| &w.tasks) {
        let queue = if t.queue.is_empty() { "default" } else { t.queue.as_str() };
        if t.state == pb::TaskState::Ready as i32 && !serves(queue, &t.kind) {
            waiting.entry((queue, t.kind.as_str())).or_default().push(&t.name);
        }
    }
    waiting
        .into_iter()
        .map(|((queue, kind), tasks)| {
            format!("waiting: no live worker serves kind {kind} on queue {queue} ({})", tasks.join(", "))
        })
        .collect()
}

/// One row per task: where it ran, when (relative to the run's start), for how long, and
/// how it ended.
pub fn task_table(run: &pb::Run, names: &WorkerNames) -> Table {
    let mut table = Table::new(&[
        "workflow", "task", "kind", "state", "attempt", "worker", "start", "took", "cost", "result", "error",
    ]);
    for w in &run.workflows {
        for t in &w.tasks {
            let start = span_ms(run.created_at_ms, t.started_at_ms).map(|ms| format!("+{}", duration(ms)));
            table.row(vec![
                w.name.clone(),
                t.name.clone(),
                t.kind.clone(),
                task_state_name(t.state),
                if t.attempt == 0 { String::new() } else { t.attempt.to_string() },
                names.label(&t.worker_id),
                start.unwrap_or_default(),
                span_ms(t.started_at_ms, t.finished_at_ms).map(duration).unwrap_or_default(),
                cost_cell(t),
                truncate(&result_summary(&t.result_json), RESULT_WIDTH),
                match (&t.error, t.waiting.is_empty()) {
                    (_, false) => format!("waiting: {}", t.waiting),
                    (Some(e), true) => truncate(&e.message, ERROR_WIDTH),
                    (None, true) => String::new(),
                },
            ]);
        }
    }
    table
}

/// `150ms history`: the estimate's cost of a task and its source; empty when not given.
fn cost_cell(t: &pb::TaskRun) -> String {
    if t.cost_source == pb::CostSource::Unspecified as i32 {
        return String::new();
    }
    format!("{} {}", super::estimate::seconds(t.cost_seconds), cost_source_name(t.cost_source))
}

/// What a table shows of a result: for the built-in `shell` kind, whose result is
/// `{"exit_code", "stdout", "stderr"}`, the program's output (what a reader wants to see);
/// for anything else the compact JSON.
fn result_summary(result_json: &str) -> String {
    let value = json_value(result_json);
    if value.is_null() {
        return String::new();
    }
    if let Some(object) = value.as_object()
        && object.len() == 3
        && let (Some(stdout), Some(_), Some(code)) =
            (object.get("stdout").and_then(|v| v.as_str()), object.get("stderr"), object.get("exit_code"))
    {
        let stdout = stdout.trim();
        return if stdout.is_empty() { format!("exit {code}") } else { stdout.to_string() };
    }
    result_json.to_string()
}

/// The list view of runs, newest first as the server sends them.
pub fn runs_table(runs: &[pb::Run]) -> Table {
    let mut table = Table::new(&["run id", "process", "status", "tasks", "failed", "created", "took"]);
    for r in runs {
        table.row(vec![
            r.run_id.clone(),
            r.process_name.clone(),
            run_status_name(r.status),
            format!("{}/{}", r.tasks_succeeded, r.tasks_total),
            r.tasks_failed.to_string(),
            rfc3339(r.created_at_ms).unwrap_or_default(),
            span_ms(r.created_at_ms, r.finished_at_ms).map(duration).unwrap_or_default(),
        ]);
    }
    table
}

#[derive(Debug, Serialize)]
pub struct DefinitionView {
    pub name: String,
    pub version: u32,
    pub created_at: Option<String>,
    /// The spec in file form (what `weftctl register` reads), or the wire form if it does
    /// not decode.
    pub spec: serde_json::Value,
}

impl DefinitionView {
    pub fn new(d: &pb::Definition) -> Self {
        let spec = d
            .spec
            .as_ref()
            .and_then(|s| weft_proto::convert::process_from_pb(s, "spec").ok())
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or(serde_json::Value::Null);
        DefinitionView { name: d.name.clone(), version: d.version, created_at: rfc3339(d.created_at_ms), spec }
    }
}

pub fn definitions_table(definitions: &[pb::Definition]) -> Table {
    let mut table = Table::new(&["name", "version", "workflows", "tasks", "created"]);
    for d in definitions {
        let (workflows, tasks) = d
            .spec
            .as_ref()
            .map(|s| (s.workflows.len(), s.workflows.iter().map(|w| w.tasks.len()).sum::<usize>()))
            .unwrap_or_default();
        table.row(vec![
            d.name.clone(),
            d.version.to_string(),
            workflows.to_string(),
            tasks.to_string(),
            rfc3339(d.created_at_ms).unwrap_or_default(),
        ]);
    }
    table
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::views::test_fixtures::names;

    /// A finished run with one succeeded and one failed task, as GetRun returns it.
    pub(crate) fn sample_run() -> pb::Run {
        let t0 = 1_700_000_000_000;
        pb::Run {
            run_id: "0190aaaa-0000-7000-8000-000000000001".into(),
            process_name: "order-fulfilment".into(),
            status: pb::RunStatus::Failed as i32,
            reason: "task billing/charge failed: card declined".into(),
            idempotency_key: "order-42".into(),
            created_at_ms: t0,
            finished_at_ms: t0 + 1_250,
            tasks_total: 2,
            tasks_succeeded: 1,
            tasks_failed: 1,
            input_json: r#"{"order":42}"#.into(),
            workflows: vec![pb::WorkflowRun {
                name: "billing".into(),
                status: pb::RunStatus::Failed as i32,
                tasks: vec![
                    pb::TaskRun {
                        workflow: "billing".into(),
                        name: "invoice".into(),
                        kind: "shell".into(),
                        state: pb::TaskState::Succeeded as i32,
                        attempt: 1,
                        worker_id: "0190bbbb-0000-7000-8000-0000deadbeef".into(),
                        started_at_ms: t0 + 20,
                        finished_at_ms: t0 + 120,
                        result_json: r#"{"exit_code":0,"stdout":"invoiced order 42 for a very large amount of money\n","stderr":""}"#.into(),
                        cost_seconds: 0.1,
                        cost_source: pb::CostSource::History as i32,
                        ..Default::default()
                    },
                    pb::TaskRun {
                        workflow: "billing".into(),
                        name: "charge".into(),
                        kind: "noop".into(),
                        state: pb::TaskState::Failed as i32,
                        attempt: 3,
                        worker_id: "0190cccc-0000-7000-8000-00000000cafe".into(),
                        started_at_ms: t0 + 1_000,
                        finished_at_ms: t0 + 1_200,
                        result_json: r#"{"charged":42.5}"#.into(),
                        error: Some(pb::TaskError { message: "card declined".into(), retryable: false }),
                        ..Default::default()
                    },
                ],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_task_waiting_at_a_limit_says_so_in_its_row_and_its_json() {
        let mut run = sample_run();
        let t = &mut run.workflows[0].tasks[1];
        t.state = pb::TaskState::Ready as i32;
        t.error = None;
        t.waiting = "limit bank-api 5/5".into();
        let table = task_table(&run, &names()).render();
        let row = table.lines().find(|l| l.contains("charge")).unwrap();
        assert!(row.ends_with("waiting: limit bank-api 5/5"), "{row}");
        let json = serde_json::to_value(RunView::new(&run, &names())).unwrap();
        assert_eq!(json["workflows"][0]["tasks"][1]["waiting"], "limit bank-api 5/5");
        assert_eq!(json["workflows"][0]["tasks"][0]["waiting"], serde_json::Value::Null);
    }

    #[test]
    fn run_detail_table_shows_tasks_with_truncated_results() {
        let text = run_detail(&sample_run(), &names());
        let expected = "\
run       0190aaaa-0000-7000-8000-000000000001
process   order-fulfilment — (inline spec)
status    failed
reason    task billing/charge failed: card declined
key       order-42
created   2023-11-14T22:13:20.000Z
finished  2023-11-14T22:13:21.250Z
took      1.25s
tasks     2 total, 1 succeeded, 1 failed
input     {\"order\":42}

WORKFLOW  TASK     KIND   STATE      ATTEMPT  WORKER     START   TOOK   COST           RESULT                                            ERROR
billing   invoice  shell  succeeded  1        w-1        +20ms   100ms  100ms history  invoiced order 42 for a very large amount of mo…
billing   charge   noop   failed     3        …0000cafe  +1.00s  200ms                 {\"charged\":42.5}                                  card declined
";
        assert_eq!(text, expected);
    }

    #[test]
    fn shell_results_show_their_output() {
        assert_eq!(result_summary(r#"{"exit_code":0,"stdout":"shipped\n","stderr":""}"#), "shipped");
        assert_eq!(result_summary(r#"{"exit_code":0,"stdout":"","stderr":""}"#), "exit 0");
        assert_eq!(result_summary(r#"{"stdout":"x","other":1}"#), r#"{"stdout":"x","other":1}"#);
        assert_eq!(result_summary(""), "");
        assert_eq!(result_summary("null"), "");
    }

    #[test]
    fn run_json_has_full_results_and_parsed_values() {
        let value = serde_json::to_value(RunView::new(&sample_run(), &names())).unwrap();
        assert_eq!(value["status"], "failed");
        assert_eq!(value["input"], serde_json::json!({"order": 42}));
        assert_eq!(value["duration_ms"], 1250);
        assert!(value.get("definition").is_none());
        let invoice = &value["workflows"][0]["tasks"][0];
        assert_eq!(invoice["result"]["stdout"], "invoiced order 42 for a very large amount of money\n");
        assert_eq!(invoice["worker_name"], "w-1");
        assert_eq!(invoice["error"], serde_json::Value::Null);
        let charge = &value["workflows"][0]["tasks"][1];
        assert_eq!(charge["error"], serde_json::json!({"message": "card declined", "retryable": false}));
        assert_eq!(charge["worker_name"], serde_json::Value::Null);
        assert_eq!(charge["attempt"], 3);
    }

    #[test]
    fn ready_tasks_no_live_worker_serves_are_named_by_queue_and_kind() {
        let mut run = sample_run();
        for t in run.workflows.iter_mut().flat_map(|w| w.tasks.iter_mut()) {
            t.state = pb::TaskState::Ready as i32;
        }
        let worker = |kinds: &[&str], liveness: pb::WorkerLiveness| pb::WorkerStatus {
            queues: vec!["default".into()],
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            liveness: liveness as i32,
            ..Default::default()
        };
        let kinds: std::collections::BTreeSet<String> =
            run.workflows.iter().flat_map(|w| &w.tasks).map(|t| t.kind.clone()).collect();
        let all: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let served = pb::ClusterStatus { workers: vec![worker(&all, pb::WorkerLiveness::Live)], ..Default::default() };
        assert!(unserved_notes(&run, &served).is_empty());
        let dead = pb::ClusterStatus { workers: vec![worker(&all, pb::WorkerLiveness::Dead)], ..Default::default() };
        let notes = unserved_notes(&run, &dead);
        assert_eq!(notes.len(), kinds.len(), "{notes:?}");
        let first = &run.workflows[0].tasks[0];
        assert!(
            notes.iter().any(|n| n
                .starts_with(&format!("waiting: no live worker serves kind {} on queue default (", first.kind))
                && n.contains(&first.name)),
            "{notes:?}"
        );
    }

    #[test]
    fn runs_list_omits_workflows() {
        let mut run = sample_run();
        run.workflows.clear();
        let value = serde_json::to_value(RunView::new(&run, &WorkerNames::default())).unwrap();
        assert!(value.get("workflows").is_none());
        let table = runs_table(&[run]).render();
        assert!(table.starts_with("RUN ID"), "{table}");
        assert!(table.contains("order-fulfilment  failed  1/2    1"), "{table}");
    }
}

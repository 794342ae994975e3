//! Workers, queues, heartbeats and cluster events as JSON views, tables and stream lines.
use super::{WorkerNames, event_kind_name, liveness_name};
use crate::output::{Table, bytes, clock, duration, render_fields, rfc3339};
use serde::Serialize;
use weft_client::pb;

#[derive(Debug, Serialize)]
pub struct ClusterView {
    pub workers: Vec<WorkerView>,
    pub queues: Vec<QueueView>,
    pub runs_running: u32,
    pub runs_finished: u32,
    pub now: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct WorkerView {
    pub worker_id: String,
    pub name: String,
    pub liveness: String,
    pub queues: Vec<String>,
    pub kinds: Vec<String>,
    pub slots: u32,
    pub running: u32,
    pub load: f64,
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub speed: f64,
    pub last_heartbeat_at: Option<String>,
    /// Age of the last heartbeat by the coordinator's clock; `None` if there was none yet.
    pub heartbeat_age_ms: Option<u64>,
    pub version: String,
    /// `run/workflow/task/attempt` of every attempt the worker holds.
    pub attempts: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct QueueView {
    pub queue: String,
    pub depth: u32,
}

impl ClusterView {
    pub fn new(s: &pb::ClusterStatus) -> Self {
        ClusterView {
            workers: s
                .workers
                .iter()
                .map(|w| WorkerView {
                    worker_id: w.worker_id.clone(),
                    name: w.name.clone(),
                    liveness: liveness_name(w.liveness),
                    queues: w.queues.clone(),
                    kinds: w.kinds.clone(),
                    slots: w.slots,
                    running: w.running,
                    load: w.load,
                    cpu_percent: w.cpu_percent,
                    memory_used_bytes: w.memory_used_bytes,
                    memory_total_bytes: w.memory_total_bytes,
                    speed: w.speed,
                    last_heartbeat_at: rfc3339(w.last_heartbeat_ms),
                    heartbeat_age_ms: heartbeat_age(s.now_ms, w.last_heartbeat_ms),
                    version: w.version.clone(),
                    attempts: w.attempts.iter().map(pb::AttemptRef::key).collect(),
                })
                .collect(),
            queues: s.queues.iter().map(|q| QueueView { queue: q.queue.clone(), depth: q.depth }).collect(),
            runs_running: s.runs_running,
            runs_finished: s.runs_finished,
            now: rfc3339(s.now_ms),
        }
    }
}

fn heartbeat_age(now_ms: i64, last_ms: i64) -> Option<u64> {
    (last_ms > 0).then(|| now_ms.saturating_sub(last_ms).max(0) as u64)
}

/// Workers, then queue depths, then run counts.
pub fn cluster_text(s: &pb::ClusterStatus) -> String {
    let mut workers = Table::new(&[
        "name",
        "worker id",
        "liveness",
        "queues",
        "kinds",
        "slots",
        "running",
        "load",
        "cpu",
        "mem",
        "heartbeat",
    ]);
    for w in &s.workers {
        let memory = if w.memory_total_bytes > 0 {
            format!("{}/{}", bytes(w.memory_used_bytes), bytes(w.memory_total_bytes))
        } else {
            bytes(w.memory_used_bytes)
        };
        workers.row(vec![
            w.name.clone(),
            w.worker_id.clone(),
            liveness_name(w.liveness),
            w.queues.join(","),
            w.kinds.join(","),
            w.slots.to_string(),
            w.running.to_string(),
            format!("{:.0}%", w.load * 100.0),
            format!("{:.1}%", w.cpu_percent),
            memory,
            heartbeat_age(s.now_ms, w.last_heartbeat_ms)
                .map(|ms| format!("{} ago", duration(ms)))
                .unwrap_or("never".into()),
        ]);
    }
    let mut text = if workers.is_empty() { "no workers\n".to_string() } else { workers.render() };
    text.push('\n');
    let mut queues = Table::new(&["queue", "depth"]);
    for q in &s.queues {
        queues.row(vec![q.queue.clone(), q.depth.to_string()]);
    }
    text.push_str(&if queues.is_empty() { "no queued tasks\n".to_string() } else { queues.render() });
    text.push('\n');
    text.push_str(&render_fields(&[
        ("runs running", s.runs_running.to_string()),
        ("runs finished", s.runs_finished.to_string()),
    ]));
    text
}

#[derive(Debug, Serialize)]
pub struct HeartbeatView {
    pub worker_id: String,
    pub worker_name: Option<String>,
    pub sent_at: Option<String>,
    pub slots: u32,
    pub used: u32,
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub running: Vec<String>,
    pub version: String,
}

impl HeartbeatView {
    pub fn new(h: &pb::Heartbeat, names: &WorkerNames) -> Self {
        HeartbeatView {
            worker_id: h.worker_id.clone(),
            worker_name: names.name(&h.worker_id).map(str::to_string),
            sent_at: rfc3339(h.sent_at_ms),
            slots: h.slots,
            used: h.used,
            cpu_percent: h.cpu_percent,
            memory_used_bytes: h.memory_used_bytes,
            memory_total_bytes: h.memory_total_bytes,
            running: h.running.iter().map(pb::AttemptRef::key).collect(),
            version: h.version.clone(),
        }
    }
}

/// `22:13:20.123  w-1  slots 1/4  cpu 12.5%  mem 1.0GiB/24.0GiB  running run/wf/task/1`
pub fn heartbeat_line(h: &pb::Heartbeat, names: &WorkerNames) -> String {
    let mut line = format!(
        "{}  {}  slots {}/{}  cpu {:.1}%  mem {}/{}",
        clock(h.sent_at_ms),
        names.label(&h.worker_id),
        h.used,
        h.slots,
        h.cpu_percent,
        bytes(h.memory_used_bytes),
        bytes(h.memory_total_bytes)
    );
    if !h.running.is_empty() {
        let running: Vec<String> = h.running.iter().map(pb::AttemptRef::key).collect();
        line.push_str(&format!("  running {}", running.join(" ")));
    }
    line
}

/// One cluster event as JSON: `{"type": "run", ...}` or `{"type": "worker", ...}`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventView {
    Run {
        run_id: String,
        seq: u64,
        at: Option<String>,
        kind: String,
        workflow: String,
        task: String,
        attempt: u32,
        worker_id: String,
        detail: String,
    },
    Worker {
        worker_id: String,
        name: String,
        liveness: String,
        at: Option<String>,
        detail: String,
    },
    Anomaly {
        kind: String,
        at: Option<String>,
        worker_id: String,
        run_id: String,
        workflow: String,
        task: String,
        queue: String,
        value: f64,
        detail: String,
    },
}

/// `late_heartbeat`, `stuck_task`, ...
pub fn anomaly_kind_name(kind: i32) -> String {
    pb::AnomalyKind::try_from(kind)
        .map(|k| k.as_str_name().trim_start_matches("ANOMALY_KIND_").to_lowercase())
        .unwrap_or_else(|_| format!("unknown({kind})"))
}

/// `22:13:20.123  anomaly stuck_task  detail`
pub fn anomaly_line(a: &pb::Anomaly) -> String {
    format!("{}  anomaly {}  {}", clock(a.at_ms), anomaly_kind_name(a.kind), a.detail.replace('\n', " "))
}

impl EventView {
    pub fn new(event: &pb::ClusterEvent) -> Option<Self> {
        Some(match event.event.as_ref()? {
            pb::cluster_event::Event::Run(e) => EventView::Run {
                run_id: e.run_id.clone(),
                seq: e.seq,
                at: rfc3339(e.at_ms),
                kind: event_kind_name(e.kind),
                workflow: e.workflow.clone(),
                task: e.task.clone(),
                attempt: e.attempt,
                worker_id: e.worker_id.clone(),
                detail: e.detail.clone(),
            },
            pb::cluster_event::Event::Worker(w) => EventView::Worker {
                worker_id: w.worker_id.clone(),
                name: w.name.clone(),
                liveness: liveness_name(w.liveness),
                at: rfc3339(w.at_ms),
                detail: w.detail.clone(),
            },
            pb::cluster_event::Event::Anomaly(a) => EventView::Anomaly {
                kind: anomaly_kind_name(a.kind),
                at: rfc3339(a.at_ms),
                worker_id: a.worker_id.clone(),
                run_id: a.run_id.clone(),
                workflow: a.workflow.clone(),
                task: a.task.clone(),
                queue: a.queue.clone(),
                value: a.value,
                detail: a.detail.clone(),
            },
        })
    }
}

/// `22:13:20.123  run 0190…  #3  task_running  shipping/pack  attempt 1  on w-1  detail`
pub fn run_event_line(e: &pb::RunEvent, names: &WorkerNames) -> String {
    let mut line = format!("{}  run {}  #{}  {}", clock(e.at_ms), e.run_id, e.seq, event_kind_name(e.kind));
    if !e.task.is_empty() {
        line.push_str(&format!("  {}/{}", e.workflow, e.task));
    }
    if e.attempt > 0 {
        line.push_str(&format!("  attempt {}", e.attempt));
    }
    if !e.worker_id.is_empty() {
        line.push_str(&format!("  on {}", names.label(&e.worker_id)));
    }
    if !e.detail.is_empty() {
        line.push_str(&format!("  {}", e.detail.replace('\n', " ")));
    }
    line
}

/// `22:13:20.123  worker w-1 (0190…)  dead  missed 5 heartbeats`
pub fn worker_event_line(w: &pb::WorkerEvent) -> String {
    let mut line = format!("{}  worker {} ({})  {}", clock(w.at_ms), w.name, w.worker_id, liveness_name(w.liveness));
    if !w.detail.is_empty() {
        line.push_str(&format!("  {}", w.detail.replace('\n', " ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> pb::ClusterStatus {
        pb::ClusterStatus {
            workers: vec![pb::WorkerStatus {
                worker_id: "0190bbbb-0000-7000-8000-0000deadbeef".into(),
                name: "w-1".into(),
                liveness: pb::WorkerLiveness::Live as i32,
                queues: vec!["default".into(), "gpu".into()],
                kinds: vec!["noop".into(), "shell".into()],
                slots: 4,
                running: 1,
                load: 0.25,
                cpu_percent: 12.5,
                memory_used_bytes: 1 << 30,
                memory_total_bytes: 24 << 30,
                last_heartbeat_ms: 1_700_000_000_000,
                ..Default::default()
            }],
            queues: vec![pb::QueueStatus { queue: "default".into(), depth: 3, ..Default::default() }],
            runs_running: 1,
            runs_finished: 7,
            now_ms: 1_700_000_000_400,
        }
    }

    #[test]
    fn workers_table_reads_well() {
        let text = cluster_text(&status());
        let expected = "\
NAME  WORKER ID                             LIVENESS  QUEUES       KINDS       SLOTS  RUNNING  LOAD  CPU    MEM             HEARTBEAT
w-1   0190bbbb-0000-7000-8000-0000deadbeef  live      default,gpu  noop,shell  4      1        25%   12.5%  1.0GiB/24.0GiB  400ms ago

QUEUE    DEPTH
default  3

runs running   1
runs finished  7
";
        assert_eq!(text, expected);
        let json = serde_json::to_value(ClusterView::new(&status())).unwrap();
        assert_eq!(json["workers"][0]["heartbeat_age_ms"], 400);
        assert_eq!(json["workers"][0]["liveness"], "live");
    }

    #[test]
    fn event_lines_and_json() {
        let names = WorkerNames::from_status(&status());
        let run_event = pb::RunEvent {
            run_id: "r1".into(),
            seq: 3,
            at_ms: 1_700_000_000_123,
            kind: pb::EventKind::TaskRunning as i32,
            workflow: "shipping".into(),
            task: "pack".into(),
            attempt: 1,
            worker_id: "0190bbbb-0000-7000-8000-0000deadbeef".into(),
            detail: String::new(),
        };
        assert_eq!(
            run_event_line(&run_event, &names),
            "22:13:20.123  run r1  #3  task_running  shipping/pack  attempt 1  on w-1"
        );
        let event = pb::ClusterEvent { event: Some(pb::cluster_event::Event::Run(run_event)) };
        let json = serde_json::to_value(EventView::new(&event).unwrap()).unwrap();
        assert_eq!(json["type"], "run");
        assert_eq!(json["kind"], "task_running");
        let worker = pb::WorkerEvent {
            worker_id: "id".into(),
            name: "w-2".into(),
            liveness: pb::WorkerLiveness::Dead as i32,
            at_ms: 1_700_000_000_123,
            detail: "lease expired".into(),
        };
        assert_eq!(worker_event_line(&worker), "22:13:20.123  worker w-2 (id)  dead  lease expired");
    }
}

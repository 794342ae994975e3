//! Heartbeats and cluster events (run events, liveness changes, anomalies) as JSON views and
//! stream lines, for `watch` and the event feed of `top`.
use super::{WorkerNames, event_kind_name, liveness_name};
use crate::output::{bytes, clock, rfc3339};
use serde::Serialize;
use weft_client::pb;

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

    #[test]
    fn event_lines_and_json() {
        let names = WorkerNames::from_status(&pb::ClusterStatus {
            workers: vec![pb::WorkerStatus {
                worker_id: "0190bbbb-0000-7000-8000-0000deadbeef".into(),
                name: "w-1".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
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

    #[test]
    fn anomaly_lines_and_json() {
        let anomaly = pb::Anomaly {
            kind: pb::AnomalyKind::LateHeartbeat as i32,
            at_ms: 1_700_000_000_123,
            worker_id: "id".into(),
            value: 1500.0,
            detail: "w-2's heartbeat is\n1.5s late".into(),
            ..Default::default()
        };
        assert_eq!(anomaly_line(&anomaly), "22:13:20.123  anomaly late_heartbeat  w-2's heartbeat is 1.5s late");
        let event = pb::ClusterEvent { event: Some(pb::cluster_event::Event::Anomaly(anomaly)) };
        let json = serde_json::to_value(EventView::new(&event).unwrap()).unwrap();
        assert_eq!(json["type"], "anomaly");
        assert_eq!(json["kind"], "late_heartbeat");
        assert_eq!(json["value"], 1500.0);
        assert_eq!(anomaly_kind_name(99), "unknown(99)");
    }
}

//! Workers and queues as JSON views and tables (`weftctl workers`; `top` shares the cells).
use super::liveness_name;
use crate::output::{Table, bytes, duration, render_fields, rfc3339};
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// Delay of the last heartbeat beyond the heartbeat interval (0 when on time).
    pub heartbeat_lag_ms: i64,
    /// Slow or failing: the coordinator gives it fewer new attempts until it recovers.
    pub penalized: bool,
    /// Why it is penalized; `None` when it is not.
    pub penalty_reason: Option<String>,
    /// Share of its recent attempts that failed, 0 to 1.
    pub failure_rate: f64,
    pub version: String,
    /// `run/workflow/task/attempt` of every attempt the worker holds.
    pub attempts: Vec<String>,
    /// Its latest heartbeats (up to 20) as the coordinator received them, oldest first.
    pub recent: Vec<HeartbeatSampleView>,
}

#[derive(Debug, Serialize)]
pub struct HeartbeatSampleView {
    pub at: Option<String>,
    pub at_ms: i64,
    /// Slots in use.
    pub used: u32,
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    /// Time since the previous heartbeat.
    pub gap_ms: i64,
}

#[derive(Debug, Serialize)]
pub struct QueueView {
    pub queue: String,
    pub depth: u32,
    /// Ready tasks by priority, highest first.
    pub by_priority: Vec<PriorityDepthView>,
    /// Free slots of live workers serving the queue.
    pub free_slots: u32,
}

#[derive(Debug, Serialize)]
pub struct PriorityDepthView {
    pub priority: i32,
    pub depth: u32,
}

impl ClusterView {
    pub fn new(s: &pb::ClusterStatus) -> Self {
        ClusterView {
            workers: s.workers.iter().map(|w| WorkerView::new(w, s.now_ms)).collect(),
            queues: s
                .queues
                .iter()
                .map(|q| QueueView {
                    queue: q.queue.clone(),
                    depth: q.depth,
                    by_priority: by_priority(q)
                        .into_iter()
                        .map(|(priority, depth)| PriorityDepthView { priority, depth })
                        .collect(),
                    free_slots: q.free_slots,
                })
                .collect(),
            runs_running: s.runs_running,
            runs_finished: s.runs_finished,
            now: rfc3339(s.now_ms),
        }
    }
}

impl WorkerView {
    fn new(w: &pb::WorkerStatus, now_ms: i64) -> Self {
        WorkerView {
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
            heartbeat_age_ms: heartbeat_age(now_ms, w.last_heartbeat_ms),
            heartbeat_lag_ms: w.heartbeat_lag_ms,
            penalized: w.penalized,
            penalty_reason: w.penalized.then(|| w.penalty_reason.clone()),
            failure_rate: w.failure_rate,
            version: w.version.clone(),
            attempts: w.attempts.iter().map(pb::AttemptRef::key).collect(),
            recent: w
                .recent
                .iter()
                .map(|h| HeartbeatSampleView {
                    at: rfc3339(h.at_ms),
                    at_ms: h.at_ms,
                    used: h.used,
                    cpu_percent: h.cpu_percent,
                    memory_used_bytes: h.memory_used_bytes,
                    gap_ms: h.gap_ms,
                })
                .collect(),
        }
    }
}

/// Age of the last heartbeat by the coordinator's clock; `None` if there was none yet.
pub fn heartbeat_age(now_ms: i64, last_ms: i64) -> Option<u64> {
    (last_ms > 0).then(|| now_ms.saturating_sub(last_ms).max(0) as u64)
}

/// (priority, depth) pairs, highest priority first, without empty entries.
fn by_priority(q: &pb::QueueStatus) -> Vec<(i32, u32)> {
    let mut pairs: Vec<(i32, u32)> =
        q.by_priority.iter().filter(|p| p.depth > 0).map(|p| (p.priority, p.depth)).collect();
    pairs.sort_by_key(|p| std::cmp::Reverse(p.0));
    pairs
}

/// `10:2 0:1`: ready tasks per priority (priority:depth), highest priority first.
pub fn by_priority_cell(q: &pb::QueueStatus) -> String {
    by_priority(q).iter().map(|(p, d)| format!("{p}:{d}")).collect::<Vec<_>>().join(" ")
}

/// `1.0GiB/24.0GiB`, or the used memory alone when the total is unknown.
pub fn memory_cell(w: &pb::WorkerStatus) -> String {
    if w.memory_total_bytes > 0 {
        format!("{}/{}", bytes(w.memory_used_bytes), bytes(w.memory_total_bytes))
    } else {
        bytes(w.memory_used_bytes)
    }
}

/// How late the worker's last heartbeat was beyond the interval: `0ms` when on time.
pub fn lag_cell(w: &pb::WorkerStatus) -> String {
    duration(w.heartbeat_lag_ms.max(0) as u64)
}

/// Share of recent attempts that failed, as a whole percentage.
pub fn failure_cell(w: &pb::WorkerStatus) -> String {
    format!("{:.0}%", w.failure_rate.clamp(0.0, 1.0) * 100.0)
}

/// The penalty reason of a penalized worker (`penalized` if it gave none); empty otherwise.
pub fn penalty_cell(w: &pb::WorkerStatus) -> String {
    match (w.penalized, w.penalty_reason.trim()) {
        (false, _) => String::new(),
        (true, "") => "penalized".to_string(),
        (true, reason) => reason.to_string(),
    }
}

/// Every queue worth showing, by name: the ones with ready tasks as the coordinator reports
/// them, and the ones workers serve with nothing waiting (depth 0). The coordinator reports
/// only the former, so the free slots of the latter are counted here the way it counts
/// them: slots of live workers serving the queue (halved, at least 1, while penalized)
/// minus the attempts they hold.
pub fn queue_rows(s: &pb::ClusterStatus) -> Vec<pb::QueueStatus> {
    let mut rows: BTreeMap<&str, pb::QueueStatus> = s.queues.iter().map(|q| (q.queue.as_str(), q.clone())).collect();
    for w in &s.workers {
        for queue in &w.queues {
            rows.entry(queue.as_str()).or_insert_with(|| pb::QueueStatus {
                queue: queue.clone(),
                free_slots: idle_free_slots(s, queue),
                ..Default::default()
            });
        }
    }
    rows.into_values().collect()
}

fn idle_free_slots(s: &pb::ClusterStatus, queue: &str) -> u32 {
    s.workers
        .iter()
        .filter(|w| w.liveness == pb::WorkerLiveness::Live as i32 && w.queues.iter().any(|q| q == queue))
        .map(|w| {
            let slots = if w.penalized { (w.slots / 2).max(1) } else { w.slots };
            slots.saturating_sub(w.running)
        })
        .sum()
}

/// `QUEUE  DEPTH  BY PRIORITY  FREE SLOTS`, one row per [`queue_rows`] entry.
pub fn queues_table(s: &pb::ClusterStatus) -> Table {
    let mut queues = Table::new(&["queue", "depth", "by priority", "free slots"]);
    for q in queue_rows(s) {
        queues.row(vec![q.queue.clone(), q.depth.to_string(), by_priority_cell(&q), q.free_slots.to_string()]);
    }
    queues
}

/// Workers, then queues, then run counts.
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
        "lag",
        "failed",
        "penalty",
    ]);
    for w in &s.workers {
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
            memory_cell(w),
            heartbeat_age(s.now_ms, w.last_heartbeat_ms)
                .map(|ms| format!("{} ago", duration(ms)))
                .unwrap_or("never".into()),
            lag_cell(w),
            failure_cell(w),
            penalty_cell(w),
        ]);
    }
    let mut text = if workers.is_empty() { "no workers\n".to_string() } else { workers.render() };
    text.push('\n');
    let queues = queues_table(s);
    text.push_str(&if queues.is_empty() { "no queues\n".to_string() } else { queues.render() });
    text.push('\n');
    text.push_str(&render_fields(&[
        ("runs running", s.runs_running.to_string()),
        ("runs finished", s.runs_finished.to_string()),
    ]));
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A penalized worker with history, a healthy idle one on another queue, and a
    /// `default` queue with tasks at two priorities.
    pub(crate) fn status() -> pb::ClusterStatus {
        let t0 = 1_700_000_000_000;
        pb::ClusterStatus {
            workers: vec![
                pb::WorkerStatus {
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
                    last_heartbeat_ms: t0,
                    recent: vec![
                        pb::HeartbeatSample {
                            at_ms: t0 - 1_000,
                            used: 2,
                            cpu_percent: 10.0,
                            memory_used_bytes: 1 << 30,
                            gap_ms: 1_000,
                        },
                        pb::HeartbeatSample {
                            at_ms: t0,
                            used: 1,
                            cpu_percent: 12.5,
                            memory_used_bytes: 1 << 30,
                            gap_ms: 1_000,
                        },
                    ],
                    penalized: true,
                    penalty_reason: "failing: 60% of recent attempts failed".into(),
                    failure_rate: 0.6,
                    heartbeat_lag_ms: 250,
                    ..Default::default()
                },
                pb::WorkerStatus {
                    worker_id: "0190cccc-0000-7000-8000-00000000cafe".into(),
                    name: "w-2".into(),
                    liveness: pb::WorkerLiveness::Live as i32,
                    queues: vec!["billing".into()],
                    kinds: vec!["noop".into()],
                    slots: 2,
                    last_heartbeat_ms: t0 + 100,
                    ..Default::default()
                },
            ],
            queues: vec![pb::QueueStatus {
                queue: "default".into(),
                depth: 3,
                by_priority: vec![
                    pb::PriorityDepth { priority: 0, depth: 2 },
                    pb::PriorityDepth { priority: 10, depth: 1 },
                ],
                free_slots: 1,
            }],
            runs_running: 1,
            runs_finished: 7,
            now_ms: t0 + 400,
            store: None,
            unserved: vec![],
            at_limits: vec![],
        }
    }

    #[test]
    fn workers_table_reads_well() {
        let text = cluster_text(&status());
        let expected = "\
NAME  WORKER ID                             LIVENESS  QUEUES       KINDS       SLOTS  RUNNING  LOAD  CPU    MEM             HEARTBEAT  LAG    FAILED  PENALTY
w-1   0190bbbb-0000-7000-8000-0000deadbeef  live      default,gpu  noop,shell  4      1        25%   12.5%  1.0GiB/24.0GiB  400ms ago  250ms  60%     failing: 60% of recent attempts failed
w-2   0190cccc-0000-7000-8000-00000000cafe  live      billing      noop        2      0        0%    0.0%   0B              300ms ago  0ms    0%

QUEUE    DEPTH  BY PRIORITY  FREE SLOTS
billing  0                   2
default  3      10:1 0:2     1
gpu      0                   1

runs running   1
runs finished  7
";
        assert_eq!(text, expected);
    }

    #[test]
    fn workers_json_has_health_and_recent_heartbeats() {
        let json = serde_json::to_value(ClusterView::new(&status())).unwrap();
        let w1 = &json["workers"][0];
        assert_eq!(w1["heartbeat_age_ms"], 400);
        assert_eq!(w1["liveness"], "live");
        assert_eq!(w1["penalized"], true);
        assert_eq!(w1["penalty_reason"], "failing: 60% of recent attempts failed");
        assert_eq!(w1["failure_rate"], 0.6);
        assert_eq!(w1["heartbeat_lag_ms"], 250);
        assert_eq!(w1["recent"].as_array().unwrap().len(), 2);
        assert_eq!(
            w1["recent"][1],
            serde_json::json!({
                "at": "2023-11-14T22:13:20.000Z", "at_ms": 1_700_000_000_000i64, "used": 1,
                "cpu_percent": 12.5, "memory_used_bytes": 1u64 << 30, "gap_ms": 1000
            })
        );
        assert_eq!(json["workers"][1]["penalty_reason"], serde_json::Value::Null);
        // JSON keeps what the coordinator reported: only queues with ready tasks.
        assert_eq!(
            json["queues"],
            serde_json::json!([{
                "queue": "default", "depth": 3, "free_slots": 1,
                "by_priority": [{"priority": 10, "depth": 1}, {"priority": 0, "depth": 2}]
            }])
        );
    }

    #[test]
    fn idle_queues_count_free_slots_like_the_coordinator() {
        let mut s = status();
        s.queues.clear();
        let rows = queue_rows(&s);
        let free: Vec<(&str, u32, u32)> = rows.iter().map(|q| (q.queue.as_str(), q.depth, q.free_slots)).collect();
        // w-1 is penalized: half of 4 slots, minus the 1 it holds.
        assert_eq!(free, vec![("billing", 0, 2), ("default", 0, 1), ("gpu", 0, 1)]);
        s.workers[1].liveness = pb::WorkerLiveness::Dead as i32;
        assert_eq!(queue_rows(&s)[0].free_slots, 0, "dead workers have no free slots");
        assert_eq!(penalty_cell(&s.workers[1]), "");
        s.workers[1].penalized = true;
        assert_eq!(penalty_cell(&s.workers[1]), "penalized");
    }
}

//! `weftctl top`: one snapshot of the cluster as text (a header, workers, queues and the
//! latest anomalies and liveness changes), redrawn every interval by
//! [`crate::commands::top`].
use super::cluster::{failure_cell, heartbeat_age, lag_cell, memory_cell, penalty_cell, queues_table};
use super::events::{anomaly_line, worker_event_line};
use super::liveness_name;
use crate::output::{Table, clock, duration, truncate};
use std::collections::VecDeque;
use weft_client::pb;

/// How many anomalies and liveness changes a snapshot shows.
pub const EVENT_LINES: usize = 6;
/// Cells of the load bar.
const BAR_WIDTH: usize = 10;
/// Characters of a penalty reason shown.
const REASON_WIDTH: usize = 48;

/// The latest anomalies and worker liveness changes from the event stream, oldest first.
/// Run events are not kept: a busy cluster makes thousands a second.
#[derive(Debug, Default)]
pub struct EventLog {
    lines: VecDeque<String>,
    /// What is wrong with the event stream, if anything (shown under the lines).
    pub note: Option<String>,
}

impl EventLog {
    /// Keeps the event if it is an anomaly or a liveness change; says whether it did.
    pub fn push(&mut self, event: &pb::ClusterEvent) -> bool {
        let line = match &event.event {
            Some(pb::cluster_event::Event::Anomaly(a)) => anomaly_line(a),
            Some(pb::cluster_event::Event::Worker(w)) => worker_event_line(w),
            _ => return false,
        };
        if self.lines.len() == EVENT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
        true
    }
}

/// `[###-------]  25%`: running/slots as a bar (full at 100 %) and a percentage.
pub fn load_bar(load: f64) -> String {
    let load = if load.is_finite() { load.max(0.0) } else { 0.0 };
    let filled = ((load.min(1.0) * BAR_WIDTH as f64).round() as usize).min(BAR_WIDTH);
    format!("[{}{}] {:>4}", "#".repeat(filled), "-".repeat(BAR_WIDTH - filled), format!("{:.0}%", load * 100.0))
}

/// `workers: 3 (2 live, 1 dead), 1 penalized`
fn workers_summary(s: &pb::ClusterStatus) -> String {
    if s.workers.is_empty() {
        return "workers: none".to_string();
    }
    let by_liveness: Vec<String> = [
        pb::WorkerLiveness::Live,
        pb::WorkerLiveness::Suspect,
        pb::WorkerLiveness::Draining,
        pb::WorkerLiveness::Dead,
        pb::WorkerLiveness::Unspecified,
    ]
    .into_iter()
    .filter_map(|l| {
        let n = s.workers.iter().filter(|w| w.liveness == l as i32).count();
        (n > 0).then(|| format!("{n} {}", liveness_name(l as i32)))
    })
    .collect();
    let mut text = format!("workers: {} ({})", s.workers.len(), by_liveness.join(", "));
    let penalized = s.workers.iter().filter(|w| w.penalized).count();
    if penalized > 0 {
        text.push_str(&format!(", {penalized} penalized"));
    }
    text
}

fn workers_table(s: &pb::ClusterStatus) -> Table {
    let mut table =
        Table::new(&["worker", "liveness", "running", "load", "cpu", "mem", "last hb", "hb lag", "failed", "penalty"]);
    for w in &s.workers {
        table.row(vec![
            w.name.clone(),
            liveness_name(w.liveness),
            format!("{}/{}", w.running, w.slots),
            load_bar(w.load),
            format!("{:.1}%", w.cpu_percent),
            memory_cell(w),
            heartbeat_age(s.now_ms, w.last_heartbeat_ms).map(duration).unwrap_or("never".into()),
            lag_cell(w),
            failure_cell(w),
            truncate(&penalty_cell(w), REASON_WIDTH),
        ]);
    }
    table
}

/// One snapshot: who and when, run and worker counts, the workers, the queues, and (when
/// `events` is given, i.e. when a stream runs alongside) the latest anomalies and liveness
/// changes. Every line ends in a newline.
pub fn top_text(s: &pb::ClusterStatus, address: &str, events: Option<&EventLog>) -> String {
    let mut text = format!("weftctl top  {address}  {} UTC\n", clock(s.now_ms));
    text.push_str(&format!(
        "runs: {} running, {} finished   {}\n\n",
        s.runs_running,
        s.runs_finished,
        workers_summary(s)
    ));
    let workers = workers_table(s);
    text.push_str(&if workers.is_empty() { "no workers\n".to_string() } else { workers.render() });
    text.push('\n');
    let queues = queues_table(s);
    text.push_str(&if queues.is_empty() { "no queues\n".to_string() } else { queues.render() });
    for u in &s.unserved {
        let more = if u.waiting > 1 { format!(" and {} more", u.waiting - 1) } else { String::new() };
        text.push_str(&format!(
            "waiting: no live worker serves kind {} on queue {} ({}/{}{more})\n",
            u.kind, u.queue, u.workflow, u.task
        ));
    }
    for l in &s.at_limits {
        text.push_str(&format!("waiting: {} task(s) of {} at {}\n", l.waiting, l.process, l.reason));
    }
    if let Some(events) = events {
        text.push_str("\nANOMALIES AND LIVENESS CHANGES\n");
        if events.lines.is_empty() {
            text.push_str("none since top started\n");
        }
        for line in &events.lines {
            text.push_str(line);
            text.push('\n');
        }
        if let Some(note) = &events.note {
            text.push_str(&format!("({note})\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::cluster::tests::status;

    #[test]
    fn a_snapshot_reads_well() {
        let text = top_text(&status(), "http://127.0.0.1:7070", None);
        let expected = "\
weftctl top  http://127.0.0.1:7070  22:13:20.400 UTC
runs: 1 running, 7 finished   workers: 2 (2 live), 1 penalized

WORKER  LIVENESS  RUNNING  LOAD               CPU    MEM             LAST HB  HB LAG  FAILED  PENALTY
w-1     live      1/4      [###-------]  25%  12.5%  1.0GiB/24.0GiB  400ms    250ms   60%     failing: 60% of recent attempts failed
w-2     live      0/2      [----------]   0%  0.0%   0B              300ms    0ms     0%

QUEUE    DEPTH  BY PRIORITY  FREE SLOTS
billing  0                   2
default  3      10:1 0:2     1
gpu      0                   1
";
        assert_eq!(text, expected);
    }

    #[test]
    fn work_no_live_worker_serves_is_said_under_the_queues() {
        let status = pb::ClusterStatus {
            unserved: vec![pb::UnservedWork {
                queue: "default".into(),
                kind: "shell".into(),
                waiting: 3,
                workflow: "w".into(),
                task: "build".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = top_text(&status, "h:1", None);
        assert!(
            text.contains("waiting: no live worker serves kind shell on queue default (w/build and 2 more)\n"),
            "{text}"
        );
        assert!(!top_text(&pb::ClusterStatus::default(), "h:1", None).contains("waiting:"));
    }

    #[test]
    fn tasks_waiting_at_a_limit_are_said_under_the_queues() {
        let status = pb::ClusterStatus {
            at_limits: vec![pb::LimitWait {
                process: "bank-charges".into(),
                reason: "limit bank-api 2/2".into(),
                waiting: 4,
            }],
            ..Default::default()
        };
        let text = top_text(&status, "h:1", None);
        assert!(text.contains("waiting: 4 task(s) of bank-charges at limit bank-api 2/2\n"), "{text}");
    }

    #[test]
    fn the_event_log_keeps_the_latest_anomalies_and_liveness_changes() {
        let mut log = EventLog::default();
        let empty = top_text(&pb::ClusterStatus::default(), "a", Some(&log));
        assert!(
            empty.contains("no workers\n\nno queues\n\nANOMALIES AND LIVENESS CHANGES\nnone since top started\n"),
            "{empty}"
        );
        let run_event = pb::ClusterEvent { event: Some(pb::cluster_event::Event::Run(pb::RunEvent::default())) };
        assert!(!log.push(&run_event), "run events are not kept");
        for i in 0..EVENT_LINES + 2 {
            let worker = pb::WorkerEvent {
                name: format!("w-{i}"),
                liveness: pb::WorkerLiveness::Suspect as i32,
                at_ms: 1_700_000_000_000,
                ..Default::default()
            };
            assert!(log.push(&pb::ClusterEvent { event: Some(pb::cluster_event::Event::Worker(worker)) }));
        }
        let anomaly = pb::Anomaly {
            kind: pb::AnomalyKind::QueueBacklog as i32,
            at_ms: 1_700_000_001_000,
            detail: "queue `default` has grown".into(),
            ..Default::default()
        };
        log.push(&pb::ClusterEvent { event: Some(pb::cluster_event::Event::Anomaly(anomaly)) });
        log.note = Some("event stream lost; retrying".into());
        let text = top_text(&status(), "a", Some(&log));
        let tail = text.split("ANOMALIES AND LIVENESS CHANGES\n").nth(1).unwrap();
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), EVENT_LINES + 1, "{tail}");
        assert_eq!(lines[0], "22:13:20.000  worker w-3 ()  suspect", "the oldest go first");
        assert_eq!(lines[EVENT_LINES - 1], "22:13:21.000  anomaly queue_backlog  queue `default` has grown");
        assert_eq!(lines[EVENT_LINES], "(event stream lost; retrying)");
    }

    #[test]
    fn load_bars() {
        assert_eq!(load_bar(0.0), "[----------]   0%");
        assert_eq!(load_bar(0.5), "[#####-----]  50%");
        assert_eq!(load_bar(1.0), "[##########] 100%");
        assert_eq!(load_bar(1.5), "[##########] 150%");
        assert_eq!(load_bar(f64::NAN), "[----------]   0%");
    }
}

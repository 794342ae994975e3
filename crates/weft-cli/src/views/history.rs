//! A run's recorded history (`weftctl history`): one row, or one JSON object, per event.
use super::{WorkerNames, event_kind_name};
use crate::output::{Table, rfc3339, truncate};
use serde::Serialize;
use weft_client::pb;

/// Characters of an event's detail shown in a table; `--output json` has all of it.
const DETAIL_WIDTH: usize = 80;

/// One event as a JSON line.
#[derive(Debug, Serialize)]
pub struct HistoryEventView {
    pub run_id: String,
    pub seq: u64,
    pub at: Option<String>,
    pub at_ms: i64,
    pub kind: String,
    /// Empty for run-level events.
    pub workflow: String,
    pub task: String,
    /// 0 when the event is not about an attempt.
    pub attempt: u32,
    pub worker_id: Option<String>,
    pub worker_name: Option<String>,
    pub detail: String,
}

impl HistoryEventView {
    pub fn new(e: &pb::RunEvent, names: &WorkerNames) -> Self {
        HistoryEventView {
            run_id: e.run_id.clone(),
            seq: e.seq,
            at: rfc3339(e.at_ms),
            at_ms: e.at_ms,
            kind: event_kind_name(e.kind),
            workflow: e.workflow.clone(),
            task: e.task.clone(),
            attempt: e.attempt,
            worker_id: (!e.worker_id.is_empty()).then(|| e.worker_id.clone()),
            worker_name: names.name(&e.worker_id).map(str::to_string),
            detail: e.detail.clone(),
        }
    }
}

/// `SEQ  TIME  EVENT  TASK  ATTEMPT  WORKER  DETAIL`, oldest first.
pub fn history_table(events: &[pb::RunEvent], names: &WorkerNames) -> Table {
    let mut table = Table::new(&["seq", "time", "event", "task", "attempt", "worker", "detail"]);
    for e in events {
        let task = if e.task.is_empty() { String::new() } else { format!("{}/{}", e.workflow, e.task) };
        table.row(vec![
            e.seq.to_string(),
            rfc3339(e.at_ms).unwrap_or_default(),
            event_kind_name(e.kind),
            task,
            if e.attempt == 0 { String::new() } else { e.attempt.to_string() },
            names.label(&e.worker_id),
            truncate(&e.detail, DETAIL_WIDTH),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::test_fixtures::names;

    const T0: i64 = 1_700_000_000_000;

    fn events() -> Vec<pb::RunEvent> {
        let e = |seq: u64, kind: pb::EventKind, task: &str, attempt: u32, worker: &str, detail: &str| pb::RunEvent {
            run_id: "r1".into(),
            seq,
            at_ms: T0 + seq as i64 * 10,
            kind: kind as i32,
            workflow: if task.is_empty() { String::new() } else { "billing".into() },
            task: task.into(),
            attempt,
            worker_id: worker.into(),
            detail: detail.into(),
        };
        vec![
            e(1, pb::EventKind::RunStarted, "", 0, "", ""),
            e(2, pb::EventKind::TaskAssigned, "charge", 1, "0190bbbb-0000-7000-8000-0000deadbeef", ""),
            e(3, pb::EventKind::TaskRetrying, "charge", 1, "0190cccc-0000-7000-8000-00000000cafe", "lease\nlost"),
            e(4, pb::EventKind::RunSucceeded, "", 0, "", ""),
        ]
    }

    #[test]
    fn the_table_has_one_row_per_event_in_order() {
        let text = history_table(&events(), &names()).render();
        let expected = "\
SEQ  TIME                      EVENT          TASK            ATTEMPT  WORKER     DETAIL
1    2023-11-14T22:13:20.010Z  run_started
2    2023-11-14T22:13:20.020Z  task_assigned  billing/charge  1        w-1
3    2023-11-14T22:13:20.030Z  task_retrying  billing/charge  1        …0000cafe  lease lost
4    2023-11-14T22:13:20.040Z  run_succeeded
";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_keeps_ids_names_and_the_whole_detail() {
        let events = events();
        let view = serde_json::to_value(HistoryEventView::new(&events[1], &names())).unwrap();
        assert_eq!(view["kind"], "task_assigned");
        assert_eq!(view["worker_name"], "w-1");
        assert_eq!(view["at_ms"], T0 + 20);
        let view = serde_json::to_value(HistoryEventView::new(&events[2], &names())).unwrap();
        assert_eq!(view["detail"], "lease\nlost");
        assert_eq!(view["worker_name"], serde_json::Value::Null);
        let view = serde_json::to_value(HistoryEventView::new(&events[0], &names())).unwrap();
        assert_eq!(view["worker_id"], serde_json::Value::Null);
        assert_eq!(view["attempt"], 0);
    }
}

//! Rows to records, once for every SQL backend: the queries (`SELECT_*`, the key columns
//! first, as the quarantine needs them), and decoders that say which column is what and
//! check each value's range (a state code, a count that must fit `u32`). A backend only says
//! how to read one column of its row type ([`Columns`]). A failure names the column, and the
//! backend quarantines the row.
use uuid::Uuid;
use weft_engine::{EventKind, TaskError};
use weft_model::{RunId, WorkerId};

use crate::codes::{run_status, task_state};
use crate::{RunEvent, StoredDefinition, StoredRun, StoredTask};

/// The queries whose rows the decoders below read, in the order restore needs them.
pub const SELECT_DEFINITIONS: &str = "SELECT name, version, spec, created_at FROM definitions ORDER BY name, version";
pub const SELECT_RUNS: &str = "SELECT id, spec, def_name, def_version, idempotency_key, input, created_at, status, \
     reason, finished_at FROM runs ORDER BY id";
pub const SELECT_TASKS: &str = "SELECT run, idx, state, attempt, worker, ready_at, started_at, finished_at, result, \
     error, error_retryable, retry_at FROM tasks ORDER BY run, idx";
pub const SELECT_EVENTS: &str =
    "SELECT run, seq, at, kind, workflow, task, attempt, worker, detail FROM events ORDER BY run, seq";

/// One column of a row, read as a backend stores it. Each error names the column.
pub trait Columns {
    fn text(&self, i: usize, name: &str) -> Result<String, String>;
    fn opt_text(&self, i: usize, name: &str) -> Result<Option<String>, String>;
    fn int(&self, i: usize, name: &str) -> Result<i64, String>;
    fn opt_int(&self, i: usize, name: &str) -> Result<Option<i64>, String>;
    fn id(&self, i: usize, name: &str) -> Result<Uuid, String>;
    fn opt_id(&self, i: usize, name: &str) -> Result<Option<Uuid>, String>;
    fn opt_bool(&self, i: usize, name: &str) -> Result<Option<bool>, String>;
}

fn u32_of(v: i64, name: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{name}: {v} is out of range"))
}

fn code_of(v: i64, name: &str) -> Result<u8, String> {
    u8::try_from(v).map_err(|_| format!("{name}: unknown code {v}"))
}

pub fn definition(r: &impl Columns) -> Result<StoredDefinition, String> {
    Ok(StoredDefinition {
        name: r.text(0, "name")?.into(),
        version: u32_of(r.int(1, "version")?, "version")?,
        spec_json: r.text(2, "spec")?.into(),
        created_at: r.int(3, "created_at")?,
    })
}

pub fn run(r: &impl Columns) -> Result<StoredRun, String> {
    let status = code_of(r.int(7, "status")?, "status")?;
    let def_version = r.opt_int(3, "def_version")?.map(|v| u32_of(v, "def_version")).transpose()?;
    Ok(StoredRun {
        id: RunId(r.id(0, "id")?),
        spec_json: r.text(1, "spec")?.into(),
        definition: r.opt_text(2, "def_name")?.map(Into::into).zip(def_version),
        idempotency_key: r.opt_text(4, "idempotency_key")?,
        input_json: r.text(5, "input")?.into(),
        created_at: r.int(6, "created_at")?,
        status: run_status(status).ok_or_else(|| format!("status: unknown code {status}"))?,
        reason: r.text(8, "reason")?,
        finished_at: r.opt_int(9, "finished_at")?,
    })
}

pub fn task(r: &impl Columns) -> Result<StoredTask, String> {
    let state = code_of(r.int(2, "state")?, "state")?;
    let error = r.opt_text(9, "error")?;
    let retryable = r.opt_bool(10, "error_retryable")?;
    Ok(StoredTask {
        run: RunId(r.id(0, "run")?),
        index: u32_of(r.int(1, "idx")?, "idx")?,
        state: task_state(state).ok_or_else(|| format!("state: unknown code {state}"))?,
        attempt: u32_of(r.int(3, "attempt")?, "attempt")?,
        worker: r.opt_id(4, "worker")?.map(WorkerId),
        ready_at: r.opt_int(5, "ready_at")?,
        started_at: r.opt_int(6, "started_at")?,
        finished_at: r.opt_int(7, "finished_at")?,
        result: r.opt_text(8, "result")?.map(Into::into),
        error: error.map(|message| TaskError { message, retryable: retryable.unwrap_or(false) }),
        retry_at: r.opt_int(11, "retry_at")?,
    })
}

pub fn event(r: &impl Columns) -> Result<RunEvent, String> {
    let kind = code_of(r.int(3, "kind")?, "kind")?;
    let seq = r.int(1, "seq")?;
    Ok(RunEvent {
        run: RunId(r.id(0, "run")?),
        seq: u64::try_from(seq).map_err(|_| format!("seq: {seq} is negative"))?,
        at: r.int(2, "at")?,
        kind: EventKind::from_code(kind).ok_or_else(|| format!("kind: unknown code {kind}"))?,
        workflow: r.text(4, "workflow")?.into(),
        task: r.text(5, "task")?.into(),
        attempt: u32_of(r.int(6, "attempt")?, "attempt")?,
        worker: r.opt_id(7, "worker")?.map(WorkerId),
        detail: r.text(8, "detail")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of values, as a backend would read them.
    struct Row(Vec<Option<&'static str>>);

    impl Columns for Row {
        fn text(&self, i: usize, name: &str) -> Result<String, String> {
            self.opt_text(i, name)?.ok_or_else(|| format!("{name}: null"))
        }
        fn opt_text(&self, i: usize, _: &str) -> Result<Option<String>, String> {
            Ok(self.0[i].map(String::from))
        }
        fn int(&self, i: usize, name: &str) -> Result<i64, String> {
            self.opt_int(i, name)?.ok_or_else(|| format!("{name}: null"))
        }
        fn opt_int(&self, i: usize, name: &str) -> Result<Option<i64>, String> {
            self.0[i].map(|v| v.parse().map_err(|e| format!("{name}: {e}"))).transpose()
        }
        fn id(&self, i: usize, name: &str) -> Result<Uuid, String> {
            self.opt_id(i, name)?.ok_or_else(|| format!("{name}: null"))
        }
        fn opt_id(&self, i: usize, name: &str) -> Result<Option<Uuid>, String> {
            self.0[i].map(|v| v.parse().map_err(|e| format!("{name}: {e}"))).transpose()
        }
        fn opt_bool(&self, i: usize, _: &str) -> Result<Option<bool>, String> {
            Ok(self.0[i].map(|v| v == "true"))
        }
    }

    #[test]
    fn values_out_of_range_name_their_column() {
        let id = Some("01a23590-18e7-7297-9c41-4aea1b881712");
        let event = |seq: &'static str, kind: &'static str| {
            Row(vec![id, Some(seq), Some("1"), Some(kind), Some("w"), Some("t"), Some("1"), None, Some("")])
        };
        assert!(super::event(&event("3", "5")).is_ok());
        assert_eq!(super::event(&event("-1", "5")).unwrap_err(), "seq: -1 is negative");
        assert_eq!(super::event(&event("3", "250")).unwrap_err(), "kind: unknown code 250");
        assert_eq!(super::event(&event("3", "300")).unwrap_err(), "kind: unknown code 300");
        let definition = |version: &'static str| Row(vec![Some("d"), Some(version), Some("{}"), Some("0")]);
        assert_eq!(super::definition(&definition("-2")).unwrap_err(), "version: -2 is out of range");
        assert_eq!(super::definition(&definition("7")).unwrap().version, 7);
    }
}

//! Rows to records and back: enums as small stable integers, ids as 16-byte blobs.
use rusqlite::types::FromSql;
use rusqlite::{Connection, Row};
use uuid::Uuid;
use weft_engine::{EventKind, TaskError};
use weft_model::{RunId, WorkerId};
use weft_store::codes::{run_status, task_state};
pub use weft_store::codes::{run_status_code, task_state_code};
use weft_store::{
    Error, ObservationKey, RunEvent, Snapshot, StoredDefinition, StoredObservation, StoredRun, StoredTask,
};

use crate::quarantine::{BadRow, DEFINITIONS, EVENTS, RUNS, TASKS, Table, list_quarantine, quarantine_rows};

/// A column read, with the column named on failure.
fn col<T: FromSql>(r: &Row<'_>, i: usize, name: &str) -> Result<T, String> {
    r.get(i).map_err(|e| format!("{name}: {e}"))
}

fn uuid(bytes: Vec<u8>, name: &str) -> Result<Uuid, String> {
    Uuid::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))
}

fn opt_uuid(bytes: Option<Vec<u8>>, name: &str) -> Result<Option<Uuid>, String> {
    bytes.map(|b| uuid(b, name)).transpose()
}

/// Reads every row of one table with `sql` (its key columns first, as [`Table::key`]
/// lists them). A row that does not decode is noted in `bad` and skipped; only a failure
/// to read the table at all is an error.
fn read<T>(
    conn: &Connection,
    table: &'static Table,
    sql: &str,
    decode: impl Fn(&Row<'_>) -> Result<T, String>,
    bad: &mut Vec<BadRow>,
) -> Result<Vec<T>, Error> {
    let backend = |e: rusqlite::Error| Error::Backend(format!("reading {}: {e}", table.name));
    let mut stmt = conn.prepare(sql).map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        match decode(row) {
            Ok(v) => out.push(v),
            Err(reason) => bad.push(BadRow::of(table, row, reason)),
        }
    }
    Ok(out)
}

fn definition(r: &Row<'_>) -> Result<StoredDefinition, String> {
    Ok(StoredDefinition {
        name: col::<String>(r, 0, "name")?.into(),
        version: col(r, 1, "version")?,
        spec_json: col::<String>(r, 2, "spec")?.into(),
        created_at: col(r, 3, "created_at")?,
    })
}

fn run(r: &Row<'_>) -> Result<StoredRun, String> {
    let status: u8 = col(r, 7, "status")?;
    let def_name: Option<String> = col(r, 2, "def_name")?;
    let def_version: Option<u32> = col(r, 3, "def_version")?;
    Ok(StoredRun {
        id: RunId(uuid(col(r, 0, "id")?, "id")?),
        spec_json: col::<String>(r, 1, "spec")?.into(),
        definition: def_name.map(Into::into).zip(def_version),
        idempotency_key: col(r, 4, "idempotency_key")?,
        input_json: col::<String>(r, 5, "input")?.into(),
        created_at: col(r, 6, "created_at")?,
        status: run_status(status).ok_or_else(|| format!("status: unknown code {status}"))?,
        reason: col(r, 8, "reason")?,
        finished_at: col(r, 9, "finished_at")?,
    })
}

fn task(r: &Row<'_>) -> Result<StoredTask, String> {
    let state: u8 = col(r, 2, "state")?;
    let error: Option<String> = col(r, 9, "error")?;
    let retryable: Option<bool> = col(r, 10, "error_retryable")?;
    Ok(StoredTask {
        run: RunId(uuid(col(r, 0, "run")?, "run")?),
        index: col(r, 1, "idx")?,
        state: task_state(state).ok_or_else(|| format!("state: unknown code {state}"))?,
        attempt: col(r, 3, "attempt")?,
        worker: opt_uuid(col(r, 4, "worker")?, "worker")?.map(WorkerId),
        ready_at: col(r, 5, "ready_at")?,
        started_at: col(r, 6, "started_at")?,
        finished_at: col(r, 7, "finished_at")?,
        result: col::<Option<String>>(r, 8, "result")?.map(Into::into),
        error: error.map(|message| TaskError { message, retryable: retryable.unwrap_or(false) }),
        retry_at: col(r, 11, "retry_at")?,
    })
}

fn event(r: &Row<'_>) -> Result<RunEvent, String> {
    let kind: u8 = col(r, 3, "kind")?;
    let seq: i64 = col(r, 1, "seq")?;
    Ok(RunEvent {
        run: RunId(uuid(col(r, 0, "run")?, "run")?),
        seq: u64::try_from(seq).map_err(|_| format!("seq: {seq} is negative"))?,
        at: col(r, 2, "at")?,
        kind: EventKind::from_code(kind).ok_or_else(|| format!("kind: unknown code {kind}"))?,
        workflow: col::<String>(r, 4, "workflow")?.into(),
        task: col::<String>(r, 5, "task")?.into(),
        attempt: col(r, 6, "attempt")?,
        worker: opt_uuid(col(r, 7, "worker")?, "worker")?.map(WorkerId),
        detail: col(r, 8, "detail")?,
    })
}

/// Reads everything back. Rows that do not decode are moved to the quarantine first, in
/// one transaction, and listed with the rest of it.
pub fn load_snapshot(conn: &mut Connection) -> Result<Snapshot, Error> {
    let mut bad = Vec::new();
    let definitions = read(
        conn,
        &DEFINITIONS,
        "SELECT name, version, spec, created_at FROM definitions ORDER BY name, version",
        definition,
        &mut bad,
    )?;
    let runs = read(
        conn,
        &RUNS,
        "SELECT id, spec, def_name, def_version, idempotency_key, input, created_at, status, reason, finished_at \
         FROM runs ORDER BY id",
        run,
        &mut bad,
    )?;
    let tasks = read(
        conn,
        &TASKS,
        "SELECT run, idx, state, attempt, worker, ready_at, started_at, finished_at, result, error, error_retryable, \
         retry_at FROM tasks ORDER BY run, idx",
        task,
        &mut bad,
    )?;
    let events = read(
        conn,
        &EVENTS,
        "SELECT run, seq, at, kind, workflow, task, attempt, worker, detail FROM events ORDER BY run, seq",
        event,
        &mut bad,
    )?;
    if !bad.is_empty() {
        quarantine_rows(conn, &bad, now_ms())?;
    }
    let quarantined = list_quarantine(conn)?;
    let observations = load_observations(conn)?;
    Ok(Snapshot { definitions, runs, tasks, events, observations, quarantined })
}

/// An observation's key as its row's scope and text columns.
pub fn observation_key(key: &ObservationKey) -> (u8, &str, &str, &str) {
    match key {
        ObservationKey::Task { process, workflow, task } => (1, process, workflow, task),
        ObservationKey::Kind { queue, kind } => (2, queue, kind, ""),
    }
}

/// What the cost model learned. Derived data: a row that does not decode is skipped (the
/// model relearns it), never quarantined or fatal.
fn load_observations(conn: &Connection) -> Result<Vec<StoredObservation>, Error> {
    let backend = |e: rusqlite::Error| Error::Backend(format!("reading observations: {e}"));
    let mut stmt = conn
        .prepare("SELECT scope, a, b, c, count, mean_ms FROM observations ORDER BY scope, a, b, c")
        .map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(backend)? {
        let decoded = (|| -> Option<StoredObservation> {
            let text = |i: usize| r.get::<_, String>(i).ok().map(std::sync::Arc::<str>::from);
            let key = match r.get::<_, i64>(0).ok()? {
                1 => ObservationKey::Task { process: text(1)?, workflow: text(2)?, task: text(3)? },
                2 => ObservationKey::Kind { queue: text(1)?, kind: text(2)? },
                _ => return None,
            };
            Some(StoredObservation { key, count: r.get(4).ok()?, mean_ms: r.get(5).ok()? })
        })();
        out.extend(decoded);
    }
    Ok(out)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

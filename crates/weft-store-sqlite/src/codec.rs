//! Rows to records and back: enums as small stable integers, ids as 16-byte blobs.
use rusqlite::{Connection, Row};
use uuid::Uuid;
use weft_engine::{EventKind, TaskError};
use weft_model::{RunId, RunStatus, TaskState, WorkerId};
use weft_store::{Error, RunEvent, Snapshot, StoredDefinition, StoredRun, StoredTask};

pub fn run_status_code(s: RunStatus) -> u8 {
    match s {
        RunStatus::Running => 1,
        RunStatus::Succeeded => 2,
        RunStatus::Failed => 3,
        RunStatus::Cancelled => 4,
    }
}

fn run_status(code: u8) -> Option<RunStatus> {
    Some(match code {
        1 => RunStatus::Running,
        2 => RunStatus::Succeeded,
        3 => RunStatus::Failed,
        4 => RunStatus::Cancelled,
        _ => return None,
    })
}

pub fn task_state_code(s: TaskState) -> u8 {
    match s {
        TaskState::Pending => 1,
        TaskState::Ready => 2,
        TaskState::Assigned => 3,
        TaskState::Running => 4,
        TaskState::Succeeded => 5,
        TaskState::Failed => 6,
        TaskState::Cancelled => 7,
    }
}

fn task_state(code: u8) -> Option<TaskState> {
    Some(match code {
        1 => TaskState::Pending,
        2 => TaskState::Ready,
        3 => TaskState::Assigned,
        4 => TaskState::Running,
        5 => TaskState::Succeeded,
        6 => TaskState::Failed,
        7 => TaskState::Cancelled,
        _ => return None,
    })
}

fn bad(table: &'static str, reason: impl Into<String>) -> Error {
    Error::BadRecord { table, reason: reason.into() }
}

fn uuid(table: &'static str, bytes: Vec<u8>) -> Result<Uuid, Error> {
    Uuid::from_slice(&bytes).map_err(|e| bad(table, format!("id: {e}")))
}

fn opt_uuid(table: &'static str, bytes: Option<Vec<u8>>) -> Result<Option<Uuid>, Error> {
    bytes.map(|b| uuid(table, b)).transpose()
}

fn query<T>(
    conn: &Connection,
    table: &'static str,
    sql: &str,
    decode: impl Fn(&Row<'_>) -> Result<Result<T, Error>, rusqlite::Error>,
) -> Result<Vec<T>, Error> {
    let mut stmt = conn.prepare(sql).map_err(|e| Error::Backend(e.to_string()))?;
    let rows = stmt.query_map([], |row| decode(row)).map_err(|e| Error::Backend(e.to_string()))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(|e| bad(table, e.to_string()))??);
    }
    Ok(out)
}

pub fn load_snapshot(conn: &Connection) -> Result<Snapshot, Error> {
    let definitions = query(
        conn,
        "definitions",
        "SELECT name, version, spec, created_at FROM definitions ORDER BY name, version",
        |r| {
            Ok(Ok(StoredDefinition {
                name: r.get::<_, String>(0)?.into(),
                version: r.get(1)?,
                spec_json: r.get::<_, String>(2)?.into(),
                created_at: r.get(3)?,
            }))
        },
    )?;
    let runs = query(
        conn,
        "runs",
        "SELECT id, spec, def_name, def_version, idempotency_key, input, created_at, status, reason, finished_at \
         FROM runs ORDER BY id",
        |r| {
            let status: u8 = r.get(7)?;
            let def_name: Option<String> = r.get(2)?;
            let def_version: Option<u32> = r.get(3)?;
            Ok((|| {
                Ok(StoredRun {
                    id: RunId(uuid("runs", r.get(0)?)?),
                    spec_json: r.get::<_, String>(1)?.into(),
                    definition: def_name.map(Into::into).zip(def_version),
                    idempotency_key: r.get(4)?,
                    input_json: r.get::<_, String>(5)?.into(),
                    created_at: r.get(6)?,
                    status: run_status(status).ok_or_else(|| bad("runs", format!("status {status}")))?,
                    reason: r.get(8)?,
                    finished_at: r.get(9)?,
                })
            })()
            .map_err(|e: RowError| e.into_store("runs")))
        },
    )?;
    let tasks = query(
        conn,
        "tasks",
        "SELECT run, idx, state, attempt, worker, ready_at, started_at, finished_at, result, error, error_retryable, \
         retry_at FROM tasks ORDER BY run, idx",
        |r| {
            let state: u8 = r.get(2)?;
            let error: Option<String> = r.get(9)?;
            let retryable: Option<bool> = r.get(10)?;
            Ok((|| {
                Ok(StoredTask {
                    run: RunId(uuid("tasks", r.get(0)?)?),
                    index: r.get(1)?,
                    state: task_state(state).ok_or_else(|| bad("tasks", format!("state {state}")))?,
                    attempt: r.get(3)?,
                    worker: opt_uuid("tasks", r.get(4)?)?.map(WorkerId),
                    ready_at: r.get(5)?,
                    started_at: r.get(6)?,
                    finished_at: r.get(7)?,
                    result: r.get::<_, Option<String>>(8)?.map(Into::into),
                    error: error.map(|message| TaskError { message, retryable: retryable.unwrap_or(false) }),
                    retry_at: r.get(11)?,
                })
            })()
            .map_err(|e: RowError| e.into_store("tasks")))
        },
    )?;
    let events = query(
        conn,
        "events",
        "SELECT run, seq, at, kind, workflow, task, attempt, worker, detail FROM events ORDER BY run, seq",
        |r| {
            let kind: u8 = r.get(3)?;
            Ok((|| {
                Ok(RunEvent {
                    run: RunId(uuid("events", r.get(0)?)?),
                    seq: r.get::<_, i64>(1)? as u64,
                    at: r.get(2)?,
                    kind: EventKind::from_code(kind).ok_or_else(|| bad("events", format!("kind {kind}")))?,
                    workflow: r.get::<_, String>(4)?.into(),
                    task: r.get::<_, String>(5)?.into(),
                    attempt: r.get(6)?,
                    worker: opt_uuid("events", r.get(7)?)?.map(WorkerId),
                    detail: r.get(8)?,
                })
            })()
            .map_err(|e: RowError| e.into_store("events")))
        },
    )?;
    Ok(Snapshot { definitions, runs, tasks, events })
}

/// Either a column read failed or a value did not decode.
enum RowError {
    Sql(rusqlite::Error),
    Store(Error),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        RowError::Sql(e)
    }
}

impl From<Error> for RowError {
    fn from(e: Error) -> Self {
        RowError::Store(e)
    }
}

impl RowError {
    fn into_store(self, table: &'static str) -> Error {
        match self {
            RowError::Sql(e) => bad(table, e.to_string()),
            RowError::Store(e) => e,
        }
    }
}

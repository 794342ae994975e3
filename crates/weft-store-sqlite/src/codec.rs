//! Rows to records and back: enums as small stable integers, ids as 16-byte blobs.
use rusqlite::types::FromSql;
use rusqlite::{Connection, Row};
use uuid::Uuid;
pub use weft_store::codes::{run_status_code, task_state_code};
use weft_store::rows::{self, Columns};
use weft_store::{Error, ObservationKey, Snapshot, StoredLimit, StoredObservation, StoredSchedule};

use crate::quarantine::{BadRow, DEFINITIONS, EVENTS, RUNS, TASKS, Table, list_quarantine, quarantine_rows};

/// A row as [`weft_store::rows`] reads it: ids are 16-byte blobs, codes and counts integers.
struct SqliteRow<'a, 'b>(&'a Row<'b>);

impl SqliteRow<'_, '_> {
    fn get<T: FromSql>(&self, i: usize, name: &str) -> Result<T, String> {
        self.0.get(i).map_err(|e| format!("{name}: {e}"))
    }
}

impl Columns for SqliteRow<'_, '_> {
    fn text(&self, i: usize, name: &str) -> Result<String, String> {
        self.get(i, name)
    }
    fn opt_text(&self, i: usize, name: &str) -> Result<Option<String>, String> {
        self.get(i, name)
    }
    fn int(&self, i: usize, name: &str) -> Result<i64, String> {
        self.get(i, name)
    }
    fn opt_int(&self, i: usize, name: &str) -> Result<Option<i64>, String> {
        self.get(i, name)
    }
    fn id(&self, i: usize, name: &str) -> Result<Uuid, String> {
        Uuid::from_slice(&self.get::<Vec<u8>>(i, name)?).map_err(|e| format!("{name}: {e}"))
    }
    fn opt_id(&self, i: usize, name: &str) -> Result<Option<Uuid>, String> {
        let bytes: Option<Vec<u8>> = self.get(i, name)?;
        bytes.map(|b| Uuid::from_slice(&b).map_err(|e| format!("{name}: {e}"))).transpose()
    }
    fn opt_bool(&self, i: usize, name: &str) -> Result<Option<bool>, String> {
        self.get(i, name)
    }
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

/// Reads everything back. Rows that do not decode are moved to the quarantine first, in
/// one transaction, and listed with the rest of it.
pub fn load_snapshot(conn: &mut Connection) -> Result<Snapshot, Error> {
    let mut bad = Vec::new();
    let definitions =
        read(conn, &DEFINITIONS, rows::SELECT_DEFINITIONS, |r| rows::definition(&SqliteRow(r)), &mut bad)?;
    let runs = read(conn, &RUNS, rows::SELECT_RUNS, |r| rows::run(&SqliteRow(r)), &mut bad)?;
    let tasks = read(conn, &TASKS, rows::SELECT_TASKS, |r| rows::task(&SqliteRow(r)), &mut bad)?;
    let events = read(conn, &EVENTS, rows::SELECT_EVENTS, |r| rows::event(&SqliteRow(r)), &mut bad)?;
    if !bad.is_empty() {
        quarantine_rows(conn, &bad, now_ms())?;
    }
    let quarantined = list_quarantine(conn)?;
    let observations = load_observations(conn)?;
    let schedules = load_schedules(conn)?;
    let limits = load_limits(conn)?;
    Ok(Snapshot { definitions, runs, tasks, events, observations, schedules, limits, quarantined })
}

/// Cluster-wide limits as text; the engine decodes them (and names any it cannot).
fn load_limits(conn: &Connection) -> Result<Vec<StoredLimit>, Error> {
    let backend = |e: rusqlite::Error| Error::Backend(format!("reading limits: {e}"));
    let mut stmt = conn.prepare("SELECT name, spec FROM limits ORDER BY name").map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(backend)? {
        if let (Ok(name), Ok(spec_json)) = (r.get::<_, String>(0), r.get::<_, String>(1)) {
            out.push(StoredLimit { name: name.into(), spec_json });
        }
    }
    Ok(out)
}

/// Schedules as text; the engine decodes them (and names any it cannot). A row whose
/// columns are not text is skipped: nothing stored may keep the coordinator from starting.
fn load_schedules(conn: &Connection) -> Result<Vec<StoredSchedule>, Error> {
    let backend = |e: rusqlite::Error| Error::Backend(format!("reading schedules: {e}"));
    let mut stmt = conn.prepare("SELECT name, spec, state FROM schedules ORDER BY name").map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(backend)? {
        let text = |i: usize| r.get::<_, String>(i).ok();
        if let (Some(name), Some(spec_json), Some(state_json)) = (text(0), text(1), text(2)) {
            out.push(StoredSchedule { name: name.into(), spec_json, state_json });
        }
    }
    Ok(out)
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

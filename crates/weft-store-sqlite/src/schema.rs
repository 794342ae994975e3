//! Schema and migrations. Version N is reached by running `MIGRATIONS[..N]` in order; the
//! version is kept in `PRAGMA user_version`.
use rusqlite::Connection;
use weft_store::Error;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE definitions (
        name TEXT NOT NULL, version INTEGER NOT NULL, spec TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        id BLOB PRIMARY KEY, spec TEXT NOT NULL, def_name TEXT, def_version INTEGER,
        idempotency_key TEXT, input TEXT NOT NULL, created_at INTEGER NOT NULL,
        status INTEGER NOT NULL, reason TEXT NOT NULL, finished_at INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE tasks (
        run BLOB NOT NULL, idx INTEGER NOT NULL, state INTEGER NOT NULL, attempt INTEGER NOT NULL,
        worker BLOB, ready_at INTEGER, started_at INTEGER, finished_at INTEGER,
        result TEXT, error TEXT, error_retryable INTEGER, retry_at INTEGER,
        PRIMARY KEY (run, idx)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        run BLOB NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, kind INTEGER NOT NULL,
        workflow TEXT NOT NULL, task TEXT NOT NULL, attempt INTEGER NOT NULL, worker BLOB, detail TEXT NOT NULL,
        PRIMARY KEY (run, seq)
    ) WITHOUT ROWID;",
    // 2: records set aside because they cannot be decoded or restored (weft_store::quarantine):
    // `tbl` is the table they came from, `key` their key as text, `record` the row as a JSON
    // object of its columns.
    "CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, key TEXT NOT NULL, reason TEXT NOT NULL,
        record TEXT NOT NULL, at INTEGER NOT NULL
    );",
    // 3: what the cost model learned (weft_engine::StoredObservation): scope 1 is a task
    // (a, b, c = process, workflow, task), scope 2 a kind on a queue (a, b = queue, kind).
    "CREATE TABLE observations (
        scope INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, c TEXT NOT NULL,
        count INTEGER NOT NULL, mean_ms REAL NOT NULL,
        PRIMARY KEY (scope, a, b, c)
    ) WITHOUT ROWID;",
    // 4: schedules (weft_engine::schedules::StoredSchedule): the spec and what it has done,
    // as JSON text the engine reads back (and refuses, naming it, if it cannot).
    "CREATE TABLE schedules (
        name TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL
    ) WITHOUT ROWID;",
    // 5: limits set for the whole cluster (weft_engine::cluster_limits::StoredLimit): their
    // bounds as JSON text.
    "CREATE TABLE limits (name TEXT PRIMARY KEY, spec TEXT NOT NULL) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub fn migrate(conn: &Connection, path: &str) -> Result<(), Error> {
    let found: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| Error::Corrupt { path: path.to_string(), reason: e.to_string() })?;
    if found > SCHEMA_VERSION {
        return Err(Error::NewerSchema { path: path.to_string(), found, supported: SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as u32 + 1;
        let script = format!("BEGIN; {sql}; PRAGMA user_version = {version}; COMMIT;");
        conn.execute_batch(&script)
            .map_err(|e| Error::Backend(format!("{path}: migration to schema version {version} failed: {e}")))?;
    }
    Ok(())
}

//! The embedded default store: one SQLite database, `weft.db`, in the coordinator's data
//! directory. WAL journal; in [`Durability::Full`] (the default) every commit is fsync'd
//! before it returns, so an acknowledged change survives SIGKILL and power loss.
//!
//! - The schema version lives in `PRAGMA user_version`; migrations run at open; a store
//!   written by a newer weft is refused, never rewritten.
//! - The database is opened in exclusive locking mode: a second coordinator on the same
//!   data directory is refused at start.
//! - A damaged file is reported as [`Error::Corrupt`] (a `quick_check` runs at open).
//! - A row that does not decode is moved to the `quarantine` table by `load`, never an
//!   error (`quarantine`).
mod codec;
mod mounts;
mod quarantine;
mod schema;

use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};
use weft_store::{Batch, Error, Quarantine, Quarantined, Snapshot, Store};

use codec::*;

/// How hard a commit works to survive a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// fsync on every commit (`synchronous=FULL`): survives SIGKILL and machine crashes.
    #[default]
    Full,
    /// fsync only at checkpoints (`synchronous=NORMAL`): survives SIGKILL of the coordinator,
    /// but a machine crash can lose the last commits. Faster; not the default.
    Relaxed,
}

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "weft.db";

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    info: weft_store::StoreInfo,
}

fn backend(e: rusqlite::Error) -> Error {
    Error::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, durability: Durability) -> Result<SqliteStore, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Backend(format!("cannot create data directory {}: {e}", dir.display())))?;
        let path = dir.join(DB_FILE);
        let shown = path.display().to_string();
        let corrupt = |e: rusqlite::Error| classify(&shown, e);
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
                .map_err(corrupt)?;
        // Nobody else may hold the file: fail at once rather than wait for a lock.
        conn.busy_timeout(std::time::Duration::ZERO).map_err(corrupt)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(corrupt)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(corrupt)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Backend(format!("{shown}: could not switch to WAL journal (got {mode})")));
        }
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Relaxed => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync).map_err(corrupt)?;
        // Take the exclusive lock now, so a second coordinator fails at start, not later.
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;").map_err(corrupt)?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(corrupt)?;
        if check != "ok" {
            return Err(Error::Corrupt { path: shown, reason: check });
        }
        schema::migrate(&conn, &shown)?;
        // Report what SQLite actually does, not what was asked for.
        let synchronous: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(corrupt)?;
        let (setting, durability) = match synchronous {
            0 => ("OFF", weft_store::Durability::None),
            1 => ("NORMAL", weft_store::Durability::Relaxed),
            2 => ("FULL", weft_store::Durability::Full),
            _ => ("EXTRA", weft_store::Durability::Full),
        };
        let info = weft_store::StoreInfo {
            backend: "sqlite",
            durability,
            location: shown.clone(),
            filesystem: mounts::filesystem_of(dir).unwrap_or_default(),
            setting: format!("synchronous={setting}"),
        };
        Ok(SqliteStore { conn, path, info })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Errors that mean "this file is not a healthy database" become [`Error::Corrupt`].
fn classify(path: &str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            Error::Corrupt { path: path.to_string(), reason: e.to_string() }
        }
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            Error::Backend(format!("{path} is in use by another coordinator"))
        }
        _ => Error::Backend(format!("{path}: {e}")),
    }
}

impl Store for SqliteStore {
    fn info(&self) -> weft_store::StoreInfo {
        self.info.clone()
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), Error> {
        let tx = self.conn.transaction().map_err(backend)?;
        {
            let mut def = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO definitions (name, version, spec, created_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(backend)?;
            for d in &batch.definitions {
                def.execute(params![&*d.name, d.version, &*d.spec_json, d.created_at]).map_err(backend)?;
            }
            let mut run = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO runs (id, spec, def_name, def_version, idempotency_key, input, created_at, \
                     status, reason, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(backend)?;
            for r in &batch.runs {
                run.execute(params![
                    r.id.0.as_bytes(),
                    &*r.spec_json,
                    r.definition.as_ref().map(|d| &*d.0),
                    r.definition.as_ref().map(|d| d.1),
                    r.idempotency_key,
                    &*r.input_json,
                    r.created_at,
                    run_status_code(r.status),
                    r.reason,
                    r.finished_at,
                ])
                .map_err(backend)?;
            }
            let mut task = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO tasks (run, idx, state, attempt, worker, ready_at, started_at, finished_at, \
                     result, error, error_retryable, retry_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(backend)?;
            for t in &batch.tasks {
                task.execute(params![
                    t.run.0.as_bytes(),
                    t.index,
                    task_state_code(t.state),
                    t.attempt,
                    t.worker.map(|w| w.0.as_bytes().to_vec()),
                    t.ready_at,
                    t.started_at,
                    t.finished_at,
                    t.result.as_deref(),
                    t.error.as_ref().map(|e| &e.message),
                    t.error.as_ref().map(|e| e.retryable),
                    t.retry_at,
                ])
                .map_err(backend)?;
            }
            let mut event = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO events (run, seq, at, kind, workflow, task, attempt, worker, detail) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(backend)?;
            for e in &batch.events {
                event
                    .execute(params![
                        e.run.0.as_bytes(),
                        e.seq as i64,
                        e.at,
                        e.kind.code(),
                        &*e.workflow,
                        &*e.task,
                        e.attempt,
                        e.worker.map(|w| w.0.as_bytes().to_vec()),
                        e.detail,
                    ])
                    .map_err(backend)?;
            }
            let mut observation = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO observations (scope, a, b, c, count, mean_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(backend)?;
            for o in &batch.observations {
                let (scope, a, b, c) = observation_key(&o.key);
                observation.execute(params![scope, a, b, c, o.count, o.mean_ms]).map_err(backend)?;
            }
            let mut schedule = tx
                .prepare_cached("INSERT OR REPLACE INTO schedules (name, spec, state) VALUES (?1, ?2, ?3)")
                .map_err(backend)?;
            for s in &batch.schedules {
                schedule.execute(params![&*s.name, s.spec_json, s.state_json]).map_err(backend)?;
            }
            let mut unschedule = tx.prepare_cached("DELETE FROM schedules WHERE name = ?1").map_err(backend)?;
            for name in &batch.deleted_schedules {
                unschedule.execute(params![&**name]).map_err(backend)?;
            }
            let mut limit =
                tx.prepare_cached("INSERT OR REPLACE INTO limits (name, spec) VALUES (?1, ?2)").map_err(backend)?;
            for l in &batch.limits {
                limit.execute(params![&*l.name, l.spec_json]).map_err(backend)?;
            }
            let mut unlimit = tx.prepare_cached("DELETE FROM limits WHERE name = ?1").map_err(backend)?;
            for name in &batch.deleted_limits {
                unlimit.execute(params![&**name]).map_err(backend)?;
            }
            for id in &batch.expired {
                for table in [
                    "DELETE FROM tasks WHERE run = ?1",
                    "DELETE FROM events WHERE run = ?1",
                    "DELETE FROM runs WHERE id = ?1",
                ] {
                    tx.prepare_cached(table).map_err(backend)?.execute(params![id.0.as_bytes()]).map_err(backend)?;
                }
            }
        }
        tx.commit().map_err(backend)
    }

    fn load(&mut self) -> Result<Snapshot, Error> {
        load_snapshot(&mut self.conn)
    }

    fn quarantine(&mut self, records: &[Quarantine]) -> Result<Vec<Quarantined>, Error> {
        quarantine::quarantine_records(&mut self.conn, records)
    }

    /// SQLite's online backup API, all pages in one step on the store's own connection (the
    /// file is locked exclusively, so no other connection could read it), then the copy is
    /// opened and checked (`PRAGMA integrity_check`) and synced to disk.
    fn backup(&mut self, dest: &Path) -> Result<weft_store::BackupInfo, Error> {
        let shown = dest.display().to_string();
        let failed = |e: rusqlite::Error| Error::Backend(format!("backup to {shown}: {e}"));
        if dest.exists() {
            return Err(Error::Backend(format!("backup to {shown}: the file exists")));
        }
        let mut copy = Connection::open(dest).map_err(failed)?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy).map_err(failed)?;
            // -1: every page in one step, so the copy is one consistent snapshot.
            let step = backup.step(-1).map_err(failed)?;
            if step != rusqlite::backup::StepResult::Done {
                return Err(Error::Backend(format!("backup to {shown}: the copy did not complete ({step:?})")));
            }
        }
        let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(failed)?;
        if check != "ok" {
            return Err(Error::Backend(format!("backup to {shown}: the copy fails its integrity check: {check}")));
        }
        let version: u32 = copy.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(failed)?;
        drop(copy);
        let file = std::fs::File::open(dest).map_err(|e| Error::Backend(format!("backup to {shown}: {e}")))?;
        file.sync_all().map_err(|e| Error::Backend(format!("backup to {shown}: {e}")))?;
        let bytes = file.metadata().map_err(|e| Error::Backend(format!("backup to {shown}: {e}")))?.len();
        Ok(weft_store::BackupInfo { bytes, schema_version: version })
    }
}

#[cfg(test)]
mod tests;

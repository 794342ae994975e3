//! Schema and migrations. Version N is reached by running `MIGRATIONS[..N]` in order; the
//! version is the one row of `weft_schema`. Coordinators starting together on a new database
//! migrate one at a time (a transaction-scoped advisory lock), each in one transaction.
use postgres::Client;
use weft_store::Error;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema: the records (as the SQLite store keeps them, with native types),
    // the quarantine, and the leader's lease (one row; see `lease`).
    "CREATE TABLE definitions (
        name text NOT NULL, version bigint NOT NULL, spec text NOT NULL, created_at bigint NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE runs (
        id uuid PRIMARY KEY, spec text NOT NULL, def_name text, def_version bigint,
        idempotency_key text, input text NOT NULL, created_at bigint NOT NULL,
        status smallint NOT NULL, reason text NOT NULL, finished_at bigint
    );
    CREATE TABLE tasks (
        run uuid NOT NULL, idx bigint NOT NULL, state smallint NOT NULL, attempt bigint NOT NULL,
        worker uuid, ready_at bigint, started_at bigint, finished_at bigint,
        result text, error text, error_retryable boolean, retry_at bigint,
        PRIMARY KEY (run, idx)
    );
    CREATE TABLE events (
        run uuid NOT NULL, seq bigint NOT NULL, at bigint NOT NULL, kind smallint NOT NULL,
        workflow text NOT NULL, task text NOT NULL, attempt bigint NOT NULL, worker uuid, detail text NOT NULL,
        PRIMARY KEY (run, seq)
    );
    CREATE TABLE quarantine (
        id bigserial PRIMARY KEY, tbl text NOT NULL, key text NOT NULL, reason text NOT NULL,
        record text NOT NULL, at bigint NOT NULL
    );
    CREATE TABLE weft_leader (
        id smallint PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, holder text NOT NULL,
        address text NOT NULL, expires_at timestamptz NOT NULL
    );
    INSERT INTO weft_leader VALUES (1, 0, '', '', '-infinity');",
    // 2: what the cost model learned (weft_engine::StoredObservation): scope 1 is a task
    // (a, b, c = process, workflow, task), scope 2 a kind on a queue (a, b = queue, kind).
    "CREATE TABLE observations (
        scope smallint NOT NULL, a text NOT NULL, b text NOT NULL, c text NOT NULL,
        count bigint NOT NULL, mean_ms double precision NOT NULL,
        PRIMARY KEY (scope, a, b, c)
    );",
    // 3: schedules (weft_engine::schedules::StoredSchedule): the spec and what it has done,
    // as JSON text the engine reads back (and refuses, naming it, if it cannot).
    "CREATE TABLE schedules (name text PRIMARY KEY, spec text NOT NULL, state text NOT NULL);",
    // 4: limits set for the whole cluster (weft_engine::cluster_limits::StoredLimit).
    "CREATE TABLE limits (name text PRIMARY KEY, spec text NOT NULL);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database to [`SCHEMA_VERSION`]; refuses one written by a newer weft.
pub fn migrate(client: &mut Client, shown: &str) -> Result<(), Error> {
    let failed = |e: postgres::Error| Error::Backend(format!("{shown}: reading the schema version: {e}"));
    let mut tx = client.transaction().map_err(failed)?;
    // Any fixed key: only weft's own migrations take it.
    tx.execute("SELECT pg_advisory_xact_lock(7457356)", &[]).map_err(failed)?;
    // No "already exists" notices at every start.
    tx.batch_execute("SET LOCAL client_min_messages = warning").map_err(failed)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS weft_schema (version integer NOT NULL)").map_err(failed)?;
    let found: u32 = match tx.query_opt("SELECT version FROM weft_schema", &[]).map_err(failed)? {
        Some(row) => {
            let v: i32 = row.try_get(0).map_err(failed)?;
            u32::try_from(v).map_err(|_| Error::Corrupt {
                path: shown.to_string(),
                reason: format!("weft_schema holds version {v}"),
            })?
        }
        None => {
            tx.execute("INSERT INTO weft_schema VALUES (0)", &[]).map_err(failed)?;
            0
        }
    };
    if found > SCHEMA_VERSION {
        return Err(Error::NewerSchema { path: shown.to_string(), found, supported: SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i32 + 1;
        let step =
            |e: postgres::Error| Error::Backend(format!("{shown}: migration to schema version {version} failed: {e}"));
        tx.batch_execute(sql).map_err(step)?;
        tx.execute("UPDATE weft_schema SET version = $1", &[&version]).map_err(step)?;
    }
    tx.commit().map_err(failed)
}

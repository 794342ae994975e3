//! The store for several coordinators: PostgreSQL, shared by every coordinator of a cluster,
//! of which one leads at a time under a lease ([`lease`]).
//!
//! - Group commit as on SQLite: the commit thread hands [`PgStore::commit`] one group, which
//!   is one transaction; each kind of record is written by one multi-row upsert (`unnest` of
//!   arrays), so a group costs a handful of round trips whatever its size.
//! - Fencing: a store is opened for an epoch of the lease and every transaction first checks,
//!   under a row lock, that the epoch is still the current one ([`lease::FENCE`]); a deposed
//!   leader's commit fails with [`Error::Fenced`] and writes nothing.
//! - The schema version lives in `weft_schema`; migrations run at open; a database written by
//!   a newer weft is refused, never rewritten.
//! - Rows that do not decode are moved to the `quarantine` table by `load`, as on SQLite.
//! - Built on `postgres` (the synchronous face of `tokio-postgres`): the store runs on the
//!   commit thread, which blocks by design; `tokio-postgres` builds in about half the time of
//!   sqlx and needs no macros or build-time database. Plain TCP (no TLS to the database): run
//!   PostgreSQL on a private network or loopback.
mod codec;
pub mod lease;
mod schema;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod write;

use postgres::{Client, NoTls};
use std::time::Duration;
use weft_store::{Batch, Error, Quarantine, Quarantined, Snapshot, Store};

pub use lease::{LeaseClient, LeaseError, LeaseState};
pub use schema::SCHEMA_VERSION;

/// How long an open transaction may sit idle before PostgreSQL ends its session: a leader
/// paused in the middle of a commit must not hold the lease row's lock (and so block every
/// takeover) for longer than this. A commit never waits on its client for this long.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to wait for PostgreSQL to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `postgres://` URL, checked, with its password hidden when shown.
#[derive(Clone)]
pub struct PgUrl {
    url: String,
    shown: String,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgUrl {
    /// Accepts `postgres://` and `postgresql://` URLs that PostgreSQL's own parser reads.
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("must start with postgres:// or postgresql://".into());
        }
        let config: postgres::Config = url.parse().map_err(|e: postgres::Error| format!("invalid URL: {e}"))?;
        if config.get_hosts().is_empty() {
            return Err("names no host (postgres://USER@HOST:PORT/DATABASE)".into());
        }
        let db = config.get_dbname().unwrap_or("(the user's name)");
        let user = config.get_user().unwrap_or("(unset)");
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
            .map(|(h, p)| match h {
                postgres::config::Host::Tcp(name) => format!("{name}:{p}"),
                postgres::config::Host::Unix(path) => format!("{}:{p}", path.display()),
            })
            .collect();
        Ok(PgUrl { url: url.to_string(), shown: format!("postgres://{user}@{}/{db}", hosts.join(",")) })
    }

    /// The URL to connect with (password included).
    pub fn secret(&self) -> &str {
        &self.url
    }

    /// The URL without its password, for logs and errors.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The chain of causes of a PostgreSQL error, on one line (`Display` alone says "db error").
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.code().code(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn connect(url: &PgUrl, application: &str) -> Result<Client, Error> {
    let mut config: postgres::Config =
        url.secret().parse().map_err(|e: postgres::Error| Error::Backend(format!("{}: {e}", url.shown())))?;
    config.connect_timeout(CONNECT_TIMEOUT).application_name(application);
    config
        .connect(NoTls)
        .map_err(|e| Error::Backend(format!("cannot connect to PostgreSQL at {}: {}", url.shown(), describe(&e))))
}

/// Connects, checks the schema and migrates it: what a coordinator does at start, so a bad
/// URL, an unreachable server or a newer schema stops it with a clear error.
pub fn prepare(url: &PgUrl) -> Result<(), Error> {
    let mut client = connect(url, "weft-coordinator")?;
    schema::migrate(&mut client, url.shown())
}

pub struct PgStore {
    /// Always `Some` but in `drop`: see there.
    client: Option<Client>,
    url: PgUrl,
    /// The lease epoch this store writes under.
    epoch: u64,
    info: weft_store::StoreInfo,
}

impl PgStore {
    /// Opens the store for a leader holding `epoch` of the lease (migrating the schema if
    /// needed). Blocking: call it off the async runtime.
    pub fn open(url: &PgUrl, epoch: u64) -> Result<PgStore, Error> {
        let mut client = connect(url, "weft-coordinator store")?;
        schema::migrate(&mut client, url.shown())?;
        let timeout = IDLE_IN_TRANSACTION_TIMEOUT.as_millis();
        client
            .batch_execute(&format!("SET idle_in_transaction_session_timeout = {timeout}"))
            .map_err(|e| Error::Backend(format!("{}: {}", url.shown(), describe(&e))))?;
        let show = |client: &mut Client, name: &str| -> Result<String, Error> {
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .map_err(|e| Error::Backend(format!("{}: SHOW {name}: {}", url.shown(), describe(&e))))?;
            row.try_get(0).map_err(|e| Error::Backend(format!("{}: SHOW {name}: {}", url.shown(), describe(&e))))
        };
        let fsync = show(&mut client, "fsync")?;
        let synchronous_commit = show(&mut client, "synchronous_commit")?;
        // Report what the server does, not what was asked for.
        let durability = match (fsync.as_str(), synchronous_commit.as_str()) {
            ("off", _) => weft_store::Durability::None,
            (_, "off") => weft_store::Durability::Relaxed,
            _ => weft_store::Durability::Full,
        };
        let info = weft_store::StoreInfo {
            backend: "postgres",
            durability,
            location: url.shown().to_string(),
            filesystem: String::new(),
            setting: format!("synchronous_commit={synchronous_commit}, fsync={fsync}"),
        };
        Ok(PgStore { client: Some(client), url: url.clone(), epoch, info })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn client(&mut self) -> Result<&mut Client, Error> {
        self.client.as_mut().ok_or_else(|| Error::Backend("the store is closed".into()))
    }
}

/// The synchronous client owns a small runtime of its own, which must not be dropped on an
/// async runtime's thread (tokio refuses, loudly): a store is dropped wherever its owner
/// happens to be, so the client is dropped on a thread of its own.
impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = std::thread::Builder::new().name("weft-store-close".into()).spawn(move || drop(client));
        }
    }
}

impl Store for PgStore {
    fn info(&self) -> weft_store::StoreInfo {
        self.info.clone()
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), Error> {
        let url = self.url.clone();
        let failed = self_backend(&url);
        let epoch = self.epoch;
        let mut tx = self.client()?.transaction().map_err(&failed)?;
        // Fencing first: the row lock holds any takeover until this transaction ends.
        let current: i64 = tx.query_one(lease::FENCE, &[]).map_err(&failed)?.try_get(0).map_err(&failed)?;
        if current != epoch as i64 {
            return Err(Error::Fenced { held: epoch, current: current.max(0) as u64 });
        }
        write::batch(&mut tx, batch).map_err(&failed)?;
        tx.commit().map_err(&failed)
    }

    fn load(&mut self) -> Result<Snapshot, Error> {
        let shown = self.url.shown().to_string();
        codec::load_snapshot(self.client()?, &shown)
    }

    fn quarantine(&mut self, records: &[Quarantine]) -> Result<Vec<Quarantined>, Error> {
        let url = self.url.clone();
        let failed = self_backend(&url);
        let mut tx = self.client()?.transaction().map_err(&failed)?;
        let mut moved = Vec::new();
        for q in records {
            let (table, key) = codec::locate(&q.key);
            moved.extend(codec::move_row(&mut tx, table, &key, &q.reason, q.at).map_err(&failed)?);
        }
        tx.commit().map_err(&failed)?;
        Ok(moved)
    }

    fn backup(&mut self, _dest: &std::path::Path) -> Result<weft_store::BackupInfo, Error> {
        Err(Error::Unsupported(
            "a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump, or a base backup with WAL archiving)"
                .into(),
        ))
    }
}

fn self_backend(url: &PgUrl) -> impl Fn(postgres::Error) -> Error + '_ {
    move |e| Error::Backend(format!("{}: {}", url.shown(), describe(&e)))
}

#[cfg(test)]
mod tests;

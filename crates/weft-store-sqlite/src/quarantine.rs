//! The `quarantine` table: rows moved out of the live tables because they cannot be
//! decoded (found by `load`) or restored (named by the coordinator through
//! `Store::quarantine`). A row is copied there as a JSON object of its columns and deleted
//! from its table in the same transaction, so it is kept, never loaded as a record again,
//! and never overwritten by a later write under the same key.
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, params, params_from_iter};
use uuid::Uuid;
use weft_store::{Error, Quarantine, Quarantined, RecordKey};

/// A live table and its key columns.
pub struct Table {
    pub name: &'static str,
    /// The primary key's columns, in order; `load` selects them first.
    key: &'static [&'static str],
    /// Between the key's columns when written as text (as `RecordKey` writes keys).
    sep: &'static str,
}

pub static DEFINITIONS: Table =
    Table { name: weft_store::quarantine::DEFINITIONS, key: &["name", "version"], sep: "@" };
pub static RUNS: Table = Table { name: weft_store::quarantine::RUNS, key: &["id"], sep: "" };
pub static TASKS: Table = Table { name: weft_store::quarantine::TASKS, key: &["run", "idx"], sep: "#" };
pub static EVENTS: Table = Table { name: weft_store::quarantine::EVENTS, key: &["run", "seq"], sep: "/" };

/// A column value exactly as SQLite holds it, text that is not UTF-8 included, so that a
/// row that does not decode can still be found again by its key.
#[derive(Clone, Debug)]
enum Raw {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Raw {
    fn of(v: ValueRef<'_>) -> Raw {
        match v {
            ValueRef::Null => Raw::Null,
            ValueRef::Integer(i) => Raw::Integer(i),
            ValueRef::Real(f) => Raw::Real(f),
            ValueRef::Text(t) => Raw::Text(t.to_vec()),
            ValueRef::Blob(b) => Raw::Blob(b.to_vec()),
        }
    }

    /// As shown to an operator: ids as UUIDs, other bytes in hex, text as text.
    fn text(&self) -> String {
        match self {
            Raw::Null => "null".into(),
            Raw::Integer(i) => i.to_string(),
            Raw::Real(f) => f.to_string(),
            Raw::Text(t) => String::from_utf8_lossy(t).into_owned(),
            Raw::Blob(b) => match Uuid::from_slice(b) {
                Ok(id) => id.to_string(),
                Err(_) => format!("x'{}'", hex(b)),
            },
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Raw::Null => serde_json::Value::Null,
            Raw::Integer(i) => (*i).into(),
            Raw::Real(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            other => other.text().into(),
        }
    }
}

impl ToSql for Raw {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Raw::Null => ValueRef::Null,
            Raw::Integer(i) => ValueRef::Integer(*i),
            Raw::Real(f) => ValueRef::Real(*f),
            Raw::Text(t) => ValueRef::Text(t),
            Raw::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A row `load` could not decode: its table, its key as stored, and why.
pub struct BadRow {
    table: &'static Table,
    key: Vec<Raw>,
    reason: String,
}

impl BadRow {
    /// `row` has the table's key columns first.
    pub fn of(table: &'static Table, row: &Row<'_>, reason: String) -> BadRow {
        let key = (0..table.key.len()).map(|i| row.get_ref(i).map_or(Raw::Null, Raw::of)).collect();
        BadRow { table, key, reason }
    }
}

fn key_text(table: &Table, key: &[Raw]) -> String {
    key.iter().map(Raw::text).collect::<Vec<_>>().join(table.sep)
}

fn locate(key: &RecordKey) -> (&'static Table, Vec<Raw>) {
    let id = |run: &weft_model::RunId| Raw::Blob(run.0.as_bytes().to_vec());
    match key {
        RecordKey::Definition { name, version } => {
            (&DEFINITIONS, vec![Raw::Text(name.as_bytes().to_vec()), Raw::Integer(i64::from(*version))])
        }
        RecordKey::Run(run) => (&RUNS, vec![id(run)]),
        RecordKey::Task { run, index } => (&TASKS, vec![id(run), Raw::Integer(i64::from(*index))]),
        // Sequence numbers are stored as i64 (see `commit`).
        RecordKey::Event { run, seq } => (&EVENTS, vec![id(run), Raw::Integer(*seq as i64)]),
    }
}

fn backend(e: rusqlite::Error) -> Error {
    Error::Backend(format!("quarantine: {e}"))
}

/// Copies the row of `table` with `key` into the quarantine and deletes it; `None` when
/// there is no such row. Run inside a transaction.
fn move_row(
    conn: &Connection,
    table: &Table,
    key: &[Raw],
    reason: &str,
    at: i64,
) -> Result<Option<Quarantined>, Error> {
    let matches =
        table.key.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 1)).collect::<Vec<_>>().join(" AND ");
    let record = {
        let mut stmt =
            conn.prepare_cached(&format!("SELECT * FROM {} WHERE {matches}", table.name)).map_err(backend)?;
        let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let mut rows = stmt.query(params_from_iter(key)).map_err(backend)?;
        let Some(row) = rows.next().map_err(backend)? else { return Ok(None) };
        let mut fields = serde_json::Map::new();
        for (i, name) in names.into_iter().enumerate() {
            fields.insert(name, row.get_ref(i).map_or(Raw::Null, Raw::of).json());
        }
        serde_json::Value::Object(fields).to_string()
    };
    let key_text = key_text(table, key);
    conn.prepare_cached("INSERT INTO quarantine (tbl, key, reason, record, at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .and_then(|mut s| s.execute(params![table.name, key_text, reason, record, at]))
        .map_err(backend)?;
    conn.prepare_cached(&format!("DELETE FROM {} WHERE {matches}", table.name))
        .and_then(|mut s| s.execute(params_from_iter(key)))
        .map_err(backend)?;
    Ok(Some(Quarantined { table: table.name.to_string(), key: key_text, reason: reason.to_string(), record, at }))
}

/// Moves rows `load` could not decode, in one transaction.
pub fn quarantine_rows(conn: &mut Connection, bad: &[BadRow], at: i64) -> Result<(), Error> {
    let tx = conn.transaction().map_err(backend)?;
    for b in bad {
        move_row(&tx, b.table, &b.key, &b.reason, at)?;
    }
    tx.commit().map_err(backend)
}

/// Moves decoded records the coordinator cannot restore, in one transaction.
pub fn quarantine_records(conn: &mut Connection, records: &[Quarantine]) -> Result<Vec<Quarantined>, Error> {
    let tx = conn.transaction().map_err(backend)?;
    let mut moved = Vec::new();
    for q in records {
        let (table, key) = locate(&q.key);
        moved.extend(move_row(&tx, table, &key, &q.reason, q.at)?);
    }
    tx.commit().map_err(backend)?;
    Ok(moved)
}

/// Everything in the quarantine, oldest first. Read leniently: the quarantine is for
/// operators, and a damaged entry in it must not stop a start either.
pub fn list_quarantine(conn: &Connection) -> Result<Vec<Quarantined>, Error> {
    let mut stmt = conn.prepare("SELECT tbl, key, reason, record, at FROM quarantine ORDER BY id").map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let text = |i: usize| row.get_ref(i).map_or(Raw::Null, Raw::of).text();
        out.push(Quarantined {
            table: text(0),
            key: text(1),
            reason: text(2),
            record: text(3),
            at: row.get::<_, i64>(4).unwrap_or(0),
        });
    }
    Ok(out)
}

//! Rows to records, and rows into the quarantine. Columns are typed (uuid, bigint, text), so
//! what can fail to decode is a value's range: an unknown state code, a negative sequence
//! number, an index past `u32`.
use postgres::types::{FromSql, ToSql};
use postgres::{Client, GenericClient, Row};
use uuid::Uuid;
use weft_store::rows::{self, Columns};
use weft_store::{
    Error, ObservationKey, Quarantined, RecordKey, Snapshot, StoredLimit, StoredObservation, StoredSchedule,
};

/// A live table and its key columns.
pub struct Table {
    pub name: &'static str,
    key: &'static [&'static str],
    /// Between the key's columns when written as text (as `RecordKey` writes keys).
    sep: &'static str,
}

static DEFINITIONS: Table = Table { name: weft_store::quarantine::DEFINITIONS, key: &["name", "version"], sep: "@" };
static RUNS: Table = Table { name: weft_store::quarantine::RUNS, key: &["id"], sep: "" };
static TASKS: Table = Table { name: weft_store::quarantine::TASKS, key: &["run", "idx"], sep: "#" };
static EVENTS: Table = Table { name: weft_store::quarantine::EVENTS, key: &["run", "seq"], sep: "/" };

/// A key column's value as stored.
#[derive(Debug)]
pub enum KeyValue {
    Text(String),
    Int(i64),
    Id(Uuid),
}

impl KeyValue {
    fn text(&self) -> String {
        match self {
            KeyValue::Text(t) => t.clone(),
            KeyValue::Int(i) => i.to_string(),
            KeyValue::Id(id) => id.to_string(),
        }
    }

    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            KeyValue::Text(t) => t,
            KeyValue::Int(i) => i,
            KeyValue::Id(id) => id,
        }
    }
}

/// Where a record lives: its table and key values.
pub fn locate(key: &RecordKey) -> (&'static Table, Vec<KeyValue>) {
    match key {
        RecordKey::Definition { name, version } => {
            (&DEFINITIONS, vec![KeyValue::Text(name.to_string()), KeyValue::Int(i64::from(*version))])
        }
        RecordKey::Run(run) => (&RUNS, vec![KeyValue::Id(run.0)]),
        RecordKey::Task { run, index } => (&TASKS, vec![KeyValue::Id(run.0), KeyValue::Int(i64::from(*index))]),
        RecordKey::Event { run, seq } => (&EVENTS, vec![KeyValue::Id(run.0), KeyValue::Int(*seq as i64)]),
    }
}

/// Moves the row of `table` with `key` into the quarantine (as JSON of its columns) and
/// deletes it, in one statement; `None` when there is no such row.
pub fn move_row(
    client: &mut impl GenericClient,
    table: &Table,
    key: &[KeyValue],
    reason: &str,
    at: i64,
) -> Result<Option<Quarantined>, postgres::Error> {
    let n = key.len();
    let matches = table.key.iter().enumerate().map(|(i, c)| format!("t.{c} = ${}", i + 1)).collect::<Vec<_>>();
    let sql = format!(
        "WITH moved AS (DELETE FROM {} AS t WHERE {} RETURNING row_to_json(t)::text AS record) \
         INSERT INTO quarantine (tbl, key, reason, record, at) SELECT ${}, ${}, ${}, record, ${} FROM moved \
         RETURNING record",
        table.name,
        matches.join(" AND "),
        n + 1,
        n + 2,
        n + 3,
        n + 4
    );
    let key_text = key.iter().map(KeyValue::text).collect::<Vec<_>>().join(table.sep);
    let reason = crate::write::text(reason).into_owned();
    let mut params: Vec<&(dyn ToSql + Sync)> = key.iter().map(KeyValue::param).collect();
    params.extend([&table.name as &(dyn ToSql + Sync), &key_text, &reason, &at]);
    let row = client.query_opt(&sql, &params)?;
    Ok(row.map(|r| Quarantined {
        table: table.name.to_string(),
        key: key_text,
        reason,
        // Our own statement's text column; never a panic on what the database holds.
        record: r.try_get(0).unwrap_or_default(),
        at,
    }))
}

/// A row as [`weft_store::rows`] reads it: native uuids, codes as smallint, counts as bigint.
struct PgRow<'a>(&'a Row);

impl PgRow<'_> {
    fn get<'b, T: FromSql<'b>>(&'b self, i: usize, name: &str) -> Result<T, String> {
        self.0.try_get(i).map_err(|e| format!("{name}: {e}"))
    }
}

impl Columns for PgRow<'_> {
    fn text(&self, i: usize, name: &str) -> Result<String, String> {
        self.get(i, name)
    }
    fn opt_text(&self, i: usize, name: &str) -> Result<Option<String>, String> {
        self.get(i, name)
    }
    fn int(&self, i: usize, name: &str) -> Result<i64, String> {
        self.opt_int(i, name)?.ok_or_else(|| format!("{name}: null"))
    }
    /// bigint or smallint, whichever the column is.
    fn opt_int(&self, i: usize, name: &str) -> Result<Option<i64>, String> {
        match self.0.try_get::<_, Option<i64>>(i) {
            Ok(v) => Ok(v),
            Err(_) => Ok(self.get::<Option<i16>>(i, name)?.map(i64::from)),
        }
    }
    fn id(&self, i: usize, name: &str) -> Result<Uuid, String> {
        self.get(i, name)
    }
    fn opt_id(&self, i: usize, name: &str) -> Result<Option<Uuid>, String> {
        self.get(i, name)
    }
    fn opt_bool(&self, i: usize, name: &str) -> Result<Option<bool>, String> {
        self.get(i, name)
    }
}

/// A row `load` could not decode.
struct BadRow {
    table: &'static Table,
    key: Vec<KeyValue>,
    reason: String,
}

/// The key columns of a row (selected first), as stored.
fn key_of(table: &'static Table, r: &Row) -> Vec<KeyValue> {
    (0..table.key.len())
        .map(|i| {
            if let Ok(id) = r.try_get::<_, Uuid>(i) {
                KeyValue::Id(id)
            } else if let Ok(n) = r.try_get::<_, i64>(i) {
                KeyValue::Int(n)
            } else {
                KeyValue::Text(r.try_get::<_, String>(i).unwrap_or_default())
            }
        })
        .collect()
}

fn read<T>(
    client: &mut Client,
    table: &'static Table,
    sql: &str,
    decode: impl Fn(&Row) -> Result<T, String>,
    bad: &mut Vec<BadRow>,
    shown: &str,
) -> Result<Vec<T>, Error> {
    let rows = client
        .query(sql, &[])
        .map_err(|e| Error::Backend(format!("{shown}: reading {}: {}", table.name, crate::describe(&e))))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        match decode(row) {
            Ok(v) => out.push(v),
            Err(reason) => bad.push(BadRow { table, key: key_of(table, row), reason }),
        }
    }
    Ok(out)
}

/// Reads everything back. Rows that do not decode are moved to the quarantine first, in
/// one transaction, and listed with the rest of it.
pub fn load_snapshot(client: &mut Client, shown: &str) -> Result<Snapshot, Error> {
    let mut bad = Vec::new();
    let definitions =
        read(client, &DEFINITIONS, rows::SELECT_DEFINITIONS, |r| rows::definition(&PgRow(r)), &mut bad, shown)?;
    let runs = read(client, &RUNS, rows::SELECT_RUNS, |r| rows::run(&PgRow(r)), &mut bad, shown)?;
    let tasks = read(client, &TASKS, rows::SELECT_TASKS, |r| rows::task(&PgRow(r)), &mut bad, shown)?;
    let events = read(client, &EVENTS, rows::SELECT_EVENTS, |r| rows::event(&PgRow(r)), &mut bad, shown)?;
    let failed = |e: postgres::Error| Error::Backend(format!("{shown}: quarantine: {}", crate::describe(&e)));
    if !bad.is_empty() {
        let mut tx = client.transaction().map_err(failed)?;
        let at = now_ms();
        for b in &bad {
            move_row(&mut tx, b.table, &b.key, &b.reason, at).map_err(failed)?;
        }
        tx.commit().map_err(failed)?;
    }
    let quarantined = client
        .query("SELECT tbl, key, reason, record, at FROM quarantine ORDER BY id", &[])
        .map_err(failed)?
        .iter()
        // Read leniently: the quarantine is for operators, and a damaged entry must not stop a start.
        .map(|r| Quarantined {
            table: r.try_get(0).unwrap_or_default(),
            key: r.try_get(1).unwrap_or_default(),
            reason: r.try_get(2).unwrap_or_default(),
            record: r.try_get(3).unwrap_or_default(),
            at: r.try_get(4).unwrap_or_default(),
        })
        .collect();
    // What the cost model learned: derived data, a row that does not decode is skipped.
    let observations = client
        .query(
            "SELECT scope, a, b, c, count, mean_ms FROM observations \
             ORDER BY scope, a COLLATE \"C\", b COLLATE \"C\", c COLLATE \"C\"",
            &[],
        )
        .map_err(|e| Error::Backend(format!("{shown}: reading observations: {}", crate::describe(&e))))?
        .iter()
        .filter_map(|r| {
            let text = |i: usize| r.try_get::<_, String>(i).ok().map(std::sync::Arc::<str>::from);
            let key = match r.try_get::<_, i16>(0).ok()? {
                1 => ObservationKey::Task { process: text(1)?, workflow: text(2)?, task: text(3)? },
                2 => ObservationKey::Kind { queue: text(1)?, kind: text(2)? },
                _ => return None,
            };
            let count = u32::try_from(r.try_get::<_, i64>(4).ok()?).ok()?;
            Some(StoredObservation { key, count, mean_ms: r.try_get(5).ok()? })
        })
        .collect();
    // Schedules as text; the engine decodes them and names any it cannot.
    let schedules = client
        .query("SELECT name, spec, state FROM schedules ORDER BY name COLLATE \"C\"", &[])
        .map_err(|e| Error::Backend(format!("{shown}: reading schedules: {}", crate::describe(&e))))?
        .iter()
        .filter_map(|r| {
            let name: String = r.try_get(0).ok()?;
            Some(StoredSchedule { name: name.into(), spec_json: r.try_get(1).ok()?, state_json: r.try_get(2).ok()? })
        })
        .collect();
    let limits = client
        .query("SELECT name, spec FROM limits ORDER BY name COLLATE \"C\"", &[])
        .map_err(|e| Error::Backend(format!("{shown}: reading limits: {}", crate::describe(&e))))?
        .iter()
        .filter_map(|r| {
            let name: String = r.try_get(0).ok()?;
            Some(StoredLimit { name: name.into(), spec_json: r.try_get(1).ok()? })
        })
        .collect();
    Ok(Snapshot { definitions, runs, tasks, events, observations, schedules, limits, quarantined })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

//! One group, written: per kind of record, one upsert of arrays (`INSERT … SELECT FROM
//! unnest(…) ON CONFLICT DO UPDATE`), then the expired runs deleted. A group merges many
//! engine steps, so the same record can appear more than once; only its last version is
//! written (PostgreSQL refuses an upsert touching one row twice).
use postgres::Transaction;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;
use uuid::Uuid;
use weft_store::codes::{run_status_code, task_state_code};
use weft_store::{Batch, ObservationKey};

/// PostgreSQL's text cannot hold NUL: it becomes U+FFFD (text from workers, such as an error
/// message, may carry one; refusing the commit would stop the leader).
pub fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') { Cow::Owned(s.replace('\0', "\u{FFFD}")) } else { Cow::Borrowed(s) }
}

fn opt_text(s: Option<&str>) -> Option<String> {
    s.map(|s| text(s).into_owned())
}

/// The position of the last record of each key, in first-seen order.
fn last_of<T, K: Hash + Eq>(records: &[T], key: impl Fn(&T) -> K) -> Vec<usize> {
    let mut at: HashMap<K, usize> = HashMap::with_capacity(records.len());
    let mut order = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        match at.entry(key(r)) {
            std::collections::hash_map::Entry::Occupied(e) => order[*e.get()] = i,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(order.len());
                order.push(i);
            }
        }
    }
    order
}

const DEFINITIONS: &str = "INSERT INTO definitions (name, version, spec, created_at) \
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) \
     ON CONFLICT (name, version) DO UPDATE SET spec = EXCLUDED.spec, created_at = EXCLUDED.created_at";

const RUNS: &str = "INSERT INTO runs (id, spec, def_name, def_version, idempotency_key, input, created_at, status, \
     reason, finished_at) \
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], \
     $8::smallint[], $9::text[], $10::bigint[]) \
     ON CONFLICT (id) DO UPDATE SET spec = EXCLUDED.spec, def_name = EXCLUDED.def_name, \
     def_version = EXCLUDED.def_version, idempotency_key = EXCLUDED.idempotency_key, input = EXCLUDED.input, \
     created_at = EXCLUDED.created_at, status = EXCLUDED.status, reason = EXCLUDED.reason, \
     finished_at = EXCLUDED.finished_at";

const TASKS: &str = "INSERT INTO tasks (run, idx, state, attempt, worker, ready_at, started_at, finished_at, result, \
     error, error_retryable, retry_at) \
     SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::smallint[], $4::bigint[], $5::uuid[], $6::bigint[], \
     $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::boolean[], $12::bigint[]) \
     ON CONFLICT (run, idx) DO UPDATE SET state = EXCLUDED.state, attempt = EXCLUDED.attempt, \
     worker = EXCLUDED.worker, ready_at = EXCLUDED.ready_at, started_at = EXCLUDED.started_at, \
     finished_at = EXCLUDED.finished_at, result = EXCLUDED.result, error = EXCLUDED.error, \
     error_retryable = EXCLUDED.error_retryable, retry_at = EXCLUDED.retry_at";

const EVENTS: &str = "INSERT INTO events (run, seq, at, kind, workflow, task, attempt, worker, detail) \
     SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::smallint[], $5::text[], $6::text[], \
     $7::bigint[], $8::uuid[], $9::text[]) \
     ON CONFLICT (run, seq) DO UPDATE SET at = EXCLUDED.at, kind = EXCLUDED.kind, workflow = EXCLUDED.workflow, \
     task = EXCLUDED.task, attempt = EXCLUDED.attempt, worker = EXCLUDED.worker, detail = EXCLUDED.detail";

const SCHEDULES: &str = "INSERT INTO schedules (name, spec, state) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
     ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, state = EXCLUDED.state";

const OBSERVATIONS: &str = "INSERT INTO observations (scope, a, b, c, count, mean_ms) \
     SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[]) \
     ON CONFLICT (scope, a, b, c) DO UPDATE SET count = EXCLUDED.count, mean_ms = EXCLUDED.mean_ms";

/// Writes `batch` inside `tx` (which the caller fenced and commits).
pub fn batch(tx: &mut Transaction<'_>, batch: &Batch) -> Result<(), postgres::Error> {
    if !batch.definitions.is_empty() {
        let last = last_of(&batch.definitions, |d| (d.name.clone(), d.version));
        let ds: Vec<_> = last.iter().map(|&i| &batch.definitions[i]).collect();
        let name: Vec<String> = ds.iter().map(|d| text(&d.name).into_owned()).collect();
        let version: Vec<i64> = ds.iter().map(|d| i64::from(d.version)).collect();
        let spec: Vec<String> = ds.iter().map(|d| text(&d.spec_json).into_owned()).collect();
        let created: Vec<i64> = ds.iter().map(|d| d.created_at).collect();
        tx.execute(DEFINITIONS, &[&name, &version, &spec, &created])?;
    }
    if !batch.runs.is_empty() {
        let last = last_of(&batch.runs, |r| r.id);
        let rs: Vec<_> = last.iter().map(|&i| &batch.runs[i]).collect();
        let id: Vec<Uuid> = rs.iter().map(|r| r.id.0).collect();
        let spec: Vec<String> = rs.iter().map(|r| text(&r.spec_json).into_owned()).collect();
        let def_name: Vec<Option<String>> = rs.iter().map(|r| opt_text(r.definition.as_ref().map(|d| &*d.0))).collect();
        let def_version: Vec<Option<i64>> = rs.iter().map(|r| r.definition.as_ref().map(|d| i64::from(d.1))).collect();
        let key: Vec<Option<String>> = rs.iter().map(|r| opt_text(r.idempotency_key.as_deref())).collect();
        let input: Vec<String> = rs.iter().map(|r| text(&r.input_json).into_owned()).collect();
        let created: Vec<i64> = rs.iter().map(|r| r.created_at).collect();
        let status: Vec<i16> = rs.iter().map(|r| i16::from(run_status_code(r.status))).collect();
        let reason: Vec<String> = rs.iter().map(|r| text(&r.reason).into_owned()).collect();
        let finished: Vec<Option<i64>> = rs.iter().map(|r| r.finished_at).collect();
        tx.execute(RUNS, &[&id, &spec, &def_name, &def_version, &key, &input, &created, &status, &reason, &finished])?;
    }
    if !batch.tasks.is_empty() {
        let last = last_of(&batch.tasks, |t| (t.run, t.index));
        let ts: Vec<_> = last.iter().map(|&i| &batch.tasks[i]).collect();
        let run: Vec<Uuid> = ts.iter().map(|t| t.run.0).collect();
        let idx: Vec<i64> = ts.iter().map(|t| i64::from(t.index)).collect();
        let state: Vec<i16> = ts.iter().map(|t| i16::from(task_state_code(t.state))).collect();
        let attempt: Vec<i64> = ts.iter().map(|t| i64::from(t.attempt)).collect();
        let worker: Vec<Option<Uuid>> = ts.iter().map(|t| t.worker.map(|w| w.0)).collect();
        let ready: Vec<Option<i64>> = ts.iter().map(|t| t.ready_at).collect();
        let started: Vec<Option<i64>> = ts.iter().map(|t| t.started_at).collect();
        let finished: Vec<Option<i64>> = ts.iter().map(|t| t.finished_at).collect();
        let result: Vec<Option<String>> = ts.iter().map(|t| opt_text(t.result.as_deref())).collect();
        let error: Vec<Option<String>> = ts.iter().map(|t| opt_text(t.error.as_ref().map(|e| &*e.message))).collect();
        let retryable: Vec<Option<bool>> = ts.iter().map(|t| t.error.as_ref().map(|e| e.retryable)).collect();
        let retry: Vec<Option<i64>> = ts.iter().map(|t| t.retry_at).collect();
        tx.execute(
            TASKS,
            &[&run, &idx, &state, &attempt, &worker, &ready, &started, &finished, &result, &error, &retryable, &retry],
        )?;
    }
    if !batch.events.is_empty() {
        let last = last_of(&batch.events, |e| (e.run, e.seq));
        let es: Vec<_> = last.iter().map(|&i| &batch.events[i]).collect();
        let run: Vec<Uuid> = es.iter().map(|e| e.run.0).collect();
        let seq: Vec<i64> = es.iter().map(|e| e.seq as i64).collect();
        let at: Vec<i64> = es.iter().map(|e| e.at).collect();
        let kind: Vec<i16> = es.iter().map(|e| i16::from(e.kind.code())).collect();
        let workflow: Vec<String> = es.iter().map(|e| text(&e.workflow).into_owned()).collect();
        let task: Vec<String> = es.iter().map(|e| text(&e.task).into_owned()).collect();
        let attempt: Vec<i64> = es.iter().map(|e| i64::from(e.attempt)).collect();
        let worker: Vec<Option<Uuid>> = es.iter().map(|e| e.worker.map(|w| w.0)).collect();
        let detail: Vec<String> = es.iter().map(|e| text(&e.detail).into_owned()).collect();
        tx.execute(EVENTS, &[&run, &seq, &at, &kind, &workflow, &task, &attempt, &worker, &detail])?;
    }
    if !batch.observations.is_empty() {
        let last = last_of(&batch.observations, |o| o.key.clone());
        let os: Vec<_> = last.iter().map(|&i| &batch.observations[i]).collect();
        let mut scope: Vec<i16> = Vec::with_capacity(os.len());
        let (mut a, mut b, mut c): (Vec<String>, Vec<String>, Vec<String>) = Default::default();
        for o in &os {
            let (s, x, y, z) = match &o.key {
                ObservationKey::Task { process, workflow, task } => (1, &**process, &**workflow, &**task),
                ObservationKey::Kind { queue, kind } => (2, &**queue, &**kind, ""),
            };
            scope.push(s);
            a.push(text(x).into_owned());
            b.push(text(y).into_owned());
            c.push(text(z).into_owned());
        }
        let count: Vec<i64> = os.iter().map(|o| i64::from(o.count)).collect();
        let mean: Vec<f64> = os.iter().map(|o| o.mean_ms).collect();
        tx.execute(OBSERVATIONS, &[&scope, &a, &b, &c, &count, &mean])?;
    }
    if !batch.schedules.is_empty() {
        let last = last_of(&batch.schedules, |s| s.name.clone());
        let ss: Vec<_> = last.iter().map(|&i| &batch.schedules[i]).collect();
        let name: Vec<String> = ss.iter().map(|s| text(&s.name).into_owned()).collect();
        let spec: Vec<String> = ss.iter().map(|s| text(&s.spec_json).into_owned()).collect();
        let state: Vec<String> = ss.iter().map(|s| text(&s.state_json).into_owned()).collect();
        tx.execute(SCHEDULES, &[&name, &spec, &state])?;
    }
    if !batch.deleted_schedules.is_empty() {
        let names: Vec<String> = batch.deleted_schedules.iter().map(|n| text(n).into_owned()).collect();
        tx.execute("DELETE FROM schedules WHERE name = ANY($1)", &[&names])?;
    }
    if !batch.limits.is_empty() {
        let last = last_of(&batch.limits, |l| l.name.clone());
        let name: Vec<String> = last.iter().map(|&i| text(&batch.limits[i].name).into_owned()).collect();
        let spec: Vec<String> = last.iter().map(|&i| text(&batch.limits[i].spec_json).into_owned()).collect();
        tx.execute(
            "INSERT INTO limits (name, spec) SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec",
            &[&name, &spec],
        )?;
    }
    if !batch.deleted_limits.is_empty() {
        let names: Vec<String> = batch.deleted_limits.iter().map(|n| text(n).into_owned()).collect();
        tx.execute("DELETE FROM limits WHERE name = ANY($1)", &[&names])?;
    }
    if !batch.expired.is_empty() {
        let ids: Vec<Uuid> = batch.expired.iter().map(|id| id.0).collect();
        tx.execute("DELETE FROM tasks WHERE run = ANY($1)", &[&ids])?;
        tx.execute("DELETE FROM events WHERE run = ANY($1)", &[&ids])?;
        tx.execute("DELETE FROM runs WHERE id = ANY($1)", &[&ids])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_version_of_each_key_is_kept_in_first_seen_order() {
        let records = [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2), ("a", 3)];
        let last = last_of(&records, |r| r.0);
        assert_eq!(last.iter().map(|&i| records[i]).collect::<Vec<_>>(), vec![("a", 3), ("b", 2), ("c", 1)]);
    }

    #[test]
    fn nul_becomes_the_replacement_character_and_other_text_is_borrowed() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(text("plain"), Cow::Borrowed("plain")));
    }
}

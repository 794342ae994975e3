//! Behaviour every [`Store`] backend must show. A backend's tests call [`run_all`] with a
//! function that opens a store: `open(true)` a new, empty one; `open(false)` the same one
//! again (for durable backends, as after a restart).
use crate::{
    Batch, ObservationKey, Quarantine, RecordKey, RunEvent, Store, StoredDefinition, StoredLimit, StoredObservation,
    StoredRun, StoredSchedule, StoredTask,
};
use weft_engine::{EventKind, TaskError};
use weft_model::{RunId, RunStatus, TaskState, WorkerId};

pub type Opener<'a> = &'a mut dyn FnMut(bool) -> Box<dyn Store>;

/// Runs every check. `durable`: the backend keeps data across `open(false)`.
pub fn run_all(open: Opener<'_>, durable: bool) {
    empty_store_loads_empty(open);
    records_round_trip(open);
    upserts_replace(open);
    deleting_a_run_removes_its_tasks_and_events(open);
    loads_in_order(open);
    large_batches_commit(open);
    a_batch_holding_several_versions_of_a_record_keeps_the_last(open);
    observations_are_upserted_by_key_and_outlive_expired_runs(open);
    schedules_are_upserted_and_deleted_by_name(open);
    quarantined_records_are_set_aside_kept_and_listed(open);
    if durable {
        survives_reopen(open);
        quarantine_survives_reopen(open);
    }
}

fn run(n: u128) -> StoredRun {
    StoredRun {
        id: RunId::from_u128(n),
        spec_json: format!("{{\"name\":\"p{n}\"}}").into(),
        definition: n.is_multiple_of(2).then(|| ("def".into(), 3)),
        idempotency_key: n.is_multiple_of(3).then(|| format!("key-{n}")),
        input_json: "null".into(),
        created_at: 1_000 + n as i64,
        status: RunStatus::Running,
        reason: String::new(),
        finished_at: None,
    }
}

fn task(run: u128, index: u32) -> StoredTask {
    StoredTask {
        run: RunId::from_u128(run),
        index,
        state: TaskState::Ready,
        attempt: 0,
        worker: None,
        ready_at: Some(5),
        started_at: None,
        finished_at: None,
        result: None,
        error: None,
        retry_at: None,
    }
}

fn event(run: u128, seq: u64) -> RunEvent {
    RunEvent {
        run: RunId::from_u128(run),
        seq,
        at: 10 + seq as i64,
        kind: EventKind::TaskReady,
        workflow: "w".into(),
        task: format!("t{seq}").into(),
        attempt: 1,
        worker: Some(WorkerId::from_u128(99)),
        detail: "d".into(),
    }
}

fn empty_store_loads_empty(open: Opener<'_>) {
    let mut s = open(true);
    let snap = s.load().expect("load");
    assert!(snap.definitions.is_empty() && snap.runs.is_empty() && snap.tasks.is_empty() && snap.events.is_empty());
}

/// A batch with a record of every kind, fields filled (for backends' own tests too).
pub fn sample_batch() -> Batch {
    let mut full = task(1, 0);
    full.state = TaskState::Failed;
    full.attempt = 3;
    full.worker = Some(WorkerId::from_u128(7));
    full.started_at = Some(6);
    full.finished_at = Some(7);
    full.result = Some("{\"ok\":true}".into());
    full.error = Some(TaskError { message: "boom: ünïcode".into(), retryable: true });
    full.retry_at = Some(9);
    let mut finished = run(2);
    finished.status = RunStatus::Failed;
    finished.reason = "workflow `w` failed".into();
    finished.finished_at = Some(77);
    Batch {
        definitions: vec![StoredDefinition { name: "def".into(), version: 1, spec_json: "{}".into(), created_at: 3 }],
        runs: vec![run(1), finished],
        tasks: vec![full, task(1, 1)],
        events: vec![event(1, 1), RunEvent { worker: None, kind: EventKind::RunCompensating, ..event(1, 2) }],
        expired: vec![],
        observations: vec![observation("w/ünïcode", 3, 12.5), kind_observation("default", "sleep", 7, 0.25)],
        schedules: vec![schedule("nightly-ünï", 1), schedule("hourly", 2)],
        deleted_schedules: vec![],
        limits: vec![limit("bank-api", 5)],
        deleted_limits: vec![],
    }
}

fn limit(name: &str, n: u32) -> StoredLimit {
    StoredLimit { name: name.into(), spec_json: format!("{{\"concurrency\":{n}}}") }
}

fn schedule(name: &str, n: u32) -> StoredSchedule {
    StoredSchedule {
        name: name.into(),
        spec_json: format!("{{\"name\":\"{name}\",\"n\":{n}}}"),
        state_json: format!("{{\"fired\":{n}}}"),
    }
}

fn records_round_trip(open: Opener<'_>) {
    let mut s = open(true);
    let batch = sample_batch();
    s.commit(&batch).expect("commit");
    let snap = s.load().expect("load");
    assert_eq!(snap.definitions, batch.definitions);
    assert_eq!(snap.runs, batch.runs);
    assert_eq!(snap.tasks, batch.tasks);
    assert_eq!(snap.events, batch.events);
    let mut observations = batch.observations.clone();
    observations.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(snap.observations, observations, "in key order");
    let mut schedules = batch.schedules.clone();
    schedules.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(snap.schedules, schedules, "in name order");
    assert_eq!(snap.limits, batch.limits);
}

/// A schedule is kept by name: a later write replaces it, a delete removes it, and expiring
/// runs leaves it.
fn schedules_are_upserted_and_deleted_by_name(open: Opener<'_>) {
    let mut s = open(true);
    s.commit(&sample_batch()).expect("commit");
    let later = Batch {
        schedules: vec![schedule("hourly", 5), schedule("weekly", 6)],
        deleted_schedules: vec!["nightly-ünï".into(), "never-was".into()],
        expired: vec![RunId::from_u128(1), RunId::from_u128(2)],
        ..Default::default()
    };
    s.commit(&later).expect("commit");
    assert_eq!(s.load().expect("load").schedules, [schedule("hourly", 5), schedule("weekly", 6)]);
    // Cluster-wide limits the same way.
    let limits = Batch {
        limits: vec![limit("bank-api", 2), limit("partner", 3)],
        deleted_limits: vec!["partner".into()],
        ..Default::default()
    };
    s.commit(&limits).expect("commit");
    assert_eq!(s.load().expect("load").limits, [limit("bank-api", 2)]);
}

fn upserts_replace(open: Opener<'_>) {
    let mut s = open(true);
    s.commit(&Batch { runs: vec![run(1)], tasks: vec![task(1, 0)], ..Default::default() }).unwrap();
    let mut done = run(1);
    done.status = RunStatus::Succeeded;
    done.finished_at = Some(50);
    let mut t = task(1, 0);
    t.state = TaskState::Succeeded;
    t.result = Some("1".into());
    s.commit(&Batch { runs: vec![done.clone()], tasks: vec![t.clone()], ..Default::default() }).unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.runs, vec![done]);
    assert_eq!(snap.tasks, vec![t]);
}

fn deleting_a_run_removes_its_tasks_and_events(open: Opener<'_>) {
    let mut s = open(true);
    s.commit(&Batch {
        runs: vec![run(1), run(2)],
        tasks: vec![task(1, 0), task(2, 0)],
        events: vec![event(1, 1), event(2, 1)],
        ..Default::default()
    })
    .unwrap();
    s.commit(&Batch { expired: vec![RunId::from_u128(1)], ..Default::default() }).unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.runs, vec![run(2)]);
    assert_eq!(snap.tasks, vec![task(2, 0)]);
    assert_eq!(snap.events, vec![event(2, 1)]);
}

fn loads_in_order(open: Opener<'_>) {
    let mut s = open(true);
    s.commit(&Batch {
        runs: vec![run(3), run(1)],
        tasks: vec![task(3, 1), task(1, 2), task(3, 0), task(1, 0)],
        events: vec![event(3, 2), event(1, 1), event(3, 1)],
        ..Default::default()
    })
    .unwrap();
    let snap = s.load().unwrap();
    let runs: Vec<RunId> = snap.runs.iter().map(|r| r.id).collect();
    assert_eq!(runs, vec![RunId::from_u128(1), RunId::from_u128(3)]);
    let tasks: Vec<(RunId, u32)> = snap.tasks.iter().map(|t| (t.run, t.index)).collect();
    assert_eq!(
        tasks,
        vec![(RunId::from_u128(1), 0), (RunId::from_u128(1), 2), (RunId::from_u128(3), 0), (RunId::from_u128(3), 1)]
    );
    let events: Vec<(RunId, u64)> = snap.events.iter().map(|e| (e.run, e.seq)).collect();
    assert_eq!(events, vec![(RunId::from_u128(1), 1), (RunId::from_u128(3), 1), (RunId::from_u128(3), 2)]);
}

fn large_batches_commit(open: Opener<'_>) {
    let mut s = open(true);
    let batch = Batch {
        runs: vec![run(1)],
        tasks: (0..10_000).map(|i| task(1, i)).collect(),
        events: (1..=10_000).map(|i| event(1, i)).collect(),
        ..Default::default()
    };
    s.commit(&batch).unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.tasks.len(), 10_000);
    assert_eq!(snap.events.len(), 10_000);
}

fn survives_reopen(open: Opener<'_>) {
    let mut s = open(true);
    let learned = vec![observation("t", 2, 40.0)];
    s.commit(&Batch {
        runs: vec![run(1)],
        tasks: vec![task(1, 0)],
        events: vec![event(1, 1)],
        observations: learned.clone(),
        schedules: vec![schedule("nightly", 1)],
        limits: vec![limit("bank-api", 1)],
        ..Default::default()
    })
    .unwrap();
    drop(s);
    let mut again = open(false);
    let snap = again.load().unwrap();
    assert_eq!(snap.runs, vec![run(1)]);
    assert_eq!(snap.tasks, vec![task(1, 0)]);
    assert_eq!(snap.events, vec![event(1, 1)]);
    assert_eq!(snap.observations, learned, "what the cost model learned outlives a restart");
    assert_eq!(snap.schedules, [schedule("nightly", 1)], "schedules outlive a restart");
    assert_eq!(snap.limits, [limit("bank-api", 1)], "limits outlive a restart");
}

fn definition(version: u32, spec: &str) -> StoredDefinition {
    StoredDefinition { name: "def".into(), version, spec_json: spec.into(), created_at: 3 }
}

fn set_aside(key: RecordKey) -> Quarantine {
    Quarantine { reason: format!("cannot restore {key}"), key, at: 42 }
}

fn quarantined_records_are_set_aside_kept_and_listed(open: Opener<'_>) {
    let mut s = open(true);
    s.commit(&Batch {
        definitions: vec![definition(1, "{\"bad\":1}"), definition(2, "{}")],
        runs: vec![run(1), run(2)],
        tasks: vec![task(1, 0), task(1, 7), task(2, 0)],
        events: vec![event(1, 1), event(1, 2), event(2, 1)],
        ..Default::default()
    })
    .unwrap();
    let keys = [
        RecordKey::Definition { name: "def".into(), version: 1 },
        RecordKey::Run(RunId::from_u128(2)),
        RecordKey::Task { run: RunId::from_u128(1), index: 7 },
        RecordKey::Event { run: RunId::from_u128(1), seq: 2 },
    ];
    let mut asked: Vec<Quarantine> = keys.iter().cloned().map(set_aside).collect();
    // A key with no record is skipped.
    asked.push(set_aside(RecordKey::Run(RunId::from_u128(9))));
    let moved = s.quarantine(&asked).expect("quarantine");
    let listed: Vec<(&str, String, &str, i64)> =
        moved.iter().map(|q| (q.table.as_str(), q.key.clone(), q.reason.as_str(), q.at)).collect();
    let expected: Vec<(&str, String, &str, i64)> =
        asked[..4].iter().map(|q| (q.key.table(), q.key.to_string(), q.reason.as_str(), 42)).collect();
    assert_eq!(listed, expected);
    assert_eq!(moved[0].key, "def@1");
    assert!(moved[0].record.contains("bad"), "the record is kept as stored: {}", moved[0].record);
    assert!(moved.iter().all(|q| !q.record.is_empty()));

    let snap = s.load().unwrap();
    assert_eq!(snap.quarantined, moved, "every load lists the quarantine");
    assert_eq!(snap.definitions, vec![definition(2, "{}")]);
    assert_eq!(snap.runs, vec![run(1)]);
    // The quarantined run's tasks and events stay under its id.
    assert_eq!(snap.tasks, vec![task(1, 0), task(2, 0)]);
    assert_eq!(snap.events, vec![event(1, 1), event(2, 1)]);

    // A record written later under the same key does not touch the quarantined one.
    s.commit(&Batch { definitions: vec![definition(1, "{}")], ..Default::default() }).unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.definitions, vec![definition(1, "{}"), definition(2, "{}")]);
    assert_eq!(snap.quarantined, moved);
    // Setting aside what is no longer there changes nothing.
    assert!(s.quarantine(&asked[1..2]).unwrap().is_empty());
    assert_eq!(s.load().unwrap().quarantined.len(), 4);
}

fn quarantine_survives_reopen(open: Opener<'_>) {
    let mut s = open(true);
    s.commit(&Batch { runs: vec![run(1), run(2)], ..Default::default() }).unwrap();
    let moved = s.quarantine(&[set_aside(RecordKey::Run(RunId::from_u128(1)))]).unwrap();
    assert_eq!(moved.len(), 1);
    drop(s);
    let mut again = open(false);
    let snap = again.load().unwrap();
    assert_eq!(snap.runs, vec![run(2)]);
    assert_eq!(snap.quarantined, moved);
}

/// A group merges many engine steps, so one batch can hold a record several times.
fn a_batch_holding_several_versions_of_a_record_keeps_the_last(open: Opener<'_>) {
    let mut s = open(true);
    let mut batch = sample_batch();
    let mut again = sample_batch();
    again.tasks[0].attempt += 1;
    again.runs[0].reason = "second".into();
    again.events[0].detail = "second".into();
    again.definitions[0].spec_json = "{\"second\":true}".into();
    batch.extend(again.clone());
    s.commit(&batch).expect("commit");
    let seen = s.load().expect("load");
    assert_eq!(seen.tasks, again.tasks);
    assert_eq!(seen.runs, again.runs);
    assert_eq!(seen.events, again.events);
    assert_eq!(seen.definitions, again.definitions);
}

fn observation(task: &str, count: u32, mean_ms: f64) -> StoredObservation {
    let key = ObservationKey::Task { process: "p".into(), workflow: "w".into(), task: task.into() };
    StoredObservation { key, count, mean_ms }
}

fn kind_observation(queue: &str, kind: &str, count: u32, mean_ms: f64) -> StoredObservation {
    StoredObservation { key: ObservationKey::Kind { queue: queue.into(), kind: kind.into() }, count, mean_ms }
}

/// What the cost model learned is kept by key: a later value replaces the earlier, and
/// expiring runs leaves it.
fn observations_are_upserted_by_key_and_outlive_expired_runs(open: Opener<'_>) {
    let mut s = open(true);
    s.commit(&sample_batch()).expect("commit");
    let later = Batch {
        observations: vec![observation("w/ünïcode", 4, 11.0), kind_observation("batch", "sleep", 1, 900.0)],
        expired: vec![RunId::from_u128(1), RunId::from_u128(2)],
        ..Default::default()
    };
    s.commit(&later).expect("commit");
    let mut seen = s.load().expect("load").observations;
    seen.sort_by(|a, b| a.key.cmp(&b.key));
    let mut expected = vec![
        observation("w/ünïcode", 4, 11.0),
        kind_observation("default", "sleep", 7, 0.25),
        kind_observation("batch", "sleep", 1, 900.0),
    ];
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(seen, expected);
}

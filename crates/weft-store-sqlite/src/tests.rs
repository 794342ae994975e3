use super::*;

#[test]
fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    weft_store::conformance::run_all(
        &mut |fresh| {
            if fresh {
                n += 1;
            }
            Box::new(SqliteStore::open(&dir.path().join(format!("s{n}")), Durability::Full).unwrap())
        },
        true,
    );
}

#[test]
fn a_backup_taken_while_open_is_a_store_that_loads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("live"), Durability::Full).unwrap();
    store.commit(&weft_store::conformance::sample_batch()).unwrap();
    let copy_dir = dir.path().join("restored");
    std::fs::create_dir_all(&copy_dir).unwrap();
    let info = store.backup(&copy_dir.join(DB_FILE)).unwrap();
    assert_eq!(info.schema_version, schema::SCHEMA_VERSION);
    assert_eq!(info.bytes, std::fs::metadata(copy_dir.join(DB_FILE)).unwrap().len());
    // The live store goes on committing; the copy is what was committed before.
    let mut later = weft_store::conformance::sample_batch();
    later.definitions[0].version = 2;
    store.commit(&later).unwrap();
    let live = store.load().unwrap();
    let restored = SqliteStore::open(&copy_dir, Durability::Full).unwrap().load().unwrap();
    assert_eq!(live.definitions.len(), 2);
    assert_eq!(restored.definitions, weft_store::conformance::sample_batch().definitions);
    assert_eq!((restored.runs, restored.tasks, restored.events), (live.runs, live.tasks, live.events));
    // Never over an existing file.
    let again = store.backup(&copy_dir.join(DB_FILE)).unwrap_err();
    assert!(again.to_string().contains("the file exists"), "{again}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path(), Durability::Full).unwrap());
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    match SqliteStore::open(dir.path(), Durability::Full) {
        Err(Error::NewerSchema { found, supported, .. }) => {
            assert_eq!((found, supported), (schema::SCHEMA_VERSION + 1, schema::SCHEMA_VERSION))
        }
        other => panic!("expected NewerSchema, got {:?}", other.err()),
    }
}

#[test]
fn a_corrupt_file_is_reported_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let junk = vec![0x5a_u8; 64 * 1024];
    std::fs::write(dir.path().join(DB_FILE), &junk).unwrap();
    match SqliteStore::open(dir.path(), Durability::Full) {
        Err(Error::Corrupt { .. }) => {}
        other => panic!("expected Corrupt, got {:?}", other.err()),
    }
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), junk, "the file is left as it was");
}

#[test]
fn a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SqliteStore::open(dir.path(), Durability::Full).unwrap();
    let err = SqliteStore::open(dir.path(), Durability::Full).err().expect("second open fails");
    assert!(err.to_string().contains("in use by another coordinator"), "{err}");
}

#[test]
fn info_reports_the_durability_sqlite_applies() {
    let dir = tempfile::tempdir().unwrap();
    let full = SqliteStore::open(&dir.path().join("full"), Durability::Full).unwrap();
    let info = full.info();
    assert_eq!((info.backend, info.durability), ("sqlite", weft_store::Durability::Full));
    assert_eq!(info.setting, "synchronous=FULL");
    assert!(info.location.ends_with("weft.db"), "{}", info.location);
    assert!(!info.filesystem.is_empty(), "the temp dir's filesystem is known");
    let relaxed = SqliteStore::open(&dir.path().join("relaxed"), Durability::Relaxed).unwrap();
    assert_eq!(relaxed.info().durability, weft_store::Durability::Relaxed);
    assert_eq!(relaxed.info().setting, "synchronous=NORMAL");
}

#[test]
fn rows_that_do_not_decode_are_quarantined_by_load_not_fatal() {
    use weft_model::{RunId, RunStatus, TaskState};
    use weft_store::{RunEvent, StoredDefinition, StoredRun, StoredTask};
    let dir = tempfile::tempdir().unwrap();
    let run = StoredRun {
        id: RunId::from_u128(1),
        spec_json: "{}".into(),
        definition: None,
        idempotency_key: None,
        input_json: "null".into(),
        created_at: 1,
        status: RunStatus::Running,
        reason: String::new(),
        finished_at: None,
    };
    let task = StoredTask { state: TaskState::Ready, ..StoredTask::pending(run.id, 0) };
    let event = RunEvent {
        run: run.id,
        seq: 1,
        at: 2,
        kind: weft_engine::EventKind::TaskReady,
        workflow: "w".into(),
        task: "t".into(),
        attempt: 0,
        worker: None,
        detail: String::new(),
    };
    let def = StoredDefinition { name: "def".into(), version: 1, spec_json: "{}".into(), created_at: 3 };
    let good = Batch {
        definitions: vec![def.clone()],
        runs: vec![run.clone()],
        tasks: vec![task.clone()],
        events: vec![event.clone()],
        ..Default::default()
    };
    SqliteStore::open(dir.path(), Durability::Full).unwrap().commit(&good).unwrap();

    // Rows no build of weft writes, put there behind the store's back.
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let id = run.id.0.as_bytes().to_vec();
    conn.execute(
        "INSERT INTO events (run, seq, at, kind, workflow, task, attempt, worker, detail) \
         VALUES (?1, 2, 0, 250, 'w', 't', 1, NULL, '')",
        [&id],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs (id, spec, input, created_at, status, reason) VALUES (x'0102', '{}', 'null', 0, 1, '')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs (id, spec, input, created_at, status, reason) VALUES (?1, '{}', 'null', 0, 9, '')",
        [RunId::from_u128(2).0.as_bytes().to_vec()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO tasks (run, idx, state, attempt, result) VALUES (?1, 1, 5, 1, CAST(x'ff' AS TEXT))",
        [&id],
    )
    .unwrap();
    conn.execute("INSERT INTO definitions (name, version, spec, created_at) VALUES ('def', -1, '{}', 0)", []).unwrap();
    drop(conn);

    let mut store = SqliteStore::open(dir.path(), Durability::Full).unwrap();
    let snap = store.load().expect("a store with undecodable rows still loads");
    assert_eq!(
        (snap.definitions.clone(), snap.runs.clone(), snap.tasks.clone(), snap.events.clone()),
        (vec![def], vec![run.clone()], vec![task], vec![event])
    );
    let found: Vec<(&str, &str)> = snap.quarantined.iter().map(|q| (q.table.as_str(), q.key.as_str())).collect();
    let run1 = run.id.to_string();
    let run2 = RunId::from_u128(2).to_string();
    assert_eq!(
        found,
        vec![
            ("definitions", "def@-1"),
            // Ordered as SQLite orders the key: 0x00.. before 0x0102.
            ("runs", run2.as_str()),
            ("runs", "x'0102'"),
            ("tasks", format!("{run1}#1").as_str()),
            ("events", format!("{run1}/2").as_str()),
        ]
    );
    let reasons: Vec<&str> = snap.quarantined.iter().map(|q| q.reason.as_str()).collect();
    assert!(reasons[0].starts_with("version:"), "{reasons:?}");
    assert_eq!(reasons[1], "status: unknown code 9");
    assert!(reasons[2].starts_with("id:"), "{reasons:?}");
    assert!(reasons[3].starts_with("result:"), "{reasons:?}");
    assert_eq!(reasons[4], "kind: unknown code 250");
    let record: serde_json::Value = serde_json::from_str(&snap.quarantined[4].record).unwrap();
    assert_eq!((record["kind"].as_i64(), record["run"].as_str()), (Some(250), Some(run1.as_str())));
    assert!(snap.quarantined.iter().all(|q| q.at > 0));

    // Moved, not copied: loading again (and after a restart) finds the same quarantine.
    assert_eq!(store.load().unwrap(), snap);
    drop(store);
    assert_eq!(SqliteStore::open(dir.path(), Durability::Full).unwrap().load().unwrap(), snap);
}

#[test]
fn a_version_1_store_is_migrated_to_have_a_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path(), Durability::Full).unwrap());
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE quarantine; DROP TABLE observations; DROP TABLE schedules; DROP TABLE limits; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let mut store = SqliteStore::open(dir.path(), Durability::Full).unwrap();
    assert!(store.load().unwrap().quarantined.is_empty());
    let version: u32 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
}

/// A store written by an earlier release (tests/fixtures/README.md) opens with this one,
/// migrated if its schema is older, and loads whole.
#[test]
fn stores_written_by_earlier_releases_open_and_load_whole() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/store-schema-v2.db");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&fixture, dir.path().join(DB_FILE)).unwrap();
    let snapshot = SqliteStore::open(dir.path(), Durability::Full).unwrap().load().unwrap();
    assert!(snapshot.quarantined.is_empty(), "{:?}", snapshot.quarantined);
    assert_eq!(snapshot.definitions.len(), 1);
    assert_eq!(&*snapshot.definitions[0].name, "fixture-order");
    assert_eq!(snapshot.runs.len(), 3);
    let keys: Vec<_> = snapshot.runs.iter().filter_map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys, ["fixture-key-1", "fixture-key-2"]);
    let version: u32 =
        Connection::open(dir.path().join(DB_FILE)).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION, "migrated to this release's schema");
}

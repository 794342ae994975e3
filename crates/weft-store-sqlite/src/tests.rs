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

//! Against a real PostgreSQL server (see `testing`).
use super::*;
use crate::testing::TestPg;
use std::time::Instant;

/// Takes the lease of the database at `url` as a leader would (migrating it first).
fn claim(url: &PgUrl, holder: &str) -> u64 {
    prepare(url).unwrap();
    let mut client = Client::connect(url.secret(), NoTls).unwrap();
    // Let any earlier holder's lease lapse: tests take over at once.
    client.execute("UPDATE weft_leader SET expires_at = '-infinity'", &[]).unwrap();
    let row = client.query_one(lease::ACQUIRE, &[&holder, &"127.0.0.1:1", &60_000f64]).unwrap();
    row.get::<_, i64>(0) as u64
}

#[test]
fn postgres_store_conforms() {
    let pg = TestPg::new();
    let mut url = pg.fresh_database();
    let mut epoch = 0;
    weft_store::conformance::run_all(
        &mut |fresh| {
            if fresh {
                url = pg.fresh_database();
                epoch = claim(&url, "conformance");
            }
            Box::new(PgStore::open(&url, epoch).unwrap())
        },
        true,
    );
}

#[test]
fn the_lease_fences_writes_and_a_paused_commit_does_not_block_a_takeover() {
    let pg = TestPg::new();
    let url = pg.fresh_database();
    let first = claim(&url, "a");
    let mut old = PgStore::open(&url, first).unwrap();
    old.commit(&weft_store::conformance::sample_batch()).unwrap();

    // A second coordinator takes over: the first one's writes are refused, whole.
    let second = claim(&url, "b");
    assert_eq!(second, first + 1);
    let mut late = weft_store::conformance::sample_batch();
    late.definitions[0].version = 9;
    match old.commit(&late) {
        Err(Error::Fenced { held, current }) => assert_eq!((held, current), (first, second)),
        other => panic!("a deposed leader's commit must be fenced, got {other:?}"),
    }
    let mut new = PgStore::open(&url, second).unwrap();
    let seen = new.load().unwrap();
    assert_eq!(seen.definitions, weft_store::conformance::sample_batch().definitions, "nothing of the late write");
    new.commit(&late).unwrap();

    // A leader that stops in the middle of a commit, holding the fence's row lock: the
    // server ends its session after the idle timeout, and the takeover goes through.
    let mut paused = Client::connect(url.secret(), NoTls).unwrap();
    paused
        .batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = {}",
            IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
        ))
        .unwrap();
    let mut tx = paused.transaction().unwrap();
    tx.query_one(lease::FENCE, &[]).unwrap();
    let started = Instant::now();
    let third = claim(&url, "c");
    assert_eq!(third, second + 1);
    let waited = started.elapsed();
    assert!(waited >= IDLE_IN_TRANSACTION_TIMEOUT / 2, "the takeover waited for the paused transaction: {waited:?}");
    assert!(tx.commit().is_err(), "the paused leader's transaction was ended by the server");
}

#[test]
fn text_with_nul_is_stored_with_a_replacement_character() {
    let pg = TestPg::new();
    let url = pg.fresh_database();
    let epoch = claim(&url, "a");
    let mut store = PgStore::open(&url, epoch).unwrap();
    let mut batch = weft_store::conformance::sample_batch();
    batch.runs[0].reason = "bad\0byte".into();
    store.commit(&batch).unwrap();
    assert_eq!(store.load().unwrap().runs[0].reason, "bad\u{FFFD}byte");
}

#[test]
fn rows_that_do_not_decode_are_quarantined_not_fatal() {
    let pg = TestPg::new();
    let url = pg.fresh_database();
    let epoch = claim(&url, "a");
    let mut store = PgStore::open(&url, epoch).unwrap();
    let batch = weft_store::conformance::sample_batch();
    store.commit(&batch).unwrap();
    let mut client = Client::connect(url.secret(), NoTls).unwrap();
    client.execute("UPDATE tasks SET state = 99", &[]).unwrap();
    let seen = store.load().unwrap();
    assert!(seen.tasks.is_empty());
    assert_eq!(seen.quarantined.len(), batch.tasks.len());
    let q = &seen.quarantined[0];
    assert_eq!(q.table, "tasks");
    assert!(q.reason.contains("state: unknown code 99"), "{}", q.reason);
    assert!(q.record.contains("\"state\":99"), "{}", q.record);
    assert_eq!(q.key, format!("{}#{}", batch.tasks[0].run, batch.tasks[0].index));
    // Listed again at the next load, and not loaded as a record.
    let again = store.load().unwrap();
    assert_eq!((again.tasks.len(), again.quarantined.len()), (0, batch.tasks.len()));
}

#[test]
fn a_newer_schema_an_unreachable_server_and_bad_urls_are_clear_errors() {
    let pg = TestPg::new();
    let url = pg.fresh_database();
    prepare(&url).unwrap();
    let mut client = Client::connect(url.secret(), NoTls).unwrap();
    client.execute("UPDATE weft_schema SET version = $1", &[&(SCHEMA_VERSION as i32 + 1)]).unwrap();
    match prepare(&url) {
        Err(Error::NewerSchema { found, supported, .. }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    // Nothing was reset.
    let version: i32 = client.query_one("SELECT version FROM weft_schema", &[]).unwrap().get(0);
    assert_eq!(version, SCHEMA_VERSION as i32 + 1);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = PgUrl::parse(&format!("postgres://weft:secret@127.0.0.1:{port}/weft")).unwrap();
    let e = prepare(&nowhere).unwrap_err().to_string();
    assert!(e.contains("cannot connect to PostgreSQL at postgres://weft@127.0.0.1:"), "{e}");
    assert!(!e.contains("secret"), "the password is never shown: {e}");

    for bad in ["mysql://x/y", "postgres://host:notaport/db", "weft"] {
        assert!(PgUrl::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(format!("{:?}", PgUrl::parse("postgres://u:pw@h:5433/d").unwrap()), "postgres://u@h:5433/d");
}

#[test]
fn the_lease_is_taken_renewed_released_and_observed() {
    let pg = TestPg::new();
    let url = pg.fresh_database();
    prepare(&url).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let lease = Duration::from_secs(30);
        let a = LeaseClient::connect(url.secret(), Duration::from_secs(5)).await.unwrap();
        let b = LeaseClient::connect(url.secret(), Duration::from_secs(5)).await.unwrap();
        let epoch = a.try_acquire("a", "10.0.0.1:7070", lease).await.unwrap().expect("a free lease is taken");
        assert_eq!(b.try_acquire("b", "10.0.0.2:7070", lease).await.unwrap(), None, "held: not taken");
        let seen = b.observe().await.unwrap();
        assert_eq!(seen, LeaseState { epoch, holder: "a".into(), address: "10.0.0.1:7070".into(), in_force: true });
        assert!(a.renew(epoch, lease).await.unwrap());
        a.release(epoch).await.unwrap();
        let next = b.try_acquire("b", "10.0.0.2:7070", lease).await.unwrap().expect("released: taken at once");
        assert_eq!(next, epoch + 1);
        assert!(!a.renew(epoch, lease).await.unwrap(), "a deposed holder cannot renew");
        // An expired lease is taken over; expiry is judged on the server's clock (a lease
        // of zero ends the moment it is set).
        assert!(b.renew(next, Duration::ZERO).await.unwrap());
        assert!(!b.observe().await.unwrap().in_force);
        assert_eq!(a.try_acquire("a", "10.0.0.1:7070", lease).await.unwrap(), Some(next + 1));
    });
}

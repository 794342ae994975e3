//! A worker id belongs to the session that registered it: a second registration of a live
//! id is refused unless it proves it is the same worker (its previous session's secret), and
//! only the current session's secret may report for it.
use super::*;

fn registration(
    id: WorkerId,
    session: u64,
    secret: u8,
    proof: Option<u8>,
    holding: Vec<AttemptId>,
) -> WorkerRegistration {
    WorkerRegistration {
        id,
        session,
        secret: SessionSecret([secret; 32]),
        proof: proof.map(|p| SessionSecret([p; 32])),
        name: format!("session-{session}"),
        queues: vec![Arc::from("default")],
        kinds: vec![Arc::from("noop")],
        slots: 1,
        speed: 1.0,
        version: "t".into(),
        holding,
    }
}

#[test]
fn a_live_worker_id_cannot_be_taken_without_its_session_secret() {
    let mut env = Env::new();
    // Env::worker(1, ..) registers session 1 with the secret [1; 32].
    let w = env.worker(1, 1, &["default"], &["noop"]);
    env.start(process(vec![chain("w", &["only"])]), None).unwrap();
    let held = env.assignments();
    assert_eq!(held.len(), 1);
    let attempt = held[0].1.attempt.clone();

    for proof in [None, Some(7)] {
        let refused = env.engine.register_worker(registration(w, 2, 2, proof, vec![attempt.clone()]), env.now);
        assert!(matches!(refused, Err(Error::AlreadyExists(_))), "{refused:?}");
    }
    // Nothing of the impostor was applied: the first session keeps the worker and its attempt.
    let worker = env.engine.worker(w).unwrap();
    assert_eq!((worker.session, worker.name.as_str(), worker.attempts.len()), (1, "w1", 1));
    assert!(env.engine.session_matches(w, &SessionSecret([1; 32])));
    assert!(!env.engine.session_matches(w, &SessionSecret([2; 32])));
    assert!(env.assignments().is_empty(), "no attempt was re-run");
    assert_eq!(env.succeed(w, &held[0].1, "1"), AckOutcome::Accepted);
}

#[test]
fn the_same_worker_reconnects_with_its_previous_secret_and_keeps_its_attempts() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    env.start(process(vec![chain("w", &["only"])]), None).unwrap();
    let held = env.assignments();
    let attempt = held[0].1.attempt.clone();
    // Its connection dropped; within the grace it comes back, proving who it is.
    env.engine.worker_disconnected(w, 1, env.now);
    env.engine.register_worker(registration(w, 2, 2, Some(1), vec![attempt.clone()]), env.now).unwrap();
    assert_eq!(env.engine.worker(w).unwrap().session, 2);
    // The old session's secret no longer reports for it; the new one does.
    assert!(!env.engine.session_matches(w, &SessionSecret([1; 32])));
    assert!(env.engine.session_matches(w, &SessionSecret([2; 32])));
    assert!(env.assignments().is_empty(), "it still holds its attempt");
    assert_eq!(env.succeed(w, &held[0].1, "1"), AckOutcome::Accepted);
}

#[test]
fn a_disconnected_worker_within_its_grace_is_still_protected_but_a_dead_one_is_not() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    env.start(process(vec![chain("w", &["only"])]), None).unwrap();
    assert_eq!(env.assignments().len(), 1);
    env.engine.worker_disconnected(w, 1, env.now);
    assert_eq!(env.engine.worker(w).unwrap().liveness, Liveness::Suspect);
    let early = env.engine.register_worker(registration(w, 2, 2, None, vec![]), env.now);
    assert!(matches!(early, Err(Error::AlreadyExists(_))), "{early:?}");
    // Past the disconnect grace it is dead and its attempt runs again: the id protects
    // nothing any more, and a new process may use it.
    env.advance(env.engine.config().disconnect_grace_ms as Millis + 1);
    assert_eq!(env.engine.worker(w).unwrap().liveness, Liveness::Dead);
    env.engine.register_worker(registration(w, 3, 3, None, vec![]), env.now).unwrap();
    assert!(env.engine.session_matches(w, &SessionSecret([3; 32])));
}

#[test]
fn only_a_registered_session_reports() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let other = env.worker(2, 1, &["default"], &["noop"]);
    assert!(env.engine.session_matches(w, &SessionSecret([1; 32])));
    assert!(!env.engine.session_matches(w, &SessionSecret([2; 32])), "another worker's secret");
    assert!(env.engine.session_matches(other, &SessionSecret([2; 32])));
    assert!(!env.engine.session_matches(WorkerId::from_u128(42), &SessionSecret([1; 32])), "an unknown id");
}

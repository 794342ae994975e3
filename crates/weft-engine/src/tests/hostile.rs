//! What a client or a worker sends that must not be taken as it is: an idempotency key
//! reused for another request, a result that is not JSON or is past its bounds.
use super::*;
use weft_model::limits::{MAX_ERROR_BYTES, MAX_JSON_DEPTH, MAX_RESULT_BYTES};

fn start_with(env: &mut Env, source: RunSource, key: &str, input: &str) -> Result<(RunId, bool), Error> {
    env.next_id += 1;
    let req = StartRun {
        id: RunId::from_u128(env.next_id),
        source,
        idempotency_key: Some(key.into()),
        input_json: input.into(),
    };
    env.engine.start_run(req, env.now)
}

fn conflict(result: Result<(RunId, bool), Error>) -> String {
    match result {
        Err(Error::AlreadyExists(message)) => message,
        other => panic!("expected ALREADY_EXISTS, got {other:?}"),
    }
}

#[test]
fn an_idempotency_key_reused_for_another_request_is_a_conflict_naming_the_key() {
    let mut env = Env::new();
    let spec = || RunSource::Spec(process(vec![chain("w", &["a"])]));
    let (first, created) = start_with(&mut env, spec(), "order-42", r#"{"order": 42, "items": [1, 2]}"#).unwrap();
    assert!(created);
    // The same request again, its input written differently: the first run, nothing created.
    let again = start_with(&mut env, spec(), "order-42", r#"{"items":[1,2],"order":42}"#).unwrap();
    assert_eq!(again, (first, false));
    // Another spec, another input, another source: refused, naming the key and the run.
    let other_spec = RunSource::Spec(process(vec![chain("w", &["a", "b"])]));
    let message = conflict(start_with(&mut env, other_spec, "order-42", r#"{"order": 42, "items": [1, 2]}"#));
    assert_eq!(
        message,
        format!("idempotency key `order-42` was used by run {first} with a different spec; use a new key")
    );
    let message = conflict(start_with(&mut env, spec(), "order-42", r#"{"order": 43, "items": [1, 2]}"#));
    assert!(message.contains("with a different input"), "{message}");
    let message = conflict(start_with(&mut env, spec(), "order-42", ""));
    assert!(message.contains("with a different input"), "{message}");
    env.engine.register_definition("p", process(vec![chain("w", &["a"])]), env.now).unwrap();
    let definition = || RunSource::Definition { name: "p".into(), version: None };
    let message = conflict(start_with(&mut env, definition(), "order-42", r#"{"order": 42, "items": [1, 2]}"#));
    assert!(message.contains("with a different source"), "{message}");
    assert_eq!(env.engine.list_runs(&Default::default(), None, 100).0.len(), 1, "nothing was created");

    // From a definition: "the latest" asked again is the same request, even after a new version.
    let (by_def, _) = start_with(&mut env, definition(), "order-43", "").unwrap();
    let mut changed = process(vec![chain("w", &["a"])]);
    changed.workflows[0].tasks[0].priority = 5;
    env.engine.register_definition("p", changed, env.now).unwrap();
    assert_eq!(start_with(&mut env, definition(), "order-43", " ").unwrap(), (by_def, false));
    let v1 = RunSource::Definition { name: "p".into(), version: Some(1) };
    assert_eq!(start_with(&mut env, v1, "order-43", "null").unwrap(), (by_def, false));
    let v2 = RunSource::Definition { name: "p".into(), version: Some(2) };
    assert!(conflict(start_with(&mut env, v2, "order-43", "")).contains("with a different definition"));
    // A long key is quoted cut, not whole.
    let key = "k".repeat(256);
    start_with(&mut env, spec(), &key, "").unwrap();
    let message = conflict(start_with(&mut env, spec(), &key, "1"));
    assert!(message.contains(&format!("`{}…`", "k".repeat(64))) && message.len() < 200, "{message}");
}

#[test]
fn the_conflict_check_holds_after_a_restore() {
    let mut env = Env::new();
    let spec = || RunSource::Spec(process(vec![chain("w", &["a"])]));
    let (first, _) = start_with(&mut env, spec(), "k", "[1]").unwrap();
    let mut restored = Env::new();
    restored.engine.restore_run(stored(env.engine.run(first).unwrap()), restored.now);
    assert_eq!(start_with(&mut restored, spec(), "k", "[1]").unwrap(), (first, false));
    conflict(start_with(&mut restored, spec(), "k", "[2]"));
}

/// Runs `a` then `b` (which takes a's result) and reports `result` for `a`. Returns the
/// ack and the run.
fn report_result(result: &str) -> (Env, RunId, WorkerId, Assignment, AckOutcome) {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    let (run, _) = env.start(process(vec![chain("w", &["a", "b"])]), None).unwrap();
    let a = env.assignments().remove(0).1;
    let ack = env.succeed(w, &a, result);
    (env, run, w, a, ack)
}

#[test]
fn a_result_that_is_not_json_fails_the_attempt_for_good_instead_of_the_dependent_task() {
    let deep = format!("{}1{}", "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
    let big = format!("\"{}\"", "x".repeat(MAX_RESULT_BYTES));
    for (result, why) in [
        ("not json", "result refused: it is not valid JSON: expected ident at line 1 column 2"),
        ("{\"a\": 1", "result refused: it is not valid JSON: EOF while parsing an object at line 1 column 7"),
        (deep.as_str(), "result refused: it nests 33 levels deep, at most 32 allowed"),
        (big.as_str(), "result refused: it is 1048578 bytes, at most 1048576 allowed"),
    ] {
        let (mut env, run, w, a, ack) = report_result(result);
        // The report was taken: the attempt has ended, the worker has nothing to resend.
        assert_eq!(ack, AckOutcome::Accepted);
        assert!(env.assignments().is_empty(), "no retry, and `b` never gets the result");
        let r = env.engine.run(run).unwrap();
        assert_eq!(r.status, RunStatus::Failed);
        assert_eq!(r.tasks[0].state, TaskState::Failed);
        assert_eq!(r.tasks[0].attempt, 1, "not retried: the same code gives the same result");
        assert_eq!(r.tasks[0].result, None);
        let error = r.tasks[0].error.as_ref().unwrap();
        assert_eq!((error.message.as_str(), error.retryable), (why, false));
        assert_eq!(r.tasks[1].state, TaskState::Cancelled);
        assert!(r.reason.contains(why), "{}", r.reason);
        // The worker sending its report again (after a reconnect) is told it was taken.
        let again = env.engine.task_status(w, &a.attempt, Reported::Succeeded(Arc::from(result)), env.now);
        assert_eq!(again, AckOutcome::Duplicate);
    }
}

#[test]
fn results_within_bounds_are_recorded_and_an_empty_one_is_null() {
    let deepest = format!("{}1{}", "[".repeat(MAX_JSON_DEPTH), "]".repeat(MAX_JSON_DEPTH));
    for (result, recorded) in
        [("", "null"), (" ", "null"), (deepest.as_str(), deepest.as_str()), ("{\"a\":1}", "{\"a\":1}")]
    {
        let (mut env, run, _, _, ack) = report_result(result);
        assert_eq!(ack, AckOutcome::Accepted);
        let b = env.assignments().remove(0).1;
        assert_eq!(b.inputs, vec![(Arc::from("a"), Arc::from(recorded))]);
        assert_eq!(env.engine.run(run).unwrap().tasks[0].result.as_deref(), Some(recorded));
    }
}

#[test]
fn a_huge_error_message_is_recorded_cut() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let mut t = TaskSpec::new("a", "noop");
    t.retry = Some(weft_model::RetrySpec { max_attempts: Some(1), ..Default::default() });
    let (run, _) = env
        .start(process(vec![WorkflowSpec { name: "w".into(), tasks: vec![t], chain: true, default_retry: None }]), None)
        .unwrap();
    let a = env.assignments().remove(0).1;
    let error = TaskError { message: "é".repeat(1_000_000), retryable: false };
    assert_eq!(env.engine.task_status(w, &a.attempt, Reported::Failed(error), env.now), AckOutcome::Accepted);
    let r = env.engine.run(run).unwrap();
    let recorded = &r.tasks[0].error.as_ref().unwrap().message;
    assert!(recorded.len() <= MAX_ERROR_BYTES && recorded.ends_with(" …[truncated]"), "{} bytes", recorded.len());
    assert!(r.reason.len() < MAX_ERROR_BYTES + 200, "{} bytes", r.reason.len());
}

#[test]
fn a_cancel_reason_is_bounded_before_it_is_recorded_with_every_task() {
    let mut env = Env::new();
    let (run, _) = env.start(process(vec![chain("w", &["a", "b"])]), None).unwrap();
    let reason = "r".repeat(weft_model::limits::MAX_REASON_BYTES + 1);
    match env.engine.cancel_run(run, &reason, env.now) {
        Err(Error::Invalid(e)) => assert_eq!(e.violations[0].field, "reason"),
        other => panic!("expected invalid, got {other:?}"),
    }
    assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Running, "nothing applied");
    env.engine.cancel_run(run, &reason[1..], env.now).unwrap();
}

#[test]
fn a_registration_past_its_bounds_is_refused_naming_the_field() {
    use weft_model::limits::{MAX_WORKER_LABELS, MAX_WORKER_NAME_LEN};
    let mut env = Env::new();
    let reg = WorkerRegistration {
        id: WorkerId::from_u128(9),
        session: 1,
        secret: SessionSecret([9; 32]),
        proof: None,
        name: "n".repeat(MAX_WORKER_NAME_LEN + 1),
        queues: (0..=MAX_WORKER_LABELS).map(|i| Arc::from(format!("q{i}"))).collect(),
        kinds: vec![Arc::from("noop"), Arc::from("bad kind")],
        slots: 1,
        speed: 1.0,
        version: "v".repeat(1_000_000),
        holding: vec![],
    };
    let Err(Error::Invalid(e)) = env.engine.register_worker(reg, env.now) else { panic!("expected invalid") };
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["register.kinds[1]", "register.queues", "register.name", "register.version"]);
}

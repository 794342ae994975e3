//! Timeouts, deadlines, retries with jitter, and compensation.
use super::*;
use weft_model::spec::CompensationSpec;

fn task(name: &str) -> TaskSpec {
    TaskSpec::new(name, "noop")
}

#[test]
fn a_task_waiting_past_its_queue_timeout_fails() {
    let mut env = Env::new();
    let mut t = task("stuck");
    t.queue = "nobody".into();
    t.queue_timeout = Some(500);
    let (run, _) = env
        .start(
            process(vec![WorkflowSpec { name: "w".into(), tasks: vec![t], chain: false, default_retry: None }]),
            None,
        )
        .unwrap();
    env.worker(1, 1, &["default"], &["noop"]);
    env.advance(499);
    assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Running);
    env.advance(1);
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.reason.contains("waited 500 ms in queue `nobody`"), "{}", r.reason);
    assert_eq!(env.engine.queue_depths().get("nobody"), None, "it left the queue");
}

#[test]
fn the_coordinator_enforces_a_timeout_when_the_worker_stays_silent_about_it() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let mut t = task("slow");
    t.timeout = Some(1_000);
    t.retry = Some(weft_model::RetrySpec { max_attempts: Some(2), initial_backoff: Some(10), ..Default::default() });
    let (run, _) = env
        .start(
            process(vec![WorkflowSpec { name: "w".into(), tasks: vec![t], chain: false, default_retry: None }]),
            None,
        )
        .unwrap();
    let first = env.assignments();
    env.engine.task_status(w, &first[0].1.attempt, Reported::Running, env.now);
    // The worker keeps heartbeating but never reports: timeout + 2 heartbeats later it is failed.
    for _ in 0..3 {
        env.now += 1_000;
        env.engine.heartbeat(
            w,
            HeartbeatInfo { running: vec![first[0].1.attempt.clone()], ..Default::default() },
            env.now,
        );
        env.engine.tick(env.now);
    }
    let effects = env.engine.take_effects();
    assert!(effects.iter().any(|e| matches!(e, Effect::Cancel { attempt, reason, .. } if attempt == &first[0].1.attempt && reason.contains("timed out after 1000 ms"))));
    env.advance(10);
    let second = env.assignments();
    assert_eq!(second[0].1.attempt.attempt, 2);
    assert_eq!(env.succeed(w, &second[0].1, "1"), AckOutcome::Accepted);
    assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Succeeded);
}

#[test]
fn a_run_past_its_deadline_fails_and_stops_its_attempts() {
    let mut env = Env::new();
    env.worker(1, 1, &["default"], &["noop"]);
    let mut p = process(vec![chain("w", &["a", "b"])]);
    p.deadline = Some(2_000);
    let (run, _) = env.start(p, None).unwrap();
    let a = env.assignments();
    env.advance(2_000);
    let effects = env.engine.take_effects();
    assert!(effects.iter().any(|e| matches!(e, Effect::Cancel { attempt, .. } if attempt == &a[0].1.attempt)));
    let r = env.engine.run(run).unwrap();
    assert_eq!((r.status, r.reason.as_str()), (RunStatus::Failed, "deadline of 2000 ms exceeded"));
    assert!(r.tasks.iter().all(|t| t.state == TaskState::Cancelled));
}

#[test]
fn retry_delays_are_jittered_deterministically() {
    let delays = |seed: u128| {
        let mut env = Env::new();
        let w = env.worker(1, 8, &["default"], &["noop"]);
        let mut p = process(vec![WorkflowSpec {
            name: "w".into(),
            tasks: (0..8).map(|i| task(&format!("t{i}"))).collect(),
            chain: false,
            default_retry: Some(weft_model::RetrySpec {
                initial_backoff: Some(1_000),
                jitter: Some(0.5),
                ..Default::default()
            }),
        }]);
        p.name = format!("p{seed}");
        env.start(p, None).unwrap();
        for (_, a) in env.assignments() {
            env.fail(w, &a, true);
        }
        let mut due: Vec<Millis> = env.engine.timers.iter().map(|(at, _)| *at - env.now).collect();
        due.sort();
        due
    };
    let first = delays(1);
    assert_eq!(first, delays(1), "same inputs, same delays");
    assert!(first.iter().all(|d| (500..=1_000).contains(d)), "{first:?}");
    assert!(first.first() != first.last(), "tasks failing together do not all retry together: {first:?}");
}

fn saga() -> ProcessSpec {
    let comp = |label: &str| CompensationSpec {
        kind: "noop".into(),
        params: serde_json::json!({ "result": label }),
        queue: None,
        retry: None,
        timeout: None,
    };
    let mut reserve = task("reserve");
    reserve.compensate = Some(comp("release"));
    let mut charge = task("charge");
    charge.compensate = Some(comp("refund"));
    let mut ship = task("ship");
    ship.retry = Some(weft_model::RetrySpec { max_attempts: Some(1), ..Default::default() });
    let mut p = process(vec![
        WorkflowSpec { name: "order".into(), tasks: vec![reserve, charge, ship], chain: true, default_retry: None },
        chain("audit", &["log"]),
    ]);
    p.failure_policy = FailurePolicy::LetSiblingsFinish;
    p
}

#[test]
fn a_failed_workflow_runs_the_compensations_of_what_succeeded_in_reverse_order() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(saga(), None).unwrap();
    let mut order = Vec::new();
    for _ in 0..10 {
        let Some((_, a)) = env.assignments().pop() else { break };
        order.push(a.attempt.task.to_string());
        match &*a.attempt.task {
            "ship" => {
                env.fail(w, &a, false);
            }
            "compensate:charge" => {
                assert_eq!(a.inputs, vec![(Arc::from("charge"), Arc::from("\"charged\""))], "gets what it undoes");
                assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Running, "the run waits for compensation");
                env.succeed(w, &a, "\"refunded\"");
            }
            "charge" => {
                env.succeed(w, &a, "\"charged\"");
            }
            _ => {
                env.succeed(w, &a, "null");
            }
        }
        env.now += 1;
    }
    assert_eq!(
        order.iter().filter(|t| t.starts_with("compensate:")).collect::<Vec<_>>(),
        ["compensate:charge", "compensate:reserve"]
    );
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.compensated);
    assert!(r.reason.contains("task `ship`"), "{}", r.reason);
    assert!(r.events.iter().any(|e| e.kind == EventKind::RunCompensating && e.detail.contains("charge, reserve")));
    assert_eq!(r.events.last().unwrap().kind, EventKind::RunFailed);
}

#[test]
fn compensations_resume_after_a_restart() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(saga(), None).unwrap();
    // Drive until the first compensation is assigned.
    let comp = loop {
        let (_, a) = env.assignments().pop().expect("progress");
        match &*a.attempt.task {
            "ship" => {
                env.fail(w, &a, false);
            }
            t if t.starts_with("compensate:") => break a,
            _ => {
                env.succeed(w, &a, "1");
            }
        }
        env.now += 1;
    };
    let mut restored = Env::new();
    restored.now = env.now;
    restored.engine.restore_run(stored(env.engine.run(run).unwrap()), restored.now);
    // The worker reconnects without the compensation attempt: it runs again, then the next one.
    let w = restored.worker(1, 1, &["default"], &["noop"]);
    let mut seen = Vec::new();
    while let Some((_, a)) = restored.assignments().pop() {
        seen.push(a.attempt.task.to_string());
        restored.succeed(w, &a, "null");
    }
    assert_eq!(seen.first().map(String::as_str), Some(&*comp.attempt.task));
    assert!(seen.contains(&"compensate:reserve".to_string()), "{seen:?}");
    let r = restored.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.compensated);
}

#[test]
fn a_disconnected_worker_loses_its_attempts_after_the_grace_not_the_whole_lease() {
    let mut env = Env::new();
    let w1 = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(process(vec![chain("w", &["only"])]), None).unwrap();
    let first = env.assignments();
    let w2 = env.worker(2, 1, &["default"], &["noop"]);
    env.engine.worker_disconnected(w1, 1, env.now);
    assert_eq!(env.engine.worker(w1).unwrap().liveness, Liveness::Suspect);
    let grace = env.engine.config().disconnect_grace_ms as Millis;
    assert!(grace < env.engine.config().lease_timeout_ms as Millis);
    env.now += grace - 1;
    env.engine.heartbeat(w2, HeartbeatInfo::default(), env.now);
    env.engine.tick(env.now);
    assert!(env.assignments().is_empty());
    env.advance(1);
    let moved = env.assignments();
    assert_eq!((moved[0].0, moved[0].1.attempt.attempt), (w2, 2));
    assert_eq!(env.succeed_stale(w1, &first[0].1), AckOutcome::Stale);
    env.succeed(w2, &moved[0].1, "1");
    assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Succeeded);
}

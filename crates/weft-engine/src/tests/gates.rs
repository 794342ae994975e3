//! Limits and concurrency keys: a task is handed out only when its gates have room.
use super::*;
use weft_model::gates::{LimitSpec, Rate};

/// `n` tasks `c0..` using the limit `bank` (and a concurrency key when given), priorities
/// as listed (0 past their end).
fn charges(n: usize, limit: LimitSpec, key: Option<&str>, priorities: &[i32]) -> ProcessSpec {
    let tasks = (0..n)
        .map(|i| TaskSpec {
            uses: vec!["bank".into()],
            concurrency_key: key.map(str::to_string),
            priority: priorities.get(i).copied().unwrap_or(0),
            ..TaskSpec::new(format!("c{i}"), "noop")
        })
        .collect();
    let mut p = process(vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }]);
    p.limits.insert("bank".into(), limit);
    p
}

fn active(env: &Env) -> usize {
    env.engine
        .runs
        .values()
        .flat_map(|r| &r.tasks)
        .filter(|t| matches!(t.state, TaskState::Assigned | TaskState::Running))
        .count()
}

#[test]
fn a_concurrency_limit_is_never_exceeded_and_the_waiting_go_in_priority_order() {
    let mut env = Env::new();
    let w = env.worker(1, 8, &["default"], &["noop"]);
    let limit = LimitSpec { concurrency: Some(2), rate: None };
    let (run, _) = env.start(charges(6, limit, None, &[0, 0, 1, 5, 3, 0]), None).unwrap();
    let mut order = Vec::new();
    loop {
        let batch = env.assignments();
        if batch.is_empty() {
            break;
        }
        assert!(active(&env) <= 2, "two at most hold the limit");
        // The one waiting says why.
        if let Some(i) = (0..6u32).find(|&i| env.engine.run(run).unwrap().tasks[i as usize].state == TaskState::Ready) {
            let why = env.engine.waiting_reason(TaskRef { run, task: i }, env.now);
            assert_eq!(why.as_deref(), Some("limit bank 2/2"));
        }
        for (_, a) in &batch {
            order.push(a.attempt.task.to_string());
        }
        env.now += 10;
        for (_, a) in batch {
            assert_eq!(env.succeed(w, &a, "1"), AckOutcome::Accepted);
        }
    }
    assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Succeeded);
    // The first two by queue order (priority 5 and 3), then the rest by priority.
    assert_eq!(order, ["c3", "c4", "c2", "c0", "c1", "c5"]);
}

#[test]
fn a_rate_limit_lets_its_count_start_per_window_and_opens_on_time() {
    let mut env = Env::new();
    let w = env.worker(1, 8, &["default"], &["noop"]);
    let limit = LimitSpec { concurrency: None, rate: Some(Rate { count: 2, per_ms: 1_000 }) };
    let (run, _) = env.start(charges(5, limit, None, &[]), None).unwrap();
    let first = env.assignments();
    assert_eq!(first.len(), 2, "two starts in the first second");
    for (_, a) in &first {
        env.succeed(w, a, "1");
    }
    assert!(env.assignments().is_empty(), "the window is used up, however free the slots");
    let waiting = env.engine.waiting_reason(TaskRef { run, task: 2 }, env.now);
    assert_eq!(waiting.as_deref(), Some("limit bank rate 2/s"));
    env.advance(999);
    assert!(env.assignments().is_empty(), "not before the window opens");
    env.advance(1);
    assert_eq!(env.assignments().len(), 2, "the next two when it opens");
}

#[test]
fn a_concurrency_key_runs_one_per_customer_across_runs_and_others_in_parallel() {
    let mut env = Env::new();
    env.worker(1, 8, &["default"], &["noop"]);
    let spec =
        || charges(2, LimitSpec { concurrency: Some(100), rate: None }, Some("customer-{{input.customer}}"), &[]);
    let start = |env: &mut Env, customer: u32| {
        env.next_id += 1;
        let req = StartRun {
            id: RunId::from_u128(env.next_id),
            source: RunSource::Spec(spec()),
            idempotency_key: None,
            input_json: format!("{{\"customer\": {customer}}}"),
        };
        env.engine.start_run(req, env.now).unwrap().0
    };
    let a1 = start(&mut env, 1);
    let a2 = start(&mut env, 1);
    let b = start(&mut env, 2);
    let out: Vec<RunId> = env.assignments().iter().map(|(_, a)| a.attempt.run).collect();
    // Customer 1: one of its four tasks; customer 2: one of its two.
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out.iter().filter(|r| **r == b).count(), 1);
    assert_eq!(out.iter().filter(|r| **r == a1 || **r == a2).count(), 1);
    let parked = (0..2u32).map(|task| TaskRef { run: a2, task }).find_map(|r| env.engine.waiting_reason(r, env.now));
    assert_eq!(parked.as_deref(), Some("concurrency key customer-1 1/1"));
}

#[test]
fn a_restored_engine_counts_the_attempts_it_restored_against_their_limits() {
    let mut env = Env::new();
    let w = env.worker(1, 8, &["default"], &["noop"]);
    let limit = LimitSpec { concurrency: Some(1), rate: None };
    let (run, _) = env.start(charges(2, limit, None, &[]), None).unwrap();
    let out = env.assignments();
    assert_eq!(out.len(), 1);
    // A new coordinator from what was stored: the attempt out still holds the limit.
    let mut restored = Engine::new(Config::default());
    restored.restore_run(stored(env.engine.run(run).unwrap()), env.now);
    let reg = WorkerRegistration {
        id: w,
        session: 2,
        secret: SessionSecret([1; 32]),
        proof: None,
        name: "w1".into(),
        queues: vec![Arc::from("default")],
        kinds: vec![Arc::from("noop")],
        slots: 8,
        speed: 1.0,
        version: "test".into(),
        holding: vec![out[0].1.attempt.clone()],
    };
    restored.register_worker(reg, env.now).unwrap();
    let sent: Vec<_> = restored.take_effects().into_iter().filter(|e| matches!(e, Effect::Assign { .. })).collect();
    assert!(sent.is_empty(), "the second waits for the first: {sent:?}");
    let other = TaskRef { run, task: 1 - out[0].1.attempt.task.strip_prefix('c').unwrap().parse::<u32>().unwrap() };
    assert_eq!(restored.waiting_reason(other, env.now).as_deref(), Some("limit bank 1/1"));
}

#[test]
fn a_cluster_limit_is_shared_by_every_process_using_it_and_must_exist_at_start() {
    let mut env = Env::new();
    env.worker(1, 8, &["default"], &["noop"]);
    let using = |name: &str| {
        let tasks = (0..3).map(|i| TaskSpec { uses: vec!["bank".into()], ..TaskSpec::new(format!("t{i}"), "noop") });
        ProcessSpec {
            name: name.into(),
            ..process(vec![WorkflowSpec {
                name: "w".into(),
                tasks: tasks.collect(),
                chain: false,
                default_retry: None,
            }])
        }
    };
    // Not set yet: refused, naming the field.
    let e = env.start(using("a"), None).unwrap_err().to_string();
    assert!(e.contains("spec.workflows[0].tasks[0].uses") && e.contains("no limit `bank`"), "{e}");
    env.engine.set_limit("bank", LimitSpec { concurrency: Some(2), rate: None }).unwrap();
    env.start(using("a"), None).unwrap();
    env.start(using("b"), None).unwrap();
    assert_eq!(env.assignments().len(), 2, "two across both processes");
    assert_eq!(active(&env), 2);
    // Raised: the waiting go at once.
    env.engine.set_limit("bank", LimitSpec { concurrency: Some(5), rate: None }).unwrap();
    env.advance(1);
    assert_eq!(env.assignments().len(), 3);
    // Deleted: no bound.
    env.engine.delete_limit("bank").unwrap();
    env.advance(1);
    assert_eq!(env.assignments().len(), 1, "the last one");
    assert!(env.engine.set_limit("bad name", LimitSpec { concurrency: Some(1), rate: None }).is_err());
}

#[test]
fn a_task_waiting_at_a_limit_past_its_queue_timeout_fails_saying_where_it_waited() {
    let mut env = Env::new();
    env.worker(1, 8, &["default"], &["noop"]);
    let mut spec = charges(2, LimitSpec { concurrency: Some(1), rate: None }, None, &[]);
    for t in &mut spec.workflows[0].tasks {
        t.queue_timeout = Some(500);
    }
    let (run, _) = env.start(spec, None).unwrap();
    assert_eq!(env.assignments().len(), 1, "the other waits at the limit");
    env.advance(500);
    let r = env.engine.run(run).unwrap();
    let failed = r.tasks.iter().find(|t| t.state == TaskState::Failed).expect("the waiting one timed out");
    assert_eq!(failed.error.as_ref().unwrap().message, "waited 500 ms at its limits (queue_timeout)");
}

//! Child processes: a `process` task runs a registered definition as a child run.
use super::*;

fn definition(env: &mut Env, name: &str, tasks: Vec<TaskSpec>) {
    let spec = ProcessSpec {
        name: name.into(),
        ..process(vec![WorkflowSpec { name: "w".into(), tasks, chain: true, default_retry: None }])
    };
    env.engine.register_definition(name, spec, env.now).unwrap();
}

fn parent(params: serde_json::Value) -> ProcessSpec {
    let prepare =
        TaskSpec { params: serde_json::json!({ "result": { "amount": 42 } }), ..TaskSpec::new("prepare", "noop") };
    let pay = TaskSpec { params, depends_on: vec!["prepare".into()], ..TaskSpec::new("pay", "process") };
    let after = TaskSpec { depends_on: vec!["pay".into()], ..TaskSpec::new("after", "noop") };
    process(vec![WorkflowSpec {
        name: "main".into(),
        tasks: vec![prepare, pay, after],
        chain: false,
        default_retry: None,
    }])
}

/// Succeeds every assignment with `"ok"`, failing those whose task is `fails`.
fn work(env: &mut Env, w: WorkerId, fails: &str) {
    loop {
        let mut batch = env.assignments();
        if batch.is_empty() {
            // Retries' backoffs end on a tick.
            env.advance(1);
            batch = env.assignments();
        }
        if batch.is_empty() {
            return;
        }
        for (_, a) in batch {
            if &*a.attempt.task == fails {
                env.fail(w, &a, false);
            } else {
                env.succeed(w, &a, r#""ok""#);
            }
        }
    }
}

fn child_of(env: &Env, parent: RunId) -> RunId {
    let key = |r: &crate::types::Run| r.idempotency_key.clone().unwrap_or_default();
    *env.engine.runs.iter().find(|(_, r)| key(r).starts_with(&format!("child:{parent}:"))).expect("a child run").0
}

#[test]
fn a_process_task_runs_its_child_and_succeeds_with_it_the_history_linking_both() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    definition(&mut env, "payment", vec![TaskSpec::new("authorize", "noop"), TaskSpec::new("capture", "noop")]);
    let (run, _) = env.start(parent(serde_json::json!({ "definition": "payment" })), None).unwrap();
    work(&mut env, w, "");
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    let child = child_of(&env, run);
    let c = env.engine.run(child).unwrap();
    assert_eq!(c.status, RunStatus::Succeeded);
    // Its input: the task's inputs by name.
    assert_eq!(&*c.input_json, r#"{"prepare":"ok"}"#);
    // The task's result names the child and its last task's result.
    let result: serde_json::Value = serde_json::from_str(r.tasks[1].result.as_deref().unwrap()).unwrap();
    assert_eq!(result, serde_json::json!({ "run_id": child.to_string(), "results": { "w/capture": "ok" } }));
    // Linked both ways in the histories.
    assert!(r.events.iter().any(|e| e.kind == EventKind::TaskRunning && e.detail == format!("child run {child}")));
    assert_eq!(c.events[0].detail, format!("child of run {run} (task main/pay)"));
    assert!(r.tasks[1].worker.is_none(), "no worker ran it");
}

#[test]
fn a_failed_child_fails_its_task_and_a_cancelled_parent_cancels_the_child() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    definition(&mut env, "payment", vec![TaskSpec::new("authorize", "noop")]);
    let spec = parent(serde_json::json!({ "definition": "payment", "input": { "fixed": true } }));
    let (run, _) = env.start(spec, None).unwrap();
    work(&mut env, w, "authorize");
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.tasks[1].attempt, 1, "the child had its own retries: one child, not one per attempt");
    assert!(r.tasks[1].error.as_ref().unwrap().message.contains("ended Failed"), "{:?}", r.tasks[1].error);
    let children: Vec<_> = env.engine.runs.values().filter(|c| c.id != run).collect();
    assert_eq!(children.len(), 1);
    assert!(children.iter().all(|c| &*c.input_json == r#"{"fixed":true}"#));

    // A parent cancelled while its child runs: the child is cancelled too.
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop", "sleep"]);
    let nap = TaskSpec { params: serde_json::json!({"duration": "1h"}), ..TaskSpec::new("nap", "sleep") };
    definition(&mut env, "slow", vec![nap]);
    let (run, _) = env.start(parent(serde_json::json!({ "definition": "slow" })), None).unwrap();
    let first = env.assignments();
    env.succeed(w, &first[0].1, "1");
    let child = child_of(&env, run);
    assert_eq!(env.engine.run(child).unwrap().status, RunStatus::Running);
    env.engine.cancel_run(run, "stop", env.now).unwrap();
    assert_eq!(env.engine.run(child).unwrap().status, RunStatus::Cancelled);
}

#[test]
fn depth_is_bounded_and_a_missing_definition_fails_the_task_saying_so() {
    let mut env = Env::new();
    // A definition that starts itself: it nests until the bound.
    let recurse = TaskSpec { params: serde_json::json!({ "definition": "loop" }), ..TaskSpec::new("again", "process") };
    definition(&mut env, "loop", vec![recurse]);
    let req = StartRun {
        id: RunId::from_u128(7),
        source: RunSource::Definition { name: "loop".into(), version: None },
        idempotency_key: None,
        input_json: String::new(),
    };
    let (top, _) = env.engine.start_run(req, env.now).unwrap();
    assert_eq!(env.engine.runs.len() as u32, crate::children::MAX_CHILD_DEPTH + 1, "the top run and 8 levels");
    assert_eq!(env.engine.run(top).unwrap().status, RunStatus::Failed, "the failure climbs back up");
    let deepest = env
        .engine
        .runs
        .values()
        .find(|r| r.tasks[0].error.as_ref().is_some_and(|e| e.message.contains("nest")))
        .unwrap();
    assert!(deepest.tasks[0].error.as_ref().unwrap().message.contains("nest at most 8 deep"));

    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    let (run, _) = env.start(parent(serde_json::json!({ "definition": "nobody" })), None).unwrap();
    work(&mut env, w, "");
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        r.tasks[1].error.as_ref().unwrap().message.contains("definition `nobody` not found"),
        "{:?}",
        r.tasks[1].error
    );
}

#[test]
fn a_restarted_engine_finds_a_running_childs_parent_and_ends_it_with_the_child() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    definition(&mut env, "payment", vec![TaskSpec::new("authorize", "noop")]);
    let (run, _) = env.start(parent(serde_json::json!({ "definition": "payment" })), None).unwrap();
    let first = env.assignments();
    env.succeed(w, &first[0].1, "1");
    let child = child_of(&env, run);
    // Restore both, parent first (as ids sort).
    let mut back = Env::new();
    back.now = env.now;
    for versions in env.engine.definitions.values() {
        for d in versions {
            back.engine.restore_definition(d.clone());
        }
    }
    back.engine.restore_run(stored(env.engine.run(run).unwrap()), back.now);
    back.engine.restore_run(stored(env.engine.run(child).unwrap()), back.now);
    let w = back.worker(1, 4, &["default"], &["noop"]);
    work(&mut back, w, "");
    assert_eq!(back.engine.run(child).unwrap().status, RunStatus::Succeeded);
    let p = back.engine.run(run).unwrap();
    assert_eq!(
        p.status,
        RunStatus::Succeeded,
        "the parent went on with its child: {:?}",
        p.tasks.iter().map(|t| (t.state, t.attempt)).collect::<Vec<_>>()
    );
}

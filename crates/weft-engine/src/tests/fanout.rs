//! Dynamic fan-out: `for_each` over a list known at run time.
use super::*;

/// `split` returns `items` (from its params); `ship` runs once per element; `report` gets
/// the shipped results in order.
fn order(items: serde_json::Value, max_parallel: Option<u32>, max_items: Option<u32>) -> ProcessSpec {
    let split =
        TaskSpec { params: serde_json::json!({ "result": { "items": items } }), ..TaskSpec::new("split", "noop") };
    let ship = TaskSpec {
        for_each: Some("split.items".into()),
        max_parallel,
        max_items,
        depends_on: vec!["split".into()],
        ..TaskSpec::new("ship", "noop")
    };
    let report = TaskSpec { depends_on: vec!["ship".into()], ..TaskSpec::new("report", "noop") };
    process(vec![WorkflowSpec {
        name: "w".into(),
        tasks: vec![split, ship, report],
        chain: false,
        default_retry: None,
    }])
}

fn input<'a>(a: &'a Assignment, name: &str) -> Option<&'a str> {
    a.inputs.iter().find(|(n, _)| &**n == name).map(|(_, v)| &**v)
}

/// Works every assignment as it comes: `split` answers its params' result, an instance of
/// `ship` answers `{"shipped": ITEM}`, `report` answers what it got from `ship`. Returns
/// the most instances out at once.
fn work(env: &mut Env, w: WorkerId) -> usize {
    let mut most = 0;
    let mut out: Vec<Assignment> = Vec::new();
    loop {
        out.extend(env.assignments().into_iter().map(|(_, a)| a));
        let instances = out.iter().filter(|a| a.attempt.task.starts_with("ship[")).count();
        most = most.max(instances);
        let Some(a) = out.pop() else { return most };
        let result = match &*a.attempt.task {
            "split" => serde_json::from_str::<serde_json::Value>(&a.params_json).unwrap()["result"].to_string(),
            "report" => input(&a, "ship").unwrap().to_string(),
            _ => {
                assert_eq!(input(&a, "split"), None, "an instance gets its element, not the whole list");
                format!("{{\"shipped\":{}}}", input(&a, "item").expect("an instance gets its item"))
            }
        };
        env.now += 1;
        assert_eq!(env.succeed(w, &a, &result), AckOutcome::Accepted);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    /// A fan-out of N yields exactly N instances and N results, in the list's order, and
    /// never more than max_parallel of them out at once.
    #[test]
    fn a_fan_out_of_n_yields_n_results_in_order(n in 0usize..40, max_parallel in proptest::option::of(1u32..5)) {
        let mut env = Env::new();
        let w = env.worker(1, 8, &["default"], &["noop"]);
        let items: Vec<serde_json::Value> = (0..n).map(|i| serde_json::json!({ "sku": format!("s{i}") })).collect();
        let (run, _) = env.start(order(serde_json::json!(items), max_parallel, None), None).unwrap();
        let most = work(&mut env, w);
        let r = env.engine.run(run).unwrap();
        prop_assert_eq!(r.status, RunStatus::Succeeded);
        prop_assert_eq!(r.tasks.len(), 3 + n, "three declared tasks and n instances");
        let names: Vec<String> = (3..3 + n).map(|i| r.plan.tasks[i].name.to_string()).collect();
        prop_assert_eq!(names, (0..n).map(|i| format!("ship[{i}]")).collect::<Vec<_>>());
        let shipped: Vec<serde_json::Value> = items.iter().map(|i| serde_json::json!({ "shipped": i })).collect();
        let report: serde_json::Value = serde_json::from_str(r.tasks[2].result.as_deref().unwrap()).unwrap();
        prop_assert_eq!(report, serde_json::json!(shipped), "the results, in the list's order");
        prop_assert!(most <= max_parallel.unwrap_or(8) as usize, "{} out at once", most);
        if let (Some(p), true) = (max_parallel, n >= 8) {
            prop_assert_eq!(most, p as usize, "as many as allowed");
        }
        let expanded = r.events.iter().find(|e| e.kind == EventKind::TaskExpanded).unwrap();
        prop_assert_eq!(expanded.detail.clone(), format!("{n} items"));
    }
}

#[test]
fn a_list_too_long_or_not_a_list_fails_the_task_saying_why() {
    for (items, max_items, said) in [
        (serde_json::json!([1, 2, 3]), Some(2), "for_each `split.items`: 3 items, max_items is 2"),
        (serde_json::json!({"a": 1}), None, "for_each `split.items`: found a object, not a list"),
    ] {
        let mut env = Env::new();
        let w = env.worker(1, 8, &["default"], &["noop"]);
        let (run, _) = env.start(order(items, None, max_items), None).unwrap();
        work(&mut env, w);
        let r = env.engine.run(run).unwrap();
        assert_eq!(r.status, RunStatus::Failed);
        let ship = &r.tasks[1];
        assert_eq!(ship.state, TaskState::Failed);
        assert_eq!(ship.error.as_ref().map(|e| e.message.as_str()), Some(said));
    }
}

#[test]
fn a_failed_instance_fails_its_workflow_and_cancels_the_others() {
    let mut env = Env::new();
    let w = env.worker(1, 8, &["default"], &["noop"]);
    let (run, _) = env.start(order(serde_json::json!([1, 2, 3, 4]), None, None), None).unwrap();
    let split = env.assignments().pop().unwrap().1;
    env.succeed(w, &split, r#"{"items": [1, 2, 3, 4]}"#);
    let instances = env.assignments();
    assert_eq!(instances.len(), 4);
    assert_eq!(env.fail(w, &instances[0].1, false), AckOutcome::Accepted);
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    let states: Vec<TaskState> = r.tasks[3..].iter().map(|t| t.state).collect();
    assert_eq!(states.iter().filter(|s| **s == TaskState::Failed).count(), 1);
    assert_eq!(states.iter().filter(|s| **s == TaskState::Cancelled).count(), 3, "{states:?}");
}

#[test]
fn a_restart_replays_the_expansions_from_the_history_and_the_run_finishes() {
    let mut env = Env::new();
    let w = env.worker(1, 2, &["default"], &["noop"]);
    let spec = order(serde_json::json!(["a", "b", "c", "d", "e"]), Some(2), None);
    let (run, _) = env.start(spec.clone(), None).unwrap();
    let split = env.assignments().pop().unwrap().1;
    env.succeed(w, &split, r#"{"items": ["a", "b", "c", "d", "e"]}"#);
    let first = env.assignments();
    assert_eq!(first.len(), 2, "max_parallel 2");
    env.succeed(w, &first[0].1, "1");
    // A new coordinator from what is stored: the plan from the spec, then the history's
    // expansions, so every stored instance has its place.
    let live = env.engine.run(run).unwrap();
    let stored_run = stored(live);
    let mut plan = weft_model::validate_process(&spec, &|_| true).unwrap();
    crate::fanout::replay_expansions(&mut plan, &stored_run.events, &stored_run.tasks, &live.input_json).unwrap();
    assert_eq!(plan.tasks.len(), live.plan.tasks.len());
    assert!(plan.tasks.iter().zip(&live.plan.tasks).all(|(a, b)| a.name == b.name && a.deps == b.deps));
    let mut back = Env::new();
    back.now = env.now;
    back.engine.restore_run(crate::restore::RestoredRun { plan: Arc::new(plan), ..stored_run }, back.now);
    let w = back.worker(1, 2, &["default"], &["noop"]);
    let mut left = 0;
    loop {
        let batch = back.assignments();
        if batch.is_empty() {
            break;
        }
        for (_, a) in batch {
            left += 1;
            back.succeed(w, &a, "2");
        }
    }
    let r = back.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(left, 5, "the four instances left (one lost with its attempt) and the report");
    // A history that no longer matches the list is said, not guessed.
    let mut wrong = weft_model::validate_process(&spec, &|_| true).unwrap();
    let mut tasks = stored(env.engine.run(run).unwrap()).tasks;
    tasks[0].result = Some(r#"{"items": [1]}"#.into());
    let e = crate::fanout::replay_expansions(&mut wrong, &live.events, &tasks, "null").unwrap_err();
    assert!(e.contains("expanded into Some(5) items; its list now has 1"), "{e}");
}

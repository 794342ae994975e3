//! The monitor's detectors, the scheduler's response, and the cost model.
use super::*;
use crate::monitor::{AnomalyKind, Penalty};

fn anomalies(env: &mut Env) -> Vec<crate::monitor::Anomaly> {
    env.engine
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Anomaly(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// Anomalies of `kind` found over `seconds` monitor checks, one a second, `live` workers
/// heartbeating on time.
fn anomalies_over(env: &mut Env, seconds: usize, live: &[WorkerId], kind: AnomalyKind) -> Vec<crate::monitor::Anomaly> {
    let mut found = Vec::new();
    for _ in 0..seconds {
        env.advance(1_000);
        for w in live {
            env.engine.heartbeat(*w, HeartbeatInfo::default(), env.now);
        }
        found.extend(anomalies(env).into_iter().filter(|a| a.kind == kind));
    }
    found
}

fn many(n: usize) -> ProcessSpec {
    process(vec![WorkflowSpec {
        name: "w".into(),
        tasks: (0..n).map(|i| TaskSpec::new(format!("t{i}"), "noop")).collect(),
        chain: false,
        default_retry: Some(weft_model::RetrySpec { max_attempts: Some(1), ..Default::default() }),
    }])
}

#[test]
fn late_heartbeats_are_flagged_and_the_worker_gets_half_its_slots_until_on_time() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    env.now += 1_000;
    env.engine.heartbeat(w, HeartbeatInfo::default(), env.now);
    assert!(anomalies(&mut env).is_empty(), "on time");
    env.now += 1_800;
    env.engine.heartbeat(w, HeartbeatInfo::default(), env.now);
    let found = anomalies(&mut env);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].kind, found[0].worker, found[0].value), (AnomalyKind::LateHeartbeat, Some(w), 1_800.0));
    assert_eq!(env.engine.worker(w).unwrap().health.penalty, Some(Penalty::LateHeartbeats));
    // Response: only half of its 4 slots are filled.
    env.start(many(4), None).unwrap();
    assert_eq!(env.assignments().len(), 2);
    for _ in 0..3 {
        env.now += 1_000;
        env.engine.heartbeat(w, HeartbeatInfo::default(), env.now);
    }
    let effects = env.engine.take_effects();
    assert!(effects.iter().any(|e| matches!(e, Effect::Anomaly(a) if a.kind == AnomalyKind::Recovered)));
    let more = effects.iter().filter(|e| matches!(e, Effect::Assign { .. })).count();
    assert_eq!(more, 2, "recovered: the other two slots fill");
}

#[test]
fn a_task_running_far_past_its_expected_time_is_stuck_and_its_worker_is_slowed() {
    let mut env = Env::new();
    let w = env.worker(1, 2, &["default"], &["noop"]);
    let mut t = TaskSpec::new("slow", "noop");
    t.cost = Some(1.0);
    env.start(
        process(vec![WorkflowSpec { name: "w".into(), tasks: vec![t], chain: false, default_retry: None }]),
        None,
    )
    .unwrap();
    let a = env.assignments();
    env.engine.task_status(w, &a[0].1.attempt, Reported::Running, env.now);
    for _ in 0..3 {
        env.now += 1_000;
        env.engine.heartbeat(w, HeartbeatInfo::default(), env.now);
        env.engine.tick(env.now);
    }
    assert!(anomalies(&mut env).is_empty(), "3 s is not yet past 3x the 1 s cost plus grace");
    env.now += 1_000;
    env.engine.heartbeat(w, HeartbeatInfo::default(), env.now);
    env.engine.tick(env.now);
    let found = anomalies(&mut env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].kind, &*found[0].task), (AnomalyKind::StuckTask, "slow"));
    assert_eq!(env.engine.worker(w).unwrap().health.penalty, Some(Penalty::SlowTask));
    env.now += 1_000;
    env.engine.tick(env.now);
    assert!(anomalies(&mut env).is_empty(), "reported once per attempt");
    env.engine.task_status(w, &a[0].1.attempt, Reported::Succeeded(Arc::from("1")), env.now);
    assert!(anomalies(&mut env).iter().any(|a| a.kind == AnomalyKind::Recovered));
}

#[test]
fn a_backlog_growing_with_no_free_slot_is_reported_once() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let mut found = Vec::new();
    for round in 0..5 {
        env.start(many(2), None).unwrap();
        env.now += 1_000;
        env.engine.heartbeat(w, HeartbeatInfo::default(), env.now);
        env.engine.tick(env.now);
        found.extend(anomalies(&mut env).into_iter().map(|a| (round, a)));
    }
    assert_eq!(found.len(), 1, "{found:?}");
    let (round, a) = &found[0];
    assert_eq!((a.kind, &*a.queue), (AnomalyKind::QueueBacklog, "default"));
    assert!(*round >= 2, "three growing checks in a row first");
}

#[test]
fn a_worker_whose_attempts_keep_failing_gets_fewer_until_it_recovers() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    for _ in 0..12 {
        env.start(many(1), None).unwrap();
    }
    let mut outcomes = 0;
    let mut found = Vec::new();
    let mut held = env.assignments();
    while found.is_empty() {
        let (_, a) = held.pop().expect("work to fail");
        env.fail(w, &a, false);
        outcomes += 1;
        for e in env.engine.take_effects() {
            match e {
                Effect::Assign { worker, assignment } => held.push((worker, assignment)),
                Effect::Anomaly(a) => found.push(a),
                _ => {}
            }
        }
    }
    assert_eq!(outcomes, 5, "five outcomes before a rate means anything");
    assert_eq!((found[0].kind, found[0].worker), (AnomalyKind::FailingWorker, Some(w)));
    // Response: two of its four slots, while it fails.
    assert_eq!(env.engine.worker(w).unwrap().effective_slots(), 2);
    assert!(env.engine.worker(w).unwrap().attempts.len() <= 3, "no new attempt beyond half while penalized");
    // It succeeds from now on; once under a quarter of its window failed, it recovers.
    let mut recovered = false;
    for _ in 0..40 {
        let Some((_, a)) = held.pop() else {
            env.start(many(1), None).unwrap();
            held.extend(env.assignments());
            continue;
        };
        env.succeed(w, &a, "1");
        for e in env.engine.take_effects() {
            match e {
                Effect::Assign { worker, assignment } => held.push((worker, assignment)),
                Effect::Anomaly(a) if a.kind == AnomalyKind::Recovered => recovered = true,
                _ => {}
            }
        }
        if recovered {
            break;
        }
    }
    assert!(recovered);
    assert_eq!(env.engine.worker(w).unwrap().effective_slots(), 4);
}

#[test]
fn the_estimate_predicts_a_known_workload() {
    let mut env = Env::new();
    let w1 = env.worker(1, 2, &["default"], &["noop"]);
    let w2 = env.worker(2, 2, &["default"], &["noop"]);
    let tasks = (0..8)
        .map(|i| {
            let mut t = TaskSpec::new(format!("t{i}"), "noop");
            t.cost = Some(1.0);
            t
        })
        .collect();
    let (run, _) = env
        .start(process(vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }]), None)
        .unwrap();
    let e = env.engine.estimate(run, env.now).unwrap();
    // 8 tasks of 1 s on 4 slots of speed 1: 2 s.
    assert_eq!(e.predicted_finish, env.now + 2_000);
    assert_eq!((e.declared, e.observed, e.unknown), (8, 0, 0));
    assert!((e.scheduling - 2.0).abs() < 1e-9, "T = 8 x 1/4");
    assert!((e.execution - 8.0).abs() < 1e-9, "E = 8 x 1/1");
    assert!((e.monitoring - 8.0).abs() < 1e-9, "M = 8 x 1/(1 Hz)");
    // Run it as predicted: every task takes exactly its cost.
    let start = env.now;
    loop {
        let batch = env.assignments();
        if batch.is_empty() {
            break;
        }
        for (w, a) in &batch {
            env.engine.task_status(*w, &a.attempt, Reported::Running, env.now);
        }
        env.now += 1_000;
        for w in [w1, w2] {
            env.engine.heartbeat(w, HeartbeatInfo::default(), env.now);
        }
        for (w, a) in &batch {
            env.engine.task_status(*w, &a.attempt, Reported::Succeeded(Arc::from("1")), env.now);
        }
    }
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(r.finished_at.unwrap() - start, 2_000, "the prediction held");
}

#[test]
fn cluster_queries_name_held_attempts_count_queues_and_keep_a_bounded_heartbeat_history() {
    let mut env = Env::new();
    let busy = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(process(vec![chain("w", &["a"]), chain("v", &["b"])]), None).unwrap();
    let assigned = env.assignments();
    assert_eq!(assigned.len(), 1, "one slot");
    let held = env.engine.attempts_of(env.engine.worker(busy).unwrap());
    assert_eq!(held, vec![assigned[0].1.attempt.clone()], "the held attempt, named");
    assert_eq!(held[0].run, run);
    let queues = env.engine.queue_views();
    assert_eq!(queues.len(), 1);
    assert_eq!((&*queues[0].queue, queues[0].depth, queues[0].free_slots), ("default", 1, 0));
    assert_eq!(queues[0].by_priority, vec![(0, 1)]);
    for i in 0..(crate::types::RECENT_HEARTBEATS as i64 + 5) {
        env.now += 1_000;
        let info = HeartbeatInfo { used: 1, cpu_percent: i as f32, ..Default::default() };
        env.engine.heartbeat(busy, info, env.now);
    }
    let recent = &env.engine.worker(busy).unwrap().recent;
    assert_eq!(recent.len(), crate::types::RECENT_HEARTBEATS, "bounded");
    let last = recent.back().unwrap();
    assert_eq!((last.at, last.used, last.gap_ms), (env.now, 1, 1_000));
    assert_eq!(last.cpu_percent, (crate::types::RECENT_HEARTBEATS + 4) as f32, "the newest kept");
}

#[test]
fn ready_tasks_no_live_worker_serves_are_reported_once_naming_task_kind_and_queue() {
    let mut env = Env::new();
    let w = env.worker(1, 2, &["default"], &["noop"]);
    let shell =
        |name: &str| TaskSpec { params: serde_json::json!({ "argv": ["true"] }), ..TaskSpec::new(name, "shell") };
    let tasks = vec![shell("build"), shell("ship"), TaskSpec::new("note", "noop")];
    let (run, _) = env
        .start(process(vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }]), None)
        .unwrap();
    assert_eq!(env.assignments().len(), 1, "the noop task runs");
    // One check with nothing serving shell: not yet (a worker may be about to register).
    let found = anomalies_over(&mut env, 5, &[w], AnomalyKind::UnservableTask);
    assert_eq!(found.len(), 1, "reported once while it lasts: {found:?}");
    let a = &found[0];
    assert_eq!((a.run, &*a.workflow, &*a.task, &*a.queue, a.value), (Some(run), "w", "build", "default", 2.0));
    assert_eq!(a.detail, "w/build and 1 more waiting: no live worker serves kind shell on queue default");
    // A worker that serves shell joins: the tasks run, nothing more is reported.
    let shell_worker = env.worker(2, 2, &["default"], &["shell"]);
    assert_eq!(env.assignments().iter().filter(|(to, _)| *to == shell_worker).count(), 2);
    env.advance(3_000);
    assert!(anomalies(&mut env).iter().all(|a| a.kind != AnomalyKind::UnservableTask));
}

#[test]
fn a_queue_served_only_by_a_dead_worker_is_unservable() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["edge"], &["noop"]);
    env.engine.worker_disconnected(w, 1, env.now);
    let t = TaskSpec { queue: "edge".into(), ..TaskSpec::new("call", "noop") };
    env.start(
        process(vec![WorkflowSpec { name: "w".into(), tasks: vec![t], chain: false, default_retry: None }]),
        None,
    )
    .unwrap();
    let found = anomalies_over(&mut env, 4, &[], AnomalyKind::UnservableTask);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].detail, "w/call waiting: no live worker serves kind noop on queue edge");
}

/// Runs every assignment to success, each taking `ms`.
fn run_all(env: &mut Env, ms: Millis) {
    loop {
        let batch = env.assignments();
        if batch.is_empty() {
            return;
        }
        for (w, a) in &batch {
            env.engine.task_status(*w, &a.attempt, Reported::Running, env.now);
        }
        env.now += ms;
        for (w, a) in &batch {
            env.engine.task_status(*w, &a.attempt, Reported::Succeeded(Arc::from("1")), env.now);
        }
    }
}

#[test]
fn task_costs_come_from_the_best_source_known_and_say_which() {
    use crate::estimate::CostSource;
    let mut env = Env::new();
    env.worker(1, 4, &["default"], &["noop", "sleep", "http"]);
    let sleep = |name: &str, ms: u64| TaskSpec {
        params: serde_json::json!({ "duration": format!("{ms}ms") }),
        ..TaskSpec::new(name, "sleep")
    };
    let http = TaskSpec {
        params: serde_json::json!({ "url": "https://example.com", "timeout": 200 }),
        ..TaskSpec::new("call", "http")
    };
    let spec = || {
        process(vec![WorkflowSpec {
            name: "w".into(),
            tasks: vec![sleep("nap", 300), TaskSpec::new("a", "noop"), http.clone()],
            chain: false,
            default_retry: None,
        }])
    };
    // Nothing observed yet: the sleep by its duration, the noop as instant, the http request
    // unknown (1 s) capped by its timeout.
    let (first, _) = env.start(spec(), None).unwrap();
    let cost =
        |env: &Env, run, task: u32| env.engine.cost_of(crate::types::TaskRef { run, task }, env.engine.default_cost());
    assert_eq!(cost(&env, first, 0), (0.3, CostSource::Hint));
    assert_eq!(cost(&env, first, 1), (0.0, CostSource::Hint));
    assert_eq!(cost(&env, first, 2), (0.2, CostSource::Default));
    let e = env.engine.estimate(first, env.now).unwrap();
    assert_eq!((e.hinted, e.unknown, e.default_cost), (2, 1, 1.0));
    run_all(&mut env, 100);
    // After one run, each task from its own single observation (100 ms), blended with its
    // hint as one more observation where it has one (the sleep's 300 ms, the noop's 0).
    let (second, _) = env.start(spec(), None).unwrap();
    assert_eq!(cost(&env, second, 2), (0.1, CostSource::History));
    assert_eq!(cost(&env, second, 1), (0.05, CostSource::History));
    assert_eq!(cost(&env, second, 0), ((0.1 + 0.3) / 2.0, CostSource::History));
    // A task never seen, of a kind seen on its queue (and no hint): that kind's mean.
    let fresh = TaskSpec { name: "fresh".into(), ..http.clone() };
    let other = process(vec![WorkflowSpec { name: "v".into(), tasks: vec![fresh], chain: false, default_retry: None }]);
    let (third, _) = env.start(other, None).unwrap();
    assert_eq!(cost(&env, third, 0), (0.1, CostSource::KindHistory));
    // The default is now the median of what each queue and kind took.
    assert_eq!(env.engine.default_cost(), 0.1);
}

#[test]
fn a_run_predicted_to_miss_its_deadline_is_reported_once_with_the_margin() {
    let mut env = Env::new();
    let w = env.worker(1, 2, &["default"], &["noop"]);
    let costly = |seconds: f64, deadline_ms: u64| {
        let mut t = TaskSpec::new("work", "noop");
        t.cost = Some(seconds);
        ProcessSpec {
            deadline: Some(deadline_ms),
            ..process(vec![WorkflowSpec { name: "w".into(), tasks: vec![t], chain: false, default_retry: None }])
        }
    };
    let (late, _) = env.start(costly(10.0, 3_000), None).unwrap();
    let (fine, _) = env.start(costly(1.0, 60_000), None).unwrap();
    let found = anomalies_over(&mut env, 2, &[w], AnomalyKind::DeadlineAtRisk);
    assert_eq!(found.len(), 1, "once, and only the late run: {found:?}");
    assert_eq!(found[0].run, Some(late));
    // Started at 1,000 with 3 s to go, 10 s of work predicted from the first check (2,000):
    // finish at 12,000, deadline at 4,000.
    assert_eq!(found[0].value, 8.0);
    assert!(found[0].detail.contains("predicted to finish 8.0 s after its deadline, which is in 2.0 s"), "{found:?}");
    assert!(found.iter().all(|a| a.run != Some(fine)));
}

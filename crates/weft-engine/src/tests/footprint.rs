//! What one queued task costs the coordinator in memory: the structures every queued task
//! has one of (its plan entry, its state, its TASK_READY event), bounded so that growth is a
//! decision rather than an accident (BENCHMARKS.md accounts for the bytes).
use super::*;
use weft_model::plan::TaskPlan;

fn independent(n: usize) -> ProcessSpec {
    let tasks = (0..n).map(|i| TaskSpec::new(format!("t{i}"), weft_model::builtin::NOOP)).collect();
    ProcessSpec::new("footprint", vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }])
}

#[test]
fn the_per_task_structures_stay_within_their_budget() {
    let sizes = [
        ("TaskPlan", std::mem::size_of::<TaskPlan>(), TASK_PLAN_BYTES),
        ("TaskRun", std::mem::size_of::<TaskRun>(), TASK_RUN_BYTES),
        ("RunEvent", std::mem::size_of::<RunEvent>(), RUN_EVENT_BYTES),
    ];
    for (name, size, budget) in sizes {
        assert!(size <= budget, "{name} is {size} bytes, over its budget of {budget}");
    }
}

/// With its retry policy shared (an `Arc`, 40 bytes inline before).
const TASK_PLAN_BYTES: usize = 256;
/// With a ticket of its place in the queue only (the queue and kind are the plan's; 56
/// bytes before, 24 now).
const TASK_RUN_BYTES: usize = 184;
const RUN_EVENT_BYTES: usize = 112;

#[test]
fn a_started_run_holds_its_events_without_slack_and_shares_one_retry_policy() {
    let mut env = Env::new();
    let (id, _) = env.start(independent(1_000), None).unwrap();
    let run = &env.engine.runs[&id];
    // RUN_STARTED and one TASK_READY per task, in a vector of exactly that room.
    assert_eq!(run.events.len(), 1_001);
    assert_eq!(run.events.capacity(), 1_001);
    let first = &run.plan.tasks[0].retry;
    assert!(run.plan.tasks.iter().all(|t| Arc::ptr_eq(&t.retry, first)), "one policy, one allocation");
    assert!(run.plan.tasks.iter().all(|t| t.deps.capacity() == 0), "no dependencies, no allocation");
    assert_eq!(env.engine.sched.queues.len(), 1_000);
}

#[test]
fn a_cancelled_run_leaves_nothing_queued() {
    let mut env = Env::new();
    let (id, _) = env.start(independent(100), None).unwrap();
    env.engine.cancel_run(id, "", env.now).unwrap();
    assert_eq!(env.engine.sched.queues.len(), 0, "every ticket found its task in the plan's queue and kind");
}

#[test]
fn a_finished_run_gives_back_the_room_its_history_grew_into() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    let (id, _) = env.start(independent(3), None).unwrap();
    for (_, a) in env.assignments() {
        env.succeed(w, &a, "{}");
    }
    let run = &env.engine.runs[&id];
    assert_eq!(run.status, RunStatus::Succeeded);
    // Retention keeps it for days: no slack left from the vector's doubling.
    assert_eq!(run.events.capacity(), run.events.len(), "{} events", run.events.len());
}

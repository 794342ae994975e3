//! The predicted finish: the step overhead it learns, and its publication when it moves.
use super::*;

/// A chain of `steps` noop tasks, each declared to cost `cost` seconds.
fn costed_chain(steps: &[&str], cost: f64) -> ProcessSpec {
    let mut w = chain("w", steps);
    for t in &mut w.tasks {
        t.cost = Some(cost);
    }
    process(vec![w])
}

/// Runs every assignment as it comes: heard running `lag` ms after it was handed out, done
/// `took(task)` ms later.
fn run_through(env: &mut Env, lag: Millis, took: impl Fn(&str) -> Millis) {
    loop {
        let batch = env.assignments();
        let Some((w, a)) = batch.into_iter().next() else { return };
        env.now += lag;
        assert_eq!(env.engine.task_status(w, &a.attempt, Reported::Running, env.now), AckOutcome::Accepted);
        env.now += took(&a.attempt.task);
        env.engine.task_status(w, &a.attempt, Reported::Succeeded(Arc::from("1")), env.now);
    }
}

fn estimate_events(env: &Env, run: RunId) -> Vec<String> {
    let events = &env.engine.run(run).unwrap().events;
    events.iter().filter(|e| e.kind == EventKind::RunEstimate).map(|e| e.detail.clone()).collect()
}

#[test]
fn the_step_overhead_is_learned_from_dispatches_and_counted_once_per_step_of_a_chain() {
    let mut env = Env::new();
    env.worker(1, 1, &["default"], &["noop"]);
    let (first, _) = env.start(costed_chain(&["a", "b", "c"], 0.1), None).unwrap();
    // Nothing measured yet: the chain is its tasks' costs.
    let e = env.engine.estimate(first, env.now).unwrap();
    assert_eq!((e.step_overhead, e.predicted_finish - env.now), (0.0, 300));
    // Each attempt heard running 10 ms after it was handed out.
    run_through(&mut env, 10, |_| 100);
    assert_eq!(env.engine.run(first).unwrap().status, RunStatus::Succeeded);
    let (second, _) = env.start(costed_chain(&["a", "b", "c"], 0.1), None).unwrap();
    let e = env.engine.estimate(second, env.now).unwrap();
    assert!((e.step_overhead - 0.010).abs() < 1e-9, "{e:?}");
    // Three steps of 10 ms on the way, one per task (the first was just handed out: all of
    // its 10 ms are still ahead).
    assert_eq!(e.predicted_finish - env.now, 330);
    // Half way through the first task's step, half of it is left.
    let e = env.engine.estimate(second, env.now + 5).unwrap();
    assert_eq!(e.predicted_finish - (env.now + 5), 325);
}

#[test]
fn a_predicted_finish_that_moves_past_the_margin_is_published_and_one_on_time_is_not() {
    let mut env = Env::new();
    env.worker(1, 1, &["default"], &["noop"]);
    // Predicted 0.3 s; the first task takes 2 s, the others as declared.
    let (late, _) = env.start(costed_chain(&["a", "b", "c"], 0.1), None).unwrap();
    run_through(&mut env, 0, |task| if task == "a" { 2_000 } else { 100 });
    assert_eq!(
        estimate_events(&env, late),
        ["predicted to take 2.20s, 1.90s longer than said before (0.30s)"],
        "said once, when the first task's end moved it; the rest went as newly predicted"
    );
    let events = &env.engine.run(late).unwrap().events;
    let at = events.iter().position(|e| e.kind == EventKind::RunEstimate).unwrap();
    assert_eq!(events[at - 1].kind, EventKind::TaskSucceeded, "right after the task whose end moved it");
    // A run that goes as predicted says nothing more than its start's prediction.
    let (on_time, _) = env.start(costed_chain(&["a", "b", "c"], 0.1), None).unwrap();
    run_through(&mut env, 0, |_| 110);
    assert_eq!(estimate_events(&env, on_time), Vec::<String>::new());
}

//! Engine tests: feed inputs, assert on effects and state.
use super::*;

mod children;
mod estimates;
mod fanout;
mod faults;
mod footprint;
mod gates;
mod hostile;
mod monitoring;
mod schedules;
mod sessions;
mod simulation;
use crate::restore::RestoredRun;
use proptest::prelude::*;
use weft_model::{FailurePolicy, ProcessSpec, RunStatus, TaskSpec, TaskState, WorkflowSpec};

pub(crate) struct Env {
    pub engine: Engine,
    pub now: Millis,
    pub next_id: u128,
}

impl Env {
    pub fn new() -> Self {
        Env { engine: Engine::new(Config::default()), now: 1_000, next_id: 1 }
    }

    pub fn worker(&mut self, n: u128, slots: u32, queues: &[&str], kinds: &[&str]) -> WorkerId {
        let wid = WorkerId::from_u128(1_000_000 + n);
        let reg = WorkerRegistration {
            id: wid,
            session: 1,
            secret: SessionSecret([n as u8; 32]),
            proof: None,
            name: format!("w{n}"),
            queues: queues.iter().map(|q| Arc::from(*q)).collect(),
            kinds: kinds.iter().map(|k| Arc::from(*k)).collect(),
            slots,
            speed: 1.0,
            version: "test".into(),
            holding: vec![],
        };
        self.engine.register_worker(reg, self.now).unwrap();
        wid
    }

    pub fn start(&mut self, spec: ProcessSpec, key: Option<&str>) -> Result<(RunId, bool), Error> {
        self.next_id += 1;
        let req = StartRun {
            id: RunId::from_u128(self.next_id),
            source: RunSource::Spec(spec),
            idempotency_key: key.map(String::from),
            input_json: String::new(),
        };
        self.engine.start_run(req, self.now)
    }

    pub fn assignments(&mut self) -> Vec<(WorkerId, Assignment)> {
        self.engine
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Assign { worker, assignment } => Some((worker, assignment)),
                _ => None,
            })
            .collect()
    }

    pub fn succeed(&mut self, w: WorkerId, a: &Assignment, result: &str) -> AckOutcome {
        assert_eq!(self.engine.task_status(w, &a.attempt, Reported::Running, self.now), AckOutcome::Accepted);
        self.engine.task_status(w, &a.attempt, Reported::Succeeded(Arc::from(result)), self.now)
    }

    pub fn fail(&mut self, w: WorkerId, a: &Assignment, retryable: bool) -> AckOutcome {
        let error = TaskError { message: "boom".into(), retryable };
        self.engine.task_status(w, &a.attempt, Reported::Failed(error), self.now)
    }

    pub fn advance(&mut self, ms: Millis) {
        self.now += ms;
        self.engine.tick(self.now);
    }
}

pub(crate) fn chain(name: &str, steps: &[&str]) -> WorkflowSpec {
    WorkflowSpec {
        name: name.into(),
        tasks: steps.iter().map(|s| TaskSpec::new(*s, "noop")).collect(),
        chain: true,
        default_retry: None,
    }
}

pub(crate) fn process(workflows: Vec<WorkflowSpec>) -> ProcessSpec {
    ProcessSpec::new("p", workflows)
}

fn names(xs: &[(WorkerId, Assignment)]) -> Vec<String> {
    xs.iter().map(|(_, a)| format!("{}/{}", a.attempt.workflow, a.attempt.task)).collect()
}

#[test]
fn a_chain_runs_in_order_and_hands_results_on() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    let (run, created) = env.start(process(vec![chain("ship", &["a", "b", "c"])]), None).unwrap();
    assert!(created);
    for (step, expect_input) in [("a", None), ("b", Some("\"ra\"")), ("c", Some("\"rb\""))] {
        let got = env.assignments();
        assert_eq!(names(&got), vec![format!("ship/{step}")]);
        let a = &got[0].1;
        assert_eq!(a.inputs.first().map(|(_, v)| &**v), expect_input);
        assert_eq!(env.succeed(w, a, &format!("\"r{step}\"")), AckOutcome::Accepted);
    }
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    // Every event numbered without gaps, run started first and finished last.
    assert!(r.events.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    assert_eq!(r.events.first().unwrap().kind, EventKind::RunStarted);
    assert_eq!(r.events.last().unwrap().kind, EventKind::RunSucceeded);
}

#[test]
fn one_slot_runs_higher_priority_first() {
    let mut env = Env::new();
    let mut tasks = Vec::new();
    for (n, p) in [("low", -5), ("mid", 0), ("high", 9), ("mid2", 0)] {
        let mut t = TaskSpec::new(n, "noop");
        t.priority = p;
        tasks.push(t);
    }
    env.start(process(vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }]), None)
        .unwrap();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let mut order = Vec::new();
    for _ in 0..4 {
        let got = env.assignments();
        assert_eq!(got.len(), 1, "one slot, one assignment at a time");
        order.push(got[0].1.attempt.task.to_string());
        env.succeed(w, &got[0].1, "null");
    }
    assert_eq!(order, vec!["high", "mid", "mid2", "low"]);
}

#[test]
fn tasks_spread_by_load_and_respect_queue_and_kind() {
    let mut env = Env::new();
    let a = env.worker(1, 2, &["default"], &["noop"]);
    let b = env.worker(2, 2, &["default"], &["noop"]);
    let gpu = env.worker(3, 8, &["gpu"], &["noop"]);
    let tasks = (0..4).map(|i| TaskSpec::new(format!("t{i}"), "noop")).collect();
    env.start(process(vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }]), None)
        .unwrap();
    let got = env.assignments();
    assert_eq!(got.iter().filter(|(w, _)| *w == a).count(), 2);
    assert_eq!(got.iter().filter(|(w, _)| *w == b).count(), 2);
    assert!(got.iter().all(|(w, _)| *w != gpu));
}

#[test]
fn retries_with_backoff_then_fails_the_run_fast() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    let mut flaky = TaskSpec::new("charge", "noop");
    flaky.retry = Some(weft_model::RetrySpec {
        max_attempts: Some(2),
        initial_backoff: Some(100),
        jitter: Some(0.0),
        ..Default::default()
    });
    let billing = WorkflowSpec { name: "billing".into(), tasks: vec![flaky], chain: true, default_retry: None };
    let (run, _) = env.start(process(vec![billing, chain("ship", &["pack", "send"])]), None).unwrap();
    let got = env.assignments();
    let charge = got.iter().find(|(_, a)| &*a.attempt.task == "charge").unwrap().1.clone();
    let pack = got.iter().find(|(_, a)| &*a.attempt.task == "pack").unwrap().1.clone();
    assert_eq!(env.fail(w, &charge, true), AckOutcome::Accepted);
    assert!(env.assignments().is_empty(), "backoff not yet passed");
    assert_eq!(env.fail(w, &charge, true), AckOutcome::Duplicate, "a repeated report of the same outcome");
    assert_eq!(env.engine.next_deadline(), Some(env.now + 100));
    env.advance(100);
    let retry = env.assignments();
    assert_eq!(retry[0].1.attempt.attempt, 2);
    // Once attempt 2 exists, attempt 1's late reports are fenced off.
    assert_eq!(env.fail(w, &charge, true), AckOutcome::Stale);
    assert_eq!(env.engine.task_status(w, &charge.attempt, Reported::Running, env.now), AckOutcome::Stale);
    env.fail(w, &retry[0].1, true);
    // Fail fast: the sibling's running task was told to stop, its next step never started.
    let effects = env.engine.take_effects();
    assert!(effects.iter().any(|e| matches!(e, Effect::Cancel { attempt, .. } if attempt == &pack.attempt)));
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.reason.contains("`billing` failed: task `charge` attempt 2: boom"), "{}", r.reason);
    assert_eq!(r.tasks[2].state, TaskState::Cancelled);
    assert_eq!(env.succeed_stale(w, &pack), AckOutcome::Stale);
}

impl Env {
    fn succeed_stale(&mut self, w: WorkerId, a: &Assignment) -> AckOutcome {
        self.engine.task_status(w, &a.attempt, Reported::Succeeded(Arc::from("1")), self.now)
    }
}

#[test]
fn let_siblings_finish_keeps_the_other_workflow_going() {
    let mut env = Env::new();
    let w = env.worker(1, 4, &["default"], &["noop"]);
    let mut p = process(vec![chain("a", &["x"]), chain("b", &["y", "z"])]);
    p.failure_policy = FailurePolicy::LetSiblingsFinish;
    p.default_retry = Some(weft_model::RetrySpec { max_attempts: Some(1), ..Default::default() });
    let (run, _) = env.start(p, None).unwrap();
    let got = env.assignments();
    env.fail(w, &got.iter().find(|(_, a)| &*a.attempt.task == "x").unwrap().1, false);
    env.succeed(w, &got.iter().find(|(_, a)| &*a.attempt.task == "y").unwrap().1, "1");
    assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Running);
    let z = env.assignments();
    env.succeed(w, &z[0].1, "2");
    let r = env.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.count(TaskState::Succeeded), 2);
}

#[test]
fn a_dead_workers_attempt_moves_and_its_late_report_is_refused() {
    let mut env = Env::new();
    let w1 = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(process(vec![chain("w", &["only"])]), None).unwrap();
    let first = env.assignments();
    assert_eq!(first[0].0, w1);
    let w2 = env.worker(2, 1, &["default"], &["noop"]);
    // w2 keeps heartbeating; w1 falls silent.
    for _ in 0..6 {
        env.now += 1_000;
        env.engine.heartbeat(w2, HeartbeatInfo::default(), env.now);
        env.engine.tick(env.now);
    }
    assert_eq!(env.engine.worker(w1).unwrap().liveness, Liveness::Dead);
    let moved = env.assignments();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].0, w2);
    assert_eq!(moved[0].1.attempt.attempt, 2);
    assert_eq!(env.succeed_stale(w1, &first[0].1), AckOutcome::Stale);
    // It comes back and says it still runs the old attempt: it is told to stop.
    let info = HeartbeatInfo { running: vec![first[0].1.attempt.clone()], ..Default::default() };
    env.engine.heartbeat(w1, info, env.now);
    assert!(env.engine.take_effects().iter().any(|e| matches!(e, Effect::Cancel { worker, .. } if *worker == w1)));
    assert_eq!(env.succeed(w2, &moved[0].1, "1"), AckOutcome::Accepted);
    assert_eq!(env.engine.run(run).unwrap().status, RunStatus::Succeeded);
}

#[test]
fn cancel_stops_running_attempts_and_dispatches_nothing_more() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(process(vec![chain("w", &["a", "b"])]), None).unwrap();
    let a = env.assignments();
    env.engine.cancel_run(run, "operator said so", env.now).unwrap();
    let effects = env.engine.take_effects();
    assert!(effects.iter().any(|e| matches!(e, Effect::Cancel { attempt, .. } if attempt == &a[0].1.attempt)));
    assert_eq!(env.succeed_stale(w, &a[0].1), AckOutcome::Stale);
    assert!(env.assignments().is_empty());
    let r = env.engine.run(run).unwrap();
    assert_eq!((r.status, r.reason.as_str()), (RunStatus::Cancelled, "operator said so"));
    assert!(r.tasks.iter().all(|t| t.state == TaskState::Cancelled));
    assert!(matches!(env.engine.cancel_run(run, "", env.now), Err(Error::FailedPrecondition(_))));
}

#[test]
fn runs_are_found_by_their_idempotency_key() {
    let mut env = Env::new();
    let (keyed, _) = env.start(process(vec![chain("w", &["a"])]), Some("order-42")).unwrap();
    env.start(process(vec![chain("w", &["a"])]), Some("order-43")).unwrap();
    env.start(process(vec![chain("w", &["a"])]), None).unwrap();
    let by_key = |key: &str| {
        let filter = crate::query::RunFilter { idempotency_key: Some(key.into()), ..Default::default() };
        env.engine.list_runs(&filter, None, 100).0.iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(by_key("order-42"), vec![keyed]);
    assert!(by_key("order-4").is_empty(), "the whole key, not a prefix");
    assert_eq!(env.engine.list_runs(&Default::default(), None, 100).0.len(), 3);
}

#[test]
fn idempotency_key_returns_the_same_run_and_bad_specs_create_nothing() {
    let mut env = Env::new();
    let (first, created) = env.start(process(vec![chain("w", &["a"])]), Some("order-42")).unwrap();
    assert!(created);
    let (again, created) = env.start(process(vec![chain("w", &["a"])]), Some("order-42")).unwrap();
    assert_eq!((again, created), (first, false));
    let bad = process(vec![WorkflowSpec {
        name: "w".into(),
        tasks: vec![TaskSpec::new("a", "teleport")],
        chain: false,
        default_retry: None,
    }]);
    match env.start(bad, Some("other")) {
        Err(Error::Invalid(e)) => assert_eq!(e.violations[0].field, "spec.workflows[0].tasks[0].kind"),
        other => panic!("expected invalid, got {other:?}"),
    }
    assert_eq!(env.engine.list_runs(&Default::default(), None, 100).0.len(), 1);
    // A kind becomes known once a worker advertises it.
    env.worker(1, 1, &["default"], &["teleport"]);
    let ok = process(vec![WorkflowSpec {
        name: "w".into(),
        tasks: vec![TaskSpec::new("a", "teleport")],
        chain: false,
        default_retry: None,
    }]);
    assert!(env.start(ok, Some("other")).is_ok());
}

#[test]
fn definitions_are_versioned_and_reregistering_the_same_spec_is_a_no_op() {
    let mut env = Env::new();
    let mut p = process(vec![chain("w", &["a"])]);
    assert_eq!(env.engine.register_definition("p", p.clone(), 1).unwrap(), (1, true));
    assert_eq!(env.engine.register_definition("p", p.clone(), 2).unwrap(), (1, false));
    p.workflows[0].tasks[0].priority = 3;
    assert_eq!(env.engine.register_definition("p", p.clone(), 3).unwrap(), (2, true));
    assert!(matches!(env.engine.register_definition("q", p, 4), Err(Error::Invalid(_))));
    let req = StartRun {
        id: RunId::from_u128(77),
        source: RunSource::Definition { name: "p".into(), version: Some(1) },
        idempotency_key: None,
        input_json: "{\"order\": 1}".into(),
    };
    let (run, _) = env.engine.start_run(req, 5).unwrap();
    assert_eq!(env.engine.run(run).unwrap().definition, Some((Arc::from("p"), 1)));
}

/// A random DAG: task i may depend on any earlier task of its workflow.
fn arb_process() -> impl Strategy<Value = ProcessSpec> {
    let workflow = proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..3), 1..12);
    proptest::collection::vec((workflow, any::<bool>()), 1..4).prop_map(|wfs| {
        let workflows = wfs
            .into_iter()
            .enumerate()
            .map(|(wi, (tasks, chained))| WorkflowSpec {
                name: format!("w{wi}"),
                chain: chained,
                default_retry: None,
                tasks: tasks
                    .iter()
                    .enumerate()
                    .map(|(ti, deps)| {
                        let mut t = TaskSpec::new(format!("t{ti}"), "noop");
                        t.priority = (ti as i32 * 7) % 5 - 2;
                        if !chained && ti > 0 {
                            let mut ds: Vec<String> = deps.iter().map(|d| format!("t{}", d.index(ti))).collect();
                            ds.sort();
                            ds.dedup();
                            t.depends_on = ds;
                        }
                        t
                    })
                    .collect(),
            })
            .collect();
        process(workflows)
    })
}

proptest! {
    /// Every valid DAG finishes when tasks succeed; no task starts before all its
    /// dependencies succeeded; no worker ever holds more attempts than its slots.
    #[test]
    fn every_dag_finishes_in_dependency_order(
        spec in arb_process(),
        slots in proptest::collection::vec(1u32..4, 1..4),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 200),
    ) {
        let mut env = Env::new();
        let workers: Vec<WorkerId> = slots.iter().enumerate().map(|(i, s)| env.worker(i as u128, *s, &["default"], &["noop"])).collect();
        let (run, _) = env.start(spec, None).unwrap();
        let mut in_flight: Vec<(WorkerId, Assignment)> = Vec::new();
        let mut pick = picks.iter().cycle();
        for _ in 0..1000 {
            for (w, a) in env.assignments() {
                let r = env.engine.run(run).unwrap();
                let task = r.plan.find(&a.attempt.workflow, &a.attempt.task).unwrap();
                for &d in &r.plan.tasks[task as usize].deps {
                    prop_assert_eq!(r.tasks[d as usize].state, TaskState::Succeeded);
                }
                in_flight.push((w, a));
            }
            for (i, w) in workers.iter().enumerate() {
                let held = in_flight.iter().filter(|(x, _)| x == w).count();
                prop_assert!(held <= slots[i] as usize, "worker {} holds {} > {}", i, held, slots[i]);
            }
            if in_flight.is_empty() { break; }
            let (w, a) = in_flight.swap_remove(pick.next().unwrap().index(in_flight.len()));
            prop_assert_eq!(env.succeed(w, &a, "null"), AckOutcome::Accepted);
        }
        let r = env.engine.run(run).unwrap();
        prop_assert_eq!(r.status, RunStatus::Succeeded);
        prop_assert!(r.tasks.iter().all(|t| t.state == TaskState::Succeeded && t.attempt == 1));
    }
}

/// What a store would hold for `run`, as the coordinator writes it.
pub(crate) fn stored(run: &Run) -> RestoredRun {
    RestoredRun {
        run: StoredRun::of(run),
        plan: run.plan.clone(),
        tasks: run.tasks.iter().enumerate().map(|(i, t)| StoredTask::of(run.id, i as u32, t)).collect(),
        events: run.events.clone(),
    }
}

#[test]
fn a_restored_engine_keeps_attempts_of_workers_that_come_back_and_requeues_the_rest() {
    let mut env = Env::new();
    let w1 = env.worker(1, 1, &["default"], &["noop"]);
    let w2 = env.worker(2, 1, &["default"], &["noop"]);
    let spec = process(vec![chain("a", &["a1", "a2"]), chain("b", &["b1"]), chain("c", &["c1"])]);
    let (run, _) = env.start(spec.clone(), Some("k")).unwrap();
    let first = env.assignments();
    assert_eq!(first.len(), 2);
    let on_w1 = first.iter().find(|(w, _)| *w == w1).unwrap().1.clone();
    let on_w2 = first.iter().find(|(w, _)| *w == w2).unwrap().1.clone();

    // Restart: a new engine from the stored run.
    let mut restored = Env::new();
    restored.now = env.now + 10;
    restored.engine.restore_run(stored(env.engine.run(run).unwrap()), restored.now);
    assert!(!restored.start(spec, Some("k")).unwrap().1, "keys survive");
    // w1 comes back holding its attempt; w2 never does.
    let reg = WorkerRegistration {
        id: w1,
        session: 2,
        // Restored from the store: no session to prove anything against.
        secret: SessionSecret([2; 32]),
        proof: None,
        name: "w1".into(),
        queues: vec![Arc::from("default")],
        kinds: vec![Arc::from("noop")],
        slots: 1,
        speed: 1.0,
        version: "t".into(),
        holding: vec![on_w1.attempt.clone()],
    };
    restored.engine.register_worker(reg, restored.now).unwrap();
    assert!(restored.assignments().is_empty(), "w1's one slot is still taken by its held attempt");
    assert_eq!(restored.succeed_stale(w1, &on_w1), AckOutcome::Accepted);
    let next = restored.assignments();
    assert_eq!(next.len(), 1);
    restored.succeed(w1, &next[0].1, "1");
    // w2's lease runs out: its attempt runs again, on w1, as attempt 2.
    for _ in 0..6 {
        restored.now += 1_000;
        restored.engine.heartbeat(w1, HeartbeatInfo::default(), restored.now);
        restored.engine.tick(restored.now);
        for (w, a) in restored.assignments() {
            assert_eq!(w, w1);
            if a.attempt.task == on_w2.attempt.task {
                assert_eq!(a.attempt.attempt, 2);
            }
            restored.succeed(w, &a, "2");
        }
    }
    let r = restored.engine.run(run).unwrap();
    assert_eq!(r.status, RunStatus::Succeeded, "{:?}", r.tasks.iter().map(|t| t.state).collect::<Vec<_>>());
    assert!(r.events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

#[test]
fn a_worker_reconnecting_without_an_attempt_gets_it_run_again() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    env.start(process(vec![chain("w", &["only"])]), None).unwrap();
    let first = env.assignments();
    let reg = WorkerRegistration {
        id: w,
        session: 2,
        secret: SessionSecret([2; 32]),
        proof: Some(SessionSecret([1; 32])),
        name: "w".into(),
        queues: vec![Arc::from("default")],
        kinds: vec![Arc::from("noop")],
        slots: 1,
        speed: 1.0,
        version: "t".into(),
        holding: vec![],
    };
    env.engine.register_worker(reg, env.now).unwrap();
    let again = env.assignments();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.attempt.attempt, first[0].1.attempt.attempt + 1);
}

#[test]
fn finished_runs_expire_with_their_idempotency_keys() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(process(vec![chain("w", &["a"])]), Some("once")).unwrap();
    let a = env.assignments();
    env.succeed(w, &a[0].1, "1");
    assert!(env.engine.expire_finished_runs(env.now).is_empty(), "not older than the cut-off yet");
    assert_eq!(env.engine.expire_finished_runs(env.now + 1), vec![run]);
    assert!(env.engine.run(run).is_err());
    assert!(env.start(process(vec![chain("w", &["a"])]), Some("once")).unwrap().1, "the key is free again");
}

#[test]
fn event_kind_codes_round_trip() {
    for code in 1..=14u8 {
        assert_eq!(EventKind::from_code(code).unwrap().code(), code);
    }
    // Stored codes never move: the ones a store already holds keep their meaning.
    assert_eq!(EventKind::RunCompensating.code(), 12);
    assert_eq!(EventKind::RunEstimate.code(), 13);
    assert_eq!(EventKind::TaskExpanded.code(), 14);
    assert_eq!(EventKind::from_code(0), None);
    assert_eq!(EventKind::from_code(15), None);
}

#[test]
fn after_a_restart_a_dispatchable_task_never_reuses_an_attempt_number() {
    let mut env = Env::new();
    let w = env.worker(1, 1, &["default"], &["noop"]);
    let (run, _) = env.start(process(vec![chain("w", &["a", "b"])]), None).unwrap();
    let a = env.assignments();
    // Stored before "a" was assigned: the assignment of attempt 1 may still have gone out.
    let mut before = stored(env.engine.run(run).unwrap());
    before.tasks[0].state = TaskState::Ready;
    before.tasks[0].attempt = 0;
    let mut restored = Env::new();
    restored.engine.restore_run(before, restored.now);
    restored.worker(1, 1, &["default"], &["noop"]);
    let again = restored.assignments();
    assert_eq!(again[0].1.attempt.attempt, 2, "attempt 1 may exist out there");
    // The old attempt 1's report is fenced off.
    assert_eq!(restored.succeed_stale(w, &a[0].1), AckOutcome::Stale);
}

#[test]
fn a_plan_validated_off_the_driver_has_only_its_kinds_checked_each_named_at_its_field() {
    use weft_model::spec::CompensationSpec;
    let mut env = Env::new();
    let mut spec = process(vec![chain("w", &["a", "b"])]);
    spec.workflows[0].tasks[1].kind = "charge".into();
    spec.workflows[0].tasks[0].compensate = Some(CompensationSpec {
        kind: "refund".into(),
        params: serde_json::json!({}),
        queue: None,
        retry: None,
        timeout: None,
    });
    let plan = Arc::new(weft_model::validate_process(&spec, &|_| true).expect("valid but for its kinds"));
    let start = |env: &mut Env, plan: &Arc<weft_model::ProcessPlan>, key: &str| {
        env.engine.start_run(
            StartRun {
                id: RunId::new_v7(),
                source: RunSource::Plan(plan.clone()),
                idempotency_key: Some(key.into()),
                input_json: String::new(),
            },
            env.now,
        )
    };
    let Err(Error::Invalid(e)) = start(&mut env, &plan, "k") else { panic!("unknown kinds are refused") };
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, vec!["spec.workflows[0].tasks[1].kind", "spec.workflows[0].tasks[0].compensate.kind"]);
    assert!(env.engine.take_changes().is_empty(), "nothing applied");
    env.worker(1, 1, &["default"], &["charge", "refund"]);
    let (id, created) = start(&mut env, &plan, "k").expect("known now");
    assert!(created);
    assert_eq!(start(&mut env, &plan, "k").expect("same request"), (id, false), "idempotent on the plan's spec");
    let (version, created) = env.engine.register_plan("p", plan.clone(), env.now).expect("registered");
    assert_eq!((version, created), (1, true));
    assert!(env.engine.register_plan("other", plan, env.now).is_err(), "the name must match the spec's");
}

#[test]
fn a_stored_attempt_number_at_its_maximum_restores_without_overflow() {
    let mut env = Env::new();
    let (run, _) = env.start(process(vec![chain("w", &["a"])]), None).unwrap();
    let mut damaged = stored(env.engine.run(run).unwrap());
    damaged.tasks[0].state = TaskState::Ready;
    damaged.tasks[0].attempt = u32::MAX;
    let mut restored = Env::new();
    restored.engine.restore_run(damaged, restored.now);
    assert_eq!(restored.engine.run(run).unwrap().tasks[0].attempt, u32::MAX);
}

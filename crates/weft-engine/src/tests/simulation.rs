//! Deterministic simulation: the engine driven by a seeded random schedule of submissions,
//! worker joins, deaths, hangs, reconnects, late and duplicate reports, cancellations and
//! clock jumps, with the invariants checked after every step. Once the faults stop, every
//! run must reach a final state, and on schedules without injected task failures (no
//! failed reports, cancels, timeouts or deadlines; workers still die, hang and reconnect)
//! every run must succeed.
//!
//! Persistence is checked too: a store fed only with the engine's change sets must hold
//! exactly the engine's durable state after every step, and an engine restored from that
//! store at random points must agree with the live one.
//!
//! `WEFT_SIM_SEEDS=N` sets how many seeds run (default 2000); `WEFT_SIM_SEED=S` replays one.
use super::*;
use std::collections::HashMap;
use weft_model::spec::CompensationSpec;

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Default)]
struct SimWorker {
    slots: u32,
    session: u64,
    /// The process runs (false after a kill, until restarted).
    alive: bool,
    /// Stopped (SIGSTOP-like): no heartbeats, no reports, but the session stays open.
    hung: bool,
    /// Attempts the process is running, and whether it reported RUNNING.
    held: Vec<(AttemptId, bool)>,
    /// Final reports sent, kept to send again (duplicates, late reports).
    sent: Vec<(AttemptId, Reported)>,
}

/// Which faults a schedule injects besides worker deaths, hangs, reconnects and late or
/// duplicate reports.
#[derive(Clone, Copy)]
struct Faults {
    /// Failed reports, cancels, attempt timeouts and run deadlines.
    task_failures: bool,
}

struct Sim {
    rng: Rng,
    seed: u64,
    faults: Faults,
    /// What a store given every change set holds.
    store: StoredView,
    /// Runs whose final event has gone out (effects are in order: nothing of theirs may
    /// be assigned after it).
    ended: std::collections::HashSet<RunId>,
    env: Env,
    workers: Vec<(WorkerId, SimWorker)>,
    runs: Vec<RunId>,
    successes: HashMap<(RunId, Arc<str>, Arc<str>), u32>,
    next_run: u128,
}

impl Sim {
    fn new(seed: u64, faults: Faults) -> Sim {
        Sim {
            rng: Rng(seed),
            seed,
            faults,
            store: StoredView::default(),
            ended: Default::default(),
            env: Env::new(),
            workers: Vec::new(),
            runs: Vec::new(),
            successes: HashMap::new(),
            next_run: 1,
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!("seed {}: {what} (replay with WEFT_SIM_SEED={})", self.seed, self.seed)
    }

    /// Applies the engine's effects to the simulated world, checking what they say.
    fn deliver(&mut self) {
        let changes = self.env.engine.take_changes();
        self.store.apply(&changes);
        for effect in self.env.engine.take_effects() {
            match effect {
                Effect::Assign { worker, assignment } => {
                    if self.ended.contains(&assignment.attempt.run) {
                        self.fail(format!("{} assigned after its run ended", assignment.attempt.task));
                    }
                    let run = self.env.engine.run(assignment.attempt.run).unwrap();
                    let i = run.plan.find(&assignment.attempt.workflow, &assignment.attempt.task).unwrap();
                    for &d in &run.plan.tasks[i as usize].deps {
                        if run.tasks[d as usize].state != TaskState::Succeeded {
                            self.fail(format!(
                                "{} assigned before its dependency {} succeeded",
                                assignment.attempt.task, d
                            ));
                        }
                    }
                    if let Some((_, w)) = self.workers.iter_mut().find(|(id, _)| *id == worker)
                        && w.alive
                    {
                        w.held.push((assignment.attempt, false));
                    }
                }
                Effect::Cancel { worker, attempt, .. } => {
                    if let Some((_, w)) = self.workers.iter_mut().find(|(id, _)| *id == worker)
                        && !w.hung
                    {
                        w.held.retain(|(a, _)| *a != attempt);
                    }
                }
                Effect::Event(e) if e.kind.is_run_final() => {
                    self.ended.insert(e.run);
                }
                Effect::Event(e) if e.kind == EventKind::TaskSucceeded => {
                    let n = self.successes.entry((e.run, e.workflow.clone(), e.task.clone())).or_default();
                    *n += 1;
                    let n = *n;
                    if n > 1 {
                        let history: Vec<String> = self
                            .env
                            .engine
                            .run(e.run)
                            .unwrap()
                            .events
                            .iter()
                            .map(|e| {
                                format!("{} {:?} {}/{} #{} {}", e.seq, e.kind, e.workflow, e.task, e.attempt, e.detail)
                            })
                            .collect();
                        self.fail(format!(
                            "result of {}/{} recorded {n} times\n{}",
                            e.workflow,
                            e.task,
                            history.join("\n")
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// The store built from change sets holds exactly the engine's durable state.
    fn check_stored(&self) {
        let live = self.env.engine.stored_view().normalized();
        let written = self.store.clone().normalized();
        if live != written {
            let runs: Vec<_> = live
                .runs
                .iter()
                .filter(|(id, r)| written.runs.get(id) != Some(r))
                .map(|(id, r)| {
                    let w = written.runs.get(id);
                    (id, (r.status, &r.reason), w.map(|w| (w.status, &w.reason)))
                })
                .collect();
            let tasks: Vec<_> = live
                .tasks
                .iter()
                .filter(|(k, t)| written.tasks.get(k) != Some(t))
                .map(|(_, t)| (t, written.tasks.get(&(t.run, t.index))))
                .collect();
            let missing_events = live.events.keys().filter(|k| !written.events.contains_key(k)).count();
            let extra_tasks: Vec<_> = written.tasks.keys().filter(|k| !live.tasks.contains_key(k)).collect();
            self.fail(format!(
                "the change sets missed durable state: runs (live, written) {runs:?}; tasks (live, written) {tasks:?}; \
                 tasks written but not live {extra_tasks:?}; {missing_events} events"
            ));
        }
    }

    /// An engine restored from the store agrees with the live one: same runs, results and
    /// history; a restored task may only be further along the way to its next attempt
    /// (a skipped attempt number, a pending task made ready).
    fn check_restore(&self) {
        let mut restored = Engine::new(self.env.engine.config().clone());
        for run in self.store.runs.values() {
            let spec: ProcessSpec = serde_json::from_str(&run.spec_json).unwrap();
            let mut plan = weft_model::validate_process(&spec, &|_| true).unwrap();
            let tasks: Vec<_> =
                self.store.tasks.range((run.id, 0)..=(run.id, u32::MAX)).map(|(_, t)| t.clone()).collect();
            let events: Vec<_> =
                self.store.events.range((run.id, 0)..=(run.id, u64::MAX)).map(|(_, e)| e.clone()).collect();
            if let Err(e) = crate::fanout::replay_expansions(&mut plan, &events, &tasks, &run.input_json) {
                self.fail(format!("run {}: {e}", run.id));
            }
            let plan = Arc::new(plan);
            let restored_run = crate::restore::RestoredRun { run: run.clone(), plan, tasks, events };
            restored.restore_run(restored_run, self.env.now);
        }
        // What the cost model learned comes back as it was.
        restored.restore_observations(self.store.observations.values().cloned().collect());
        let sorted = |mut o: Vec<crate::StoredObservation>| {
            o.sort_by(|a, b| a.key.cmp(&b.key));
            o
        };
        if sorted(restored.observations()) != sorted(self.env.engine.observations()) {
            self.fail("the restored engine's learned durations differ from the live one's".to_string());
        }
        for id in &self.runs {
            let (live, back) = (self.env.engine.run(*id).unwrap(), restored.run(*id).unwrap());
            if (live.status, &live.reason, live.finished_at) != (back.status, &back.reason, back.finished_at) {
                self.fail(format!("run {id} restored as {:?}, live {:?}", back.status, live.status));
            }
            if back.events.get(..live.events.len()) != Some(&live.events[..]) {
                self.fail(format!("run {id}: the restored history does not begin with the live one"));
            }
            for (i, (l, b)) in live.tasks.iter().zip(&back.tasks).enumerate() {
                let same_outcome = (l.result.as_ref(), &l.error) == (b.result.as_ref(), &b.error);
                let moved_on =
                    matches!(l.state, TaskState::Pending | TaskState::Ready | TaskState::Assigned | TaskState::Running)
                        && b.attempt >= l.attempt;
                if !(same_outcome && (l.state == b.state && b.attempt >= l.attempt || moved_on)) {
                    self.fail(format!(
                        "run {id} task {i}: restored {:?} attempt {}, live {:?} attempt {}",
                        b.state, b.attempt, l.state, l.attempt
                    ));
                }
            }
        }
    }

    fn check_invariants(&self) {
        let engine = &self.env.engine;
        // The shared limit: never more than its concurrency out at once, never more than
        // its rate handed out in any second.
        let mut out = 0;
        let mut handed: Vec<Millis> = Vec::new();
        for id in &self.runs {
            let run = engine.run(*id).unwrap();
            let uses = |i: usize| run.plan.tasks[i].uses.iter().any(|&l| &*run.plan.limits[l as usize].name == SHARED);
            out += run.tasks.iter().enumerate().filter(|(i, t)| t.state.is_active() && uses(*i)).count();
            for e in run.events.iter().filter(|e| e.kind == EventKind::TaskAssigned) {
                if run.plan.find(&e.workflow, &e.task).is_some_and(|i| uses(i as usize)) {
                    handed.push(e.at);
                }
            }
        }
        if out > SHARED_CONCURRENCY as usize {
            self.fail(format!("{out} tasks hold the shared limit of {SHARED_CONCURRENCY}"));
        }
        handed.sort();
        for (i, at) in handed.iter().enumerate() {
            let within = handed[i..].iter().take_while(|t| **t < at + 1_000).count();
            if within > SHARED_RATE as usize {
                self.fail(format!("{within} tasks of the shared limit handed out within 1 s of {at}"));
            }
        }
        let mut holder: HashMap<TaskRef, WorkerId> = HashMap::new();
        for w in engine.workers() {
            if w.attempts.len() as u32 > w.slots {
                self.fail(format!("worker {} holds {} attempts with {} slots", w.name, w.attempts.len(), w.slots));
            }
            for r in &w.attempts {
                if let Some(other) = holder.insert(*r, w.id) {
                    self.fail(format!("task {r:?} held by {other} and {}", w.id));
                }
            }
        }
        for id in &self.runs {
            let run = engine.run(*id).unwrap();
            for (i, t) in run.tasks.iter().enumerate() {
                let r = TaskRef { run: *id, task: i as u32 };
                if t.state.is_active() && holder.get(&r) != t.worker.as_ref() {
                    self.fail(format!("active task {r:?} on {:?} but held by {:?}", t.worker, holder.get(&r)));
                }
                if !t.state.is_active() && holder.contains_key(&r) {
                    self.fail(format!("task {r:?} in state {:?} still holds a slot", t.state));
                }
            }
        }
    }

    fn random_process(&mut self) -> ProcessSpec {
        let workflows = (0..1 + self.rng.below(2))
            .map(|wi| {
                let n = 1 + self.rng.below(6) as usize;
                let tasks = (0..n)
                    .map(|ti| {
                        let mut t = TaskSpec::new(format!("t{ti}"), "noop");
                        t.priority = self.rng.below(5) as i32 - 2;
                        if ti > 0 && self.rng.chance(60) {
                            t.depends_on = vec![format!("t{}", self.rng.below(ti as u64))];
                        }
                        if self.faults.task_failures && self.rng.chance(20) {
                            t.timeout = Some(500 + self.rng.below(3000));
                        }
                        if self.rng.chance(20) {
                            t.compensate = Some(CompensationSpec {
                                kind: "noop".into(),
                                params: serde_json::json!({}),
                                queue: None,
                                retry: None,
                                timeout: None,
                            });
                        }
                        t
                    })
                    .collect();
                WorkflowSpec { name: format!("w{wi}"), tasks, chain: false, default_retry: None }
            })
            .collect();
        let mut p = process(workflows);
        // Without injected failures only lost attempts are retried, and they must not run
        // out: a run may then only succeed.
        let max_attempts = if self.faults.task_failures { 1 + self.rng.below(5) as u32 } else { 100 };
        p.default_retry = Some(weft_model::RetrySpec {
            max_attempts: Some(max_attempts),
            initial_backoff: Some(self.rng.below(200)),
            ..Default::default()
        });
        if self.rng.chance(30) {
            p.failure_policy = FailurePolicy::LetSiblingsFinish;
        }
        if self.faults.task_failures && self.rng.chance(10) {
            p.deadline = Some(2_000 + self.rng.below(20_000));
        }
        // Half the runs declare the shared limit (every run's process is `p`, so they all
        // share it), and some of their tasks use it.
        if self.rng.chance(50) {
            p.limits.insert(
                SHARED.into(),
                weft_model::gates::LimitSpec {
                    concurrency: Some(SHARED_CONCURRENCY),
                    rate: Some(weft_model::gates::Rate { count: SHARED_RATE, per_ms: 1_000 }),
                },
            );
            for t in p.workflows.iter_mut().flat_map(|w| &mut w.tasks) {
                if self.rng.chance(60) {
                    t.uses = vec![SHARED.into()];
                }
            }
        }
        p
    }

    fn register(&mut self, i: usize, holding: Vec<AttemptId>) {
        let (id, w) = &mut self.workers[i];
        w.session += 1;
        let reg = WorkerRegistration {
            id: *id,
            session: w.session,
            // An honest worker proves it is the same one with its previous session's secret.
            secret: sim_secret(i, w.session),
            proof: (w.session > 1).then(|| sim_secret(i, w.session - 1)),
            name: format!("w{i}"),
            queues: vec![Arc::from("default")],
            kinds: vec![Arc::from("noop")],
            slots: w.slots,
            speed: 1.0,
            version: "sim".into(),
            holding,
        };
        self.env.engine.register_worker(reg, self.env.now).unwrap();
    }

    fn heartbeats(&mut self) {
        for i in 0..self.workers.len() {
            let (id, w) = &self.workers[i];
            if w.alive && !w.hung {
                let info =
                    HeartbeatInfo { running: w.held.iter().map(|(a, _)| a.clone()).collect(), ..Default::default() };
                self.env.engine.heartbeat(*id, info, self.env.now);
            }
        }
    }

    /// One worker does one thing with one of its attempts. `honest`: it always succeeds.
    fn work(&mut self, i: usize, honest: bool) {
        let (id, w) = &mut self.workers[i];
        let (id, now) = (*id, self.env.now);
        if !w.alive || w.hung || w.held.is_empty() {
            return;
        }
        let k = self.rng.below(w.held.len() as u64) as usize;
        let (attempt, running) = w.held[k].clone();
        let reported = if !running && self.rng.chance(50) {
            w.held[k].1 = true;
            Reported::Running
        } else if honest || self.rng.chance(75) {
            w.held.swap_remove(k);
            Reported::Succeeded(Arc::from("1"))
        } else {
            w.held.swap_remove(k);
            Reported::Failed(TaskError { message: "boom".into(), retryable: self.rng.chance(80) })
        };
        if reported != Reported::Running {
            w.sent.push((attempt.clone(), reported.clone()));
        }
        let outcome = self.env.engine.task_status(id, &attempt, reported, now);
        if outcome == AckOutcome::Stale {
            // Told to stop: it drops the attempt, as a real worker does.
            self.workers[i].1.held.retain(|(a, _)| *a != attempt);
        }
    }

    fn step(&mut self) {
        let now = self.env.now;
        match self.rng.below(100) {
            0..=7 if self.runs.len() < 8 => {
                let spec = self.random_process();
                self.next_run += 1;
                let req = StartRun {
                    id: RunId::from_u128(self.next_run),
                    source: RunSource::Spec(spec),
                    idempotency_key: None,
                    input_json: String::new(),
                };
                let (id, _) = self.env.engine.start_run(req, now).unwrap();
                self.runs.push(id);
            }
            8..=11 if self.workers.len() < 4 => {
                let id = WorkerId::from_u128(1_000 + self.workers.len() as u128);
                let slots = 1 + self.rng.below(3) as u32;
                self.workers.push((id, SimWorker { slots, alive: true, ..Default::default() }));
                self.register(self.workers.len() - 1, vec![]);
            }
            12..=40 => {
                self.env.now += self.rng.below(400) as Millis;
                self.heartbeats();
                self.env.engine.tick(self.env.now);
            }
            41..=75 if !self.workers.is_empty() => {
                let i = self.rng.below(self.workers.len() as u64) as usize;
                self.work(i, !self.faults.task_failures);
            }
            76..=79 if !self.workers.is_empty() => {
                // Kill: the process and its attempts are gone; the session closes.
                let i = self.rng.below(self.workers.len() as u64) as usize;
                let (id, w) = &mut self.workers[i];
                if w.alive {
                    w.alive = false;
                    w.held.clear();
                    self.env.engine.worker_disconnected(*id, w.session, now);
                }
            }
            80..=82 if !self.workers.is_empty() => {
                // Restart a dead process (same id, nothing held) or hang/resume a live one.
                let i = self.rng.below(self.workers.len() as u64) as usize;
                let w = &mut self.workers[i].1;
                if !w.alive {
                    w.alive = true;
                    w.hung = false;
                    self.register(i, vec![]);
                } else {
                    w.hung = !w.hung;
                }
            }
            83..=86 if !self.workers.is_empty() => {
                // A reconnect: the session drops and opens again, holding what it runs.
                let i = self.rng.below(self.workers.len() as u64) as usize;
                let (id, w) = &self.workers[i];
                if w.alive && !w.hung {
                    let (id, session) = (*id, w.session);
                    self.env.engine.worker_disconnected(id, session, now);
                    let holding = self.workers[i].1.held.iter().map(|(a, _)| a.clone()).collect();
                    self.register(i, holding);
                }
            }
            87..=91 if !self.workers.is_empty() => {
                // A late or duplicate report of something already sent.
                let i = self.rng.below(self.workers.len() as u64) as usize;
                let (id, w) = &self.workers[i];
                if w.alive && !w.hung && !w.sent.is_empty() {
                    let (a, rep) = w.sent[self.rng.below(w.sent.len() as u64) as usize].clone();
                    let id = *id;
                    self.env.engine.task_status(id, &a, rep, now);
                }
            }
            92..=93 if self.faults.task_failures && !self.runs.is_empty() => {
                let id = self.runs[self.rng.below(self.runs.len() as u64) as usize];
                let _ = self.env.engine.cancel_run(id, "sim", now);
            }
            94..=95 => {
                // A clock jump.
                self.env.now += 5_000 + self.rng.below(30_000) as Millis;
                self.heartbeats();
                self.env.engine.tick(self.env.now);
            }
            96 => self.check_restore(),
            _ => {}
        }
        self.deliver();
        self.check_invariants();
        // Comparing whole stores is costly: often enough that a missed change is found
        // within a few steps of where it happens.
        if self.rng.chance(15) {
            self.check_stored();
        }
    }

    /// Faults stop: every worker is restarted or resumed and does its work honestly.
    fn settle(&mut self) {
        for i in 0..self.workers.len() {
            let w = &mut self.workers[i].1;
            w.hung = false;
            if !w.alive {
                w.alive = true;
                self.register(i, vec![]);
            }
        }
        if self.workers.is_empty() {
            self.workers.push((WorkerId::from_u128(999), SimWorker { slots: 2, alive: true, ..Default::default() }));
            self.register(0, vec![]);
        }
        self.deliver();
        for _ in 0..5_000 {
            let all_final = self.runs.iter().all(|id| self.env.engine.run(*id).unwrap().status.is_final());
            if all_final {
                // Workers report what they still hold (attempts of ended runs, whose stop
                // they missed while hung), are told it is stale and drop it.
                for i in 0..self.workers.len() {
                    while !self.workers[i].1.held.is_empty() {
                        self.work(i, true);
                        self.deliver();
                    }
                }
                self.check_stored();
                self.check_settled();
                return;
            }
            for i in 0..self.workers.len() {
                while !self.workers[i].1.held.is_empty() {
                    self.work(i, true);
                    self.deliver();
                }
            }
            self.env.now += 200;
            self.heartbeats();
            self.env.engine.tick(self.env.now);
            self.deliver();
            self.check_invariants();
        }
        let stuck: Vec<String> = self
            .runs
            .iter()
            .map(|id| self.env.engine.run(*id).unwrap())
            .filter(|r| !r.status.is_final())
            .map(|r| format!("{}: {:?}", r.id, r.tasks.iter().map(|t| t.state).collect::<Vec<_>>()))
            .collect();
        self.fail(format!("runs never finished after faults stopped: {stuck:?}"));
    }
}

impl Sim {
    /// After the faults stop and every run ended: what each worker believes it runs agrees
    /// with the engine (nothing), and without injected failures every run succeeded.
    fn check_settled(&self) {
        for (id, w) in &self.workers {
            let held: Vec<_> = w.held.iter().map(|(a, _)| a).collect();
            let engine_says = self.env.engine.worker(*id).map(|w| w.attempts.len()).unwrap_or(0);
            if !held.is_empty() || engine_says != 0 {
                self.fail(format!("worker {id} still runs {held:?}; the engine says it holds {engine_says}"));
            }
        }
        if !self.faults.task_failures {
            for id in &self.runs {
                let run = self.env.engine.run(*id).unwrap();
                if run.status != RunStatus::Succeeded {
                    self.fail(format!("run {id} ended {:?} ({}) with no failure injected", run.status, run.reason));
                }
            }
        }
        self.check_restore();
    }
}

/// The limit runs of the simulation share, and its bounds.
const SHARED: &str = "shared";
const SHARED_CONCURRENCY: u32 = 2;
const SHARED_RATE: u32 = 4;

fn run_seed(seed: u64, steps: usize) {
    // Odd seeds inject task failures, even ones do not.
    let mut sim = Sim::new(seed, Faults { task_failures: seed % 2 == 1 });
    for _ in 0..steps {
        sim.step();
    }
    sim.settle();
}

#[test]
fn random_fault_schedules_keep_every_invariant() {
    if let Some(seed) = std::env::var("WEFT_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        run_seed(seed, 400);
        return;
    }
    let seeds: u64 = std::env::var("WEFT_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000);
    for seed in 0..seeds {
        run_seed(seed, 400);
    }
}

/// The secret of simulated worker `i`'s session number `session`.
fn sim_secret(i: usize, session: u64) -> SessionSecret {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes[8..16].copy_from_slice(&session.to_le_bytes());
    SessionSecret(bytes)
}

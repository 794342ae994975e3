//! The monitoring service's judgement, pure like the rest: anomalies found from heartbeats,
//! attempt outcomes, running times and queue depths, and the scheduler's response to them.
//!
//! | anomaly | found when | response |
//! |---|---|---|
//! | late heartbeat | a heartbeat's gap exceeds 1.5 intervals | the worker is penalized until 3 on time in a row |
//! | stuck task | an attempt runs past 3x its expected time (and 2 heartbeats more) | its worker is penalized until the attempt ends |
//! | queue backlog | a queue's depth grew for 3 checks in a row with no free slot serving it | reported (more workers are the answer) |
//! | failing worker | at least half of its last 5+ attempts failed | penalized until under a quarter fail |
//! | deadline at risk | a running run's predicted finish is past its `deadline` | reported once per run, with the margin, while there is still time to act |
//! | unservable task | ready tasks of a (queue, kind) that no live worker serves, at two checks in a row | reported once, naming the first task, its kind and queue (a worker that serves them is the answer) |
//!
//! A penalized worker gets at most half its slots of new attempts (at least one), so it
//! keeps receiving some work and can show it has recovered. Every anomaly and every
//! recovery is an [`Effect::Anomaly`].
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use weft_model::{Millis, RunId, TaskState, WorkerId};

use crate::stored::{ObservationKey, StoredObservation};
use crate::types::{Liveness, TaskRef, Worker};
use crate::{Effect, Engine};

/// Attempts remembered per worker for its failure rate.
const OUTCOME_WINDOW: usize = 20;
/// Fewest outcomes before a failure rate means anything.
const MIN_OUTCOMES: usize = 5;
/// Observed durations needed before they stand for a task's expected time.
const MIN_OBSERVATIONS: u32 = 3;
/// Distinct tasks whose durations are remembered.
const MAX_OBSERVED: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnomalyKind {
    LateHeartbeat,
    StuckTask,
    QueueBacklog,
    FailingWorker,
    Recovered,
    UnservableTask,
    DeadlineAtRisk,
}

/// Ready tasks of one queue and kind that no live worker serves (see
/// [`Engine::unserved_work`]).
#[derive(Clone, Debug, PartialEq)]
pub struct UnservedWork {
    pub queue: Arc<str>,
    pub kind: Arc<str>,
    /// How many tasks wait.
    pub waiting: usize,
    /// The first of them.
    pub run: RunId,
    pub workflow: Arc<str>,
    pub task: Arc<str>,
}

/// Something wrong (or right again) that the monitor found.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub at: Millis,
    pub worker: Option<WorkerId>,
    pub run: Option<RunId>,
    pub workflow: Arc<str>,
    pub task: Arc<str>,
    pub queue: Arc<str>,
    pub value: f64,
    pub detail: String,
}

/// Why a worker gets fewer new attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Penalty {
    LateHeartbeats,
    SlowTask,
    Failing,
}

/// What the monitor tracks of one worker.
#[derive(Clone, Debug, Default)]
pub struct WorkerHealth {
    /// Recent attempt outcomes, true = failed.
    pub outcomes: VecDeque<bool>,
    /// How late its last heartbeat was beyond the interval.
    pub lag_ms: Millis,
    /// Heartbeats on time in a row.
    pub on_time: u32,
    pub penalty: Option<Penalty>,
}

impl WorkerHealth {
    pub fn failure_rate(&self) -> f64 {
        if self.outcomes.is_empty() {
            return 0.0;
        }
        self.outcomes.iter().filter(|f| **f).count() as f64 / self.outcomes.len() as f64
    }
}

/// Mean duration of a task, by (process, workflow, task) name.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observed {
    pub count: u32,
    pub mean_ms: f64,
}

impl Observed {
    /// One more duration, in the running mean.
    pub fn add(&mut self, ms: f64) {
        self.count += 1;
        self.mean_ms += (ms - self.mean_ms) / f64::from(self.count);
    }

    /// One more sample in a mean over about the last `window`: a plain mean until then, an
    /// exponential one after (so it follows a cluster whose load changes).
    pub fn add_recent(&mut self, ms: f64, window: u32) {
        self.count = (self.count + 1).min(window.max(1));
        self.mean_ms += (ms - self.mean_ms) / f64::from(self.count);
    }
}

/// How many recent dispatches the step overhead is averaged over.
const STEP_WINDOW: u32 = 50;

/// Per-queue backlog tracking.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Backlog {
    last_depth: usize,
    growing: u32,
    reported: bool,
}

/// Per (queue, kind) that no live worker serves.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Unserved {
    checks: u32,
    reported: bool,
}

/// A task across runs: (process, workflow, task) names.
pub(crate) type TaskKey = (Arc<str>, Arc<str>, Arc<str>);

/// Monitor state kept by the engine.
#[derive(Debug, Default)]
pub(crate) struct MonitorState {
    pub observed: HashMap<TaskKey, Observed>,
    /// Mean duration of tasks by (queue, kind): the cost of a task not seen before.
    pub by_kind: HashMap<(Arc<str>, Arc<str>), Observed>,
    pub backlog: HashMap<Arc<str>, Backlog>,
    pub unserved: HashMap<(Arc<str>, Arc<str>), Unserved>,
    /// Running runs already reported at risk of missing their deadline.
    pub at_risk: std::collections::HashSet<RunId>,
    /// Attempts already reported stuck.
    pub stuck: HashMap<TaskRef, u32>,
    /// The time from handing an attempt to a worker to hearing it run (the commit, the
    /// message, the worker starting it, its report): paid once per step of a chain, on top
    /// of the tasks' own durations.
    pub step: Observed,
}

impl Worker {
    /// Slots it may fill with new attempts: half when penalized.
    pub fn effective_slots(&self) -> u32 {
        match self.health.penalty {
            Some(_) => (self.slots / 2).max(1),
            None => self.slots,
        }
    }
}

impl Engine {
    fn anomaly(&mut self, kind: AnomalyKind, at: Millis, value: f64, detail: String) -> Anomaly {
        Anomaly {
            kind,
            at,
            worker: None,
            run: None,
            workflow: Arc::from(""),
            task: Arc::from(""),
            queue: Arc::from(""),
            value,
            detail,
        }
    }

    fn penalize(&mut self, id: WorkerId, penalty: Penalty) {
        if let Some(w) = self.workers.get_mut(&id) {
            w.health.penalty = Some(penalty);
        }
    }

    fn recover(&mut self, id: WorkerId, why: &str, now: Millis) {
        let Some(w) = self.workers.get_mut(&id) else { return };
        if w.health.penalty.take().is_none() {
            return;
        }
        let name = w.name.clone();
        let mut a = self.anomaly(
            AnomalyKind::Recovered,
            now,
            0.0,
            format!("worker {name} recovered ({why}): full share of work again"),
        );
        a.worker = Some(id);
        self.emit(Effect::Anomaly(a));
        self.schedule(now);
    }

    /// A heartbeat arrived `gap` ms after the previous one.
    pub(crate) fn observe_heartbeat(&mut self, id: WorkerId, gap: Millis, now: Millis) {
        let interval = self.cfg.heartbeat_interval_ms as Millis;
        let Some(w) = self.workers.get_mut(&id) else { return };
        let late = gap * 2 > interval * 3;
        w.health.lag_ms = (gap - interval).max(0);
        if !late {
            w.health.on_time += 1;
            if w.health.penalty == Some(Penalty::LateHeartbeats) && w.health.on_time >= 3 {
                self.recover(id, "heartbeats on time again", now);
            }
            return;
        }
        w.health.on_time = 0;
        if w.health.penalty.is_some() {
            return;
        }
        let name = w.name.clone();
        let mut a = self.anomaly(
            AnomalyKind::LateHeartbeat,
            now,
            gap as f64,
            format!("worker {name}: heartbeat {gap} ms after the previous one (interval {interval} ms); it gets fewer new attempts"),
        );
        a.worker = Some(id);
        self.penalize(id, Penalty::LateHeartbeats);
        self.emit(Effect::Anomaly(a));
    }

    /// An attempt was heard running: how long after its assignment.
    pub(crate) fn observe_start(&mut self, assigned_at: Option<Millis>, now: Millis) {
        if let Some(at) = assigned_at
            && now >= at
        {
            self.monitor.step.add_recent((now - at) as f64, STEP_WINDOW);
        }
    }

    /// An attempt of `r` on `worker` ended; `failed` unless it succeeded.
    pub(crate) fn observe_outcome(&mut self, worker: WorkerId, r: TaskRef, failed: bool, now: Millis) {
        if !failed && let Some(run) = self.runs.get(&r.run) {
            let t = &run.tasks[r.task as usize];
            if let (Some(start), Some(end)) = (t.started_at, t.finished_at) {
                let key = (
                    run.plan.name.clone(),
                    run.plan.workflow_name(r.task).clone(),
                    run.plan.tasks[r.task as usize].name.clone(),
                );
                let ms = (end - start) as f64;
                if self.monitor.observed.len() < MAX_OBSERVED || self.monitor.observed.contains_key(&key) {
                    self.monitor.observed.entry(key.clone()).or_default().add(ms);
                    let (process, workflow, task) = key;
                    self.dirty.mark_observation(ObservationKey::Task { process, workflow, task });
                }
                let tp = &run.plan.tasks[r.task as usize];
                let kind_key = (tp.queue.clone(), tp.kind.clone());
                if self.monitor.by_kind.len() < MAX_OBSERVED || self.monitor.by_kind.contains_key(&kind_key) {
                    self.monitor.by_kind.entry(kind_key.clone()).or_default().add(ms);
                    let (queue, kind) = kind_key;
                    self.dirty.mark_observation(ObservationKey::Kind { queue, kind });
                }
            }
        }
        if self.monitor.stuck.remove(&r).is_some()
            && self.workers.get(&worker).is_some_and(|w| w.health.penalty == Some(Penalty::SlowTask))
        {
            self.recover(worker, "its slow attempt ended", now);
        }
        let Some(w) = self.workers.get_mut(&worker) else { return };
        w.health.outcomes.push_back(failed);
        if w.health.outcomes.len() > OUTCOME_WINDOW {
            w.health.outcomes.pop_front();
        }
        let rate = w.health.failure_rate();
        let enough = w.health.outcomes.len() >= MIN_OUTCOMES;
        match w.health.penalty {
            None if enough && rate >= 0.5 => {
                let name = w.name.clone();
                let n = w.health.outcomes.len();
                let mut a = self.anomaly(
                    AnomalyKind::FailingWorker,
                    now,
                    rate,
                    format!(
                        "worker {name}: {:.0}% of its last {n} attempts failed; it gets fewer new attempts",
                        rate * 100.0
                    ),
                );
                a.worker = Some(worker);
                self.penalize(worker, Penalty::Failing);
                self.emit(Effect::Anomaly(a));
            }
            Some(Penalty::Failing) if rate < 0.25 => self.recover(worker, "failure rate back under 25%", now),
            _ => {}
        }
    }

    /// The time a task is expected to take: its declared cost, else its observed mean.
    pub(crate) fn expected_ms(&self, r: TaskRef) -> Option<f64> {
        let run = self.runs.get(&r.run)?;
        let tp = &run.plan.tasks[r.task as usize];
        if let Some(cost) = tp.cost_seconds {
            return Some(cost * 1000.0);
        }
        let key = (run.plan.name.clone(), run.plan.workflow_name(r.task).clone(), tp.name.clone());
        self.monitor.observed.get(&key).filter(|o| o.count >= MIN_OBSERVATIONS).map(|o| o.mean_ms)
    }

    /// The periodic check: stuck tasks and growing backlogs.
    pub(crate) fn monitor_check(&mut self, now: Millis) {
        let grace = 2.0 * self.cfg.heartbeat_interval_ms as f64;
        let mut stuck = Vec::new();
        for w in self.workers.values() {
            for r in &w.attempts {
                let Some(run) = self.runs.get(&r.run) else { continue };
                let t = &run.tasks[r.task as usize];
                let (TaskState::Running, Some(start)) = (t.state, t.started_at) else { continue };
                if self.monitor.stuck.get(r) == Some(&t.attempt) {
                    continue;
                }
                let Some(expected) = self.expected_ms(*r) else { continue };
                let running = (now - start) as f64;
                if running > (3.0 * expected).max(expected + grace) {
                    stuck.push((*r, w.id, w.name.clone(), t.attempt, running, expected));
                }
            }
        }
        for (r, worker, name, attempt, running, expected) in stuck {
            self.monitor.stuck.insert(r, attempt);
            let run = &self.runs[&r.run];
            let (workflow, task) =
                (run.plan.workflow_name(r.task).clone(), run.plan.tasks[r.task as usize].name.clone());
            let mut a = self.anomaly(
                AnomalyKind::StuckTask,
                now,
                running,
                format!("{workflow}/{task} attempt {attempt} has run {running:.0} ms on worker {name}, expected about {expected:.0} ms; the worker gets fewer new attempts"),
            );
            (a.worker, a.run, a.workflow, a.task) = (Some(worker), Some(r.run), workflow, task);
            if self.workers.get(&worker).is_some_and(|w| w.health.penalty.is_none()) {
                self.penalize(worker, Penalty::SlowTask);
            }
            self.emit(Effect::Anomaly(a));
        }
        self.check_backlogs(now);
        self.check_unservable(now);
        self.check_deadlines(now);
    }

    /// Running runs whose predicted finish is past their deadline: said once, with the
    /// margin, while they still run (the deadline itself fails them when it comes).
    fn check_deadlines(&mut self, now: Millis) {
        let runs = &self.runs;
        self.monitor.at_risk.retain(|id| runs.get(id).is_some_and(|r| !r.status.is_final()));
        let due: Vec<(RunId, Millis)> = self
            .runs
            .iter()
            .filter(|(id, r)| !r.status.is_final() && !self.monitor.at_risk.contains(*id))
            .filter_map(|(id, r)| Some((*id, r.created_at + r.plan.deadline_ms? as Millis)))
            .collect();
        for (id, deadline) in due {
            let Ok(estimate) = self.estimate(id, now) else { continue };
            let Some(process) = self.runs.get(&id).map(|r| r.plan.name.clone()) else { continue };
            if estimate.predicted_finish <= deadline {
                continue;
            }
            self.monitor.at_risk.insert(id);
            let margin = (estimate.predicted_finish - deadline) as f64 / 1000.0;
            let mut a = self.anomaly(
                AnomalyKind::DeadlineAtRisk,
                now,
                margin,
                format!(
                    "run {id} ({process}) is predicted to finish {margin:.1} s after its deadline, which is in {:.1} s",
                    (deadline - now).max(0) as f64 / 1000.0
                ),
            );
            a.run = Some(id);
            self.emit(Effect::Anomaly(a));
        }
    }

    /// What was learned of `key`, as stored.
    pub(crate) fn observation(&self, key: ObservationKey) -> Option<StoredObservation> {
        let o = match &key {
            ObservationKey::Task { process, workflow, task } => {
                self.monitor.observed.get(&(process.clone(), workflow.clone(), task.clone()))?
            }
            ObservationKey::Kind { queue, kind } => self.monitor.by_kind.get(&(queue.clone(), kind.clone()))?,
        };
        Some(StoredObservation { key, count: o.count, mean_ms: o.mean_ms })
    }

    /// Everything learned, as stored.
    pub fn observations(&self) -> Vec<StoredObservation> {
        let tasks = self.monitor.observed.iter().map(|((process, workflow, task), o)| StoredObservation {
            key: ObservationKey::Task { process: process.clone(), workflow: workflow.clone(), task: task.clone() },
            count: o.count,
            mean_ms: o.mean_ms,
        });
        let kinds = self.monitor.by_kind.iter().map(|((queue, kind), o)| StoredObservation {
            key: ObservationKey::Kind { queue: queue.clone(), kind: kind.clone() },
            count: o.count,
            mean_ms: o.mean_ms,
        });
        tasks.chain(kinds).collect()
    }

    /// Puts back what a store kept (at start, before anything runs): the cost model predicts
    /// as well as before the restart. Entries past the bound, or not finite, are skipped.
    pub fn restore_observations(&mut self, stored: Vec<StoredObservation>) -> usize {
        let mut kept = 0;
        for o in stored {
            if o.count == 0 || !o.mean_ms.is_finite() || o.mean_ms < 0.0 {
                continue;
            }
            let value = Observed { count: o.count, mean_ms: o.mean_ms };
            match o.key {
                ObservationKey::Task { process, workflow, task } if self.monitor.observed.len() < MAX_OBSERVED => {
                    self.monitor.observed.insert((process, workflow, task), value);
                }
                ObservationKey::Kind { queue, kind } if self.monitor.by_kind.len() < MAX_OBSERVED => {
                    self.monitor.by_kind.insert((queue, kind), value);
                }
                _ => continue,
            }
            kept += 1;
        }
        kept
    }

    /// Ready tasks that nothing will run as the cluster stands, per queue and kind: no live
    /// (or suspect) worker serves both. Shown by `GetClusterStatus` (the dashboard, `top`).
    pub fn unserved_work(&self) -> Vec<UnservedWork> {
        self.sched
            .queues
            .heads()
            .filter(|(queue, kind, _, _)| {
                !self.workers.values().any(|w| {
                    matches!(w.liveness, Liveness::Live | Liveness::Suspect)
                        && w.queues.iter().any(|q| q == *queue)
                        && w.kinds.iter().any(|k| k == *kind)
                })
            })
            .filter_map(|(queue, kind, head, waiting)| {
                let run = self.runs.get(&head.run)?;
                let task = run.plan.tasks.get(head.task as usize)?;
                Some(UnservedWork {
                    queue: queue.clone(),
                    kind: kind.clone(),
                    waiting,
                    run: head.run,
                    workflow: run.plan.workflow_name(head.task).clone(),
                    task: task.name.clone(),
                })
            })
            .collect()
    }

    /// Raises `unservable_task` for work [`Engine::unserved_work`] finds at two checks in a
    /// row, once while it lasts. Without this a run waits in silence.
    fn check_unservable(&mut self, now: Millis) {
        let unserved = self.unserved_work();
        let mut found = Vec::new();
        for work in &unserved {
            let u = self.monitor.unserved.entry((work.queue.clone(), work.kind.clone())).or_default();
            u.checks += 1;
            if u.checks >= 2 && !u.reported {
                u.reported = true;
                found.push(work);
            }
        }
        let reported: Vec<UnservedWork> = found.into_iter().cloned().collect();
        self.monitor.unserved.retain(|(queue, kind), _| unserved.iter().any(|w| &w.queue == queue && &w.kind == kind));
        for work in reported {
            let more = if work.waiting > 1 { format!(" and {} more", work.waiting - 1) } else { String::new() };
            let mut a = self.anomaly(
                AnomalyKind::UnservableTask,
                now,
                work.waiting as f64,
                format!(
                    "{}/{}{more} waiting: no live worker serves kind {} on queue {}",
                    work.workflow, work.task, work.kind, work.queue
                ),
            );
            (a.run, a.workflow, a.task, a.queue) = (Some(work.run), work.workflow, work.task, work.queue);
            self.emit(Effect::Anomaly(a));
        }
    }

    fn check_backlogs(&mut self, now: Millis) {
        let depths = self.sched.queues.depths();
        let mut found = Vec::new();
        for (queue, depth) in &depths {
            let free: u32 = self.free_slots(queue);
            let b = self.monitor.backlog.entry(queue.clone()).or_default();
            if *depth > b.last_depth && free == 0 {
                b.growing += 1;
            } else if *depth <= b.last_depth || free > 0 {
                b.growing = 0;
                b.reported = false;
            }
            b.last_depth = *depth;
            if b.growing >= 3 && !b.reported {
                b.reported = true;
                found.push((queue.clone(), *depth));
            }
        }
        self.monitor.backlog.retain(|q, _| depths.contains_key(q));
        for (queue, depth) in found {
            let mut a = self.anomaly(
                AnomalyKind::QueueBacklog,
                now,
                depth as f64,
                format!("queue `{queue}` has grown to {depth} ready tasks with no free slot serving it: add workers or slots"),
            );
            a.queue = queue;
            self.emit(Effect::Anomaly(a));
        }
    }

    /// Free slots of accepting workers serving `queue`.
    pub fn free_slots(&self, queue: &str) -> u32 {
        self.workers
            .values()
            .filter(|w| w.accepting() && w.queues.iter().any(|q| &**q == queue))
            .map(|w| w.effective_slots().saturating_sub(w.attempts.len() as u32))
            .sum()
    }
}

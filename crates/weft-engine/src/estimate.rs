//! The cost model of DESIGN.md, per run, from the current state of the cluster:
//! T = Σ tᵢ/pᵢ, E = Σ tᵢ/sᵢ, M = Σ tᵢ/rᵢ, and a predicted finish time.
use weft_model::{Millis, RunId, TaskState};

use crate::types::TaskRef;
use crate::{Engine, Error};

/// A run's estimate. Seconds unless named otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    pub scheduling: f64,
    pub execution: f64,
    pub monitoring: f64,
    pub remaining: f64,
    pub predicted_finish: Millis,
    /// Tasks costed from each [`CostSource`].
    pub declared: u32,
    pub observed: u32,
    pub hinted: u32,
    pub kind_history: u32,
    pub unknown: u32,
    /// The cost given to tasks of unknown cost: the median of what tasks of each queue and
    /// kind took, or [`UNKNOWN_COST`] before anything was observed.
    pub default_cost: f64,
    /// What each step of a chain costs beyond its task's duration (an assignment reaching
    /// its worker and the worker starting it), as recently measured; counted once per task
    /// not yet started along the critical path.
    pub step_overhead: f64,
}

/// What the live workers offer one (queue, kind).
struct Serving {
    processors: u32,
    mean_speed: Option<f64>,
}

/// Where a task's cost came from, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostSource {
    /// Its spec's `cost`.
    Declared,
    /// Its own past durations (same process, workflow and task), from the first one.
    History,
    /// Its executor's parameters (a sleep's duration).
    Hint,
    /// Tasks of the same kind on the same queue.
    KindHistory,
    /// Nothing known: the cluster's default.
    Default,
}

/// Cost of a task of unknown cost before anything was observed, in seconds.
const UNKNOWN_COST: f64 = 1.0;

impl Engine {
    pub fn estimate(&self, id: RunId, now: Millis) -> Result<Estimate, Error> {
        let run = self.run(id)?;
        let plan = &run.plan;
        let rate = 1000.0 / self.cfg.heartbeat_interval_ms.max(1) as f64;
        let default_cost = self.default_cost();
        let step = self.monitor.step.mean_ms / 1000.0;
        let mut e = Estimate { default_cost, step_overhead: step, ..Estimate::default() };
        let n = plan.tasks.len();
        // Per task: its cost, the processors that can serve it, the speed it runs at.
        let mut left = vec![0.0f64; n];
        let mut costs = vec![0.0f64; n];
        let mut capacity = 0.0f64;
        let mut counted_workers = std::collections::BTreeSet::new();
        let mut serving: std::collections::HashMap<(std::sync::Arc<str>, std::sync::Arc<str>), Serving> =
            std::collections::HashMap::new();
        for (i, tp) in plan.tasks.iter().enumerate() {
            if tp.compensates.is_some() {
                continue;
            }
            let r = TaskRef { run: id, task: i as u32 };
            let t = &run.tasks[i];
            let (cost, source) = self.cost_of(r, default_cost);
            costs[i] = cost;
            match source {
                CostSource::Declared => e.declared += 1,
                CostSource::History => e.observed += 1,
                CostSource::Hint => e.hinted += 1,
                CostSource::KindHistory => e.kind_history += 1,
                CostSource::Default => e.unknown += 1,
            }
            // The workers serving a (queue, kind), looked up once per pair, not per task: a
            // run of 100,000 tasks has a handful of pairs.
            let serves = serving.entry((tp.queue.clone(), tp.kind.clone())).or_insert_with(|| {
                let workers: Vec<_> = self
                    .workers
                    .values()
                    .filter(|w| w.accepting() && w.queues.contains(&tp.queue) && w.kinds.contains(&tp.kind))
                    .collect();
                for w in &workers {
                    if counted_workers.insert(w.id) {
                        capacity += f64::from(w.effective_slots()) * w.speed;
                    }
                }
                let processors = workers.iter().map(|w| w.effective_slots()).sum();
                let mean_speed =
                    (!workers.is_empty()).then(|| workers.iter().map(|w| w.speed).sum::<f64>() / workers.len() as f64);
                Serving { processors, mean_speed }
            });
            let processors: u32 = serves.processors;
            let speed = match t.worker.and_then(|w| self.workers.get(&w)) {
                Some(w) if t.state != TaskState::Pending && t.state != TaskState::Ready => w.speed,
                _ => serves.mean_speed.unwrap_or(1.0),
            };
            e.scheduling += cost / f64::from(processors.max(1));
            e.execution += cost / speed;
            e.monitoring += cost / rate;
            left[i] = match t.state {
                TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled => 0.0,
                TaskState::Running => {
                    let done = t.started_at.map_or(0.0, |s| (now - s) as f64 / 1000.0);
                    (cost / speed - done).max(0.0)
                }
                _ => cost / speed,
            };
        }
        e.remaining = left.iter().sum();
        if run.status.is_final() {
            e.predicted_finish = run.finished_at.unwrap_or(now);
            return Ok(e);
        }
        // Work queued ahead of this run's tasks on the same queues, at the mean cost known.
        let ahead: usize = self
            .sched
            .queues
            .depths()
            .iter()
            .filter(|(q, _)| plan.tasks.iter().any(|t| &t.queue == *q))
            .map(|(_, d)| *d)
            .sum::<usize>()
            .saturating_sub(run.tasks.iter().filter(|t| t.state == TaskState::Ready).count());
        let wait = ahead as f64 * default_cost / capacity.max(1.0);
        let seconds = self.finish_in(run, &costs, &left, step, wait, default_cost, now);
        // Saturating: costs come from stored observations, which may be absurd.
        e.predicted_finish = now.saturating_add((seconds * 1000.0) as Millis);
        Ok(e)
    }

    /// Seconds until the run's last task ends: its schedule played forward on the slots of
    /// the live workers (see [`crate::forecast`]), each slot busy first with what it runs
    /// now and with `wait` (the work queued ahead of the run).
    #[allow(clippy::too_many_arguments)]
    fn finish_in(
        &self,
        run: &crate::types::Run,
        costs: &[f64],
        left: &[f64],
        step: f64,
        wait: f64,
        default_cost: f64,
        now: Millis,
    ) -> f64 {
        use crate::forecast::{Job, Progress, Slot, finish_in};
        let seconds = |ms: Millis| ms as f64 / 1000.0;
        // What remains of a task's step overhead: all of it before it is handed out, what is
        // left of it once handed out, none once heard running.
        let overhead = |t: &crate::types::TaskRun| match t.state {
            TaskState::Pending | TaskState::Ready => step,
            TaskState::Assigned => (step - t.assigned_at.map_or(0.0, |at| seconds(now - at))).max(0.0),
            _ => 0.0,
        };
        let mut classes: Vec<(&std::sync::Arc<str>, &std::sync::Arc<str>)> = Vec::new();
        let jobs: Vec<Job> = run
            .plan
            .tasks
            .iter()
            .zip(&run.tasks)
            .enumerate()
            .map(|(i, (tp, t))| {
                let class = match classes.iter().position(|(q, k)| **q == tp.queue && **k == tp.kind) {
                    Some(c) => c,
                    None => {
                        classes.push((&tp.queue, &tp.kind));
                        classes.len() - 1
                    }
                };
                let progress = match t.state {
                    _ if tp.compensates.is_some() => Progress::Done,
                    TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled => Progress::Done,
                    TaskState::Assigned | TaskState::Running => Progress::Underway { ends_in: left[i] + overhead(t) },
                    TaskState::Pending | TaskState::Ready => {
                        Progress::Waiting { not_before: t.retry_at.map_or(0.0, |at| seconds(at - now).max(0.0)) }
                    }
                };
                Job { deps: tp.deps.clone(), cost: costs[i], priority: tp.priority, class, progress }
            })
            .collect();
        let mut slots = Vec::new();
        for w in self.workers.values().filter(|w| w.accepting()) {
            let serves: Vec<bool> = classes.iter().map(|(q, k)| w.queues.contains(q) && w.kinds.contains(k)).collect();
            if !serves.contains(&true) {
                continue;
            }
            // When each of its attempts ends: this run's from the jobs, others' from their cost.
            let mut ends: Vec<f64> = w
                .attempts
                .iter()
                .map(|a| match self.runs.get(&a.run) {
                    _ if a.run == run.id => match jobs[a.task as usize].progress {
                        Progress::Underway { ends_in } => ends_in,
                        _ => 0.0,
                    },
                    Some(other_run) => {
                        let t = &other_run.tasks[a.task as usize];
                        let ran = t.started_at.map_or(0.0, |s| seconds(now - s));
                        (self.cost_of(*a, default_cost).0 / w.speed.max(f64::MIN_POSITIVE) - ran).max(0.0) + overhead(t)
                    }
                    None => 0.0,
                })
                .collect();
            ends.sort_by(f64::total_cmp);
            // A slot frees when enough attempts have ended to bring it under its slots.
            let count = w.effective_slots() as usize;
            let extra = ends.len().saturating_sub(count);
            for k in 0..count {
                let free_in = ends.get(extra + k).copied().unwrap_or(0.0) + wait;
                slots.push(Slot { free_in, speed: w.speed, serves: serves.clone() });
            }
        }
        finish_in(&jobs, &slots, step)
    }

    /// A task's cost in seconds and where it came from: its declared cost; else its own
    /// history, from the first observation (blended with its hint or its kind's history, if
    /// known, as one more observation: one sample alone can be an outlier); else its hint;
    /// else the history of its kind on its queue; else `default_cost`. Never more than the
    /// task can take (its timeout).
    pub fn cost_of(&self, r: TaskRef, default_cost: f64) -> (f64, CostSource) {
        let Some(run) = self.runs.get(&r.run) else { return (default_cost, CostSource::Default) };
        let tp = &run.plan.tasks[r.task as usize];
        if let Some(cost) = tp.cost_seconds {
            return (cost, CostSource::Declared);
        }
        let kind = self.monitor.by_kind.get(&(tp.queue.clone(), tp.kind.clone())).filter(|o| o.count > 0);
        let prior = match (tp.hint_ms, kind) {
            (Some(ms), _) => Some((ms as f64 / 1000.0, CostSource::Hint)),
            (None, Some(o)) => Some((o.mean_ms / 1000.0, CostSource::KindHistory)),
            (None, None) => None,
        };
        let key = (run.plan.name.clone(), run.plan.workflow_name(r.task).clone(), tp.name.clone());
        let own = self.monitor.observed.get(&key).filter(|o| o.count > 0);
        let (cost, source) = match (own, prior) {
            (Some(o), Some((p, _))) => {
                let n = f64::from(o.count);
                ((n * o.mean_ms / 1000.0 + p) / (n + 1.0), CostSource::History)
            }
            (Some(o), None) => (o.mean_ms / 1000.0, CostSource::History),
            (None, Some(prior)) => prior,
            (None, None) => (default_cost, CostSource::Default),
        };
        let cap = tp.at_most_ms.map_or(f64::INFINITY, |ms| ms as f64 / 1000.0);
        (cost.min(cap), source)
    }

    /// The cost of a task nothing is known of: the median of the mean durations of each
    /// (queue, kind) observed, or [`UNKNOWN_COST`] before any.
    pub fn default_cost(&self) -> f64 {
        let mut means: Vec<f64> =
            self.monitor.by_kind.values().filter(|o| o.count > 0).map(|o| o.mean_ms / 1000.0).collect();
        if means.is_empty() {
            return UNKNOWN_COST;
        }
        means.sort_by(f64::total_cmp);
        means[means.len() / 2]
    }
}

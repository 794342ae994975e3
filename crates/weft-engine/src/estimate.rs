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
    pub declared: u32,
    pub observed: u32,
    pub unknown: u32,
}

/// Cost of a task of unknown cost, in seconds.
const UNKNOWN_COST: f64 = 1.0;

impl Engine {
    pub fn estimate(&self, id: RunId, now: Millis) -> Result<Estimate, Error> {
        let run = self.run(id)?;
        let plan = &run.plan;
        let rate = 1000.0 / self.cfg.heartbeat_interval_ms.max(1) as f64;
        let mut e = Estimate::default();
        let n = plan.tasks.len();
        // Per task: its cost, the processors that can serve it, the speed it runs at.
        let mut left = vec![0.0f64; n];
        let mut capacity = 0.0f64;
        let mut counted_workers = std::collections::BTreeSet::new();
        for (i, tp) in plan.tasks.iter().enumerate() {
            if tp.compensates.is_some() {
                continue;
            }
            let r = TaskRef { run: id, task: i as u32 };
            let t = &run.tasks[i];
            let cost = match (tp.cost_seconds, self.expected_ms(r)) {
                (Some(c), _) => {
                    e.declared += 1;
                    c
                }
                (None, Some(ms)) => {
                    e.observed += 1;
                    ms / 1000.0
                }
                (None, None) => {
                    e.unknown += 1;
                    UNKNOWN_COST
                }
            };
            let serving: Vec<_> = self
                .workers
                .values()
                .filter(|w| w.accepting() && w.queues.contains(&tp.queue) && w.kinds.contains(&tp.kind))
                .collect();
            let processors: u32 = serving.iter().map(|w| w.effective_slots()).sum();
            let speed = match t.worker.and_then(|w| self.workers.get(&w)) {
                Some(w) if t.state != TaskState::Pending && t.state != TaskState::Ready => w.speed,
                _ if !serving.is_empty() => serving.iter().map(|w| w.speed).sum::<f64>() / serving.len() as f64,
                _ => 1.0,
            };
            for w in &serving {
                if counted_workers.insert(w.id) {
                    capacity += f64::from(w.effective_slots()) * w.speed;
                }
            }
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
        // Longest chain of work left: tasks come in dependency order within a workflow.
        let mut path = vec![0.0f64; n];
        let order = weft_model::dag::topo_order(&plan.tasks.iter().map(|t| t.deps.clone()).collect::<Vec<_>>())
            .unwrap_or_else(|_| (0..n as u32).collect());
        for i in order {
            let i = i as usize;
            let before = plan.tasks[i].deps.iter().map(|&d| path[d as usize]).fold(0.0, f64::max);
            path[i] = before + left[i];
        }
        let critical = path.iter().copied().fold(0.0, f64::max);
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
        let capacity = capacity.max(1.0);
        let wait = ahead as f64 * UNKNOWN_COST / capacity;
        let seconds = critical.max(e.remaining / capacity) + wait;
        e.predicted_finish = now + (seconds * 1000.0) as Millis;
        Ok(e)
    }
}

//! Read-only views for the API.
use std::collections::BTreeMap;
use std::sync::Arc;
use weft_model::{RunId, RunStatus};

use crate::types::{Definition, Run, Worker};
use crate::{AttemptId, Engine, Error, RunEvent};

/// Filters for listing runs.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub process_name: Option<String>,
    pub idempotency_key: Option<String>,
}

impl Engine {
    pub fn run(&self, id: RunId) -> Result<&Run, Error> {
        self.runs.get(&id).ok_or_else(|| Error::NotFound { what: "run", id: id.to_string() })
    }

    /// Runs newest first, starting after `after` (a page token), at most `limit`.
    /// Returns the page and whether more follow.
    pub fn list_runs(&self, filter: &RunFilter, after: Option<RunId>, limit: usize) -> (Vec<&Run>, bool) {
        let range = match after {
            Some(id) => self.runs.range(..id),
            None => self.runs.range(..),
        };
        let mut matching = range.rev().map(|(_, r)| r).filter(|r| {
            filter.status.is_none_or(|s| r.status == s)
                && filter.process_name.as_deref().is_none_or(|n| &*r.plan.name == n)
                && filter.idempotency_key.as_deref().is_none_or(|k| r.idempotency_key.as_deref() == Some(k))
        });
        let page: Vec<&Run> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        (page, more)
    }

    /// Events of a run from sequence number `from` (1-based) on.
    pub fn events_from(&self, id: RunId, from: u64) -> Result<&[RunEvent], Error> {
        let run = self.run(id)?;
        let start = (from.max(1) - 1).min(run.events.len() as u64) as usize;
        Ok(&run.events[start..])
    }

    /// Definitions by name then version, from the first name after `after`.
    pub fn list_definitions(&self, prefix: &str, after: Option<(&str, u32)>, limit: usize) -> (Vec<&Definition>, bool) {
        let mut all = self
            .definitions
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .flat_map(|(_, versions)| versions.iter())
            .filter(|d| after.is_none_or(|(n, v)| (&*d.name, d.version) > (n, v)));
        let page: Vec<&Definition> = all.by_ref().take(limit).collect();
        let more = all.next().is_some();
        (page, more)
    }

    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.values()
    }

    pub fn worker(&self, id: weft_model::WorkerId) -> Option<&Worker> {
        self.workers.get(&id)
    }

    /// Ready tasks waiting per routing queue.
    pub fn queue_depths(&self) -> BTreeMap<Arc<str>, usize> {
        self.sched.queues.depths()
    }

    /// Ready tasks per (queue, priority).
    pub fn queue_depths_by_priority(&self) -> &BTreeMap<(Arc<str>, i32), usize> {
        self.sched.queues.depths_by_priority()
    }

    /// (running, finished) run counts.
    pub fn run_counts(&self) -> (usize, usize) {
        (self.running_runs, self.runs.len() - self.running_runs)
    }

    /// Every queue with ready tasks: depth, depth by priority, and the free slots serving it.
    pub fn queue_views(&self) -> Vec<QueueView> {
        let by_priority = self.queue_depths_by_priority();
        self.queue_depths()
            .into_iter()
            .map(|(queue, depth)| QueueView {
                by_priority: by_priority
                    .iter()
                    .filter(|((q, _), _)| *q == queue)
                    .map(|((_, priority), n)| (*priority, *n))
                    .collect(),
                free_slots: self.free_slots(&queue),
                queue,
                depth,
            })
            .collect()
    }

    /// The attempts a worker holds, named (run, workflow, task, attempt number).
    pub fn attempts_of(&self, w: &Worker) -> Vec<AttemptId> {
        w.attempts
            .iter()
            .filter_map(|r| {
                let run = self.runs.get(&r.run)?;
                let task = run.plan.tasks.get(r.task as usize)?;
                Some(AttemptId {
                    run: r.run,
                    workflow: run.plan.workflow_name(r.task).clone(),
                    task: task.name.clone(),
                    attempt: run.tasks[r.task as usize].attempt,
                })
            })
            .collect()
    }
}

/// A routing queue as cluster views show it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueView {
    pub queue: Arc<str>,
    /// Ready tasks waiting.
    pub depth: usize,
    /// (priority, ready tasks), lowest priority first.
    pub by_priority: Vec<(i32, usize)>,
    /// Free slots of live workers serving it.
    pub free_slots: u32,
}

//! The validated, indexed form of a process that the engine runs. Tasks of all
//! workflows are numbered `0..n` in one list; dependencies are indices into it.
use crate::spec::{FailurePolicy, ProcessSpec, RetryPolicy};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// A process that passed validation.
#[derive(Clone, Debug)]
pub struct ProcessPlan {
    /// The process's name.
    pub name: Arc<str>,
    pub failure_policy: FailurePolicy,
    /// The spec as submitted, as JSON: kept as text because a plan lives as long as its
    /// run, and the text is a fraction of the size of the parsed spec.
    pub spec_json: Arc<str>,
    pub workflows: Vec<WorkflowPlan>,
    /// The workflows' tasks, then the compensation tasks (see [`TaskPlan::compensates`]).
    pub tasks: Vec<TaskPlan>,
    /// The run must end this long after its start.
    pub deadline_ms: Option<u64>,
    /// The limits its tasks use (see [`crate::gates`]); tasks name them by index.
    pub limits: Vec<LimitPlan>,
}

/// A named limit of a process.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitPlan {
    pub name: Arc<str>,
    pub concurrency: Option<u32>,
    pub rate: Option<crate::gates::Rate>,
}

/// A task's concurrency key: its template and how many may run per key.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyPlan {
    pub template: Vec<crate::gates::KeyPart>,
    pub max_per_key: u32,
}

#[derive(Clone, Debug)]
pub struct WorkflowPlan {
    pub name: Arc<str>,
    /// Indices of its own tasks in [`ProcessPlan::tasks`] (compensations not included).
    pub tasks: Range<u32>,
    /// Task name -> index, for reports that name their task.
    pub by_name: HashMap<Arc<str>, u32>,
}

#[derive(Clone, Debug)]
pub struct TaskPlan {
    /// Index of its workflow in [`ProcessPlan::workflows`].
    pub workflow: u32,
    pub name: Arc<str>,
    pub kind: Arc<str>,
    /// Parameters as JSON text, encoded once.
    pub params_json: Arc<str>,
    pub priority: i32,
    pub queue: Arc<str>,
    /// Tasks that must succeed first (indices, same workflow).
    pub deps: Vec<u32>,
    /// Tasks that wait for this one.
    pub dependents: Vec<u32>,
    pub retry: RetryPolicy,
    pub timeout_ms: Option<u64>,
    pub cost_seconds: Option<f64>,
    /// How long its executor says it takes (a sleep's duration), for the cost model.
    pub hint_ms: Option<u64>,
    /// How long it can take at most (its timeout, an http request's timeout).
    pub at_most_ms: Option<u64>,
    /// Longest wait in the queue.
    pub queue_timeout_ms: Option<u64>,
    /// The task that undoes this one, if any.
    pub compensation: Option<u32>,
    /// Set on a compensation task: the task it undoes. Compensations run only when their
    /// workflow fails, one at a time, latest-finished first.
    pub compensates: Option<u32>,
    /// Indices into [`ProcessPlan::limits`] of the limits it takes a share of.
    pub uses: Box<[u32]>,
    pub concurrency_key: Option<Arc<KeyPlan>>,
}

/// Name given to the compensation task of `task`. The `:` cannot appear in user names.
pub fn compensation_name(task: &str) -> String {
    format!("compensate:{task}")
}

impl ProcessPlan {
    /// The spec as submitted, parsed back from its JSON. A plan made by validation always
    /// parses back (its parameters nest at most `MAX_JSON_DEPTH` levels); the error is for
    /// plans built by hand or from a damaged store, which must not take the caller down.
    pub fn spec(&self) -> Result<ProcessSpec, serde_json::Error> {
        serde_json::from_str(&self.spec_json)
    }

    /// Finds a task by workflow and task name.
    pub fn find(&self, workflow: &str, task: &str) -> Option<u32> {
        let w = self.workflows.iter().find(|w| &*w.name == workflow)?;
        w.by_name.get(task).copied()
    }

    pub fn workflow_name(&self, task: u32) -> &Arc<str> {
        &self.workflows[self.tasks[task as usize].workflow as usize].name
    }
}

//! What the engine asks its driver to do, and the events it records.
use std::sync::Arc;
use weft_model::{Millis, RunId, WorkerId};

use crate::types::Liveness;

/// Names one attempt of one task: the attempt number is the fencing token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttemptId {
    pub run: RunId,
    pub workflow: Arc<str>,
    pub task: Arc<str>,
    pub attempt: u32,
}

/// Work pushed to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub attempt: AttemptId,
    pub kind: Arc<str>,
    pub params_json: Arc<str>,
    /// Results of the task's dependencies by task name.
    pub inputs: Vec<(Arc<str>, Arc<str>)>,
    pub run_input_json: Arc<str>,
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    RunStarted,
    TaskReady,
    TaskAssigned,
    TaskRunning,
    TaskSucceeded,
    TaskFailed,
    TaskRetrying,
    TaskCancelled,
    RunSucceeded,
    RunFailed,
    RunCancelled,
    /// A workflow failed and compensations start.
    RunCompensating,
    /// The run's predicted finish moved by more than a margin since last said.
    RunEstimate,
    /// A `for_each` task expanded into its instances (the detail says how many).
    TaskExpanded,
}

impl EventKind {
    const ALL: [EventKind; 14] = [
        EventKind::RunStarted,
        EventKind::TaskReady,
        EventKind::TaskAssigned,
        EventKind::TaskRunning,
        EventKind::TaskSucceeded,
        EventKind::TaskFailed,
        EventKind::TaskRetrying,
        EventKind::TaskCancelled,
        EventKind::RunSucceeded,
        EventKind::RunFailed,
        EventKind::RunCancelled,
        EventKind::RunCompensating,
        EventKind::RunEstimate,
        EventKind::TaskExpanded,
    ];

    /// A stable number for storage (1-based, in declaration order; never reorder).
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|k| *k == self).expect("listed") as u8 + 1
    }

    pub fn from_code(code: u8) -> Option<EventKind> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// The run's last event.
    pub fn is_run_final(self) -> bool {
        matches!(self, EventKind::RunSucceeded | EventKind::RunFailed | EventKind::RunCancelled)
    }
}

/// One state change of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEvent {
    pub run: RunId,
    /// 1, 2, 3... per run, no gaps.
    pub seq: u64,
    pub at: Millis,
    pub kind: EventKind,
    /// Workflow and task names; empty for run-level events.
    pub workflow: Arc<str>,
    pub task: Arc<str>,
    pub attempt: u32,
    pub worker: Option<WorkerId>,
    pub detail: String,
}

/// A worker's liveness changed.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerEvent {
    pub worker: WorkerId,
    pub name: String,
    pub liveness: Liveness,
    pub at: Millis,
    pub detail: String,
}

/// How a task status report was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    Accepted,
    /// Same as what is recorded; nothing changed.
    Duplicate,
    /// Not the current attempt (or not this worker's): refused; the worker must stop it.
    Stale,
}

/// Something for the driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Push this attempt down the worker's session.
    Assign { worker: WorkerId, assignment: Assignment },
    /// Tell the worker to stop this attempt.
    Cancel { worker: WorkerId, attempt: AttemptId, reason: String },
    /// A run changed; publish to watchers (it is already in the run's history).
    Event(RunEvent),
    /// A worker's liveness changed.
    Worker(WorkerEvent),
    /// The monitor found something wrong, or right again.
    Anomaly(crate::monitor::Anomaly),
}

//! What the engine holds.
use std::collections::BTreeSet;
use std::sync::Arc;
use weft_model::{Millis, ProcessPlan, ProcessSpec, RunId, RunStatus, TaskState, WorkerId};
use weft_sched::Ticket;

/// One task of one run, the unit the scheduler queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskRef {
    pub run: RunId,
    pub task: u32,
}

/// A named, versioned process.
#[derive(Clone, Debug)]
pub struct Definition {
    pub name: Arc<str>,
    pub version: u32,
    pub plan: Arc<ProcessPlan>,
    pub created_at: Millis,
}

impl Definition {
    /// The spec as registered; an error only for a plan not made by validation.
    pub fn spec(&self) -> Result<ProcessSpec, serde_json::Error> {
        self.plan.spec()
    }
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError {
    pub message: String,
    pub retryable: bool,
}

/// Runtime state of one task.
#[derive(Clone, Debug)]
pub struct TaskRun {
    pub state: TaskState,
    /// Number of the current or last attempt; 0 before the first dispatch.
    pub attempt: u32,
    /// Holder of the current attempt (or of the last one).
    pub worker: Option<WorkerId>,
    /// Dependencies not yet succeeded.
    pub waiting_on: u32,
    pub ready_at: Option<Millis>,
    /// When its current attempt was handed to a worker (not stored: it only measures the
    /// dispatch overhead the estimate counts per step).
    pub assigned_at: Option<Millis>,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub result: Option<Arc<str>>,
    pub error: Option<TaskError>,
    /// Set while queued.
    pub(crate) ticket: Option<Ticket>,
    /// Set while waiting out a retry backoff.
    pub retry_at: Option<Millis>,
}

impl TaskRun {
    /// A task not yet ready, waiting for `waiting_on` dependencies.
    pub fn pending(waiting_on: u32) -> Self {
        TaskRun {
            state: TaskState::Pending,
            attempt: 0,
            worker: None,
            waiting_on,
            ready_at: None,
            assigned_at: None,
            started_at: None,
            finished_at: None,
            result: None,
            error: None,
            ticket: None,
            retry_at: None,
        }
    }
}

/// Runtime state of one workflow of a run.
#[derive(Clone, Debug)]
pub struct WorkflowRun {
    pub status: RunStatus,
    /// Tasks not yet succeeded.
    pub unfinished: u32,
}

/// One execution of a process.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: RunId,
    pub plan: Arc<ProcessPlan>,
    /// Definition name and version, when started from one.
    pub definition: Option<(Arc<str>, u32)>,
    pub status: RunStatus,
    pub reason: String,
    pub idempotency_key: Option<String>,
    pub input_json: Arc<str>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    pub tasks: Vec<TaskRun>,
    pub workflows: Vec<WorkflowRun>,
    /// Every state change, numbered from 1.
    pub events: Vec<crate::RunEvent>,
    /// Compensation tasks waiting to run, in order (one runs at a time).
    pub compensations: std::collections::VecDeque<u32>,
    /// Compensations were started because a workflow failed.
    pub compensated: bool,
    /// What the estimate predicted at its checkpoints (see `predictions`).
    pub predictions: Vec<crate::predictions::Prediction>,
    /// Predictions are taken: runs restored after a restart take none (their start is
    /// gone, and a late "start" prediction would flatter the estimate).
    pub predicting: bool,
    /// Tasks in a final state (counted as they get there, so a checkpoint costs nothing to
    /// test).
    pub finished_tasks: u32,
    /// The predicted finish last published (the start's, or the first after a restore): a
    /// RUN_ESTIMATE event is recorded when the estimate moves away from it by more than a
    /// margin.
    pub published_finish: Option<Millis>,
}

impl Run {
    pub fn count(&self, state: TaskState) -> usize {
        self.tasks.iter().filter(|t| t.state == state).count()
    }
}

/// Liveness of a worker as the coordinator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Heartbeats on time.
    Live,
    /// Missed two heartbeats; keeps its attempts, gets no new ones.
    Suspect,
    /// Silent past the lease or disconnected; its attempts were re-queued.
    Dead,
    /// Leaving: finishes its attempts, gets no new ones.
    Draining,
}

/// The secret of one worker session. The coordinator draws it at random when the session
/// opens and gives it to the worker, which proves with it that a report stream, or its next
/// session after a reconnect, comes from the process that opened this session and not from
/// another one using its worker id. Compared in constant time; never shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionSecret(pub [u8; 32]);

impl SessionSecret {
    /// Whether `other` is this secret, in time that does not depend on where they differ.
    pub fn matches(&self, other: &SessionSecret) -> bool {
        let diff = self.0.iter().zip(other.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(..)")
    }
}

/// What a worker says about itself when its session opens.
#[derive(Clone, Debug)]
pub struct WorkerRegistration {
    pub id: WorkerId,
    /// Distinguishes sessions of one worker; a later session replaces an earlier one.
    pub session: u64,
    /// The new session's secret (drawn by the coordinator).
    pub secret: SessionSecret,
    /// The secret of the worker's previous session, when it reconnects: without it a worker
    /// id whose session is live (or within its lease) cannot be taken over.
    pub proof: Option<SessionSecret>,
    pub name: String,
    pub queues: Vec<Arc<str>>,
    pub kinds: Vec<Arc<str>>,
    pub slots: u32,
    pub speed: f64,
    pub version: String,
    /// Attempts it still runs from an earlier session.
    pub holding: Vec<crate::AttemptId>,
}

/// A worker process.
#[derive(Clone, Debug)]
pub struct Worker {
    pub id: WorkerId,
    pub session: u64,
    /// Its session's secret; `None` for a worker known only from restored attempts.
    pub secret: Option<SessionSecret>,
    pub name: String,
    pub queues: Vec<Arc<str>>,
    pub kinds: Vec<Arc<str>>,
    pub slots: u32,
    pub speed: f64,
    pub version: String,
    pub liveness: Liveness,
    pub connected: bool,
    /// When its session closed, while it is disconnected.
    pub disconnected_at: Option<Millis>,
    pub joined_at: Millis,
    pub last_heartbeat: Millis,
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// Attempts assigned to it and not yet finished.
    pub attempts: BTreeSet<TaskRef>,
    /// What the monitor knows of its health (lateness, failures, penalty).
    pub health: crate::monitor::WorkerHealth,
    /// Its latest heartbeats, oldest first (at most [`RECENT_HEARTBEATS`]).
    pub recent: std::collections::VecDeque<HeartbeatSample>,
}

/// Heartbeats kept per worker for cluster views.
pub const RECENT_HEARTBEATS: usize = 20;

/// One heartbeat as received.
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatSample {
    pub at: Millis,
    pub used: u32,
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    /// Time since the previous heartbeat.
    pub gap_ms: Millis,
}

impl Worker {
    /// A worker known by id only: no slots, not connected, nothing held. Callers fill in
    /// what they know.
    pub(crate) fn blank(id: WorkerId, now: Millis) -> Worker {
        Worker {
            id,
            session: 0,
            secret: None,
            name: String::new(),
            queues: Vec::new(),
            kinds: Vec::new(),
            slots: 0,
            speed: 1.0,
            version: String::new(),
            liveness: Liveness::Suspect,
            connected: false,
            disconnected_at: None,
            joined_at: now,
            last_heartbeat: now,
            cpu_percent: 0.0,
            memory_used_bytes: 0,
            memory_total_bytes: 0,
            attempts: BTreeSet::new(),
            health: Default::default(),
            recent: Default::default(),
        }
    }

    /// May receive new attempts.
    pub fn accepting(&self) -> bool {
        self.connected && self.liveness == Liveness::Live
    }
}

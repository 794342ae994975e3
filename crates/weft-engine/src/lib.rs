//! The coordinator's state machine. Pure and deterministic: every input is a method call
//! that takes `now`; every consequence is a state change plus [`Effect`]s the caller
//! performs (push an assignment, tell a worker to stop, publish an event). No I/O, no
//! clock, no randomness, so it can be driven by one task, replayed, and tested under a
//! simulated clock.
//!
//! Layout:
//! - [`types`]: runs, tasks, workers and definitions as the engine holds them.
//! - [`effects`]: what the engine asks its driver to do, and the events it records.
//! - `runs`: definitions, starting, cancelling and finishing runs.
//! - `reports`: task status reports from workers (with fencing by attempt number).
//! - `workers`: sessions, heartbeats, draining, leases.
//! - `dispatch`: ready tasks onto free slots through `weft-sched`.
//! - [`query`]: read-only views for the API.

pub mod children;
pub mod cluster_limits;
mod dispatch;
pub mod effects;
mod error;
pub mod estimate;
pub mod fanout;
pub mod forecast;
pub mod gates;
pub mod monitor;
pub mod predictions;
pub mod query;
pub mod reports;
pub mod restore;
mod runs;
pub mod schedules;
pub mod stored;
mod timers;
pub mod types;
pub mod workers;

pub use effects::{AckOutcome, Assignment, AttemptId, Effect, EventKind, RunEvent, WorkerEvent};
pub use error::Error;
pub use monitor::{Anomaly, AnomalyKind, Penalty, UnservedWork};
pub use reports::Reported;
pub use restore::RestoredRun;
pub use runs::{RunSource, StartRun};
pub use stored::{ChangeSet, ObservationKey, StoredDefinition, StoredObservation, StoredRun, StoredTask, StoredView};
pub use types::{
    Definition, HeartbeatSample, Liveness, Run, SessionSecret, TaskError, TaskRef, TaskRun, Worker, WorkerRegistration,
};
pub use weft_model::Millis;
pub use workers::HeartbeatInfo;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use weft_model::{RunId, WorkerId};
use weft_sched::Scheduler;

/// Timing and policy knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Workers send a heartbeat this often.
    pub heartbeat_interval_ms: u64,
    /// A worker silent this long is dead and loses its attempts.
    pub lease_timeout_ms: u64,
    /// Arrivals after which a waiting task gains one priority level.
    pub aging_step: u32,
    /// Dead workers stay visible this long before they are forgotten.
    pub dead_worker_retention_ms: u64,
    /// A worker whose session closed (its process died, or the network dropped) and that has
    /// not reconnected within this long loses its attempts, even if its lease has time left.
    pub disconnect_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_interval_ms: 1_000,
            lease_timeout_ms: 5_000,
            aging_step: 100,
            dead_worker_retention_ms: 300_000,
            disconnect_grace_ms: 400,
        }
    }
}

/// The whole coordinator state.
#[derive(Debug)]
pub struct Engine {
    pub(crate) cfg: Config,
    pub(crate) runs: BTreeMap<RunId, Run>,
    pub(crate) idempotency: HashMap<String, RunId>,
    pub(crate) definitions: BTreeMap<Arc<str>, Vec<Definition>>,
    pub(crate) workers: BTreeMap<WorkerId, Worker>,
    pub(crate) sched: Scheduler<TaskRef>,
    /// Timers by due time (see `timers`).
    pub(crate) timers: BTreeSet<(Millis, timers::Timer)>,
    /// Kinds some worker has advertised; built-in kinds are always known.
    pub(crate) known_kinds: BTreeSet<Arc<str>>,
    pub(crate) running_runs: usize,
    pub(crate) monitor: monitor::MonitorState,
    /// Concurrency and rate limits, and concurrency keys.
    pub(crate) gates: gates::Gates,
    /// Runs started on cron patterns.
    pub(crate) schedules: schedules::Schedules,
    /// Child runs of `process` tasks.
    pub(crate) children: children::Children,
    /// Limits set for the whole cluster.
    pub(crate) cluster_limits: cluster_limits::ClusterLimits,
    /// When the monitor next checks for stuck tasks and growing backlogs.
    pub(crate) next_monitor: Millis,
    effects: Vec<Effect>,
    /// Durable state changed since the last `take_changes`.
    pub(crate) dirty: stored::Dirty,
}

impl Engine {
    pub fn new(cfg: Config) -> Self {
        Engine {
            sched: Scheduler::new(cfg.aging_step),
            cfg,
            runs: BTreeMap::new(),
            idempotency: HashMap::new(),
            definitions: BTreeMap::new(),
            workers: BTreeMap::new(),
            timers: BTreeSet::new(),
            known_kinds: BTreeSet::new(),
            running_runs: 0,
            monitor: Default::default(),
            gates: Default::default(),
            schedules: Default::default(),
            children: Default::default(),
            cluster_limits: Default::default(),
            next_monitor: 0,
            effects: Vec::new(),
            dirty: Default::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Hands the effects produced since the last call to the driver.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub(crate) fn emit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// Advances time: due timers fire (retries, timeouts, deadlines), silent workers become
    /// suspect or dead.
    pub fn tick(&mut self, now: Millis) {
        self.fire_timers(now);
        self.check_leases(now);
        if now >= self.next_monitor {
            self.next_monitor = now + self.cfg.heartbeat_interval_ms as Millis;
            self.monitor_check(now);
        }
        self.schedule(now);
    }

    /// The earliest time at which [`Engine::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        let retry = self.timers.first().map(|(at, _)| *at);
        let lease = self.workers.values().filter_map(|w| self.liveness_deadline(w)).min();
        // The monitor looks every heartbeat interval while there is something to watch.
        let watching = !self.workers.is_empty() || !self.sched.queues.is_empty();
        let lease = match (lease, watching) {
            (Some(l), true) => Some(l.min(self.next_monitor)),
            (None, true) => Some(self.next_monitor),
            (l, false) => l,
        };
        match (retry, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests;

//! What the engine stores: persistence is one of its outputs, not something the driver
//! reconstructs. Every step that changes durable state marks what it changed; the driver
//! takes the step's [`ChangeSet`] with [`Engine::take_changes`] beside its effects, hands
//! it to the store unchanged, and a restart feeds the same record types back through
//! [`Engine::restore_run`](crate::Engine::restore_run). So there is one representation of
//! a stored run, task, event and definition, and it is the engine's.
//!
//! The simulation checks the rule: a store fed only with change sets holds exactly the
//! durable projection of the live engine ([`Engine::stored_view`]).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use weft_model::{Millis, RunId, RunStatus, TaskState, WorkerId};

use crate::types::{Run, TaskError, TaskRef, TaskRun};
use crate::{Engine, RunEvent};

/// A registered definition version, as stored: its spec as JSON (the plan is rebuilt, and
/// checked again, when it is restored).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDefinition {
    pub name: Arc<str>,
    pub version: u32,
    pub spec_json: Arc<str>,
    pub created_at: Millis,
}

/// A run's own fields (its tasks and events are stored apart).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    pub id: RunId,
    /// The process spec as JSON.
    pub spec_json: Arc<str>,
    pub definition: Option<(Arc<str>, u32)>,
    pub idempotency_key: Option<String>,
    pub input_json: Arc<str>,
    pub created_at: Millis,
    pub status: RunStatus,
    pub reason: String,
    pub finished_at: Option<Millis>,
}

/// The durable fields of one task of a run (replaced as a whole on every change).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTask {
    pub run: RunId,
    /// Index of the task in the run's plan.
    pub index: u32,
    pub state: TaskState,
    pub attempt: u32,
    pub worker: Option<WorkerId>,
    pub ready_at: Option<Millis>,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub result: Option<Arc<str>>,
    pub error: Option<TaskError>,
    /// When a retry backoff ends, if the task waits for one.
    pub retry_at: Option<Millis>,
}

impl StoredTask {
    pub fn of(run: RunId, index: u32, t: &TaskRun) -> StoredTask {
        StoredTask {
            run,
            index,
            state: t.state,
            attempt: t.attempt,
            worker: t.worker,
            ready_at: t.ready_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            result: t.result.clone(),
            error: t.error.clone(),
            retry_at: t.retry_at,
        }
    }

    /// A task never written: still pending, never attempted.
    pub fn pending(run: RunId, index: u32) -> StoredTask {
        StoredTask {
            run,
            index,
            state: TaskState::Pending,
            attempt: 0,
            worker: None,
            ready_at: None,
            started_at: None,
            finished_at: None,
            result: None,
            error: None,
            retry_at: None,
        }
    }
}

impl StoredRun {
    pub fn of(run: &Run) -> StoredRun {
        StoredRun {
            id: run.id,
            spec_json: run.plan.spec_json.clone(),
            definition: run.definition.clone(),
            idempotency_key: run.idempotency_key.clone(),
            input_json: run.input_json.clone(),
            created_at: run.created_at,
            status: run.status,
            reason: run.reason.clone(),
            finished_at: run.finished_at,
        }
    }
}

/// What a learned duration is of: a task by its process, workflow and name, or a kind of
/// task on a queue (see `monitor`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObservationKey {
    Task { process: Arc<str>, workflow: Arc<str>, task: Arc<str> },
    Kind { queue: Arc<str>, kind: Arc<str> },
}

/// The durations observed of one key, as their count and running mean: what the cost model
/// learned, kept across restarts.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredObservation {
    pub key: ObservationKey,
    pub count: u32,
    pub mean_ms: f64,
}

/// Everything one step changed that must be durable. Applied atomically, in this order:
/// definitions, runs, tasks, events (appended; (run, seq) unique), observations, then
/// expired runs removed with their tasks and events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeSet {
    pub definitions: Vec<StoredDefinition>,
    /// Inserted or replaced by id.
    pub runs: Vec<StoredRun>,
    /// Inserted or replaced by (run, index).
    pub tasks: Vec<StoredTask>,
    pub events: Vec<RunEvent>,
    /// Runs past retention: removed with their tasks and events.
    pub expired: Vec<RunId>,
    /// Learned durations, inserted or replaced by key (expiring runs leaves them).
    pub observations: Vec<StoredObservation>,
    /// Schedules inserted or replaced by name, then ones deleted.
    pub schedules: Vec<crate::schedules::StoredSchedule>,
    pub deleted_schedules: Vec<Arc<str>>,
    /// Cluster-wide limits inserted or replaced by name, then ones deleted.
    pub limits: Vec<crate::cluster_limits::StoredLimit>,
    pub deleted_limits: Vec<Arc<str>>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
            && self.runs.is_empty()
            && self.tasks.is_empty()
            && self.events.is_empty()
            && self.expired.is_empty()
            && self.observations.is_empty()
            && self.schedules.is_empty()
            && self.deleted_schedules.is_empty()
            && self.limits.is_empty()
            && self.deleted_limits.is_empty()
    }

    /// Number of records, for sizing commit groups.
    pub fn records(&self) -> usize {
        self.definitions.len()
            + self.runs.len()
            + self.tasks.len()
            + self.events.len()
            + self.expired.len()
            + self.observations.len()
            + self.schedules.len()
            + self.deleted_schedules.len()
            + self.limits.len()
            + self.deleted_limits.len()
    }

    /// Appends `later`'s changes after these.
    pub fn extend(&mut self, later: ChangeSet) {
        self.definitions.extend(later.definitions);
        self.runs.extend(later.runs);
        self.tasks.extend(later.tasks);
        self.events.extend(later.events);
        self.expired.extend(later.expired);
        self.observations.extend(later.observations);
        // A later write of a schedule undoes an earlier delete, and a later delete an
        // earlier write: applied in order (writes, then deletes), both stay right only if
        // each side drops what the other later did.
        for s in &later.schedules {
            self.deleted_schedules.retain(|n| *n != s.name);
        }
        for n in &later.deleted_schedules {
            self.schedules.retain(|s| s.name != *n);
        }
        self.schedules.extend(later.schedules);
        self.deleted_schedules.extend(later.deleted_schedules);
        for l in &later.limits {
            self.deleted_limits.retain(|n| *n != l.name);
        }
        for n in &later.deleted_limits {
            self.limits.retain(|l| l.name != *n);
        }
        self.limits.extend(later.limits);
        self.deleted_limits.extend(later.deleted_limits);
    }
}

/// What changed since the last [`Engine::take_changes`], by key; values are read when taken.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    definitions: Vec<(Arc<str>, u32)>,
    runs: BTreeSet<RunId>,
    tasks: BTreeSet<TaskRef>,
    events: Vec<RunEvent>,
    expired: Vec<RunId>,
    observations: BTreeSet<ObservationKey>,
    schedules: BTreeSet<Arc<str>>,
    limits: BTreeSet<Arc<str>>,
}

impl Dirty {
    /// A cluster-wide limit was set or deleted.
    pub(crate) fn mark_limit(&mut self, name: Arc<str>) {
        self.limits.insert(name);
    }

    /// A schedule was added, changed or deleted.
    pub(crate) fn mark_schedule(&mut self, name: Arc<str>) {
        self.schedules.insert(name);
    }

    /// A learned duration changed (called on the field, beside borrows of the runs).
    pub(crate) fn mark_observation(&mut self, key: ObservationKey) {
        self.observations.insert(key);
    }
}

impl Engine {
    pub(crate) fn mark_definition(&mut self, name: Arc<str>, version: u32) {
        self.dirty.definitions.push((name, version));
    }

    pub(crate) fn mark_run(&mut self, id: RunId) {
        self.dirty.runs.insert(id);
    }

    pub(crate) fn mark_task(&mut self, r: TaskRef) {
        self.dirty.tasks.insert(r);
    }

    pub(crate) fn mark_event(&mut self, event: RunEvent) {
        self.dirty.events.push(event);
    }

    pub(crate) fn mark_expired(&mut self, id: RunId) {
        self.dirty.runs.remove(&id);
        self.dirty.tasks.retain(|r| r.run != id);
        self.dirty.events.retain(|e| e.run != id);
        self.dirty.expired.push(id);
    }

    /// The changes made since the last call, to be stored before anything they describe is
    /// shown to a client.
    pub fn take_changes(&mut self) -> ChangeSet {
        let dirty = std::mem::take(&mut self.dirty);
        let definitions = dirty
            .definitions
            .iter()
            .filter_map(|(name, version)| {
                let d = self.definition(name, Some(*version)).ok()?;
                Some(StoredDefinition {
                    name: d.name.clone(),
                    version: d.version,
                    spec_json: d.plan.spec_json.clone(),
                    created_at: d.created_at,
                })
            })
            .collect();
        let runs = dirty.runs.iter().filter_map(|id| self.runs.get(id)).map(StoredRun::of).collect();
        let tasks = dirty
            .tasks
            .iter()
            .filter_map(|r| {
                let t = self.runs.get(&r.run)?.tasks.get(r.task as usize)?;
                Some(StoredTask::of(r.run, r.task, t))
            })
            .collect();
        let observations = dirty.observations.into_iter().filter_map(|key| self.observation(key)).collect();
        let (mut schedules, mut deleted_schedules) = (Vec::new(), Vec::new());
        for name in dirty.schedules {
            match self.stored_schedule(&name) {
                Some(s) => schedules.push(s),
                None => deleted_schedules.push(name),
            }
        }
        let (mut limits, mut deleted_limits) = (Vec::new(), Vec::new());
        for name in dirty.limits {
            match self.stored_limit(&name) {
                Some(l) => limits.push(l),
                None => deleted_limits.push(name),
            }
        }
        ChangeSet {
            definitions,
            runs,
            tasks,
            events: dirty.events,
            expired: dirty.expired,
            observations,
            schedules,
            deleted_schedules,
            limits,
            deleted_limits,
        }
    }

    /// The durable projection of the whole engine: what a store that was given every
    /// change set holds. For checks (the simulation) and tools; costly on a big engine.
    pub fn stored_view(&self) -> StoredView {
        let mut view = StoredView::default();
        for versions in self.definitions.values() {
            for d in versions {
                view.definitions.insert(
                    (d.name.to_string(), d.version),
                    StoredDefinition {
                        name: d.name.clone(),
                        version: d.version,
                        spec_json: d.plan.spec_json.clone(),
                        created_at: d.created_at,
                    },
                );
            }
        }
        for run in self.runs.values() {
            view.runs.insert(run.id, StoredRun::of(run));
            for (i, t) in run.tasks.iter().enumerate() {
                let stored = StoredTask::of(run.id, i as u32, t);
                // A task never changed is not written: it reads back as pending.
                if stored != StoredTask::pending(run.id, i as u32) {
                    view.tasks.insert((run.id, i as u32), stored);
                }
            }
            for e in &run.events {
                view.events.insert((run.id, e.seq), e.clone());
            }
        }
        for o in self.observations() {
            view.observations.insert(o.key.clone(), o);
        }
        for s in self.stored_schedules() {
            view.schedules.insert(s.name.clone(), s);
        }
        for l in self.stored_limits() {
            view.limits.insert(l.name.clone(), l);
        }
        view
    }
}

/// Stored records by key; what [`Engine::stored_view`] gives and what applying change sets
/// in order builds ([`StoredView::apply`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredView {
    pub definitions: BTreeMap<(String, u32), StoredDefinition>,
    pub runs: BTreeMap<RunId, StoredRun>,
    pub tasks: BTreeMap<(RunId, u32), StoredTask>,
    pub events: BTreeMap<(RunId, u64), RunEvent>,
    pub observations: BTreeMap<ObservationKey, StoredObservation>,
    pub schedules: BTreeMap<Arc<str>, crate::schedules::StoredSchedule>,
    pub limits: BTreeMap<Arc<str>, crate::cluster_limits::StoredLimit>,
}

impl StoredView {
    /// Applies a change set as a store does.
    pub fn apply(&mut self, c: &ChangeSet) {
        for d in &c.definitions {
            self.definitions.insert((d.name.to_string(), d.version), d.clone());
        }
        for r in &c.runs {
            self.runs.insert(r.id, r.clone());
        }
        for t in &c.tasks {
            self.tasks.insert((t.run, t.index), t.clone());
        }
        for e in &c.events {
            self.events.insert((e.run, e.seq), e.clone());
        }
        for o in &c.observations {
            self.observations.insert(o.key.clone(), o.clone());
        }
        for s in &c.schedules {
            self.schedules.insert(s.name.clone(), s.clone());
        }
        for n in &c.deleted_schedules {
            self.schedules.remove(n);
        }
        for l in &c.limits {
            self.limits.insert(l.name.clone(), l.clone());
        }
        for n in &c.deleted_limits {
            self.limits.remove(n);
        }
        for id in &c.expired {
            self.runs.remove(id);
            self.tasks.retain(|(run, _), _| run != id);
            self.events.retain(|(run, _), _| run != id);
        }
    }

    /// Without tasks written but still as never written (pending, attempt 0), which read
    /// back the same as absent ones.
    pub fn normalized(mut self) -> StoredView {
        self.tasks.retain(|_, t| *t != StoredTask::pending(t.run, t.index));
        self
    }

    /// A task as stored, pending if never written.
    pub fn task(&self, run: RunId, index: u32) -> StoredTask {
        self.tasks.get(&(run, index)).cloned().unwrap_or_else(|| StoredTask::pending(run, index))
    }
}

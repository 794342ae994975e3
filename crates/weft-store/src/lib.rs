//! The coordinator's durable state, as records, behind one trait.
//!
//! Layout:
//! - [`Store`]: what a backend does: apply a [`Batch`] atomically and durably, load a
//!   [`Snapshot`] at start.
//! - [`MemoryStore`]: keeps records in memory (tests, and `--data-dir memory`: not durable).
//! - [`conformance`]: the behaviour every backend must show; each backend's tests call it.
//!
//! The records are plain data (ids, numbers, JSON text) so that a backend needs to know
//! nothing of the engine.

pub mod conformance;
pub mod group_commit;
mod memory;

pub use group_commit::{CommitStats, GroupCommitConfig, GroupCommitter};
pub use memory::MemoryStore;

use weft_model::{Millis, RunId, RunStatus, TaskState, WorkerId};

/// A registered definition version.
#[derive(Clone, Debug, PartialEq)]
pub struct DefinitionRecord {
    pub name: String,
    pub version: u32,
    /// The process spec as JSON.
    pub spec_json: String,
    pub created_at: Millis,
}

/// A run: written when it starts and again when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: RunId,
    /// The process spec as JSON.
    pub spec_json: String,
    pub definition: Option<(String, u32)>,
    pub idempotency_key: Option<String>,
    pub input_json: String,
    pub created_at: Millis,
    pub status: RunStatus,
    pub reason: String,
    pub finished_at: Option<Millis>,
}

/// The latest state of one task of a run (replaced on every change).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    pub run: RunId,
    /// Index of the task in the run's plan.
    pub index: u32,
    pub state: TaskState,
    pub attempt: u32,
    pub worker: Option<WorkerId>,
    pub ready_at: Option<Millis>,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub result_json: Option<String>,
    /// Last error: message and whether it was retryable.
    pub error: Option<(String, bool)>,
    /// When a retry backoff ends, if the task waits for one.
    pub retry_at: Option<Millis>,
}

/// One entry of a run's history.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub run: RunId,
    pub seq: u64,
    pub at: Millis,
    /// The engine's event kind, as a stable number (see `weft-engine`'s `EventKind`).
    pub kind: u8,
    pub workflow: String,
    pub task: String,
    pub attempt: u32,
    pub worker: Option<WorkerId>,
    pub detail: String,
}

/// Changes applied together: all or nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub definitions: Vec<DefinitionRecord>,
    /// Inserted or replaced by id.
    pub runs: Vec<RunRecord>,
    /// Inserted or replaced by (run, index).
    pub tasks: Vec<TaskRecord>,
    /// Appended; (run, seq) is unique.
    pub events: Vec<EventRecord>,
    /// Runs removed with their tasks and events (retention).
    pub deleted_runs: Vec<RunId>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
            && self.runs.is_empty()
            && self.tasks.is_empty()
            && self.events.is_empty()
            && self.deleted_runs.is_empty()
    }

    /// Appends `other`'s changes after this batch's.
    pub fn extend(&mut self, other: Batch) {
        self.definitions.extend(other.definitions);
        self.runs.extend(other.runs);
        self.tasks.extend(other.tasks);
        self.events.extend(other.events);
        self.deleted_runs.extend(other.deleted_runs);
    }
}

/// Everything a coordinator needs to resume. Tasks and events are ordered by run, then
/// by index or sequence number.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub definitions: Vec<DefinitionRecord>,
    pub runs: Vec<RunRecord>,
    pub tasks: Vec<TaskRecord>,
    pub events: Vec<EventRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store was written by a newer weft; refusing to touch it.
    #[error("the store at {path} has schema version {found}; this build knows up to {supported}: upgrade weft")]
    NewerSchema { path: String, found: u32, supported: u32 },
    /// The store's files are damaged or not a weft store.
    #[error("the store at {path} is corrupt or not a weft store: {reason}")]
    Corrupt { path: String, reason: String },
    /// A record could not be decoded.
    #[error("bad record in {table}: {reason}")]
    BadRecord { table: &'static str, reason: String },
    /// The backend failed (I/O, locking, ...).
    #[error("store backend failed: {0}")]
    Backend(String),
}

/// How much a successful commit promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is on stable storage before it returns: survives a machine crash.
    Full,
    /// Commits reach the OS at once and stable storage at checkpoints: survives a crash of
    /// the coordinator, not of the machine.
    Relaxed,
    /// Kept in memory: lost when the coordinator stops.
    None,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Relaxed => "relaxed",
            Durability::None => "none",
        }
    }
}

/// What a store is and how it was opened, as shown to operators and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreInfo {
    /// "sqlite", "memory", ...
    pub backend: &'static str,
    /// What a commit promises, as read back from the backend (not as requested).
    pub durability: Durability,
    /// Where the data lives (a file path; empty for memory).
    pub location: String,
    /// The filesystem type holding `location`, when known.
    pub filesystem: String,
    /// The backend's own setting behind `durability` (SQLite: `synchronous=FULL`).
    pub setting: String,
}

/// A durable home for the coordinator's state.
pub trait Store: Send {
    /// What this store is and what its commits promise.
    fn info(&self) -> StoreInfo;

    /// Applies the batch atomically. When it returns Ok, the batch survives a crash
    /// (unless the backend was opened in a mode documented as less durable).
    fn commit(&mut self, batch: &Batch) -> Result<(), Error>;

    /// Reads everything back.
    fn load(&mut self) -> Result<Snapshot, Error>;
}

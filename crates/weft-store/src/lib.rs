//! The coordinator's durable state, as records, behind one trait.
//!
//! Layout:
//! - [`Store`]: what a backend does: apply a [`Batch`] atomically and durably, load a
//!   [`Snapshot`] at start.
//! - [`MemoryStore`]: keeps records in memory (tests, and `--data-dir memory`: not durable).
//! - [`conformance`]: the behaviour every backend must show; each backend's tests call it.
//! - [`quarantine`]: records set aside because they cannot be decoded or restored; kept,
//!   skipped at load, listed in [`Snapshot::quarantined`].
//!
//! The records are the engine's own ([`weft_engine::stored`]): the engine emits a
//! [`ChangeSet`] per step, a backend writes exactly that and reads the same types back, so a
//! stored task has one representation from the engine to the disk and back.

pub mod codes;
pub mod conformance;
pub mod group_commit;
mod memory;
pub mod quarantine;
pub mod rows;

pub use group_commit::{BackupDone, CommitStats, GroupCommitConfig, GroupCommitter};
pub use memory::MemoryStore;
pub use quarantine::{Quarantine, Quarantined, RecordKey};

pub use weft_engine::cluster_limits::StoredLimit;
pub use weft_engine::schedules::StoredSchedule;
pub use weft_engine::{
    ChangeSet, ObservationKey, RunEvent, StoredDefinition, StoredObservation, StoredRun, StoredTask,
};

/// Changes applied together, all or nothing: exactly what the engine emits per step.
pub type Batch = ChangeSet;

/// Everything a coordinator needs to resume, as the engine's stored records. Tasks and
/// events are ordered by run, then by index or sequence number.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub definitions: Vec<StoredDefinition>,
    pub runs: Vec<StoredRun>,
    pub tasks: Vec<StoredTask>,
    pub events: Vec<RunEvent>,
    /// What the cost model learned (durations by task and by kind), in key order.
    pub observations: Vec<StoredObservation>,
    /// Schedules, in name order.
    pub schedules: Vec<StoredSchedule>,
    /// Cluster-wide limits, in name order.
    pub limits: Vec<StoredLimit>,
    /// Everything in the quarantine, oldest first: records set aside at earlier starts, and
    /// those this load could not decode (a backend moves them there instead of failing).
    pub quarantined: Vec<Quarantined>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store was written by a newer weft; refusing to touch it.
    #[error("the store at {path} has schema version {found}; this build knows up to {supported}: upgrade weft")]
    NewerSchema { path: String, found: u32, supported: u32 },
    /// The store's files are damaged or not a weft store.
    #[error("the store at {path} is corrupt or not a weft store: {reason}")]
    Corrupt { path: String, reason: String },
    /// The backend failed (I/O, locking, ...).
    #[error("store backend failed: {0}")]
    Backend(String),
    /// A write of a deposed leader, refused by the store: another coordinator took the lease
    /// (a later epoch), and only it may write now.
    #[error(
        "write refused: this coordinator's lease (epoch {held}) was taken over (epoch {current} is current); it is no \
         longer the leader"
    )]
    Fenced { held: u64, current: u64 },
    /// The backend cannot do this (a backup of a store kept in memory).
    #[error("{0}")]
    Unsupported(String),
}

/// A copy of the store made by [`Store::backup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupInfo {
    /// Size of the copy in bytes.
    pub bytes: u64,
    /// The schema version of the copy: a coordinator of this version or later opens it.
    pub schema_version: u32,
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

    /// Reads everything back. A record the backend cannot decode is moved to the quarantine
    /// (and listed in [`Snapshot::quarantined`]), never an error: only a store that cannot be
    /// read at all fails.
    fn load(&mut self) -> Result<Snapshot, Error>;

    /// Moves records out of the live ones into the quarantine, atomically and durably: they
    /// are not loaded as records again, nothing committed later overwrites them, and every
    /// later load lists them. A key with no record is skipped. Returns what was set aside.
    /// A quarantined run's tasks and events stay where they are, under its id.
    fn quarantine(&mut self, records: &[Quarantine]) -> Result<Vec<Quarantined>, Error>;

    /// Writes a consistent copy of everything committed so far to `dest` (a new file),
    /// checked readable, while the store stays open. A coordinator started on a data
    /// directory holding the copy as its store resumes from it.
    fn backup(&mut self, dest: &std::path::Path) -> Result<BackupInfo, Error> {
        let _ = dest;
        Err(Error::Unsupported(format!("a {} store cannot be backed up", self.info().backend)))
    }
}

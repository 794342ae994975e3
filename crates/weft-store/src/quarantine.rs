//! Records set aside because they cannot be restored.
//!
//! Nothing stored may keep a coordinator from starting. A record that a backend cannot
//! decode (an unknown event kind, an id that is not a UUID) or that the coordinator cannot
//! put back (a spec that no longer validates, a task index past its run's plan) is moved
//! out of the live records into the store's quarantine: it is kept, so an operator can
//! inspect or repair it, it is no longer loaded as a record, and nothing written later can
//! overwrite it. [`Snapshot::quarantined`](crate::Snapshot::quarantined) lists it at every
//! start.
use std::fmt;
use std::sync::Arc;
use weft_model::{Millis, RunId};

/// A live record, by its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordKey {
    Definition {
        name: Arc<str>,
        version: u32,
    },
    Run(RunId),
    /// The task at `index` in the run's plan.
    Task {
        run: RunId,
        index: u32,
    },
    /// The history event numbered `seq`.
    Event {
        run: RunId,
        seq: u64,
    },
}

impl RecordKey {
    /// The records it is among, as named in [`Quarantined::table`].
    pub fn table(&self) -> &'static str {
        match self {
            RecordKey::Definition { .. } => DEFINITIONS,
            RecordKey::Run(_) => RUNS,
            RecordKey::Task { .. } => TASKS,
            RecordKey::Event { .. } => EVENTS,
        }
    }
}

/// `name@version`, the run id, `run#index`, `run/seq`: the form [`Quarantined::key`] uses.
impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordKey::Definition { name, version } => write!(f, "{name}@{version}"),
            RecordKey::Run(id) => write!(f, "{id}"),
            RecordKey::Task { run, index } => write!(f, "{run}#{index}"),
            RecordKey::Event { run, seq } => write!(f, "{run}/{seq}"),
        }
    }
}

/// Names of the kinds of records, as [`Quarantined::table`] gives them.
pub const DEFINITIONS: &str = "definitions";
pub const RUNS: &str = "runs";
pub const TASKS: &str = "tasks";
pub const EVENTS: &str = "events";

/// A record to set aside with [`Store::quarantine`](crate::Store::quarantine), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantine {
    pub key: RecordKey,
    pub reason: String,
    /// When it is set aside (ms since the Unix epoch).
    pub at: Millis,
}

/// A record in the store's quarantine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// The records it was among: [`DEFINITIONS`], [`RUNS`], [`TASKS`] or [`EVENTS`].
    pub table: String,
    /// Its key as text, as [`RecordKey`] writes it; when the key itself could not be
    /// decoded, its raw value (bytes in hex).
    pub key: String,
    /// Why it was set aside.
    pub reason: String,
    /// The record as it was stored, for inspection: its fields by name, as the backend
    /// writes them (SQLite: a JSON object of the row's columns).
    pub record: String,
    /// When it was set aside (ms since the Unix epoch).
    pub at: Millis,
}

//! Child processes of weft, one harness for everything that starts the binaries:
//! `weftctl dev`, `weftctl bench --start-cluster` and the end-to-end tests.
//!
//! - [`ready`]: the one JSON line each binary prints on stdout once it serves
//!   ([`CoordinatorReady`], [`WorkerReady`]): written and read through the same types.
//! - [`Child`]: starts a program with its stderr in a log file (and, when asked, every stderr
//!   line broadcast to whoever waits for one), waits for its ready line, and signals it by
//!   pid only while it has not been reaped. Dropping it SIGKILLs what still runs.
//! - [`Procs`]: several named children, stopped in order (the later ones, workers, first).
//! - [`postgres`]: a throwaway PostgreSQL server (tests of the HA store, `weftctl dev --store
//!   postgres`).
pub mod child;
pub mod postgres;
pub mod procs;
pub mod ready;

pub use child::{Child, ChildSpec, ProcError, Started};
pub use procs::Procs;
pub use ready::{CoordinatorReady, WorkerReady, announce};

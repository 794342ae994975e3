//! gRPC handlers. Each converts its request, asks the driver, and converts back.
pub mod backup;
pub mod monitor;
pub mod worker;
pub mod workflow;

use crate::driver::Handle;
use crate::role::{Leading, Role};

/// Bounded buffers for watcher streams: a watcher this far behind is dropped.
pub(crate) const WATCH_BUFFER: usize = 4096;

/// Counts a request by method and outcome, then hands the result on.
pub(crate) fn metered<T>(method: &'static str, result: Result<T, tonic::Status>) -> Result<T, tonic::Status> {
    crate::metrics::grpc(method, result.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok));
    result
}

/// Page sizes: default and maximum.
pub(crate) fn page_size(requested: u32) -> usize {
    match requested {
        0 => 100,
        n => n.min(1000) as usize,
    }
}

/// State shared by the three services.
#[derive(Clone)]
pub struct Services {
    /// Leader or standby: every request asks.
    pub role: Role,
    /// Where backups are copied before they are streamed: the data directory; `None` for a
    /// store in memory or in PostgreSQL.
    pub data_dir: Option<std::path::PathBuf>,
    /// The store is PostgreSQL, shared by several coordinators (`--store`).
    pub shared_store: bool,
    /// One permit: the backup being taken.
    pub backup_turn: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Services {
    /// What the leader serves with; a standby's answer otherwise.
    pub(crate) fn leading(&self) -> Result<Leading, tonic::Status> {
        self.role.leading()
    }

    /// The driver, when this coordinator leads.
    pub(crate) fn handle(&self) -> Result<Handle, tonic::Status> {
        Ok(self.role.leading()?.handle)
    }
}

//! Child processes of `weftctl dev` and `weftctl bench --start-cluster`: finding the
//! binaries, and how they are started. The harness itself (starting, the ready line, logs,
//! stopping by pid) is `weft-procs`, shared with the end-to-end tests.
use anyhow::{Context as _, anyhow};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use weft_procs::{ChildSpec, CoordinatorReady, Procs, Started, WorkerReady};

pub const COORDINATOR: &str = "weft-coordinator";
pub const WORKER: &str = "weft-worker";

/// The two programs `dev` and `bench` start.
#[derive(Debug)]
pub struct Binaries {
    pub coordinator: PathBuf,
    pub worker: PathBuf,
}

impl Binaries {
    /// Looks in `dir`, else next to weftctl's own executable (and, when that is cargo's
    /// `deps/` directory as under `cargo test`, in its parent).
    pub fn locate(dir: Option<&Path>) -> anyhow::Result<Binaries> {
        let dirs = match dir {
            Some(d) => vec![d.to_path_buf()],
            None => {
                let exe = std::env::current_exe().context("finding weftctl's own executable")?;
                let own = exe.parent().map(Path::to_path_buf).unwrap_or_default();
                let mut dirs = vec![own.clone()];
                if own.file_name() == Some(OsStr::new("deps"))
                    && let Some(parent) = own.parent()
                {
                    dirs.push(parent.to_path_buf());
                }
                dirs
            }
        };
        let find = |name: &str| {
            dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()).ok_or_else(|| {
                anyhow!(
                    "{name} not found in {}; build it with `cargo build --release -p {COORDINATOR} -p {WORKER}` \
                     (and run target/release/weftctl), or point --bin-dir at the directory holding it",
                    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" or ")
                )
            })
        };
        Ok(Binaries { coordinator: find(COORDINATOR)?, worker: find(WORKER)? })
    }
}

/// How `dev` and `bench` start a child: in `dir` (its log there too), in a process group
/// of its own (Ctrl-C in the terminal reaches weftctl only, which then stops workers before
/// the coordinator instead of everything dying at once), stderr straight to its log.
pub fn spec<'a>(name: &'a str, program: &'a Path, args: &'a [String], dir: &'a Path, ready: Duration) -> ChildSpec<'a> {
    ChildSpec {
        cwd: Some(dir),
        ready_timeout: ready,
        own_process_group: true,
        ..ChildSpec::new(name, program, args, dir)
    }
}

#[cfg(test)]
mod tests;

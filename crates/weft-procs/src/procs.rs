//! Several named children that stop together (`weftctl dev`, `weftctl bench`).
//!
//! [`Procs`] owns every child. Dropping it SIGKILLs whatever is still running, so an error,
//! a panic or Ctrl-C anywhere cannot leave a coordinator or worker behind; the orderly path
//! is [`Procs::shutdown`] (SIGTERM, wait, then SIGKILL), and [`Procs::kill`] SIGKILLs one
//! child on purpose (benchmarks of failures).
use crate::child::{Child, ChildSpec, ProcError, Started};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::time::Duration;

/// Every child, in start order.
#[derive(Debug, Default)]
pub struct Procs {
    procs: Vec<Child>,
}

impl Procs {
    /// Starts a child ([`Child::start`]) and keeps it. Names must be unique (they name
    /// the log files too).
    pub async fn launch<T: DeserializeOwned>(&mut self, spec: &ChildSpec<'_>) -> Result<Started<T>, ProcError> {
        if self.procs.iter().any(|p| p.name() == spec.name) {
            return Err(ProcError::Duplicate(spec.name.to_string()));
        }
        let (child, started) = Child::start(spec).await?;
        self.procs.push(child);
        Ok(started)
    }

    /// [`Procs::launch`], the ready line only.
    pub async fn start<T: DeserializeOwned>(&mut self, spec: &ChildSpec<'_>) -> Result<T, ProcError> {
        Ok(self.launch(spec).await?.ready)
    }

    /// The pid of a child that is still running.
    pub fn pid(&mut self, name: &str) -> Option<u32> {
        let p = self.procs.iter_mut().find(|p| p.name() == name)?;
        if p.is_running() { p.pid() } else { None }
    }

    /// SIGKILLs one child and reaps it.
    pub async fn kill(&mut self, name: &str) -> Result<(), ProcError> {
        let p = self.procs.iter_mut().find(|p| p.name() == name).ok_or_else(|| ProcError::Unknown(name.into()))?;
        p.kill().await
    }

    /// Stops every child: all but the first (the workers) first, so they drain and leave
    /// while the coordinator still listens, then the first. Each gets SIGTERM and `grace`
    /// to exit, then SIGKILL.
    pub async fn shutdown(&mut self, grace: Duration) {
        if self.procs.len() > 1 {
            stop_all(&mut self.procs[1..], grace).await;
        }
        if let Some(first) = self.procs.first_mut() {
            stop_all(std::slice::from_mut(first), grace).await;
        }
    }

    /// Log files of the children, by name.
    pub fn logs(&self) -> Vec<(String, PathBuf)> {
        self.procs.iter().map(|p| (p.name().to_string(), p.log().to_path_buf())).collect()
    }
}

/// SIGTERM to all at once, then each waited for until one shared deadline.
async fn stop_all(procs: &mut [Child], grace: Duration) {
    for p in procs.iter_mut() {
        if p.is_running() {
            p.signal(nix::sys::signal::Signal::SIGTERM);
        }
    }
    let deadline = tokio::time::Instant::now() + grace;
    for p in procs.iter_mut() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if p.stop(left).await {
            eprintln!("{} did not stop within {}s of SIGTERM; killed it", p.name(), grace.as_secs_f32());
        }
    }
}

#[cfg(test)]
mod tests;

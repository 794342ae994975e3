//! Child processes of `weftctl dev` and `weftctl bench --start-cluster`: finding the
//! binaries, starting them with their stderr in a log file, reading their one-line "ready"
//! JSON, and stopping them.
//!
//! [`Procs`] owns every child. Its `Drop` SIGKILLs whatever is still running, so an error,
//! a panic or Ctrl-C anywhere in `dev` or `bench` cannot leave a coordinator or worker
//! behind; the orderly path is [`Procs::shutdown`] (SIGTERM, wait, then SIGKILL), and
//! [`Procs::kill`] SIGKILLs one child on purpose (benchmarks of failures).
use anyhow::{Context as _, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

pub const COORDINATOR: &str = "weft-coordinator";
pub const WORKER: &str = "weft-worker";

/// `{"grpc":"127.0.0.1:PORT","metrics":"127.0.0.1:PORT"}` from weft-coordinator.
#[derive(Debug, Deserialize)]
pub struct CoordinatorReady {
    pub grpc: String,
    pub metrics: Option<String>,
}

/// `{"worker_id":"<uuid>","name":"<name>"}` from weft-worker.
#[derive(Debug, Deserialize)]
pub struct WorkerReady {
    pub worker_id: String,
    pub name: String,
}

/// A child that printed its ready line.
#[derive(Debug)]
pub struct Started<T> {
    /// The ready line, parsed.
    pub ready: T,
    /// Just before the spawn, on weftctl's clock.
    pub spawned_at: Instant,
    /// When the ready line was read.
    pub ready_at: Instant,
}

impl<T> Started<T> {
    /// From just before the spawn to the ready line.
    pub fn spawn_to_ready(&self) -> Duration {
        self.ready_at - self.spawned_at
    }
}

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

/// One started child.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Still running (not yet reaped): only then is its pid safe to signal.
    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn signal(&mut self, signal: Signal) {
        if self.is_running()
            && let Some(pid) = self.child.id()
        {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }
}

/// Every child of a `dev` session, in start order.
#[derive(Default)]
pub struct Procs {
    procs: Vec<Proc>,
}

impl Procs {
    /// Starts `program` with `args` in `dir`, its stderr going to `dir/<name>.log`, and waits
    /// up to `ready_timeout` for its first stdout line, parsed as `T`.
    pub async fn start<T: DeserializeOwned>(
        &mut self,
        name: &str,
        program: &Path,
        args: &[String],
        dir: &Path,
        ready_timeout: Duration,
    ) -> anyhow::Result<T> {
        Ok(self.launch(name, program, args, dir, ready_timeout).await?.ready)
    }

    /// [`Procs::start`], also giving the child's pid and how long it took to be ready.
    /// `name` must be unique among the children (it names the log file too).
    pub async fn launch<T: DeserializeOwned>(
        &mut self,
        name: &str,
        program: &Path,
        args: &[String],
        dir: &Path,
        ready_timeout: Duration,
    ) -> anyhow::Result<Started<T>> {
        if self.procs.iter().any(|p| p.name == name) {
            bail!("a child named {name} was already started");
        }
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let spawned_at = Instant::now();
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            // Its own process group: Ctrl-C in the terminal reaches weftctl only, which then
            // stops workers before the coordinator instead of everything dying at once.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("{name}: no stdout pipe"))?;
        self.procs.push(Proc { name: name.to_string(), child, log: log.clone() });
        let line = match tokio::time::timeout(ready_timeout, first_line(stdout)).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => bail!("{name} exited before it was ready{}", self.last_words(name).await),
            Ok(Err(e)) => bail!("{name}: reading its stdout: {e}"),
            Err(_) => bail!("{name} printed no ready line within {}s; see {}", ready_timeout.as_secs(), log.display()),
        };
        let ready_at = Instant::now();
        let ready = serde_json::from_str(&line).with_context(|| format!("{name}: unexpected ready line `{line}`"))?;
        Ok(Started { ready, spawned_at, ready_at })
    }

    /// The pid of a child that is still running.
    pub fn pid(&mut self, name: &str) -> Option<u32> {
        let p = self.procs.iter_mut().find(|p| p.name == name)?;
        if p.is_running() { p.child.id() } else { None }
    }

    /// SIGKILLs one child and reaps it (at once: SIGKILL cannot be ignored). A child that
    /// already exited is not signalled, so its pid, which may be reused, is never hit.
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let p = self.procs.iter_mut().find(|p| p.name == name).ok_or_else(|| anyhow!("no child named {name}"))?;
        p.signal(Signal::SIGKILL);
        tokio::time::timeout(Duration::from_secs(10), p.child.wait())
            .await
            .map_err(|_| anyhow!("{name} (pid {:?}) did not die within 10s of SIGKILL", p.child.id()))?
            .with_context(|| format!("waiting for {name} to exit"))?;
        Ok(())
    }

    /// Exit status and the tail of the log of a child that died, for the error message.
    async fn last_words(&mut self, name: &str) -> String {
        let Some(p) = self.procs.iter_mut().find(|p| p.name == name) else { return String::new() };
        let status = tokio::time::timeout(Duration::from_secs(2), p.child.wait()).await;
        let status = match status {
            Ok(Ok(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        let log = std::fs::read_to_string(&p.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        if tail.is_empty() {
            format!("{status}; its log {} is empty", p.log.display())
        } else {
            format!("{status}; last lines of {}:\n  {}", p.log.display(), tail.join("\n  "))
        }
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
        self.procs.iter().map(|p| (p.name.clone(), p.log.clone())).collect()
    }
}

async fn stop_all(procs: &mut [Proc], grace: Duration) {
    for p in procs.iter_mut() {
        p.signal(Signal::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    for p in procs.iter_mut() {
        if tokio::time::timeout_at(deadline, p.child.wait()).await.is_err() {
            eprintln!("{} did not stop within {}s of SIGTERM; killing it", p.name, grace.as_secs_f32());
            p.signal(Signal::SIGKILL);
            let _ = p.child.wait().await;
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for p in &mut self.procs {
            p.signal(Signal::SIGKILL);
        }
    }
}

/// The first line a child prints; the rest of its stdout is drained in the background so
/// a chatty child never blocks on a full pipe.
async fn first_line(stdout: ChildStdout) -> std::io::Result<Option<String>> {
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next_line().await?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(first)
}

#[cfg(test)]
mod tests;

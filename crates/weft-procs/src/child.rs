//! One child process: started, its ready line read, its stderr kept, signalled by pid.
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdout, Command};
use tokio::sync::broadcast;

/// Why a child could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("starting {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("creating the log file {path}: {source}")]
    Log { path: String, source: std::io::Error },
    #[error("{name} exited before it was ready{last_words}")]
    ExitedEarly { name: String, last_words: String },
    #[error("{name} printed no ready line within {secs}s; see {log}")]
    NotReady { name: String, secs: u64, log: String },
    #[error("{name}: unexpected ready line `{line}`: {reason}")]
    BadReadyLine { name: String, line: String, reason: String },
    #[error("{name}: reading its stdout: {source}")]
    Stdout { name: String, source: std::io::Error },
    #[error("{name} (pid {pid:?}) did not die within 10s of SIGKILL")]
    Unkillable { name: String, pid: Option<u32> },
    #[error("a child named {0} was already started")]
    Duplicate(String),
    #[error("no child named {0}")]
    Unknown(String),
}

/// What to start and how.
#[derive(Clone, Debug)]
pub struct ChildSpec<'a> {
    /// Names the child in messages and its log file, `<log_dir>/<name>.log`.
    pub name: &'a str,
    pub program: &'a Path,
    pub args: &'a [String],
    /// Added to the inherited environment.
    pub env: &'a [(&'a str, &'a str)],
    pub log_dir: &'a Path,
    /// Its working directory; `None` keeps ours.
    pub cwd: Option<&'a Path>,
    /// How long it may take to print its ready line.
    pub ready_timeout: Duration,
    /// A process group of its own: Ctrl-C in a terminal then reaches only us, and we stop
    /// the children in order.
    pub own_process_group: bool,
    /// Also broadcast every stderr line ([`Child::subscribe`]), for tests that wait for one.
    /// Otherwise stderr goes straight to the log file.
    pub stderr_lines: bool,
}

impl<'a> ChildSpec<'a> {
    /// `program args`, logging to `log_dir`, ready within 30 s, stderr to the file only.
    pub fn new(name: &'a str, program: &'a Path, args: &'a [String], log_dir: &'a Path) -> Self {
        ChildSpec {
            name,
            program,
            args,
            env: &[],
            log_dir,
            cwd: None,
            ready_timeout: Duration::from_secs(30),
            own_process_group: false,
            stderr_lines: false,
        }
    }
}

/// A child that printed its ready line.
#[derive(Debug)]
pub struct Started<T> {
    /// The ready line, parsed.
    pub ready: T,
    /// Just before the spawn.
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

/// A started child. Dropping it SIGKILLs it if it still runs.
#[derive(Debug)]
pub struct Child {
    name: String,
    child: tokio::process::Child,
    log: PathBuf,
    lines: Option<broadcast::Sender<String>>,
}

impl Child {
    /// Starts the child and waits for its first stdout line, parsed as `T`. The rest of its
    /// stdout is drained so that it never blocks on a full pipe.
    pub async fn start<T: DeserializeOwned>(spec: &ChildSpec<'_>) -> Result<(Child, Started<T>), ProcError> {
        let name = spec.name.to_string();
        let log = spec.log_dir.join(format!("{name}.log"));
        let log_error = |source| ProcError::Log { path: log.display().to_string(), source };
        let mut cmd = Command::new(spec.program);
        cmd.args(spec.args).envs(spec.env.iter().copied()).stdin(Stdio::null()).stdout(Stdio::piped());
        if let Some(cwd) = spec.cwd {
            cmd.current_dir(cwd);
        }
        if spec.own_process_group {
            cmd.process_group(0);
        }
        let lines = if spec.stderr_lines {
            cmd.stderr(Stdio::piped());
            Some(broadcast::channel(4096).0)
        } else {
            cmd.stderr(Stdio::from(std::fs::File::create(&log).map_err(log_error)?));
            None
        };
        let spawned_at = Instant::now();
        let mut child =
            cmd.spawn().map_err(|source| ProcError::Spawn { program: spec.program.display().to_string(), source })?;
        if let (Some(tx), Some(stderr)) = (&lines, child.stderr.take()) {
            let file = tokio::fs::File::create(&log).await.map_err(log_error)?;
            tokio::spawn(copy_lines(stderr, file, tx.clone()));
        }
        let stdout = child.stdout.take();
        let mut child = Child { name: name.clone(), child, log, lines };
        let Some(stdout) = stdout else {
            return Err(ProcError::Stdout { name, source: std::io::Error::other("no stdout pipe") });
        };
        let line = match tokio::time::timeout(spec.ready_timeout, first_line(stdout)).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => return Err(ProcError::ExitedEarly { last_words: child.last_words().await, name }),
            Ok(Err(source)) => return Err(ProcError::Stdout { name, source }),
            Err(_) => {
                let log = child.log.display().to_string();
                return Err(ProcError::NotReady { name, secs: spec.ready_timeout.as_secs(), log });
            }
        };
        let ready_at = Instant::now();
        let ready = serde_json::from_str(&line).map_err(|e| ProcError::BadReadyLine {
            name,
            line: line.clone(),
            reason: e.to_string(),
        })?;
        Ok((child, Started { ready, spawned_at, ready_at }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its log file (stderr).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Its pid, until it has been reaped: only then can the pid not belong to another process.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it is still running (an exited child is reaped here).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` unless the child has been reaped; says whether it was sent.
    pub fn signal(&self, signal: Signal) -> bool {
        match self.child.id() {
            Some(pid) => kill(Pid::from_raw(pid as i32), signal).is_ok(),
            None => false,
        }
    }

    /// Waits for it to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// SIGKILLs it and reaps it (at once: SIGKILL cannot be ignored).
    pub async fn kill(&mut self) -> Result<(), ProcError> {
        if self.is_running() {
            self.signal(Signal::SIGKILL);
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => Err(ProcError::Unkillable { name: self.name.clone(), pid: self.child.id() }),
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL. Says whether SIGKILL was needed.
    pub async fn stop(&mut self, grace: Duration) -> bool {
        self.signal(Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            return false;
        }
        let _ = self.kill().await;
        true
    }

    /// Its stderr lines from now on (when started with `stderr_lines`).
    pub fn subscribe(&self) -> Option<broadcast::Receiver<String>> {
        self.lines.as_ref().map(broadcast::Sender::subscribe)
    }

    /// Exit status and the tail of the log of a child that died, for an error message.
    pub async fn last_words(&mut self) -> String {
        let status = match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        if tail.is_empty() {
            format!("{status}; its log {} is empty", self.log.display())
        } else {
            format!("{status}; last lines of {}:\n  {}", self.log.display(), tail.join("\n  "))
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.is_running() {
            self.signal(Signal::SIGKILL);
        }
    }
}

/// Copies stderr to the log file, line by line, and to whoever subscribed: a line is in
/// the file (flushed) before it is sent, so a test that saw it can read it there.
async fn copy_lines(stderr: tokio::process::ChildStderr, mut file: tokio::fs::File, tx: broadcast::Sender<String>) {
    let mut reader = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        let _ = file.flush().await;
        let _ = tx.send(line);
    }
}

/// The first line a child prints; the rest of its stdout is drained in the background.
async fn first_line(stdout: ChildStdout) -> std::io::Result<Option<String>> {
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next_line().await?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(first)
}

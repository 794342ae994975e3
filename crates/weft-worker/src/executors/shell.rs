//! `shell`: runs a program (no implicit shell) with extra environment and a working
//! directory, in its own process group so that ending the task reaches everything it
//! started: a cancel or timeout, and also the program's own exit, which takes down what it
//! left running in the background.
//!
//! Its environment is only what the operator allows (`env`: `PATH` by default) and the
//! task's own `env`; it runs as the worker's user, or as the one the operator names.
use super::capture::Capture;
use crate::{Error, Executor, Task, TaskError, TaskResult};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weft_model::builtin::{DEFAULT_CAPTURE_BYTES, ShellParams};

/// Between SIGTERM and SIGKILL to the process group of a stopped task.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// After the program exits, what it left running gets SIGTERM, and SIGKILL once its pipes
/// are read to their end or after this long, whichever is first. Output written before
/// the exit is already in the pipe, so this only cuts off stragglers.
const PIPE_GRACE: Duration = Duration::from_millis(500);

pub(crate) mod env;

/// `shell`: result `{"exit_code": N, "stdout": "...", "stderr": "..."}`; a non-zero exit
/// fails the attempt (retryable) with the exit code and the end of stderr. Output past
/// `max_output_bytes` is dropped and flagged with `stdout_truncated` / `stderr_truncated`.
#[derive(Clone, Debug)]
pub struct Shell {
    /// What a task inherits of the worker's environment, fixed when the worker starts.
    inherited: Vec<(OsString, OsString)>,
    /// uid and gid to run as; `None` keeps the worker's.
    user: Option<(u32, u32)>,
}

/// Inherits `PATH` only and runs as the worker's user.
impl Default for Shell {
    fn default() -> Self {
        Shell { inherited: env::inherited(&["PATH".to_string()], std::env::vars_os()), user: None }
    }
}

impl Shell {
    /// Tasks inherit the variables of the worker's environment that `env_allow` names
    /// (see [`crate::executors::ExecutorOptions::shell_env_allow`]) and run as `user`
    /// (a user name) when given; a user needs the worker to run as root.
    pub fn new(env_allow: &[String], user: Option<&str>) -> Result<Self, Error> {
        for (i, entry) in env_allow.iter().enumerate() {
            env::check_allow_entry(entry).map_err(|reason| Error::config(format!("shell_env_allow[{i}]"), reason))?;
        }
        let inherited = env::inherited(env_allow, std::env::vars_os());
        let user = user.map(resolve_user).transpose()?;
        Ok(Shell { inherited, user })
    }
}

/// A user name to its uid and primary gid. Changing user needs root; refused here rather
/// than failing every task later.
fn resolve_user(name: &str) -> Result<(u32, u32), Error> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| Error::config("shell_user", format!("cannot look up user `{name}`: {e}")))?
        .ok_or_else(|| Error::config("shell_user", format!("no user `{name}` on this host")))?;
    let me = nix::unistd::geteuid();
    if !me.is_root() && me != user.uid {
        return Err(Error::config("shell_user", format!("running tasks as `{name}` needs the worker to run as root")));
    }
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

impl Executor for Shell {
    async fn execute(&self, task: Task) -> TaskResult {
        let params: ShellParams = task.params_as()?;
        run(self, &params, &task.cancel).await
    }
}

async fn run(shell: &Shell, params: &ShellParams, cancel: &CancellationToken) -> TaskResult {
    let Some((program, args)) = params.argv.split_first().filter(|(p, _)| !p.is_empty()) else {
        return Err(TaskError::fatal("invalid params for kind `shell`: `argv` must name a program"));
    };
    let max = params.max_output_bytes.unwrap_or(DEFAULT_CAPTURE_BYTES);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(shell.inherited.iter().map(|(k, v)| (k, v)))
        .envs(&params.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: signals to the group reach grandchildren too (`sh -c 'a & b'`).
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &params.cwd {
        cmd.current_dir(cwd);
    }
    if let Some((uid, gid)) = shell.user {
        // Set in the child before exec; as root, std also drops supplementary groups.
        cmd.uid(uid).gid(gid);
    }
    // Listen before spawning, so an exit right after the spawn is not missed.
    let sigchld = signal(SignalKind::child())
        .map_err(|e| TaskError::retryable(format!("cannot watch for `{program}` to exit: {e}")))?;
    let mut child = cmd.spawn().map_err(|e| spawn_error(program, params.cwd.as_deref(), e))?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
    let mut group = GroupGuard(pid);
    let mut leader = Leader { pid, sigchld };

    let stop_reading = CancellationToken::new();
    let stdout = spawn_reader(child.stdout.take(), max, stop_reading.clone());
    let stderr = spawn_reader(child.stderr.take(), max, stop_reading.clone());

    // Until the leader is reaped its pid, which is the group's id, cannot be reused, so
    // signalling the group reaches only what this task started. Reaping comes last.
    tokio::select! {
        () = leader.exited() => {}
        _ = cancel.cancelled() => {
            terminate(&mut child, &mut group, &mut leader).await;
            stop_reading.cancel();
            return Err(TaskError::retryable("cancelled"));
        }
    };
    // The task ends with its program: what it left running in the background goes too.
    group.signal(Signal::SIGTERM);
    let stop_later = stop_reading.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(PIPE_GRACE).await;
        stop_later.cancel();
    });
    let (stdout, stderr) = (collect(stdout).await, collect(stderr).await);
    timer.abort();
    group.signal(Signal::SIGKILL);
    group.disarm();
    let status = child.wait().await;
    let status = status.map_err(|e| TaskError::retryable(format!("waiting for `{program}` failed: {e}")))?;

    match status.code() {
        Some(0) => {
            let mut result = serde_json::json!({"exit_code": 0, "stdout": stdout.text(), "stderr": stderr.text()});
            if stdout.truncated() {
                result["stdout_truncated"] = true.into();
            }
            if stderr.truncated() {
                result["stderr_truncated"] = true.into();
            }
            Ok(result)
        }
        Some(code) => Err(TaskError::retryable(with_tail(format!("`{program}` exited with code {code}"), &stderr))),
        None => {
            let signal = status.signal().unwrap_or_default();
            Err(TaskError::retryable(with_tail(format!("`{program}` was killed by signal {signal}"), &stderr)))
        }
    }
}

fn with_tail(message: String, stderr: &Capture) -> String {
    let tail = stderr.tail_text();
    if tail.is_empty() { message } else { format!("{message}; stderr ends with: {tail}") }
}

/// A program that is missing or not executable will not appear on a retry; anything else
/// (out of processes, out of memory) might pass.
fn spawn_error(program: &str, cwd: Option<&str>, e: std::io::Error) -> TaskError {
    let place = cwd.map(|d| format!(" in `{d}`")).unwrap_or_default();
    let message = format!("cannot start `{program}`{place}: {e}");
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::PermissionDenied => TaskError::fatal(message),
        _ => TaskError::retryable(message),
    }
}

fn spawn_reader<R>(pipe: Option<R>, max: usize, stop: CancellationToken) -> Option<JoinHandle<Capture>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let pipe = pipe?;
    Some(tokio::spawn(async move { Capture::new(max).read_all(pipe, &stop).await }))
}

async fn collect(reader: Option<JoinHandle<Capture>>) -> Capture {
    match reader {
        Some(handle) => handle.await.unwrap_or_else(|_| Capture::new(0)),
        None => Capture::new(0),
    }
}

/// SIGTERM to the group, SIGKILL after [`KILL_GRACE`] (also to members that outlived the
/// leader), then reap the leader.
async fn terminate(child: &mut Child, group: &mut GroupGuard, leader: &mut Leader) {
    group.signal(Signal::SIGTERM);
    let _ = tokio::time::timeout(KILL_GRACE, leader.exited()).await;
    group.signal(Signal::SIGKILL);
    group.disarm();
    let _ = child.wait().await;
}

/// The group's leader, the task's program: tells when it has exited without reaping it.
struct Leader {
    pid: Option<Pid>,
    sigchld: tokio::signal::unix::Signal,
}

impl Leader {
    /// Returns once the leader has exited; it stays a zombie until `Child::wait` reaps it.
    async fn exited(&mut self) {
        let Some(pid) = self.pid else { return };
        loop {
            // WNOWAIT: look, do not reap. Any answer but "still alive" means it is gone.
            match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
                _ => return,
            }
            // Some child of this process exited (or several: signals merge); look again.
            if self.sigchld.recv().await.is_none() {
                return;
            }
        }
    }
}

/// The child's process group. Dropped while armed (the attempt was abandoned mid-run), it
/// kills the whole group: `kill_on_drop` alone would reach only the leader.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.0 {
            // ESRCH (the group is already gone) is the expected, harmless case.
            let _ = killpg(pgid, signal);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests;

//! Children are played by `sh -c` scripts that behave like the real binaries (print a
//! ready line, then wait), or misbehave (die early, ignore SIGTERM).
use super::*;
use crate::ChildSpec;
use std::path::Path;

#[derive(serde::Deserialize, Debug)]
struct Ready {
    grpc: String,
}

fn sh(script: &str) -> (PathBuf, Vec<String>) {
    (PathBuf::from("/bin/sh"), vec!["-c".to_string(), script.to_string()])
}

fn spec<'a>(name: &'a str, program: &'a Path, args: &'a [String], dir: &'a Path, ready: Duration) -> ChildSpec<'a> {
    ChildSpec {
        ready_timeout: ready,
        cwd: Some(dir),
        own_process_group: true,
        ..ChildSpec::new(name, program, args, dir)
    }
}

/// Running and not a zombie. A zombie is dead but may not be reaped yet by tokio's
/// orphan reaper, which is fine.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

async fn wait_dead(pid: u32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Logs before the ready line, so the log is written by the time the test reads it.
const READY_THEN_WAIT: &str = r#"echo "started" >&2; echo '{"grpc":"127.0.0.1:1","metrics":null}'; exec sleep 30"#;

#[tokio::test]
async fn reads_the_ready_line_and_logs_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::default();
    let (program, args) = sh(READY_THEN_WAIT);
    let ready: Ready =
        procs.start(&spec("coordinator", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap();
    assert_eq!(ready.grpc, "127.0.0.1:1");
    let pid = procs.procs[0].pid().unwrap();
    assert!(alive(pid));
    procs.shutdown(Duration::from_secs(5)).await;
    assert!(!alive(pid));
    assert_eq!(std::fs::read_to_string(dir.path().join("coordinator.log")).unwrap(), "started\n");
}

#[tokio::test]
async fn shutdown_kills_what_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::default();
    let (program, args) = sh(r#"trap '' TERM; echo '{"grpc":"x"}'; while :; do sleep 0.05; done"#);
    let _: Ready = procs.start(&spec("stubborn", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap();
    let pid = procs.procs[0].pid().unwrap();
    let started = std::time::Instant::now();
    procs.shutdown(Duration::from_millis(300)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(wait_dead(pid).await, "pid {pid} survived SIGKILL");
}

#[tokio::test]
async fn dropping_the_guard_kills_every_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::default();
    let (program, args) = sh(READY_THEN_WAIT);
    let _: Ready = procs.start(&spec("a", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap();
    let _: Ready = procs.start(&spec("b", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap();
    let pids: Vec<u32> = procs.procs.iter().map(|p| p.pid().unwrap()).collect();
    drop(procs);
    for pid in pids {
        assert!(wait_dead(pid).await, "pid {pid} outlived the guard");
    }
}

#[tokio::test]
async fn a_child_that_dies_early_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::default();
    let (program, args) = sh("echo 'error: --listen: address in use' >&2; exit 3");
    let err = procs
        .start::<Ready>(&spec("coordinator", &program, &args, dir.path(), Duration::from_secs(10)))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("coordinator exited before it was ready"), "{text}");
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(text.contains("address in use"), "{text}");
}

#[tokio::test]
async fn silence_times_out_and_garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::default();
    let (program, args) = sh("exec sleep 30");
    let err = procs
        .start::<Ready>(&spec("quiet", &program, &args, dir.path(), Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("printed no ready line"), "{err}");
    let (program, args) = sh("echo listening; exec sleep 30");
    let err =
        procs.start::<Ready>(&spec("chatty", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap_err();
    assert!(err.to_string().contains("unexpected ready line `listening`"), "{err:#}");
}

#[tokio::test]
async fn launch_gives_the_pid_and_kill_takes_one_child_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::default();
    let (program, args) = sh(READY_THEN_WAIT);
    let a: Started<Ready> =
        procs.launch(&spec("a", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap();
    let b: Started<Ready> =
        procs.launch(&spec("b", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap();
    assert!(a.spawn_to_ready() > Duration::ZERO && a.spawn_to_ready() < Duration::from_secs(10));
    let (a_pid, b_pid) = (procs.pid("a").unwrap(), procs.pid("b").unwrap());
    procs.kill("a").await.unwrap();
    assert!(!alive(a_pid));
    assert_eq!(procs.pid("a"), None, "a dead child has no pid to signal");
    assert!(alive(b_pid));
    // Killing it again signals nothing (its pid may belong to someone else by now).
    procs.kill("a").await.unwrap();
    assert!(procs.kill("nobody").await.unwrap_err().to_string().contains("no child named nobody"));
    let err =
        procs.launch::<Ready>(&spec("b", &program, &args, dir.path(), Duration::from_secs(10))).await.unwrap_err();
    assert!(err.to_string().contains("already started"), "{err}");
    procs.shutdown(Duration::from_secs(5)).await;
    assert!(!alive(b_pid));
    assert!(b.ready.grpc.starts_with("127.0.0.1"));
}

#[tokio::test]
async fn stderr_lines_can_be_awaited_and_go_to_the_log_too() {
    let dir = tempfile::tempdir().unwrap();
    let (program, args) = sh(r#"echo '{"grpc":"x"}'; sleep 0.3; echo "after the ready line" >&2; exec sleep 30"#);
    let with_lines =
        ChildSpec { stderr_lines: true, ..spec("tee", &program, &args, dir.path(), Duration::from_secs(10)) };
    let (mut child, started) = Child::start::<Ready>(&with_lines).await.unwrap();
    assert_eq!(started.ready.grpc, "x");
    let mut lines = child.subscribe().expect("lines were asked for");
    let line = tokio::time::timeout(Duration::from_secs(10), lines.recv()).await.expect("a line in time").unwrap();
    assert_eq!(line, "after the ready line");
    let pid = child.pid().unwrap();
    child.kill().await.unwrap();
    assert!(!alive(pid));
    assert_eq!(child.pid(), None, "a reaped child has no pid to signal");
    assert!(!child.signal(nix::sys::signal::Signal::SIGTERM));
    assert!(std::fs::read_to_string(dir.path().join("tee.log")).unwrap().contains("after the ready line"));
}

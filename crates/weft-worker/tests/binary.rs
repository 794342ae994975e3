//! The `weft-worker` binary: the stdout ready line, SIGTERM drain with exit 0, and clear
//! non-zero exits for bad flags and a refused protocol.
mod fake;

use fake::{Coordinator, STEP};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::Code;

fn worker(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weft-worker"))
        .args(args)
        // Flags under test must not be overridden by the environment the tests run in.
        .env_remove("WEFT_COORDINATOR")
        .env_remove("WEFT_SLOTS")
        .env_remove("WEFT_KINDS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start weft-worker")
}

async fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = tokio::time::timeout(STEP, stderr.read_to_string(&mut text)).await;
    }
    text
}

#[tokio::test]
async fn prints_one_ready_line_then_drains_on_sigterm() {
    let mut coordinator = Coordinator::start(None).await;
    let mut child =
        worker(&["--coordinator", &coordinator.addr, "--name", "bin-test", "--slots", "2", "--log", "debug"]);
    let (register, _push) = coordinator.session().await;
    assert_eq!(register.name, "bin-test");

    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(STEP, stdout.next_line()).await.expect("ready line in time").unwrap().unwrap();
    assert_eq!(line, format!(r#"{{"worker_id":"{}","name":"bin-test"}}"#, register.worker_id));

    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    coordinator.drain().await;
    let status = tokio::time::timeout(STEP, child.wait()).await.expect("exit in time").unwrap();
    assert!(status.success(), "{status:?}: {}", stderr_of(&mut child).await);
    // Nothing else on stdout: logs go to stderr.
    assert_eq!(stdout.next_line().await.unwrap(), None);
}

#[tokio::test]
async fn bad_flags_and_refused_protocol_exit_non_zero_naming_the_cause() {
    let mut child = worker(&["--slots", "0"]);
    let status = tokio::time::timeout(STEP, child.wait()).await.unwrap().unwrap();
    assert!(!status.success());
    assert!(stderr_of(&mut child).await.contains("--slots"));

    let coordinator = Coordinator::start(Some(Code::FailedPrecondition)).await;
    let mut child = worker(&["--coordinator", &coordinator.addr]);
    let status = tokio::time::timeout(STEP, child.wait()).await.unwrap().unwrap();
    assert!(!status.success());
    let stderr = stderr_of(&mut child).await;
    assert!(stderr.contains("refused protocol version"), "{stderr}");
}

//! Read-committed, checked from outside: the coordinator runs under strace with every
//! fsync and fdatasync slowed by `SLOW_SYNC`, so each commit takes at least that long. A
//! client that is shown a change before its commit would see it sooner than that.
//!
//! - A one-task round trip: the task runs at once on the worker (assignments leave before
//!   their commit), but its result is in a later commit than the one StartRun waited for,
//!   so neither WatchRun nor GetRun may show it succeeded until one more slowed commit
//!   has passed since StartRun returned.
//! - CancelRun is answered only after its commit.
use std::path::Path;
use std::time::{Duration, Instant};
use weft_client::pb;
use weft_client::{Client, RunSource, StartOptions};
use weft_e2e::{Proc, WAIT, binary};

use crate::support::spec;

/// How much strace slows each sync. Large against the machine's noise, small for CI.
const SLOW_SYNC: Duration = Duration::from_millis(300);
/// Timers are not exact; a commit may not be shorter than this.
const AT_LEAST: Duration = Duration::from_millis(280);

/// A coordinator under `strace`, killed by its own pid (and strace's) when dropped.
struct SlowSyncCoordinator {
    strace: Proc,
    pid: i32,
}

impl SlowSyncCoordinator {
    async fn start(dir: &Path) -> SlowSyncCoordinator {
        let delay_us = SLOW_SYNC.as_micros().to_string();
        let mut args: Vec<String> = [
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=fsync,fdatasync",
            "-e",
            &format!("inject=fsync,fdatasync:delay_exit={delay_us}"),
            "--",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(binary("weft-coordinator").to_string_lossy().into_owned());
        for a in ["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--data-dir"] {
            args.push(a.into());
        }
        args.push(dir.join("data").to_string_lossy().into_owned());
        let strace = Proc::start("coordinator-under-strace", Path::new(strace_binary()), &args, dir).await;
        let pid = strace.ready["pid"].as_i64().expect("the coordinator's ready line has its pid") as i32;
        SlowSyncCoordinator { strace, pid }
    }

    fn grpc(&self) -> String {
        self.strace.ready["grpc"].as_str().expect("grpc address").to_string()
    }
}

impl Drop for SlowSyncCoordinator {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGKILL);
        self.strace.signal(nix::sys::signal::Signal::SIGKILL);
    }
}

fn strace_binary() -> &'static str {
    for path in ["/usr/bin/strace", "/bin/strace"] {
        if Path::new(path).exists() {
            return path;
        }
    }
    panic!("strace is needed for the read-committed tests (apt-get install strace; .ci/run installs it)");
}

async fn slow_cluster() -> (tempfile::TempDir, SlowSyncCoordinator, Proc, Client) {
    let dir = tempfile::Builder::new().prefix("weft-e2e-slowsync-").tempdir().expect("temp dir");
    let coordinator = SlowSyncCoordinator::start(dir.path()).await;
    let grpc = coordinator.grpc();
    let args: Vec<String> =
        ["--coordinator", &format!("http://{grpc}"), "--name", "w", "--slots", "2", "--log", "info,weft_worker=debug"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let worker = Proc::start("worker", &binary("weft-worker"), &args, dir.path()).await;
    let client = Client::connect(&grpc).await.expect("connect");
    (dir, coordinator, worker, client)
}

const ONE_TASK: &str = "
name: one
workflows:
  - name: w
    steps:
      - { name: t, kind: noop, params: { result: 42 } }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_is_shown_only_after_its_own_commit() {
    let (_dir, _coordinator, worker, client) = slow_cluster().await;
    let mut worker_log = worker.subscribe();
    let spec = spec(ONE_TASK);
    for round in 0..3 {
        let started = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.expect("start");
        let acknowledged = Instant::now();
        // Once the worker has run the task and sent its result (which the coordinator
        // applies within milliseconds), WatchRun: its history and live events alike must
        // wait for the commit that holds the result, which cannot end before one slowed
        // sync has passed. A history answered from memory would show it at once.
        let run_id = started.run_id.to_string();
        weft_e2e::await_line(&mut worker_log, &["attempt succeeded", &run_id]).await;
        let mut events = client.watch_run(started.run_id, 0).await.expect("watch");
        let seen_succeeded = tokio::time::timeout(WAIT, async {
            while let Some(e) = events.next().await {
                if e.expect("event").kind == pb::EventKind::RunSucceeded as i32 {
                    return acknowledged.elapsed();
                }
            }
            panic!("the stream ended before the run succeeded");
        })
        .await
        .expect("the run succeeds in time");
        assert!(
            seen_succeeded >= AT_LEAST,
            "round {round}: the result was shown {seen_succeeded:?} after StartRun returned, \
             less than one slowed commit ({SLOW_SYNC:?}): it was shown before it was durable"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_run_never_shows_an_uncommitted_result() {
    let (_dir, _coordinator, worker, client) = slow_cluster().await;
    let mut worker_log = worker.subscribe();
    let spec = spec(ONE_TASK);
    let started = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.expect("start");
    let acknowledged = Instant::now();
    // The worker ran the task (assignments leave before their commit) and is sending its
    // result, which the coordinator applies within milliseconds, long before its commit.
    let run_id = started.run_id.to_string();
    weft_e2e::await_line(&mut worker_log, &["attempt succeeded", &run_id]).await;
    // Poll until the run is shown succeeded: the first answer that shows it must come after
    // the result's own commit, which began after StartRun's and lasts a slowed sync.
    let shown_after = tokio::time::timeout(WAIT, async {
        loop {
            let run = client.get_run(started.run_id).await.expect("get run");
            if run.workflows[0].tasks[0].state == pb::TaskState::Succeeded as i32 {
                return acknowledged.elapsed();
            }
        }
    })
    .await
    .expect("the run is shown succeeded in time");
    assert!(
        shown_after >= AT_LEAST,
        "GetRun showed the result {shown_after:?} after StartRun returned, before its commit could end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_is_answered_after_its_commit() {
    let (_dir, _coordinator, _worker, client) = slow_cluster().await;
    let spec = spec(
        "
name: long
workflows:
  - name: w
    steps:
      - { name: t, kind: sleep, params: { duration: 60s } }
",
    );
    let started = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.expect("start");
    let mut events = client.watch_run(started.run_id, 0).await.expect("watch");
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.next().await {
            if e.expect("event").kind == pb::EventKind::TaskRunning as i32 {
                return;
            }
        }
        panic!("the stream ended before the task ran");
    })
    .await
    .expect("the task runs in time");
    let asked = Instant::now();
    let run = client.cancel_run(started.run_id, "test").await.expect("cancel");
    let took = asked.elapsed();
    assert_eq!(run.status, pb::RunStatus::Cancelled as i32);
    assert!(took >= AT_LEAST, "CancelRun was answered in {took:?}, before its commit ({SLOW_SYNC:?}) could end");
}

//! Crash safety: SIGKILL the coordinator at different points of running processes and
//! restart it on the same data directory. Every acknowledged run finishes, every task's
//! result is recorded exactly once, and no task starts before its dependencies.
use crate::support::*;
use std::collections::HashMap;
use weft_client::pb;
use weft_client::{Client, RunId, RunSource, StartOptions};
use weft_e2e::{Cluster, WorkerSpec};

/// Short leases so that lost attempts come back quickly.
const FAST_LEASES: &[&str] = &["--heartbeat-interval", "200ms", "--lease-timeout", "1s"];

const CHAIN: &str = r#"
name: chain
workflows:
  - name: ship
    steps:
      - { name: s1, kind: sleep, params: { duration: 300ms } }
      - { name: s2, kind: sleep, params: { duration: 300ms } }
      - { name: s3, kind: noop, params: { result: { done: 3 } } }
  - name: bill
    tasks:
      - { name: b1, kind: sleep, params: { duration: 200ms } }
      - { name: b2, kind: noop, depends_on: [b1], params: { result: "billed" } }
"#;

/// Checks a finished run: succeeded, one TASK_SUCCEEDED per task, dependencies first.
async fn assert_consistent(client: &Client, run_id: RunId) {
    let run = wait(client, run_id).await;
    assert_succeeded(&run);
    let history = client.run_history_all(run_id, 0).await.expect("history");
    let mut succeeded: HashMap<String, usize> = HashMap::new();
    for e in &history {
        if e.kind == pb::EventKind::TaskSucceeded as i32 {
            *succeeded.entry(format!("{}/{}", e.workflow, e.task)).or_default() += 1;
        }
    }
    let tasks = tasks(&run);
    for (key, t) in &tasks {
        assert_eq!(succeeded.get(key), Some(&1), "{key}: its result must be recorded exactly once");
        for dep in &t.depends_on {
            let d = &tasks[&format!("{}/{dep}", t.workflow)];
            assert!(t.started_at_ms >= d.finished_at_ms, "{key} started before {dep} finished");
        }
    }
    assert!(history.windows(2).all(|w| w[1].seq == w[0].seq + 1), "history has no gaps");
}

/// Waits until the run's event stream shows `kind` for `task`.
async fn await_event(client: &Client, run_id: RunId, task: &str, kind: pb::EventKind) {
    let mut sub = client.watch_run(run_id, 0).await.expect("watch");
    let found = tokio::time::timeout(weft_e2e::WAIT, async {
        while let Some(e) = sub.next().await {
            let e = e.expect("event");
            if e.task == task && e.kind == kind as i32 {
                return;
            }
        }
        panic!("stream ended before {task} {kind:?}");
    })
    .await;
    found.expect("event in time");
}

async fn cluster() -> Cluster {
    let mut cluster = Cluster::start(FAST_LEASES).await;
    cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_task_and_between_dependent_tasks_every_run_finishes_once() {
    let mut cluster = cluster().await;
    let client = cluster.client().await;
    let spec = spec(CHAIN);
    let mid_task = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.unwrap().run_id;
    // Mid-task: s1 is running on a worker when the coordinator dies.
    await_event(&client, mid_task, "s1", pb::EventKind::TaskRunning).await;
    cluster.crash_and_restart_coordinator(FAST_LEASES).await;
    let client = cluster.client().await;
    let between = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.unwrap().run_id;
    // Between dependent tasks: s1 has succeeded, s2 may not have started.
    await_event(&client, between, "s1", pb::EventKind::TaskSucceeded).await;
    cluster.crash_and_restart_coordinator(FAST_LEASES).await;
    let client = cluster.client().await;
    assert_consistent(&client, mid_task).await;
    assert_consistent(&client, between).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_submission_every_acknowledged_run_finishes_once() {
    let mut cluster = cluster().await;
    let client = cluster.client().await;
    let spec = spec(CHAIN);
    // Submit runs one after another (each with its own key) while the coordinator dies.
    let submitter = {
        let client = client.clone();
        let spec = spec.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..200 {
                let options = StartOptions { idempotency_key: Some(format!("order-{i}")), ..Default::default() };
                match client.start_run(RunSource::Inline(&spec), options).await {
                    Ok(started) => acknowledged.push((i, started.run_id)),
                    Err(e) => return (acknowledged, Some(e.to_string())),
                }
            }
            (acknowledged, None)
        })
    };
    // Let a few submissions through, then kill.
    let mut events = client.watch_events(None).await.unwrap();
    let mut started = 0;
    while started < 5 {
        let e = tokio::time::timeout(weft_e2e::WAIT, events.next()).await.unwrap().unwrap().unwrap();
        if matches!(e.event, Some(pb::cluster_event::Event::Run(ref r)) if r.kind == pb::EventKind::RunStarted as i32) {
            started += 1;
        }
    }
    cluster.crash_and_restart_coordinator(FAST_LEASES).await;
    let (acknowledged, error) = submitter.await.unwrap();
    assert!(acknowledged.len() >= 4, "runs were acknowledged before the crash: {acknowledged:?} then {error:?}");
    assert!(error.is_some(), "the crash interrupted the submissions");
    let client = cluster.client().await;
    for (i, run_id) in &acknowledged {
        assert_consistent(&client, *run_id).await;
        // Idempotency keys survive the restart: the same key gives the same run.
        let options = StartOptions { idempotency_key: Some(format!("order-{i}")), ..Default::default() };
        let again = client.start_run(RunSource::Inline(&spec), options).await.unwrap();
        assert_eq!((again.run_id, again.created), (*run_id, false));
    }
}

/// Starts a coordinator on `dir` and returns its exit code and stderr (it must not start).
async fn refused_start(dir: &std::path::Path) -> (Option<i32>, String, Vec<u8>) {
    let out = tokio::process::Command::new(weft_e2e::binary("weft-coordinator"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--data-dir"])
        .arg(dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(weft_e2e::WAIT, out).await.unwrap().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_store_or_a_newer_schema_stops_the_coordinator_with_a_clear_error() {
    let corrupt = tempfile::tempdir().unwrap();
    std::fs::write(corrupt.path().join("weft.db"), vec![0x42u8; 8192]).unwrap();
    let (code, stderr, stdout) = refused_start(corrupt.path()).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("corrupt or not a weft store"), "{stderr}");
    assert!(stdout.is_empty(), "never reported ready");
    assert_eq!(std::fs::read(corrupt.path().join("weft.db")).unwrap(), vec![0x42u8; 8192], "left untouched");

    // A store from a newer weft: made by this one, then stamped with a higher schema version.
    let mut cluster = Cluster::start(&[]).await;
    let data = cluster.dir.path().join("data");
    cluster.coordinator.signal(nix::sys::signal::Signal::SIGKILL);
    cluster.coordinator.wait().await;
    let stamp =
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version = 999'); c.commit()";
    let status = std::process::Command::new("python3").args(["-c", stamp]).arg(data.join("weft.db")).status().unwrap();
    assert!(status.success());
    let (code, stderr, _) = refused_start(&data).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("schema version 999") && stderr.contains("upgrade weft"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_runs_are_removed_after_the_retention_period_also_from_the_store() {
    let mut cluster = Cluster::start(&["--retention", "1s"]).await;
    let mut log = cluster.coordinator.subscribe();
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    let run = run_to_end(&client, &spec("name: brief\nsteps:\n  - { name: a, kind: noop }\n")).await;
    assert_succeeded(&run);
    let id: RunId = run.run_id.parse().unwrap();
    weft_e2e::await_line(&mut log, &["removed runs past the retention period"]).await;
    assert!(matches!(client.get_run(id).await, Err(weft_client::Error::NotFound { .. })));
    cluster.crash_and_restart_coordinator(&[]).await;
    let client = cluster.client().await;
    assert!(matches!(client.get_run(id).await, Err(weft_client::Error::NotFound { .. })), "deleted from the store too");
}

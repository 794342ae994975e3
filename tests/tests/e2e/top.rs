//! `weftctl top`, `weftctl workers` and `weftctl run` against real processes: what the
//! snapshots name, the live refresh and its two ways out, penalties, and a run's estimate.
use crate::support::*;
use std::process::{Output, Stdio};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use weft_e2e::{Cluster, WAIT, WorkerSpec, binary};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Stdout of a successful weftctl, or a panic showing its stderr.
fn stdout_of(out: &Output, what: &str) -> String {
    assert_eq!(out.status.code(), Some(0), "{what} failed: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The whitespace-separated cells of the first line starting with `first`.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row `{first}` in:\n{table}"))
        .split_whitespace()
        .collect()
}

/// `weftctl top` running with its stdout piped (so: plain snapshots, one per interval).
struct LiveTop {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: String,
}

impl LiveTop {
    fn start(grpc: &str, interval: &str) -> LiveTop {
        let mut child = tokio::process::Command::new(binary("weftctl"))
            .args(["--coordinator", grpc, "top", "--interval", interval])
            .env_remove("WEFT_COORDINATOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("weftctl top starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LiveTop { child, lines, seen: String::new() }
    }

    /// Reads stdout until what was printed so far satisfies `done`.
    async fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        let found = tokio::time::timeout(WAIT, async {
            while !done(&self.seen) {
                match self.lines.recv().await {
                    Some(line) => {
                        self.seen.push_str(&line);
                        self.seen.push('\n');
                    }
                    None => return false,
                }
            }
            true
        })
        .await;
        assert!(found == Ok(true), "top never printed {what}; it printed:\n{}", self.seen);
    }

    /// Waits for top to exit; returns its exit code and stderr.
    async fn exit(mut self) -> (Option<i32>, String) {
        let mut stderr = self.child.stderr.take().expect("piped stderr");
        let status = tokio::time::timeout(WAIT, self.child.wait()).await.expect("top exits in time").expect("wait");
        let mut err = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err).await.expect("stderr");
        (status.code(), err)
    }
}

fn snapshots(seen: &str) -> usize {
    seen.matches("weftctl top  ").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_once_names_the_worker_its_slots_and_queues_and_run_shows_the_estimate() {
    let mut cluster = Cluster::start(&["--heartbeat-interval", "200ms"]).await;
    let id = {
        let w = cluster.add_worker(WorkerSpec { slots: 3, queues: "default,billing", ..Default::default() }).await;
        cluster.worker_id(w)
    };
    let client = cluster.client().await;
    let yaml = "name: estimated\nworkflows:\n  - name: w\n    tasks:\n      - { name: first, kind: noop, cost: 0.5 }\n      \
                - { name: second, kind: noop, queue: billing, depends_on: [first] }\n";
    let run = run_to_end(&client, &spec(yaml)).await;
    assert_succeeded(&run);
    // Wait for a heartbeat after the run, so the snapshot shows the worker idle with history.
    let after = run.finished_at_ms;
    let worker_id = id.parse().expect("a worker id");
    let mut heartbeats = client.watch_heartbeats(Some(worker_id)).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(hb) = heartbeats.next().await {
            if hb.unwrap().sent_at_ms > after {
                return;
            }
        }
        panic!("the heartbeat stream ended");
    })
    .await
    .expect("a heartbeat after the run");

    let top = stdout_of(&weftctl_at(&cluster.grpc, &["top", "--once"]).await, "top --once");
    assert!(top.starts_with(&format!("weftctl top  http://{}  ", cluster.grpc)), "{top}");
    assert!(top.contains("runs: 0 running, 1 finished   workers: 1 (1 live)"), "{top}");
    let worker = row(&top, "worker-0");
    assert_eq!(&worker[1..3], ["live", "0/3"], "{top}");
    assert!(top.contains("QUEUE    DEPTH  BY PRIORITY  FREE SLOTS"), "{top}");
    assert_eq!(row(&top, "billing"), ["billing", "0", "3"], "{top}");
    assert_eq!(row(&top, "default"), ["default", "0", "3"], "{top}");
    assert!(!top.contains("ANOMALIES"), "--once has no event stream to show: {top}");

    let json = stdout_of(&weftctl_at(&cluster.grpc, &["top", "--once", "-o", "json"]).await, "top --once -o json");
    let status: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    let w = &status["workers"][0];
    assert_eq!(w["name"], "worker-0");
    assert_eq!(w["worker_id"], id.as_str());
    assert_eq!(w["slots"], 3);
    assert_eq!(w["queues"], serde_json::json!(["default", "billing"]));
    assert_eq!(w["penalized"], false);
    assert_eq!(w["failure_rate"], 0.0);
    assert!(w["heartbeat_lag_ms"].is_i64(), "{w}");
    let recent = w["recent"].as_array().expect("recent heartbeats");
    assert!(!recent.is_empty() && recent.len() <= 20, "{w}");
    assert!(recent.iter().all(|h| h["at_ms"].is_i64() && h["gap_ms"].is_i64()), "{w}");
    assert_eq!(status["runs_finished"], 1);

    let shown = stdout_of(&weftctl_at(&cluster.grpc, &["run", &run.run_id]).await, "run");
    assert!(shown.contains("status    succeeded"), "{shown}");
    assert!(shown.contains("\nestimate     T "), "{shown}");
    assert!(shown.contains("\nremaining    "), "{shown}");
    let finish = shown.lines().find(|l| l.starts_with("finish       ")).expect("a predicted finish");
    assert!(finish.ends_with(" ago)"), "a finished run's predicted finish is past: {finish}");
    assert!(shown.contains("\ntask costs   1 declared, "), "{shown}");
    assert!(!shown.contains("compensated"), "{shown}");

    let json = stdout_of(&weftctl_at(&cluster.grpc, &["-o", "json", "run", &run.run_id]).await, "run -o json");
    let shown: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(shown["compensated"], false);
    let estimate = &shown["estimate"];
    assert_eq!(estimate["tasks_declared"], 1, "{estimate}");
    assert_eq!(estimate["tasks_observed"].as_u64().unwrap() + estimate["tasks_unknown"].as_u64().unwrap(), 1);
    assert!(estimate["scheduling_seconds"].as_f64().unwrap() > 0.0, "{estimate}");
    assert!(estimate["predicted_finish_ms"].as_i64().unwrap() > 0, "{estimate}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_refreshes_shows_liveness_changes_and_stops_on_ctrl_c() {
    let mut cluster = Cluster::start(&[]).await;
    let mut top = LiveTop::start(&cluster.grpc, "200ms");
    top.until("a first snapshot", |seen| seen.contains("none since top started")).await;
    assert!(top.seen.contains("no workers"), "{}", top.seen);
    cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    top.until("the new worker and its join", |seen| {
        seen.lines().any(|l| l.starts_with("worker-0  ") && l.contains(" 0/2 "))
            && seen.lines().any(|l| l.contains("  worker worker-0 (") && l.contains("  live"))
    })
    .await;
    let count = snapshots(&top.seen);
    top.until("another snapshot", |seen| snapshots(seen) > count).await;
    // Snapshots are separated by a blank line.
    assert!(top.seen.contains("\n\nweftctl top  "), "{}", top.seen);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(top.child.id().unwrap() as i32), nix::sys::signal::SIGINT)
        .unwrap();
    let (code, stderr) = top.exit().await;
    assert_eq!(code, Some(0), "Ctrl-C ends top cleanly: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_exits_1_when_the_coordinator_goes_away() {
    let cluster = Cluster::start(&[]).await;
    let mut top = LiveTop::start(&cluster.grpc, "100ms");
    top.until("a first snapshot", |seen| snapshots(seen) >= 1).await;
    cluster.coordinator.signal(nix::sys::signal::Signal::SIGKILL);
    let (code, stderr) = top.exit().await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("lost the coordinator at http://{}", cluster.grpc)), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_top_show_a_penalized_worker_with_its_reason() {
    let mut cluster = Cluster::start(&["--heartbeat-interval", "200ms", "--lease-timeout", "5s"]).await;
    let w = cluster.add_worker(WorkerSpec { slots: 4, extra: &["--allow-shell"], ..Default::default() }).await;
    let id = cluster.worker_id(w);
    let client = cluster.client().await;
    let failing = spec(
        "name: broken\nsteps:\n  - { name: boom, kind: shell, retry: { max_attempts: 1 }, params: { argv: [sh, -c, 'exit 3'] } }\n",
    );
    let penalized = tokio::time::timeout(WAIT, async {
        loop {
            run_to_end(&client, &failing).await;
            let status = client.cluster_status().await.unwrap();
            let worker = status.workers.into_iter().find(|w| w.worker_id == id).expect("worker listed");
            if worker.penalized {
                return worker;
            }
        }
    })
    .await
    .expect("the worker is penalized for failing");
    let reason = penalized.penalty_reason.clone();
    assert!(!reason.is_empty(), "{penalized:?}");

    let table = stdout_of(&weftctl_at(&cluster.grpc, &["workers"]).await, "workers");
    assert!(table.lines().next().unwrap().ends_with("  FAILED  PENALTY"), "{table}");
    let cells = row(&table, "worker-0").join(" ");
    let failed = cells.strip_suffix(&reason).unwrap_or_else(|| panic!("the row ends with the reason: {table}"));
    assert!(failed.trim_end().ends_with('%'), "the failure rate comes before it: {table}");
    let json = stdout_of(&weftctl_at(&cluster.grpc, &["-o", "json", "workers"]).await, "workers -o json");
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    let w = &status["workers"][0];
    assert_eq!(w["penalized"], true, "{w}");
    assert!(w["penalty_reason"].as_str().is_some_and(|r| !r.is_empty()), "{w}");
    assert!(w["failure_rate"].as_f64().unwrap() >= 0.5, "{w}");
    assert!(!w["recent"].as_array().unwrap().is_empty(), "{w}");

    let top = stdout_of(&weftctl_at(&cluster.grpc, &["top", "--once"]).await, "top --once");
    assert!(top.contains("workers: 1 (1 live), 1 penalized"), "{top}");
    assert!(row(&top, "worker-0").join(" ").ends_with(&reason), "{top}");
}

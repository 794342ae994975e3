//! One message limit shared by every node: a fan-in whose inputs pass tonic's 4 MiB default
//! still runs (worker, coordinator and client all take `MAX_MESSAGE_BYTES`), one whose
//! inputs do not fit one message fails at dispatch with a clear reason and the worker's
//! session stays up.
use crate::support::*;
use weft_client::{RunSource, StartOptions, pb};
use weft_e2e::{Cluster, WorkerSpec};

/// Bytes of stdout each part of the fan-in prints (under `MAX_CAPTURE_BYTES`).
const PART_BYTES: usize = 480_000;

/// `parts` shell tasks printing PART_BYTES each, then `join`, which takes all their results.
fn fan_in(parts: usize) -> String {
    let mut yaml = String::from("name: fan-in\ntasks:\n");
    let script = format!("head -c {PART_BYTES} /dev/zero | tr '\\\\0' a");
    for i in 0..parts {
        yaml.push_str(&format!(
            "  - {{ name: part{i}, kind: shell, params: {{ argv: [sh, -c, \"{script}\"], max_output_bytes: {PART_BYTES} }} }}\n"
        ));
    }
    let deps: Vec<String> = (0..parts).map(|i| format!("part{i}")).collect();
    yaml.push_str(&format!("  - {{ name: join, kind: noop, depends_on: [{}] }}\n", deps.join(", ")));
    yaml
}

async fn shell_cluster() -> Cluster {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 4, extra: &["--allow-shell"], ..Default::default() }).await;
    cluster
}

/// The worker never lost its session (it logs each reconnect).
fn session_never_broke(cluster: &Cluster) {
    let log = std::fs::read_to_string(&cluster.workers[0].log).unwrap();
    assert!(!log.contains("reconnecting"), "the worker's session broke:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_in_of_more_than_4_mib_of_results_runs_and_its_view_is_read_whole() {
    let cluster = shell_cluster().await;
    let client = cluster.client().await;
    // 10 x 480 KB: the join's assignment, and the run's view, are 4.8 MB.
    let run = run_to_end(&client, &spec(&fan_in(10))).await;
    assert_succeeded(&run);
    let tasks = tasks(&run);
    let part: serde_json::Value = serde_json::from_str(&tasks["fan-in/part0"].result_json).unwrap();
    assert_eq!(part["stdout"].as_str().map(str::len), Some(PART_BYTES));
    session_never_broke(&cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_in_whose_inputs_do_not_fit_one_message_fails_at_dispatch_and_the_worker_carries_on() {
    let cluster = shell_cluster().await;
    let client = cluster.client().await;
    // 36 x 480 KB = 17.3 MB of inputs: more than one 16 MiB message carries. (The run's
    // whole view is as large, so it is followed by its events, which carry no results.)
    let started = client.start_run(RunSource::Inline(&spec(&fan_in(36))), StartOptions::default()).await.unwrap();
    let mut events = client.watch_run(started.run_id, 0).await.unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(weft_e2e::WAIT, async {
        while let Some(e) = events.next().await {
            let e = e.expect("event");
            let last = weft_client::is_final_event(e.kind);
            seen.push(e);
            if last {
                return;
            }
        }
        panic!("the watch ended before the run");
    })
    .await
    .expect("the run ends in time");
    let of_join = |kind: pb::EventKind| seen.iter().find(|e| e.task == "join" && e.kind == kind as i32);
    assert!(of_join(pb::EventKind::TaskAssigned).is_none(), "join was never sent");
    let failed = of_join(pb::EventKind::TaskFailed).expect("join failed");
    assert!(failed.detail.contains("inputs too large to send"), "{}", failed.detail);
    assert!(failed.detail.contains("16711680"), "names the limit: {}", failed.detail);
    assert_eq!(seen.last().unwrap().kind, pb::EventKind::RunFailed as i32);
    // The worker's session is intact: the next run goes through at once.
    assert_succeeded(&run_to_end(&client, &spec("name: after\nsteps:\n  - { name: a, kind: noop }\n")).await);
    session_never_broke(&cluster);
}

//! Priorities, spreading by load, routing by queue and kind.
use crate::support::*;
use weft_client::pb;
use weft_e2e::{Cluster, WorkerSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_slot_higher_priority_runs_first() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 1, ..Default::default() }).await;
    let client = cluster.client().await;
    let run = run_to_end(
        &client,
        &spec(
            r#"
name: prio
tasks:
  - { name: low, kind: sleep, params: { duration: 20ms }, priority: 1 }
  - { name: urgent, kind: sleep, params: { duration: 20ms }, priority: 100 }
  - { name: normal, kind: sleep, params: { duration: 20ms }, priority: 10 }
  - { name: lowest, kind: sleep, params: { duration: 20ms }, priority: -5 }
"#,
        ),
    )
    .await;
    assert_succeeded(&run);
    let mut order: Vec<(i64, String)> = tasks(&run).into_values().map(|t| (t.started_at_ms, t.name)).collect();
    order.sort();
    let names: Vec<&str> = order.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["urgent", "normal", "low", "lowest"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_spread_over_two_workers_by_load() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    let client = cluster.client().await;
    let run = run_to_end(
        &client,
        &spec(
            r#"
name: spread
tasks:
  - { name: a, kind: sleep, params: { duration: 300ms } }
  - { name: b, kind: sleep, params: { duration: 300ms } }
  - { name: c, kind: sleep, params: { duration: 300ms } }
  - { name: d, kind: sleep, params: { duration: 300ms } }
"#,
        ),
    )
    .await;
    assert_succeeded(&run);
    let t = tasks(&run);
    for i in 0..2 {
        let id = cluster.worker_id(i);
        let n = t.values().filter(|t| t.worker_id == id).count();
        assert_eq!(n, 2, "worker {i} ran {n} of 4 tasks");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_never_gets_a_kind_or_queue_it_does_not_serve() {
    let mut cluster = Cluster::start(&[]).await;
    let general =
        cluster.add_worker(WorkerSpec { slots: 4, queues: "default", kinds: Some("noop,sleep"), extra: &[] }).await;
    let billing = cluster.add_worker(WorkerSpec { slots: 4, queues: "billing", kinds: Some("noop"), extra: &[] }).await;
    let client = cluster.client().await;
    let run = run_to_end(
        &client,
        &spec(
            r#"
name: routing
tasks:
  - { name: nap1, kind: sleep, params: { duration: 10ms } }
  - { name: nap2, kind: sleep, params: { duration: 10ms } }
  - { name: plain1, kind: noop }
  - { name: plain2, kind: noop }
  - { name: bill1, kind: noop, queue: billing }
  - { name: bill2, kind: noop, queue: billing }
  - { name: bill3, kind: noop, queue: billing }
"#,
        ),
    )
    .await;
    assert_succeeded(&run);
    let (general, billing) = (cluster.worker_id(general), cluster.worker_id(billing));
    for t in tasks(&run).values() {
        if t.queue == "billing" {
            assert_eq!(t.worker_id, billing, "{} is on queue billing", t.name);
        } else {
            assert_eq!(t.worker_id, general, "{} ({}) must run on the general worker", t.name, t.kind);
        }
    }
    // A kind no worker serves waits in its queue rather than going to the wrong worker.
    let status = client.cluster_status().await.unwrap();
    assert!(status.workers.iter().all(|w| w.liveness == pb::WorkerLiveness::Live as i32));
}

//! Workers leaving on purpose: SIGTERM drains (finish what is held, take nothing new), and
//! work a worker cannot finish within its grace is handed back at once, never left to a lease.
use crate::support::*;
use weft_client::pb;
use weft_client::{RunSource, StartOptions};
use weft_e2e::{Cluster, WorkerSpec, await_line};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_worker_finishes_its_task_takes_nothing_new_and_exits_cleanly() {
    let mut cluster = Cluster::start(&["--lease-timeout", "30s"]).await;
    let mut log = cluster.coordinator.subscribe();
    let w = cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    let id = cluster.worker_id(w);
    let client = cluster.client().await;
    let spec = spec(
        "name: drain\nsteps:\n  - { name: first, kind: sleep, params: { duration: 1s } }\n  - { name: second, kind: noop }\n",
    );
    let started = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.unwrap();
    let mut sub = client.watch_run(started.run_id, 0).await.unwrap();
    while let Some(e) = sub.next().await {
        if e.unwrap().kind == pb::EventKind::TaskRunning as i32 {
            break;
        }
    }
    cluster.workers[w].signal(nix::sys::signal::Signal::SIGTERM);
    await_line(&mut log, &["draining", &id]).await;
    assert_eq!(cluster.workers[w].wait().await, Some(0), "a drained worker exits 0");
    // Its task finished; the next step was not given to a leaving worker: it waits for another.
    let run = client.get_run(started.run_id).await.unwrap();
    let t = tasks(&run);
    assert_eq!(t["drain/first"].state, pb::TaskState::Succeeded as i32);
    assert_eq!(t["drain/second"].state, pb::TaskState::Ready as i32);
    cluster.add_worker(WorkerSpec::default()).await;
    assert_succeeded(&wait(&client, started.run_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_not_finished_within_the_drain_grace_is_handed_back_not_left_to_the_lease() {
    // A lease far longer than the test: only a hand-back can make the task run elsewhere.
    let mut cluster = Cluster::start(&["--lease-timeout", "60s", "--disconnect-grace", "60s"]).await;
    let leaving =
        cluster.add_worker(WorkerSpec { slots: 1, extra: &["--drain-grace", "200ms"], ..Default::default() }).await;
    let client = cluster.client().await;
    let spec = spec("name: handback\nsteps:\n  - { name: long, kind: sleep, params: { duration: 30s } }\n");
    let started = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.unwrap();
    let mut sub = client.watch_run(started.run_id, 0).await.unwrap();
    while let Some(e) = sub.next().await {
        if e.unwrap().kind == pb::EventKind::TaskRunning as i32 {
            break;
        }
    }
    let staying = cluster.add_worker(WorkerSpec { slots: 1, ..Default::default() }).await;
    let staying_id = cluster.worker_id(staying);
    cluster.workers[leaving].signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(cluster.workers[leaving].wait().await, Some(0));
    // The attempt comes back and goes to the other worker well before any lease would end.
    let moved = tokio::time::timeout(weft_e2e::WAIT, async {
        while let Some(e) = sub.next().await {
            let e = e.unwrap();
            if e.kind == pb::EventKind::TaskAssigned as i32 && e.attempt == 2 {
                return e;
            }
        }
        panic!("stream ended");
    })
    .await
    .expect("re-assigned in time");
    assert_eq!(moved.worker_id, staying_id);
    client.cancel_run(started.run_id, "done checking").await.unwrap();
}

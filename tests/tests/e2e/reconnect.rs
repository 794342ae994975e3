//! The disconnect grace (issue 14): a worker whose connection breaks while it is alive
//! redials within the grace and keeps the attempt it runs; a worker whose process died has
//! its attempt running elsewhere within the grace, not the whole lease.
use crate::support::*;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use weft_client::{RunSource, StartOptions, pb};
use weft_e2e::{Cluster, Proc, WAIT, WorkerSpec, await_line, binary};

/// A TCP proxy whose every open connection is dropped (both sides closed) each time `cut`
/// changes: to both ends it looks like the network path broke.
async fn cuttable_proxy(listener: TcpListener, to: String, cut: watch::Receiver<u32>) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let (to, mut cut) = (to.clone(), cut.clone());
        cut.mark_unchanged();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(&to).await else { return };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

fn sleeper(duration: &str) -> weft_client::ProcessSpec {
    spec(&format!("name: sleeper\nsteps:\n  - {{ name: nap, kind: sleep, params: {{ duration: {duration} }} }}\n"))
}

/// Waits on the run's events (replayed from the start) until its task runs as attempt
/// `attempt`; returns the worker running it.
async fn runs_as(events: &mut weft_client::Subscription<pb::RunEvent>, attempt: u32) -> String {
    tokio::time::timeout(WAIT, async {
        while let Some(event) = events.next().await {
            let event = event.expect("event");
            if event.kind == pb::EventKind::TaskRunning as i32 && event.attempt == attempt {
                return event.worker_id;
            }
        }
        panic!("the run's events ended before attempt {attempt} ran");
    })
    .await
    .expect("the attempt runs in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_worker_whose_connection_breaks_redials_within_the_grace_and_keeps_its_attempt() {
    let cluster = Cluster::start(&[]).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let (cut, cuts) = watch::channel(0u32);
    tokio::spawn(cuttable_proxy(listener, cluster.grpc.clone(), cuts));
    let args: Vec<String> =
        ["--coordinator", &format!("http://{proxy}"), "--name", "behind-proxy", "--slots", "1", "--log-format", "json"]
            .map(String::from)
            .into();
    let worker = Proc::start("worker-behind-proxy", &binary("weft-worker"), &args, cluster.dir.path()).await;
    let worker_id = worker.ready["worker_id"].as_str().unwrap().to_string();
    let client = cluster.client().await;
    let run = client.start_run(RunSource::Inline(&sleeper("1500ms")), StartOptions::default()).await.unwrap().run_id;
    let mut events = client.watch_run(run, 1).await.unwrap();
    assert_eq!(runs_as(&mut events, 1).await, worker_id);

    let mut log = worker.subscribe();
    cut.send_modify(|n| *n += 1);
    await_line(&mut log, &["coordinator unreachable; reconnecting"]).await;
    await_line(&mut log, &["registered", r#""running":1"#]).await;

    let done = client.wait_run(run).await.unwrap();
    assert_eq!(done.status, pb::RunStatus::Succeeded as i32, "{done:?}");
    let task = &done.workflows[0].tasks[0];
    assert_eq!((task.worker_id.as_str(), task.attempt), (worker_id.as_str(), 1), "kept, not run again: {task:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_attempt_runs_elsewhere_within_the_grace_not_the_lease() {
    let mut cluster = Cluster::start(&[]).await;
    let first = cluster.add_worker(WorkerSpec { slots: 1, ..Default::default() }).await;
    let client = cluster.client().await;
    let run = client.start_run(RunSource::Inline(&sleeper("3s")), StartOptions::default()).await.unwrap().run_id;
    let mut events = client.watch_run(run, 1).await.unwrap();
    let holder = runs_as(&mut events, 1).await;
    assert_eq!(holder, cluster.worker_id(first));
    cluster.add_worker(WorkerSpec { slots: 1, ..Default::default() }).await;
    let killed = Instant::now();
    cluster.kill_worker(first).await;
    let moved_to = runs_as(&mut events, 2).await;
    let took = killed.elapsed();
    eprintln!("SIGKILL to the attempt running elsewhere: {took:?}");
    assert_ne!(moved_to, holder);
    // The grace (400 ms) plus polling and a debug build's dispatch; the lease is 5 s.
    assert!(took < Duration::from_secs(2), "took {took:?}: the lease, not the grace, decided");
}

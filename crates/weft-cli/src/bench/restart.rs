//! Restart with many unfinished tasks: a coordinator on a data directory accepts `tasks`
//! no-op tasks with no worker to run them; it is SIGKILLed and a new coordinator started
//! on the same directory. Measured from the new process's spawn: its ready line, its first
//! answered RPC (GetClusterStatus, which also says how many tasks came back), and the
//! first TASK_ASSIGNED a watcher sees once a worker is connected (the worker is started
//! right after the ready line; its own start-up is reported too).
//!
//! Reloading is what is measured, so the store must be durable: the scenario fails, before
//! filling it, unless the coordinator reports `durability: full`, and again if the restarted
//! one does not, or did not bring back every queued task.
use super::cluster::Launcher;
use super::report::Trial;
use super::store::Store;
use super::workload::{queued, submit_bulk};
use anyhow::{Context as _, bail};
use std::time::{Duration, Instant};
use weft_client::pb;

/// StartRun calls in flight while filling the store.
const CONCURRENCY: usize = 4;
/// How long the restarted coordinator may take to answer and to dispatch.
const LIMIT: Duration = Duration::from_secs(120);

pub async fn restart(launcher: &Launcher, tasks: usize, per_run: usize) -> anyhow::Result<Trial> {
    let mut cluster = launcher.start(0).await?;
    let result = async {
        let client = cluster.client().await?;
        cluster.store().await?.require_durable("the restart scenario")?;
        submit_bulk(&client, tasks, per_run, CONCURRENCY).await?;
        let depth = queued(&client).await?;
        if depth != tasks as u64 {
            bail!("{depth} tasks queued after submitting {tasks} with no worker");
        }
        drop(client);
        cluster.restart_coordinator().await?;
        let (spawned, ready) = cluster.coordinator_times().context("the restarted coordinator")?;
        let secs = |t: Instant| (t - spawned).as_secs_f64();

        let client = cluster.client().await?;
        let status = tokio::time::timeout(LIMIT, client.cluster_status())
            .await
            .map_err(|_| anyhow::anyhow!("the restarted coordinator did not answer within {LIMIT:?}"))??;
        let answered = Instant::now();
        let reloaded: u64 = status.queues.iter().map(|q| u64::from(q.depth)).sum();
        let store = status.store.map_or(Store::Unreported, Store::Reported);
        store.require_durable("the restarted coordinator")?;
        if reloaded != depth {
            bail!("the restarted coordinator reloaded {reloaded} of the {depth} queued tasks from its durable store");
        }

        let mut trial = Trial::default();
        trial.metric("spawn_to_ready_s", secs(ready), "s").metric("spawn_to_first_rpc_s", secs(answered), "s");
        let mut events = client.watch_events(None).await?;
        let worker_id = cluster.add_worker().await?;
        let first_dispatch = tokio::time::timeout(LIMIT, async {
            while let Some(event) = events.next().await {
                if let Some(pb::cluster_event::Event::Run(e)) = event?.event
                    && e.kind == pb::EventKind::TaskAssigned as i32
                {
                    return anyhow::Ok(Instant::now());
                }
            }
            bail!("the event stream ended before a task was assigned")
        })
        .await
        .map_err(|_| anyhow::anyhow!("no task was assigned within {LIMIT:?} of the worker's start"))??;
        trial.metric("spawn_to_first_dispatch_s", secs(first_dispatch), "s");
        if let Some(d) = cluster.worker_spawn_to_ready(&worker_id) {
            trial.metric("worker_spawn_to_ready_s", d.as_secs_f64(), "s");
        }
        trial.fact("tasks_before", depth).fact("tasks_reloaded", reloaded);
        trial.store = Some(store);
        Ok(trial)
    }
    .await;
    cluster.stop().await;
    result
}

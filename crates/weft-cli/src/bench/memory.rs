//! Memory with many queued tasks: a coordinator with no worker accepts `tasks` no-op tasks
//! (runs of `per_run`), then its resident memory is read from /proc. Bytes per task are
//! the growth over the idle coordinator's RSS, divided by the tasks.
use super::cluster::{Launcher, dir_bytes};
use super::report::Trial;
use super::workload::{queued, submit_bulk};
use anyhow::{Context as _, bail};
use std::time::Instant;

const MIB: f64 = 1024.0 * 1024.0;
/// StartRun calls in flight while filling the queue.
const CONCURRENCY: usize = 4;

pub async fn memory(launcher: &Launcher, tasks: usize, per_run: usize) -> anyhow::Result<Trial> {
    let mut cluster = launcher.start(0).await?;
    let result = async {
        let client = cluster.client().await?;
        let store = cluster.store().await?;
        let idle = cluster.coordinator_memory().context("reading the coordinator's /proc/PID/status")?;
        let begun = Instant::now();
        submit_bulk(&client, tasks, per_run, CONCURRENCY).await?;
        let submit = begun.elapsed().as_secs_f64();
        // StartRun answers once the run is recorded, so every task is queued by now.
        let depth = queued(&client).await?;
        if depth != tasks as u64 {
            bail!("{depth} tasks queued after submitting {tasks} with no worker");
        }
        let full = cluster.coordinator_memory().context("reading the coordinator's /proc/PID/status")?;
        let mut trial = Trial::default();
        trial
            .metric("rss_mib", full.rss as f64 / MIB, "MiB")
            .metric("peak_rss_mib", full.peak as f64 / MIB, "MiB")
            .metric("bytes_per_task", full.rss.saturating_sub(idle.rss) as f64 / tasks as f64, "B")
            .metric("idle_rss_mib", idle.rss as f64 / MIB, "MiB")
            .metric("submit_s", submit, "s")
            .metric("submit_tasks_per_s", tasks as f64 / submit, "tasks/s");
        if let Some(dir) = store.directory() {
            let disk = dir_bytes(&dir);
            trial.metric("disk_mib", disk as f64 / MIB, "MiB").metric(
                "disk_bytes_per_task",
                disk as f64 / tasks as f64,
                "B",
            );
        }
        trial.fact("queued", depth);
        trial.store = Some(store);
        Ok(trial)
    }
    .await;
    cluster.stop().await;
    result
}

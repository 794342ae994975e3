//! How cost grows with work: four axes, each a few points, every point on a fresh cluster
//! (so one point's leftovers never weigh on the next).
//!
//! - `scale-tasks`: S1 (runs of `--s1-run-size` no-op tasks) as the tasks grow.
//! - `scale-runs`: s1-runs (one-task runs, each watched) as the runs grow.
//! - `scale-workers`: sleep tasks of [`SLEEP_MS`] on more and more one-slot workers, a fixed
//!   number of tasks per worker, so that dispatch, not execution, is what runs out.
//! - `scale-history`: the store's size and a restart's time as the finished history the
//!   coordinator retains grows.
//!
//! A point's metrics are named `METRIC@X` (`tasks_per_s@20000`): one table row each, and
//! [`super::chart`] draws each axis from them.
use super::Session;
use super::cluster::{Cluster, Launcher, dir_bytes};
use super::report::Trial;
use super::throughput::{all_at_once, s1};
use super::workload::{check, follow, independent, independent_sleeps, split, start};
use anyhow::{Context as _, bail};
use futures::StreamExt;
use std::future::Future;
use std::time::{Duration, Instant};
use weft_client::Client;

const MIB: f64 = 1024.0 * 1024.0;
/// The scale-workers tasks' sleep: long beside dispatch (~100 µs), short enough that 32
/// workers could finish 3,200 a second.
pub const SLEEP_MS: u64 = 10;
/// Tasks per run when filling the history (`scale-history`), and runs in flight at once.
const HISTORY_RUN_SIZE: usize = 10_000;
const HISTORY_CONCURRENCY: usize = 2;
/// How long a restarted coordinator may take to answer and to finish its first run.
const RESTART_LIMIT: Duration = Duration::from_secs(120);

/// The points of every axis.
#[derive(Clone, Debug)]
pub struct Points {
    pub tasks: Vec<usize>,
    pub runs: Vec<usize>,
    pub workers: Vec<u32>,
    /// scale-workers: tasks per worker at every point.
    pub tasks_per_worker: usize,
    pub history: Vec<usize>,
}

/// A metric's name at one point of an axis: `tasks_per_s@20000`.
pub fn at(metric: &str, x: impl std::fmt::Display) -> String {
    format!("{metric}@{x}")
}

/// The metric and the point of a name made by [`at`].
pub fn split_point(name: &str) -> Option<(&str, u64)> {
    let (metric, x) = name.rsplit_once('@')?;
    Some((metric, x.parse().ok()?))
}

/// Runs `work` on a fresh cluster of `workers` one-slot workers: its trial, with the
/// session's CPU and peak memory added, and how much the coordinator's resident memory grew
/// during the work.
async fn on_fresh_cluster<F, Fut>(launcher: &Launcher, workers: u32, work: F) -> anyhow::Result<(Trial, Option<u64>)>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<Trial>>,
{
    let mut session = Session::start(launcher, workers).await?;
    let rss_before = session.coordinator_rss();
    let result = work(session.client()).await;
    let growth = rss_before.zip(session.coordinator_rss()).map(|(before, after)| after.saturating_sub(before));
    Ok((session.finish(result, true).await?, growth))
}

/// A metric of a point's own trial.
fn value(trial: &Trial, name: &str) -> Option<f64> {
    trial.metrics.iter().find(|m| m.name == name).map(|m| m.value)
}

/// Adds one point's throughput, coordinator CPU per task and peak memory to `trial`.
fn record(trial: &mut Trial, x: usize, tasks: usize, point: &Trial) {
    if let Some(v) = value(point, "tasks_per_s") {
        trial.metric(at("tasks_per_s", x), v, "tasks/s");
    }
    if let Some(cpu) = value(point, "coordinator_cpu_s") {
        trial.metric(at("coordinator_cpu_us_per_task", x), cpu * 1e6 / tasks as f64, "µs");
    }
    if let Some(peak) = value(point, "coordinator_peak_rss_mib") {
        trial.metric(at("coordinator_peak_rss_mib", x), peak, "MiB");
    }
    if trial.store.is_none() {
        trial.store = point.store.clone();
    }
}

/// scale-tasks: S1 at each size, runs of `per_run` tasks.
pub async fn tasks(launcher: &Launcher, points: &[usize], per_run: usize) -> anyhow::Result<Trial> {
    let mut trial = Trial::default();
    for &n in points {
        let (point, _) = on_fresh_cluster(launcher, 2, |client| async move { s1(&client, n, per_run).await })
            .await
            .with_context(|| format!("{n} tasks"))?;
        record(&mut trial, n, n, &point);
    }
    Ok(trial)
}

/// scale-runs: s1-runs at each size, plus the coordinator's memory per finished run held.
pub async fn runs(launcher: &Launcher, points: &[usize]) -> anyhow::Result<Trial> {
    let mut trial = Trial::default();
    for &n in points {
        let (point, growth) = on_fresh_cluster(launcher, 2, |client| async move { s1(&client, n, 1).await })
            .await
            .with_context(|| format!("{n} runs"))?;
        record(&mut trial, n, n, &point);
        if let Some(growth) = growth {
            trial.metric(at("coordinator_bytes_per_run", n), growth as f64 / n as f64, "B");
        }
    }
    Ok(trial)
}

/// scale-workers: `tasks_per_worker` sleep tasks per worker, on each number of workers.
pub async fn workers(launcher: &Launcher, points: &[u32], tasks_per_worker: usize) -> anyhow::Result<Trial> {
    let mut trial = Trial::default();
    for &workers in points {
        let tasks = tasks_per_worker * workers as usize;
        let specs = split(tasks, 1_000)
            .into_iter()
            .enumerate()
            .map(|(i, n)| (independent_sleeps(&format!("bench-scale-workers-{i}"), n, SLEEP_MS), n))
            .collect();
        let (point, _) = on_fresh_cluster(launcher, workers, |client| async move { all_at_once(&client, specs).await })
            .await
            .with_context(|| format!("{workers} workers"))?;
        record(&mut trial, workers as usize, tasks, &point);
        if let Some(rate) = value(&point, "tasks_per_s") {
            // Each slot finishes at most 1000 / SLEEP_MS tasks a second.
            let ideal = f64::from(workers) * 1_000.0 / SLEEP_MS as f64;
            trial.metric(at("of_ideal_pct", workers), 100.0 * rate / ideal, "%");
        }
    }
    Ok(trial)
}

/// scale-history: at each size, that many no-op tasks are run to their end (runs of
/// 10,000, two at a time) and kept by retention; then the store's size, the coordinator's
/// memory, and a restart: spawn to ready, to its first answer (which must count every
/// finished run), and to the end of a new one-task run on a new worker.
pub async fn history(launcher: &Launcher, points: &[usize]) -> anyhow::Result<Trial> {
    let mut trial = Trial::default();
    for &n in points {
        let mut cluster = launcher.start(2).await?;
        let result = history_point(&mut cluster, n, &mut trial).await.with_context(|| format!("{n} finished tasks"));
        cluster.stop().await;
        result?;
    }
    Ok(trial)
}

async fn history_point(cluster: &mut Cluster, n: usize, trial: &mut Trial) -> anyhow::Result<()> {
    let client = cluster.client().await?;
    let store = cluster.store().await?;
    store.require_durable("scale-history (it restarts the coordinator)")?;
    let sizes = split(n, HISTORY_RUN_SIZE);
    let runs = sizes.len() as u64;
    let begun = Instant::now();
    let mut done = futures::stream::iter(sizes.into_iter().enumerate())
        .map(|(i, size)| {
            let client = client.clone();
            async move {
                let run_id = start(&client, &independent(&format!("bench-history-{i}"), size)).await?;
                check(&follow(&client, run_id, |_, _| {}).await?, run_id, size)
            }
        })
        .buffer_unordered(HISTORY_CONCURRENCY);
    while let Some(finished) = done.next().await {
        finished?;
    }
    drop(done);
    trial.metric(at("fill_tasks_per_s", n), n as f64 / begun.elapsed().as_secs_f64(), "tasks/s");
    if let Some(dir) = store.directory() {
        let bytes = dir_bytes(&dir);
        trial.metric(at("store_mib", n), bytes as f64 / MIB, "MiB");
        trial.metric(at("store_bytes_per_task", n), bytes as f64 / n as f64, "B");
    }
    if let Some(rss) = cluster.coordinator_rss() {
        trial.metric(at("coordinator_rss_mib", n), rss as f64 / MIB, "MiB");
    }
    drop(client);

    cluster.restart_coordinator().await?;
    let (spawned, ready) = cluster.coordinator_times().context("the restarted coordinator")?;
    let client = cluster.client().await?;
    let status = tokio::time::timeout(RESTART_LIMIT, client.cluster_status())
        .await
        .map_err(|_| anyhow::anyhow!("the restarted coordinator did not answer within {RESTART_LIMIT:?}"))??;
    let answered = Instant::now();
    if u64::from(status.runs_finished) != runs {
        bail!("the restarted coordinator holds {} finished runs, not the {runs} it finished", status.runs_finished);
    }
    cluster.add_worker().await?;
    let run_id = start(&client, &independent("bench-history-after", 1)).await?;
    let followed = tokio::time::timeout(RESTART_LIMIT, follow(&client, run_id, |_, _| {}))
        .await
        .map_err(|_| anyhow::anyhow!("a run on the restarted coordinator did not end within {RESTART_LIMIT:?}"))??;
    check(&followed, run_id, 1)?;
    let secs = |t: Instant| (t - spawned).as_secs_f64();
    trial
        .metric(at("restart_to_ready_s", n), secs(ready), "s")
        .metric(at("restart_to_first_rpc_s", n), secs(answered), "s")
        .metric(at("restart_to_first_run_done_s", n), secs(followed.ended), "s");
    if let Some(rss) = cluster.coordinator_rss() {
        trial.metric(at("restarted_rss_mib", n), rss as f64 / MIB, "MiB");
    }
    trial.store.get_or_insert(store);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_name_splits_back() {
        assert_eq!(at("tasks_per_s", 20_000), "tasks_per_s@20000");
        assert_eq!(split_point("tasks_per_s@20000"), Some(("tasks_per_s", 20_000)));
        assert_eq!(split_point("of_ideal_pct@32"), Some(("of_ideal_pct", 32)));
        assert_eq!(split_point("tasks_per_s"), None);
        assert_eq!(split_point("tasks_per_s@many"), None);
    }
}

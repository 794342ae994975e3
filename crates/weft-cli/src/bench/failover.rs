//! S5: a worker dies under a running task. A `sleep` task starts; `kill_after` after its
//! TASK_RUNNING event the worker running it is SIGKILLed (its pid is known: the bench
//! started it and read its worker id from its ready line); the other worker is alive and
//! idle. Measured from the kill: the task's reassignment, its re-execution start
//! (TASK_RUNNING of the next attempt) and its result.
use super::cluster::Launcher;
use super::report::Trial;
use super::workload::{Cursor, sleeper, start};
use anyhow::{Context as _, bail};
use std::time::{Duration, Instant};
use weft_client::{is_final_event, pb};

/// The coordinator's defaults, which the started cluster keeps.
pub const LEASE_TIMEOUT: &str = "5s";
pub const HEARTBEAT_INTERVAL: &str = "1s";

pub async fn s5(launcher: &Launcher, sleep: Duration, kill_after: Duration) -> anyhow::Result<Trial> {
    let mut cluster = launcher.start(2).await?;
    let result = measure(&mut cluster, sleep, kill_after).await;
    cluster.stop().await;
    result
}

async fn measure(
    cluster: &mut super::cluster::Cluster,
    sleep: Duration,
    kill_after: Duration,
) -> anyhow::Result<Trial> {
    let client = cluster.client().await?;
    let store = cluster.store().await?;
    let run_id = start(&client, &sleeper("bench-s5", sleep.as_millis() as u64)).await?;
    let mut events = Cursor::new(&client, run_id);
    let kind = |e: &pb::RunEvent, k: pb::EventKind| e.kind == k as i32;

    // Attempt 1 starts: note the worker.
    let (victim, _) = loop {
        let (event, at) = events.next().await?.context("the run ended before its task ran")?;
        if kind(&event, pb::EventKind::TaskRunning) {
            break (event.worker_id, at);
        }
        if is_final_event(event.kind) {
            bail!("run {run_id} ended before its task ran");
        }
    };
    // Part of the scenario, not a stand-in for an event: the task has been running this long.
    tokio::time::sleep(kill_after).await;
    let killed = Instant::now();
    cluster.kill_worker(&victim).await?;

    let (mut reassigned, mut rerun, mut result) = (None, None, None);
    let mut attempts = 1;
    let mut rerun_worker = String::new();
    let mut outcome = pb::EventKind::Unspecified;
    while let Some((event, at)) = events.next().await? {
        attempts = attempts.max(event.attempt);
        if event.attempt >= 2 && kind(&event, pb::EventKind::TaskAssigned) && reassigned.is_none() {
            reassigned = Some(at);
        }
        if event.attempt >= 2 && kind(&event, pb::EventKind::TaskRunning) && rerun.is_none() {
            rerun = Some(at);
            rerun_worker = event.worker_id.clone();
        }
        if kind(&event, pb::EventKind::TaskSucceeded) {
            result = Some(at);
        }
        if is_final_event(event.kind) {
            outcome = pb::EventKind::try_from(event.kind).unwrap_or(pb::EventKind::Unspecified);
        }
    }
    let secs = |t: Option<Instant>| t.map(|t| (t - killed).as_secs_f64());
    let mut trial = Trial::default();
    if let Some(s) = secs(reassigned) {
        trial.metric("kill_to_reassign_s", s, "s");
    }
    if let Some(s) = secs(rerun) {
        trial.metric("kill_to_rerun_s", s, "s");
    }
    if let Some(s) = secs(result) {
        trial.metric("kill_to_result_s", s, "s");
    }
    let outcome = match outcome {
        pb::EventKind::RunSucceeded => "succeeded",
        pb::EventKind::RunFailed => "failed",
        pb::EventKind::RunCancelled => "cancelled",
        _ => "unknown",
    };
    trial
        .fact("outcome", outcome)
        .fact("attempts", attempts)
        .fact("rerun_on_the_other_worker", !rerun_worker.is_empty() && rerun_worker != victim);
    trial.store = Some(store);
    Ok(trial)
}

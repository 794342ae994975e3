//! S1: independent no-op tasks submitted as fast as the client API allows, until every
//! result has been seen.
//!
//! Batching: the tasks go in as runs of `per_run` tasks each (one workflow of independent
//! tasks per run). Every run's StartRun is issued at once, concurrently over the one HTTP/2
//! connection of the client; as soon as a run is accepted it is watched (WatchRun) to its
//! final event. The clock starts before the first StartRun and stops at the last final
//! event seen.
use super::report::Trial;
use super::workload::{check, follow, independent, split, start};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;
use weft_client::{Client, ProcessSpec};

pub async fn s1(client: &Client, tasks: usize, per_run: usize) -> anyhow::Result<Trial> {
    let sizes = split(tasks, per_run);
    // Specs are built before the clock starts: that is the caller's data, not the API.
    let specs = sizes.iter().enumerate().map(|(i, n)| (independent(&format!("bench-s1-{i}"), *n), *n)).collect();
    all_at_once(client, specs).await
}

/// Starts every spec at once and watches each run to its end; `specs` pairs each spec with
/// its number of tasks (the results to expect). Reports tasks/s over all of them.
pub async fn all_at_once(client: &Client, specs: Vec<(ProcessSpec, usize)>) -> anyhow::Result<Trial> {
    let tasks: usize = specs.iter().map(|(_, n)| n).sum();
    let specs: Vec<_> = specs.into_iter().map(|(spec, n)| (Arc::new(spec), n)).collect();
    let begun = Instant::now();
    let mut runs = JoinSet::new();
    for (spec, n) in specs {
        let client = client.clone();
        runs.spawn(async move {
            let run_id = start(&client, &spec).await?;
            let accepted = Instant::now();
            let followed = follow(&client, run_id, |_, _| {}).await?;
            check(&followed, run_id, n)?;
            anyhow::Ok((accepted, followed))
        });
    }
    let mut last_accepted = begun;
    let mut last_result = begun;
    let mut resubscribes = 0;
    while let Some(joined) = runs.join_next().await {
        let (accepted, followed) = joined??;
        last_accepted = last_accepted.max(accepted);
        last_result = last_result.max(followed.ended);
        resubscribes += followed.resubscribes;
    }
    let wall = (last_result - begun).as_secs_f64();
    let mut trial = Trial::default();
    trial
        .metric("tasks_per_s", tasks as f64 / wall, "tasks/s")
        .metric("wall_s", wall, "s")
        .metric("submit_s", (last_accepted - begun).as_secs_f64(), "s")
        .fact("watch_resubscribes", resubscribes);
    Ok(trial)
}

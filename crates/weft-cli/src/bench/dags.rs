//! S3 (many short chains at once) and S4 (one wide fan-out and join): how fast the
//! coordinator moves work along dependencies.
use super::report::Trial;
use super::workload::{chain, check, fan_out, follow, start};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;
use weft_client::Client;

/// S3: `chains` runs, each one workflow that is a chain of `len` no-op tasks, all started
/// at once (concurrent StartRun calls), each watched to its end.
pub async fn s3(client: &Client, chains: usize, len: usize) -> anyhow::Result<Trial> {
    let spec = Arc::new(chain("bench-s3", len));
    let begun = Instant::now();
    let mut runs = JoinSet::new();
    for _ in 0..chains {
        let (client, spec) = (client.clone(), spec.clone());
        runs.spawn(async move {
            let run_id = start(&client, &spec).await?;
            let followed = follow(&client, run_id, |_, _| {}).await?;
            check(&followed, run_id, len)?;
            anyhow::Ok(followed.ended)
        });
    }
    let mut last = begun;
    while let Some(ended) = runs.join_next().await {
        last = last.max(ended??);
    }
    let wall = (last - begun).as_secs_f64();
    let mut trial = Trial::default();
    trial.metric("wall_s", wall, "s").metric("tasks_per_s", (chains * len) as f64 / wall, "tasks/s");
    Ok(trial)
}

/// S4: one run of one workflow: `first` → `width` parallel tasks → `join`.
pub async fn s4(client: &Client, width: usize) -> anyhow::Result<Trial> {
    let spec = fan_out("bench-s4", width);
    let begun = Instant::now();
    let run_id = start(client, &spec).await?;
    let followed = follow(client, run_id, |_, _| {}).await?;
    check(&followed, run_id, width + 2)?;
    let wall = (followed.ended - begun).as_secs_f64();
    let mut trial = Trial::default();
    trial.metric("wall_s", wall, "s").metric("tasks_per_s", (width + 2) as f64 / wall, "tasks/s");
    Ok(trial)
}

//! S3 (many short chains at once) and S4 (one wide fan-out and join): how fast the
//! coordinator moves work along dependencies.
use super::report::Trial;
use super::workload::{chain, check, fan_out, follow, for_each_fan_out, start};
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

/// `fan-out`: S4's shape twice, in the same session: `width` no-op tasks declared in the
/// spec, then the same tasks as the instances of one `for_each` task over the list of
/// `width` elements the first task returns. What a dynamic fan-out costs beside a static one.
pub async fn dynamic_fan_out(client: &Client, width: usize) -> anyhow::Result<Trial> {
    let spec = fan_out("bench-fan-out-static", width);
    let begun = Instant::now();
    let run_id = start(client, &spec).await?;
    let followed = follow(client, run_id, |_, _| {}).await?;
    check(&followed, run_id, width + 2)?;
    let declared = (followed.ended - begun).as_secs_f64();

    let spec = for_each_fan_out("bench-fan-out-dynamic", width);
    let begun = Instant::now();
    let run_id = start(client, &spec).await?;
    let followed = follow(client, run_id, |_, _| {}).await?;
    // first, the instances, the for_each task itself, join.
    check(&followed, run_id, width + 3)?;
    let dynamic = (followed.ended - begun).as_secs_f64();
    let mut trial = Trial::default();
    trial.metric("declared_wall_s", declared, "s").metric("dynamic_wall_s", dynamic, "s").metric(
        "dynamic_over_declared_pct",
        (dynamic / declared - 1.0) * 100.0,
        "%",
    );
    Ok(trial)
}

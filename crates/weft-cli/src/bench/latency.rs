//! S2: sequential round trips of a one-task run: StartRun, then WatchRun until the run's
//! final event, then the next. Each trip is timed on the client's clock.
use super::report::Trial;
use super::workload::{check, follow, independent, start};
use std::time::Instant;
use weft_client::Client;

pub async fn s2(client: &Client, trips: usize, warmup: usize) -> anyhow::Result<Trial> {
    let spec = independent("bench-s2", 1);
    for _ in 0..warmup {
        let run_id = start(client, &spec).await?;
        check(&follow(client, run_id, |_, _| {}).await?, run_id, 1)?;
    }
    let mut trips_ms = Vec::with_capacity(trips);
    let mut starts_ms = Vec::with_capacity(trips);
    for _ in 0..trips {
        let begun = Instant::now();
        let run_id = start(client, &spec).await?;
        starts_ms.push(begun.elapsed().as_secs_f64() * 1e3);
        let followed = follow(client, run_id, |_, _| {}).await?;
        trips_ms.push((followed.ended - begun).as_secs_f64() * 1e3);
        check(&followed, run_id, 1)?;
    }
    let mut trial = Trial::default();
    trial
        .metric("p50_ms", percentile(&mut trips_ms, 0.50), "ms")
        .metric("p99_ms", percentile(&mut trips_ms, 0.99), "ms")
        .metric("max_ms", percentile(&mut trips_ms, 1.0), "ms")
        .metric("mean_ms", trips_ms.iter().sum::<f64>() / trips_ms.len().max(1) as f64, "ms")
        .metric("start_run_p50_ms", percentile(&mut starts_ms, 0.50), "ms");
    Ok(trial)
}

/// Nearest-rank percentile (`p` in 0..=1) of the values, which it sorts; NaN if empty.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = (p * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.50), 500.0);
        assert_eq!(percentile(&mut v, 0.99), 990.0);
        assert_eq!(percentile(&mut v, 1.0), 1000.0);
        assert_eq!(percentile(&mut [7.0], 0.99), 7.0);
        assert!(percentile(&mut [], 0.5).is_nan());
    }
}

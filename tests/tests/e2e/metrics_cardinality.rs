//! /metrics keeps a bounded number of series however many queues a run names, and drops
//! the series of queues and workers that are gone.
use crate::support::*;
use weft_client::{RunSource, StartOptions};
use weft_e2e::{Cluster, WorkerSpec, metric_value};

/// Samples of `name` in Prometheus text.
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}{{");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_naming_5000_queues_leaves_a_bounded_number_of_series_and_none_once_it_is_gone() {
    let mut cluster = Cluster::start(&[]).await;
    // Serves `default` only: its heartbeats keep the gauges fresh.
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    let mut yaml = String::from("name: many-queues\ntasks:\n");
    for i in 0..5_000 {
        yaml.push_str(&format!("  - {{ name: t{i}, kind: noop, queue: q{i} }}\n"));
    }
    let started = client.start_run(RunSource::Inline(&spec(&yaml)), StartOptions::default()).await.unwrap();

    // While the tasks wait: 1,000 queues with a label of their own, the rest under `other`.
    let deadline = tokio::time::Instant::now() + weft_e2e::WAIT;
    let text = loop {
        let text = cluster.metrics_text().await;
        if metric_value(&text, r#"weft_queue_depth{queue="other",priority="other"}"#).is_some() {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "no `other` queue series in time:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let depth = samples(&text, "weft_queue_depth");
    assert_eq!(depth.len(), 1_001, "1,000 queue series with a label (`default` among them) and `other`");
    let total: f64 = depth.iter().filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();
    assert_eq!(total, 5_000.0, "every waiting task is counted once");
    assert_eq!(metric_value(&text, r#"weft_queue_depth{queue="other",priority="other"}"#), Some(4_001.0));

    // Once the run is gone, so are its queues' series.
    client.cancel_run(started.run_id, "done").await.unwrap();
    let deadline = tokio::time::Instant::now() + weft_e2e::WAIT;
    loop {
        let text = cluster.metrics_text().await;
        let depth = samples(&text, "weft_queue_depth");
        if depth.len() == 1 {
            assert!(depth[0].starts_with(r#"weft_queue_depth{queue="default",priority="0"} 0"#), "{depth:?}");
            assert_eq!(samples(&text, "weft_worker_load").len(), 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} queue series left after the run:\n{text}", depth.len());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

//! Helpers shared by the end-to-end tests.
use std::collections::HashMap;
use weft_client::pb;
use weft_client::{Client, ProcessSpec, RunId, RunSource, SpecFormat, StartOptions};

pub fn spec(yaml: &str) -> ProcessSpec {
    weft_client::parse_spec(yaml, SpecFormat::Yaml, "inline.yaml").expect("test spec parses")
}

/// Starts an inline spec and waits for the run to end; returns the final run.
pub async fn run_to_end(client: &Client, spec: &ProcessSpec) -> pb::Run {
    let started = client.start_run(RunSource::Inline(spec), StartOptions::default()).await.expect("start run");
    wait(client, started.run_id).await
}

pub async fn wait(client: &Client, run_id: RunId) -> pb::Run {
    tokio::time::timeout(weft_e2e::WAIT, client.wait_run(run_id)).await.expect("run ends in time").expect("wait run")
}

/// Tasks of a run by "workflow/task".
pub fn tasks(run: &pb::Run) -> HashMap<String, pb::TaskRun> {
    run.workflows
        .iter()
        .flat_map(|w| w.tasks.iter().map(|t| (format!("{}/{}", t.workflow, t.name), t.clone())))
        .collect()
}

pub fn assert_succeeded(run: &pb::Run) {
    assert_eq!(
        run.status,
        pb::RunStatus::Succeeded as i32,
        "run {} ended {:?}: {}",
        run.run_id,
        run.status,
        run.reason
    );
}

//! Fail-stop: the coordinator's data directory sits on a tmpfs of a few MiB that fills up
//! under a stream of submissions. The first failed commit must stop it: the failure is
//! logged with its cause, health turns NOT_SERVING, the process exits non-zero, and
//! nothing acknowledged is lost: after the disk is grown, a restart on the same directory
//! has every run it acknowledged.
use std::path::{Path, PathBuf};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use weft_client::{Client, RunId, RunSource, StartOptions};
use weft_e2e::{Proc, WAIT, await_line};

use crate::support::spec;

/// A tmpfs mounted for the test, unmounted (lazily, so a process still inside cannot keep
/// it) when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "weft-e2e-tmpfs"])
            .arg(path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { path: path.to_path_buf() }
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .expect("running mount");
        assert!(status.success(), "remounting the tmpfs");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

async fn coordinator(data: &Path, log_dir: &Path) -> Proc {
    weft_e2e::coordinator_on("127.0.0.1:0", data, log_dir, &[]).await
}

const QUEUED: &str = "
name: queued
workflows:
  - name: w
    steps:
      - { name: t, kind: noop }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_stops_the_coordinator_and_loses_nothing_acknowledged() {
    let dir = tempfile::Builder::new().prefix("weft-e2e-failstop-").tempdir().expect("temp dir");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "3m");
    let data = disk.path.join("data");
    let mut first = coordinator(&data, dir.path()).await;
    let mut log = first.subscribe();
    let grpc = first.ready["grpc"].as_str().expect("grpc").to_string();

    // Watch health from before the failure: the stream must show NOT_SERVING before it ends.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}")).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel)
        .watch(HealthCheckRequest { service: "weft.v1.WorkflowService".into() })
        .await
        .expect("health watch")
        .into_inner();
    let first_status = health.message().await.expect("health message").expect("a first status");
    assert_eq!(first_status.status, ServingStatus::Serving as i32);

    // Four clients submit runs with 200 KiB inputs until the disk is full.
    let input = serde_json::json!({ "pad": "x".repeat(200 * 1024) });
    let spec = spec(QUEUED);
    let mut submitters = Vec::new();
    for c in 0..4 {
        let (grpc, input, spec) = (grpc.clone(), input.clone(), spec.clone());
        submitters.push(tokio::spawn(async move {
            let client = Client::connect(&grpc).await.expect("connect");
            let mut acknowledged: Vec<(String, RunId)> = Vec::new();
            for i in 0..200 {
                let key = format!("c{c}-{i}");
                let options = StartOptions { idempotency_key: Some(key.clone()), input: Some(input.clone()) };
                match client.start_run(RunSource::Inline(&spec), options).await {
                    Ok(started) => acknowledged.push((key, started.run_id)),
                    Err(_) => return acknowledged,
                }
            }
            panic!("200 runs of 200 KiB fitted on a 3 MiB disk: the test did not fill it");
        }));
    }
    let mut acknowledged = Vec::new();
    for s in submitters {
        acknowledged.extend(s.await.expect("submitter"));
    }
    assert!(!acknowledged.is_empty(), "some runs fit before the disk filled");

    let failure = await_line(&mut log, &["store commit failed"]).await;
    assert!(failure.contains("full"), "the log names the cause: {failure}");
    let saw_not_serving = tokio::time::timeout(WAIT, async {
        while let Ok(Some(m)) = health.message().await {
            if m.status == ServingStatus::NotServing as i32 {
                return true;
            }
        }
        false
    })
    .await
    .expect("the health stream ends in time");
    assert!(saw_not_serving, "health turned NOT_SERVING before the coordinator went away");
    let code = first.wait().await;
    assert!(code.is_some_and(|c| c != 0), "the coordinator exits non-zero after a failed commit, got {code:?}");

    // Room again: a restart recovers from what is on disk and has every acknowledged run.
    disk.resize("64m");
    let second = coordinator(&data, &dir.path().join("restart")).await;
    let client = Client::connect(second.ready["grpc"].as_str().expect("grpc")).await.expect("connect");
    for (key, run_id) in &acknowledged {
        client.get_run(*run_id).await.unwrap_or_else(|e| panic!("acknowledged run {key} ({run_id}) is lost: {e}"));
        let options = StartOptions { idempotency_key: Some(key.clone()), input: Some(input.clone()) };
        let again = client.start_run(RunSource::Inline(&spec), options).await.expect("start again");
        assert_eq!(again.run_id, *run_id, "the idempotency key {key} still names its run");
    }
}

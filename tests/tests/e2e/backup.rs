//! `weftctl admin backup` (issue 12): a consistent copy of the store taken while the
//! coordinator runs; a coordinator started on the copy resumes every run that was
//! unfinished when it was taken, and knows nothing of what came after.
use crate::support::*;
use weft_client::{RunSource, StartOptions, pb};
use weft_e2e::{Cluster, WorkerSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_runs_go_on_restores_them_and_they_finish() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    let client = cluster.client().await;
    let slow = spec(
        "name: slow\nworkflows:\n  - name: w\n    steps:\n      - { name: wait, kind: sleep, params: { duration: 1500ms } }\n      - { name: after, kind: noop }\n",
    );
    client.register_definition(&slow).await.expect("register");
    let mut unfinished = Vec::new();
    for _ in 0..4 {
        let run = client.start_run(RunSource::Definition { name: "slow", version: None }, StartOptions::default());
        unfinished.push(run.await.expect("start").run_id);
    }

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("weft-backup.db");
    let copy_arg = copy.to_string_lossy().into_owned();
    let out = weftctl_at(&cluster.grpc, &["admin", "backup", &copy_arg]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::metadata(&copy).expect("the copy").len();
    assert!(stdout.starts_with(&format!("backed up {bytes} bytes (schema version ")), "{stdout}");
    // The runs were still going when it was taken.
    let first = client.get_run(unfinished[0]).await.expect("run");
    assert_eq!(first.status, pb::RunStatus::Running as i32, "{first:?}");
    // Never over an existing file; and nothing of the coordinator's temporary copy is left.
    let again = weftctl_at(&cluster.grpc, &["admin", "backup", &copy_arg]).await;
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    let leftovers: Vec<_> = std::fs::read_dir(cluster.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A run started after the backup is not in it.
    let later = client.start_run(RunSource::Inline(&slow), StartOptions::default()).await.expect("start").run_id;

    // Restore: the coordinator stopped, its store replaced by the copy, started again.
    cluster.stop_coordinator().await;
    for file in ["weft.db", "weft.db-wal", "weft.db-shm"] {
        let _ = std::fs::remove_file(cluster.data_dir().join(file));
    }
    std::fs::copy(&copy, cluster.data_dir().join("weft.db")).expect("restore the copy");
    cluster.start_coordinator_again(&[]).await;
    let client = cluster.client().await;
    for run in &unfinished {
        let run = client.wait_run(*run).await.expect("the restored run ends");
        assert_eq!(run.status, pb::RunStatus::Succeeded as i32, "{run:?}");
    }
    let gone = client.get_run(later).await;
    assert!(matches!(&gone, Err(weft_client::Error::NotFound { .. })), "{gone:?}");
    assert_eq!(client.list_definitions("slow").await.expect("definitions").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_in_memory_has_nothing_to_back_up() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = weft_e2e::coordinator_on("127.0.0.1:0", std::path::Path::new("memory"), dir.path(), &[]).await;
    let grpc = coordinator.ready["grpc"].as_str().expect("grpc address").to_string();
    let copy = dir.path().join("copy.db");
    let out = weftctl_at(&grpc, &["admin", "backup", &copy.to_string_lossy()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FailedPrecondition") && stderr.contains("in memory"), "{stderr}");
    assert!(!copy.exists() && !dir.path().join("copy.db.partial").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_backup_at_a_time_and_the_next_once_it_has_ended() {
    let cluster = Cluster::start(&[]).await;
    let client = cluster.client().await;
    // A store of about 12 MiB: twelve runs with an input of nearly 1 MiB each, waiting on a
    // queue nobody serves. Streaming its copy takes many chunks, more than the stream buffers.
    let waits = spec("name: waits\nsteps:\n  - { name: t, kind: noop, queue: nobody }\n");
    let input = serde_json::json!({ "pad": "x".repeat(1000 * 1000) });
    for _ in 0..12 {
        let options = StartOptions { idempotency_key: None, input: Some(input.clone()) };
        client.start_run(RunSource::Inline(&waits), options).await.expect("start");
    }
    // The first backup: its first chunk read, the rest left unread, so it is still going.
    let mut first = client.monitor_service().backup(pb::BackupRequest {}).await.expect("backup").into_inner();
    let chunk = first.message().await.expect("a chunk").expect("not the end");
    assert!(chunk.total_bytes > 10 * 1024 * 1024, "{}", chunk.total_bytes);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("second.db");
    let second = weftctl_at(&cluster.grpc, &["admin", "backup", &copy.to_string_lossy()]).await;
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("a backup is already being taken"), "{stderr}");
    assert!(!copy.exists());
    // Once the first has ended, the next is taken.
    let mut received = chunk.data.len() as u64;
    while let Some(chunk) = first.message().await.expect("a chunk") {
        received += chunk.data.len() as u64;
    }
    assert_eq!(received, chunk.total_bytes);
    let third = weftctl_at(&cluster.grpc, &["admin", "backup", &copy.to_string_lossy()]).await;
    assert_eq!(third.status.code(), Some(0), "{}", String::from_utf8_lossy(&third.stderr));
}

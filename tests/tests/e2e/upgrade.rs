//! Upgrades (issue 12): a store written by an earlier release opens and its runs finish;
//! a worker speaking another protocol version is refused, never misunderstood.
use weft_client::{RunQuery, RunSource, StartOptions, pb};
use weft_e2e::{Cluster, WorkerSpec, repo_root};
use weft_proto::pb::worker_service_client::WorkerServiceClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_by_an_earlier_release_resumes_its_runs() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.stop_coordinator().await;
    for file in ["weft.db", "weft.db-wal", "weft.db-shm"] {
        let _ = std::fs::remove_file(cluster.data_dir().join(file));
    }
    std::fs::copy(repo_root().join("tests/fixtures/store-schema-v2.db"), cluster.data_dir().join("weft.db"))
        .expect("the fixture");
    cluster.start_coordinator_again(&[]).await;
    cluster.add_worker(WorkerSpec { queues: "default,after-upgrade", ..Default::default() }).await;
    let client = cluster.client().await;

    let query = RunQuery { process_name: Some("fixture-order".into()), ..Default::default() };
    let runs = client.list_runs(&query).await.expect("runs").runs;
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in runs {
        let run = client.wait_run(run.run_id.parse().unwrap()).await.expect("it finishes");
        assert_eq!(run.status, pb::RunStatus::Succeeded as i32, "{run:?}");
        let pack = run.workflows.iter().flat_map(|w| &w.tasks).find(|t| t.name == "pack").expect("pack");
        assert_eq!(pack.result_json, r#"{"packed":true}"#);
    }
    // Its idempotency keys were kept: the same start again is the stored run.
    let again = client
        .start_run(
            RunSource::Definition { name: "fixture-order", version: Some(1) },
            StartOptions {
                idempotency_key: Some("fixture-key-1".into()),
                input: Some(serde_json::json!({ "order": "A-1" })),
            },
        )
        .await
        .expect("start");
    assert!(!again.created, "the key of the stored run answers with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_of_another_protocol_version_is_refused_naming_both_versions() {
    let cluster = Cluster::start(&[]).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.grpc))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let theirs = weft_proto::PROTOCOL_VERSION + 1;
    let register = pb::WorkerMessage {
        message: Some(pb::worker_message::Message::Register(pb::Register {
            worker_id: "01a23512-7f64-7536-bef2-56319ccc06d6".into(),
            name: "from-the-future".into(),
            slots: 1,
            protocol_version: theirs,
            ..Default::default()
        })),
    };
    let refused =
        WorkerServiceClient::new(channel).session(tokio_stream::iter(vec![register])).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    let ours = weft_proto::PROTOCOL_VERSION;
    assert_eq!(
        refused.message(),
        format!("protocol version {theirs} is not supported: this coordinator speaks version {ours}")
    );
}

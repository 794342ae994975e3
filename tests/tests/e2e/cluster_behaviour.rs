//! A whole process runs through coordinator and workers; events, bad input, idempotency.
use crate::support::*;
use weft_client::pb;
use weft_client::{RunSource, StartOptions};
use weft_e2e::{Cluster, WorkerSpec, await_line};

const ORDER: &str = r#"
name: order
workflows:
  - name: shipping
    steps:
      - { name: reserve, kind: sleep, params: { duration: 50ms } }
      - { name: pack, kind: sleep, params: { duration: 50ms } }
      - { name: ship, kind: noop, params: { result: { tracking: "T-1" } } }
  - name: billing
    tasks:
      - { name: invoice, kind: sleep, params: { duration: 50ms } }
      - { name: charge, kind: noop, depends_on: [invoice] }
      - { name: receipt, kind: noop, depends_on: [invoice, charge] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parallel_workflows_complete_in_dependency_order() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec::default()).await;
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    let run = run_to_end(&client, &spec(ORDER)).await;
    assert_succeeded(&run);
    let tasks = tasks(&run);
    assert_eq!(tasks.len(), 6);
    for t in tasks.values() {
        assert_eq!(t.state, pb::TaskState::Succeeded as i32);
        assert!(t.started_at_ms > 0 && t.finished_at_ms >= t.started_at_ms, "{t:?}");
        for dep in &t.depends_on {
            let d = &tasks[&format!("{}/{dep}", t.workflow)];
            assert!(t.started_at_ms >= d.finished_at_ms, "{} started before {dep} finished", t.name);
        }
    }
    // The two workflows ran side by side: billing's first step started before shipping ended.
    assert!(tasks["billing/invoice"].started_at_ms < tasks["shipping/ship"].finished_at_ms);
    // Results flow: the last step's result is recorded.
    assert_eq!(tasks["shipping/ship"].result_json, r#"{"tracking":"T-1"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_event_stream_shows_every_state_change_in_order() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    let started = client.start_run(RunSource::Inline(&spec(ORDER)), StartOptions::default()).await.unwrap();
    let mut sub = client.watch_run(started.run_id, 0).await.unwrap();
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(weft_e2e::WAIT, sub.next()).await.expect("event in time") {
        events.push(event.unwrap());
    }
    let kinds: Vec<i32> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.first(), Some(&(pb::EventKind::RunStarted as i32)));
    assert_eq!(kinds.last(), Some(&(pb::EventKind::RunSucceeded as i32)));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "sequence numbers have no gaps");
    }
    for task in ["reserve", "pack", "ship", "invoice", "charge", "receipt"] {
        let seen: Vec<i32> = events.iter().filter(|e| e.task == task).map(|e| e.kind).collect();
        let expected = [
            pb::EventKind::TaskReady,
            pb::EventKind::TaskAssigned,
            pb::EventKind::TaskRunning,
            pb::EventKind::TaskSucceeded,
        ];
        assert_eq!(seen, expected.map(|k| k as i32).to_vec(), "events of {task}");
    }
    // Resuming from a sequence number replays the rest of the history.
    let mut resumed = client.watch_run(started.run_id, 5).await.unwrap();
    let first = resumed.next().await.unwrap().unwrap();
    assert_eq!(first.seq, 5);
    // Asking for results only: one event per task, then the final one.
    let mut results = client.watch_run_kinds(started.run_id, 0, &[pb::EventKind::TaskSucceeded]).await.unwrap();
    let mut kinds = Vec::new();
    while let Some(e) = results.next().await {
        kinds.push(e.unwrap().kind);
    }
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    assert!(kinds[..6].iter().all(|k| *k == pb::EventKind::TaskSucceeded as i32));
    assert_eq!(kinds[6], pb::EventKind::RunSucceeded as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_spec_is_refused_naming_the_field_and_creates_nothing() {
    let cluster = Cluster::start(&[]).await;
    let client = cluster.client().await;
    let cyclic = spec(
        "name: bad\ntasks:\n  - { name: a, kind: noop, depends_on: [b] }\n  - { name: b, kind: noop, depends_on: [a] }\n",
    );
    let err = client.start_run(RunSource::Inline(&cyclic), StartOptions::default()).await.unwrap_err();
    let violations = err.violations();
    assert_eq!(violations.len(), 1, "{err}");
    assert_eq!(violations[0].field, "spec.workflows[0].tasks");
    assert!(violations[0].message.contains("cycle"), "{err}");
    let unknown = spec("name: bad\ntasks:\n  - { name: a, kind: teleport }\n");
    let err = client.start_run(RunSource::Inline(&unknown), StartOptions::default()).await.unwrap_err();
    assert_eq!(err.violations()[0].field, "spec.workflows[0].tasks[0].kind", "{err}");
    let page = client.list_runs(&Default::default()).await.unwrap();
    assert!(page.runs.is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_start_with_the_same_key_returns_the_same_run() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    let order = spec(ORDER);
    let options = StartOptions { idempotency_key: Some("order-1001".into()), ..Default::default() };
    let first = client.start_run(RunSource::Inline(&order), options.clone()).await.unwrap();
    let second = client.start_run(RunSource::Inline(&order), options).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.run_id, second.run_id);
    assert_succeeded(&wait(&client, first.run_id).await);
    let page = client.list_runs(&Default::default()).await.unwrap();
    assert_eq!(page.runs.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_logged_one_line_each_and_can_be_watched() {
    let mut cluster = Cluster::start(&["--heartbeat-interval", "200ms", "--lease-timeout", "2s"]).await;
    let mut log = cluster.coordinator.subscribe();
    cluster.add_worker(WorkerSpec::default()).await;
    let id = cluster.worker_id(0);
    let line = await_line(&mut log, &["weft::heartbeat", &id]).await;
    assert!(line.contains("load") && line.contains("running"), "{line}");
    let client = cluster.client().await;
    let mut sub = client.watch_heartbeats(None).await.unwrap();
    let hb = tokio::time::timeout(weft_e2e::WAIT, sub.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(hb.worker_id, id);
    assert_eq!(hb.slots, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_stops_its_running_task() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    let slow = spec(
        "name: slow\nsteps:\n  - { name: wait, kind: sleep, params: { duration: 60s } }\n  - { name: after, kind: noop }\n",
    );
    let started = client.start_run(RunSource::Inline(&slow), StartOptions::default()).await.unwrap();
    let mut sub = client.watch_run(started.run_id, 0).await.unwrap();
    while let Some(e) = sub.next().await {
        if e.unwrap().kind == pb::EventKind::TaskRunning as i32 {
            break;
        }
    }
    let run = client.cancel_run(started.run_id, "customer changed their mind").await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Cancelled as i32);
    assert_eq!(run.reason, "customer changed their mind");
    let status = client.cluster_status().await.unwrap();
    let worker = &status.workers[0];
    assert_eq!(worker.running, 0, "the cancelled attempt no longer holds a slot");
    // CancelRun answers counts only (it must fit whatever the run's size); GetRun pages.
    assert!(run.workflows.is_empty());
    let t = tasks(&client.get_run(started.run_id).await.unwrap());
    assert_eq!(t["slow/after"].state, pb::TaskState::Cancelled as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checking_and_reflection_are_served() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let cluster = Cluster::start(&[]).await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.grpc)).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "weft.v1.WorkflowService", "weft.v1.WorkerService", "weft.v1.MonitorService"] {
        let answer = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection.server_reflection_info(tokio_stream::iter(vec![request])).await.unwrap().into_inner();
    let answer = answers.message().await.unwrap().expect("an answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else { panic!("{answer:?}") };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in
        ["weft.v1.WorkflowService", "weft.v1.WorkerService", "weft.v1.MonitorService", "grpc.health.v1.Health"]
    {
        assert!(names.iter().any(|n| n == service), "{service} missing from {names:?}");
    }
}

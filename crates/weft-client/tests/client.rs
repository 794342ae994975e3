//! The client against an in-process fake coordinator: checks request encoding, error
//! decoding and `wait_run`'s resubscription without needing the real binaries.
use futures::StreamExt;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weft_client::pb::monitor_service_server::{MonitorService, MonitorServiceServer};
use weft_client::pb::workflow_service_server::{WorkflowService, WorkflowServiceServer};
use weft_client::{Client, Error, RunId, RunQuery, RunSource, RunStatus, StartOptions, pb};

type BoxStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

/// What the fake has seen and will answer. A std Mutex: held only for short sections,
/// never across an await.
#[derive(Default)]
struct State {
    keys: HashMap<String, String>,
    last_start: Option<pb::StartRunRequest>,
    watch_calls: Vec<u64>,
    /// Events of the one run the fake knows; the run is final once the last is delivered.
    events: Vec<pb::RunEvent>,
    /// Close the first watch after this many events, to exercise resubscription.
    cut_first_watch_after: Option<usize>,
    /// Report the run as running until a second watch was opened (a run still going
    /// when the first stream broke) rather than as finished.
    running_until_second_watch: bool,
    /// (from_seq, page_size) of every GetRunHistory call.
    history_calls: Vec<(u64, u32)>,
    /// Answer GetRunHistory with an empty page that points back at itself.
    stuck_history: bool,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<State>>);

fn event(run_id: &str, seq: u64, kind: pb::EventKind, task: &str) -> pb::RunEvent {
    pb::RunEvent {
        run_id: run_id.into(),
        seq,
        kind: kind as i32,
        workflow: if task.is_empty() { String::new() } else { "w".into() },
        task: task.into(),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl WorkflowService for Fake {
    async fn register_definition(
        &self,
        request: Request<pb::RegisterDefinitionRequest>,
    ) -> Result<Response<pb::RegisterDefinitionResponse>, Status> {
        let r = request.into_inner();
        Ok(Response::new(pb::RegisterDefinitionResponse { name: r.name, version: 1, created: true }))
    }
    async fn get_definition(&self, _: Request<pb::GetDefinitionRequest>) -> Result<Response<pb::Definition>, Status> {
        Err(Status::not_found("definition `nope` does not exist"))
    }
    async fn list_definitions(
        &self,
        request: Request<pb::ListDefinitionsRequest>,
    ) -> Result<Response<pb::ListDefinitionsResponse>, Status> {
        // Two pages, to check that the client follows page tokens.
        let token = request.into_inner().page_token;
        let (version, next) = if token.is_empty() { (1, "p2".to_string()) } else { (2, String::new()) };
        let definitions = vec![pb::Definition { name: "orders".into(), version, ..Default::default() }];
        Ok(Response::new(pb::ListDefinitionsResponse { definitions, next_page_token: next }))
    }
    async fn start_run(&self, request: Request<pb::StartRunRequest>) -> Result<Response<pb::StartRunResponse>, Status> {
        let r = request.into_inner();
        if let Some(pb::start_run_request::Source::Spec(spec)) = &r.source
            && spec.name == "bad"
        {
            let mut details = ErrorDetails::new();
            details.add_bad_request_violation("spec.workflows[0].tasks[0].kind", "unknown kind `shel`");
            return Err(Status::with_error_details(tonic::Code::InvalidArgument, "invalid spec", details));
        }
        let mut state = self.0.lock().unwrap();
        state.last_start = Some(r.clone());
        let fresh = RunId::new_v7().to_string();
        let (run_id, created) = match r.idempotency_key.as_str() {
            "" => (fresh, true),
            key => match state.keys.get(key) {
                Some(existing) => (existing.clone(), false),
                None => {
                    state.keys.insert(key.to_string(), fresh.clone());
                    (fresh, true)
                }
            },
        };
        Ok(Response::new(pb::StartRunResponse { run_id, created }))
    }
    async fn get_run(&self, request: Request<pb::GetRunRequest>) -> Result<Response<pb::Run>, Status> {
        let run_id = request.into_inner().run_id;
        let state = self.0.lock().unwrap();
        let finished = state.events.last().is_some_and(|e| e.kind == pb::EventKind::RunSucceeded as i32)
            && !(state.running_until_second_watch && state.watch_calls.len() < 2);
        let status = if finished { pb::RunStatus::Succeeded } else { pb::RunStatus::Running };
        Ok(Response::new(pb::Run { run_id, status: status as i32, ..Default::default() }))
    }
    async fn list_runs(&self, request: Request<pb::ListRunsRequest>) -> Result<Response<pb::ListRunsResponse>, Status> {
        let r = request.into_inner();
        // Echo the filter back through the run so the test can see how it was encoded.
        let run = pb::Run {
            process_name: r.process_name,
            status: r.status,
            tasks_total: r.page_size,
            idempotency_key: r.idempotency_key,
            ..Default::default()
        };
        Ok(Response::new(pb::ListRunsResponse { runs: vec![run], next_page_token: String::new() }))
    }
    async fn cancel_run(&self, request: Request<pb::CancelRunRequest>) -> Result<Response<pb::Run>, Status> {
        let r = request.into_inner();
        Err(Status::failed_precondition(format!("run {} already finished", r.run_id)))
    }
    // Schedules are tested against the real coordinator (tests/e2e/processes.rs).
    async fn put_schedule(&self, _: Request<pb::PutScheduleRequest>) -> Result<Response<pb::Schedule>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn list_schedules(
        &self,
        _: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn set_schedule_paused(
        &self,
        _: Request<pb::SetSchedulePausedRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn delete_schedule(
        &self,
        _: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::DeleteScheduleResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn set_limit(&self, _: Request<pb::SetLimitRequest>) -> Result<Response<pb::ClusterLimit>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn list_limits(&self, _: Request<pb::ListLimitsRequest>) -> Result<Response<pb::ListLimitsResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn delete_limit(
        &self,
        _: Request<pb::DeleteLimitRequest>,
    ) -> Result<Response<pb::DeleteLimitResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn get_run_history(
        &self,
        request: Request<pb::GetRunHistoryRequest>,
    ) -> Result<Response<pb::GetRunHistoryResponse>, Status> {
        let r = request.into_inner();
        let mut state = self.0.lock().unwrap();
        state.history_calls.push((r.from_seq, r.page_size));
        if state.events.first().is_some_and(|e| e.run_id != r.run_id) {
            return Err(Status::not_found(format!("run {} does not exist", r.run_id)));
        }
        if state.stuck_history {
            return Ok(Response::new(pb::GetRunHistoryResponse { events: Vec::new(), next_seq: r.from_seq.max(1) }));
        }
        let limit = if r.page_size == 0 { 1000 } else { r.page_size as usize };
        let mut events = state.events.iter().filter(|e| e.seq >= r.from_seq.max(1)).cloned();
        let page: Vec<_> = events.by_ref().take(limit).collect();
        let next_seq = events.next().map_or(0, |e| e.seq);
        Ok(Response::new(pb::GetRunHistoryResponse { events: page, next_seq }))
    }
    type WatchRunStream = BoxStream<pb::RunEvent>;
    async fn watch_run(&self, request: Request<pb::WatchRunRequest>) -> Result<Response<Self::WatchRunStream>, Status> {
        let from = request.into_inner().from_seq.max(1);
        let mut state = self.0.lock().unwrap();
        let first = state.watch_calls.is_empty();
        state.watch_calls.push(from);
        let mut events: Vec<_> = state.events.iter().filter(|e| e.seq >= from).cloned().collect();
        if first && let Some(n) = state.cut_first_watch_after {
            events.truncate(n);
        }
        Ok(Response::new(Box::pin(futures::stream::iter(events.into_iter().map(Ok)))))
    }
}

#[tonic::async_trait]
impl MonitorService for Fake {
    type ReportStream = BoxStream<pb::ReportAck>;
    async fn report(
        &self,
        _: Request<tonic::Streaming<pb::WorkerReport>>,
    ) -> Result<Response<Self::ReportStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    type WatchHeartbeatsStream = BoxStream<pb::Heartbeat>;
    async fn watch_heartbeats(
        &self,
        request: Request<pb::WatchHeartbeatsRequest>,
    ) -> Result<Response<Self::WatchHeartbeatsStream>, Status> {
        let worker_id = request.into_inner().worker_id;
        let beats =
            (1..=3).map(move |i| Ok(pb::Heartbeat { worker_id: worker_id.clone(), used: i, ..Default::default() }));
        Ok(Response::new(Box::pin(futures::stream::iter(beats))))
    }
    type WatchEventsStream = BoxStream<pb::ClusterEvent>;
    async fn watch_events(
        &self,
        _: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::iter([Err(Status::unavailable("coordinator shutting down"))]))))
    }
    async fn get_cluster_status(
        &self,
        _: Request<pb::GetClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        Ok(Response::new(pb::ClusterStatus { runs_running: 2, ..Default::default() }))
    }
    type BackupStream = futures::stream::Empty<Result<pb::BackupChunk, Status>>;

    async fn backup(&self, _: Request<pb::BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn drain_worker(
        &self,
        _: Request<pb::DrainWorkerRequest>,
    ) -> Result<Response<pb::DrainWorkerResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn list_quarantined(
        &self,
        request: Request<pb::ListQuarantinedRequest>,
    ) -> Result<Response<pb::ListQuarantinedResponse>, Status> {
        // Two pages; the second is larger than tonic's default 4 MiB message limit.
        let record = |key: &str, size: usize| pb::QuarantinedRecord {
            table: "runs".into(),
            key: key.into(),
            record: "x".repeat(size),
            record_bytes: size as u64,
            ..Default::default()
        };
        let page = match request.into_inner().page_token.as_str() {
            "" => pb::ListQuarantinedResponse { records: vec![record("a", 2)], next_page_token: "1".into(), total: 2 },
            _ => pb::ListQuarantinedResponse {
                records: vec![record("b", 5 * 1024 * 1024)],
                next_page_token: String::new(),
                total: 2,
            },
        };
        Ok(Response::new(page))
    }
}

async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkflowServiceServer::new(fake.clone()))
            .add_service(MonitorServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    address
}

fn spec(name: &str) -> weft_client::ProcessSpec {
    weft_client::parse_spec(
        &format!("name: {name}\nsteps:\n  - {{name: a, kind: noop}}\n"),
        weft_client::SpecFormat::Yaml,
        "t.yaml",
    )
    .unwrap()
}

#[tokio::test]
async fn start_run_encodes_source_key_and_input_and_is_idempotent() {
    let fake = Fake::default();
    let client = Client::connect(&serve(fake.clone()).await).await.unwrap();
    let options =
        StartOptions { idempotency_key: Some("order-42".into()), input: Some(serde_json::json!({"order": 42})) };
    let first = client.start_run(RunSource::Inline(&spec("orders")), options.clone()).await.unwrap();
    let again = client.start_run(RunSource::Inline(&spec("orders")), options).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.run_id, again.run_id);
    let sent = fake.0.lock().unwrap().last_start.clone().unwrap();
    assert_eq!(sent.input_json, r#"{"order":42}"#);
    assert_eq!(sent.idempotency_key, "order-42");
    match sent.source {
        Some(pb::start_run_request::Source::Spec(s)) => assert_eq!(s.workflows[0].tasks[0].kind, "noop"),
        other => panic!("expected an inline spec, got {other:?}"),
    }

    client.start_run(RunSource::Definition { name: "orders", version: None }, StartOptions::default()).await.unwrap();
    let sent = fake.0.lock().unwrap().last_start.clone().unwrap();
    assert_eq!(
        sent.source,
        Some(pb::start_run_request::Source::Definition(pb::DefinitionRef { name: "orders".into(), version: 0 }))
    );
    assert_eq!(sent.input_json, "");
}

#[tokio::test]
async fn refusals_keep_field_violations_and_codes() {
    let client = Client::connect(&serve(Fake::default()).await).await.unwrap();
    let err = client.start_run(RunSource::Inline(&spec("bad")), StartOptions::default()).await.unwrap_err();
    assert_eq!(err.violations().len(), 1);
    assert_eq!(err.violations()[0].field, "spec.workflows[0].tasks[0].kind");
    assert!(err.to_string().contains("unknown kind `shel`"), "{err}");
    let err = client.get_definition("nope", None).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = client.cancel_run(RunId::new_v7(), "stop").await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
}

#[tokio::test]
async fn list_calls_follow_pages_and_encode_filters() {
    let client = Client::connect(&serve(Fake::default()).await).await.unwrap();
    let defs = client.list_definitions("").await.unwrap();
    assert_eq!(defs.iter().map(|d| d.version).collect::<Vec<_>>(), [1, 2]);
    let query = RunQuery {
        status: Some(RunStatus::Failed),
        process_name: Some("orders".into()),
        idempotency_key: Some("order-42".into()),
        page_size: Some(7),
        page_token: None,
    };
    let page = client.list_runs(&query).await.unwrap();
    assert_eq!(page.next_page_token, None);
    assert_eq!(page.runs[0].status, pb::RunStatus::Failed as i32);
    assert_eq!(page.runs[0].process_name, "orders");
    assert_eq!(page.runs[0].tasks_total, 7);
    assert_eq!(page.runs[0].idempotency_key, "order-42");
    let registered = client.register_definition(&spec("orders")).await.unwrap();
    assert_eq!((registered.name.as_str(), registered.version, registered.created), ("orders", 1, true));
    assert_eq!(client.cluster_status().await.unwrap().runs_running, 2);
}

async fn wait_with_a_broken_first_watch(running_until_second_watch: bool) {
    let fake = Fake::default();
    let run_id = RunId::new_v7();
    let id = run_id.to_string();
    {
        let mut state = fake.0.lock().unwrap();
        state.events = vec![
            event(&id, 1, pb::EventKind::RunStarted, ""),
            event(&id, 2, pb::EventKind::TaskRunning, "a"),
            event(&id, 3, pb::EventKind::TaskSucceeded, "a"),
            event(&id, 4, pb::EventKind::RunSucceeded, ""),
        ];
        state.cut_first_watch_after = Some(2);
        state.running_until_second_watch = running_until_second_watch;
    }
    let client = Client::connect(&serve(fake.clone()).await).await.unwrap();
    let mut seen = Vec::new();
    let run = client.wait_run_with(run_id, |e| seen.push(e.seq)).await.unwrap();
    assert_eq!(seen, [1, 2, 3, 4]);
    assert_eq!(weft_client::run_status(&run), Some(RunStatus::Succeeded));
    assert_eq!(fake.0.lock().unwrap().watch_calls, [1, 3]);
}

#[tokio::test]
async fn wait_run_resubscribes_while_the_run_goes_on() {
    wait_with_a_broken_first_watch(true).await;
}

#[tokio::test]
async fn wait_run_drains_events_of_a_run_that_finished_meanwhile() {
    wait_with_a_broken_first_watch(false).await;
}

#[tokio::test]
async fn watches_stream_items_and_surface_stream_errors() {
    let client = Client::connect(&serve(Fake::default()).await).await.unwrap();
    let worker = weft_client::WorkerId::new_v7();
    let beats: Vec<_> = client.watch_heartbeats(Some(worker)).await.unwrap().collect().await;
    assert_eq!(beats.len(), 3);
    assert_eq!(beats[2].as_ref().unwrap().worker_id, worker.to_string());
    let mut events = client.watch_events(None).await.unwrap();
    let err = events.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn connecting_to_nothing_says_unreachable_with_the_cause() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Client::connect(&format!("127.0.0.1:{port}")).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("http://127.0.0.1:{port}")) && text.to_lowercase().contains("refused"), "{text}");
}

fn history_fake(run_id: RunId, events: u64) -> Fake {
    let fake = Fake::default();
    let id = run_id.to_string();
    fake.0.lock().unwrap().events = (1..=events).map(|seq| event(&id, seq, pb::EventKind::TaskReady, "a")).collect();
    fake
}

#[tokio::test]
async fn run_history_returns_one_page_and_the_next_seq() {
    let run_id = RunId::new_v7();
    let fake = history_fake(run_id, 5);
    let client = Client::connect(&serve(fake.clone()).await).await.unwrap();
    let page = client.run_history(run_id, 2, 2).await.unwrap();
    assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(page.next_seq, Some(4));
    let last = client.run_history(run_id, 4, 10).await.unwrap();
    assert_eq!(last.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(last.next_seq, None);
    let err = client.run_history(RunId::new_v7(), 0, 0).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn run_history_all_follows_every_page() {
    let run_id = RunId::new_v7();
    let fake = history_fake(run_id, 7);
    let client = Client::connect(&serve(fake.clone()).await).await.unwrap();
    let events = client.run_history_all(run_id, 3).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7]);
    let calls = fake.0.lock().unwrap().history_calls.clone();
    assert_eq!(calls, [(1, 3), (4, 3), (7, 3)]);
}

#[tokio::test]
async fn run_history_refuses_a_next_seq_that_goes_nowhere() {
    let run_id = RunId::new_v7();
    let fake = history_fake(run_id, 3);
    fake.0.lock().unwrap().stuck_history = true;
    let client = Client::connect(&serve(fake).await).await.unwrap();
    let err = client.run_history_all(run_id, 0).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    assert!(err.to_string().contains("goes nowhere"), "{err}");
}

#[tokio::test]
async fn list_quarantined_follows_pages_and_takes_messages_past_4_mib() {
    let client = Client::connect(&serve(Fake::default()).await).await.unwrap();
    let records = client.list_quarantined().await.expect("both pages, the second 5 MiB");
    let keys: Vec<(&str, usize)> = records.iter().map(|r| (r.key.as_str(), r.record.len())).collect();
    assert_eq!(keys, vec![("a", 2), ("b", 5 * 1024 * 1024)]);
}

//! [`Client`]: one connection to a coordinator, with a method per RPC of `WorkflowService`
//! and the watcher half of `MonitorService`, plus [`Client::wait_run`].
use crate::address::parse_address_with;
use crate::error::Error;
use futures::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
pub use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use weft_model::limits::MAX_MESSAGE_BYTES;
use weft_model::{ProcessSpec, RunId, RunStatus, WorkerId};
use weft_net::auth::Bearer;
pub use weft_net::tls::ClientTls;
use weft_proto::convert::{process_to_pb, run_status_from_pb, run_status_to_pb};
use weft_proto::pb;
use weft_proto::pb::monitor_service_client::MonitorServiceClient;
use weft_proto::pb::workflow_service_client::WorkflowServiceClient;

/// How long [`Client::connect`] waits for the TCP (and HTTP/2) handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Keeps long watches alive through idle NATs and notices a vanished peer.
const KEEPALIVE: Duration = Duration::from_secs(20);
/// How many times [`Client::wait_run`] re-subscribes when a watch ends before the run does.
const MAX_RESUBSCRIBES: u32 = 10;

/// How [`Client::connect_with`] connects. The default is plaintext HTTP/2 without a token.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// TLS to the coordinator: the CA its certificate must be signed by and, for a
    /// coordinator that asks for one (mutual TLS), this client's certificate and key. The
    /// address is then dialled as `https://`.
    pub tls: Option<ClientTls>,
    /// Bearer token sent with every call (`authorization: Bearer <token>`), for a
    /// coordinator started with `--tokens`; it needs the role of each call it makes.
    pub token: Option<String>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("tls", &self.tls)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .finish()
    }
}

/// The channel every call goes through: the connection, with the bearer token (if any)
/// added to each call.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// A connection to one coordinator. Cheap to clone: clones share the HTTP/2 connection.
#[derive(Clone, Debug)]
pub struct Client {
    address: String,
    pub(crate) workflow: WorkflowServiceClient<AuthChannel>,
    monitor: MonitorServiceClient<AuthChannel>,
    health: HealthClient<AuthChannel>,
}

/// A copy of the store written by [`Client::backup`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupCopy {
    pub bytes: u64,
    /// Coordinators of this schema version or later open it.
    pub schema_version: u32,
}

/// What to start: a registered definition, or a spec sent along with the request.
#[derive(Clone, Copy, Debug)]
pub enum RunSource<'a> {
    /// A registered definition; `version: None` means the latest.
    Definition { name: &'a str, version: Option<u32> },
    /// A spec that is run but not kept in the registry.
    Inline(&'a ProcessSpec),
}

/// Options of [`Client::start_run`].
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// A second start with the same key returns the first run and creates nothing.
    pub idempotency_key: Option<String>,
    /// Run input handed to every task; `None` means JSON null.
    pub input: Option<serde_json::Value>,
}

/// The answer to [`Client::start_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartedRun {
    pub run_id: RunId,
    /// False when the idempotency key matched an existing run.
    pub created: bool,
}

/// The answer to [`Client::register_definition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub name: String,
    pub version: u32,
    /// False when the spec equalled the latest version, which was returned unchanged.
    pub created: bool,
}

/// Filters and paging of [`Client::list_runs`]. The default lists every run, newest first,
/// in pages of the server's default size.
#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    pub status: Option<RunStatus>,
    pub process_name: Option<String>,
    /// Only the run started with this idempotency key.
    pub idempotency_key: Option<String>,
    /// At most this many per page (the server caps it at 1000).
    pub page_size: Option<u32>,
    /// From a previous page's [`RunPage::next_page_token`].
    pub page_token: Option<String>,
}

/// One page of [`Client::list_runs`]: summaries without per-task detail.
#[derive(Clone, Debug, Default)]
pub struct RunPage {
    pub runs: Vec<pb::Run>,
    /// `None` on the last page.
    pub next_page_token: Option<String>,
}

/// One page of [`Client::run_history`]: events in sequence order.
#[derive(Clone, Debug, Default)]
pub struct HistoryPage {
    pub events: Vec<pb::RunEvent>,
    /// The sequence number to ask for next; `None` when this page reached the end of the
    /// history recorded so far.
    pub next_seq: Option<u64>,
}

/// A server stream of `T`, ending when the server closes it. Use [`Subscription::next`],
/// or the [`Stream`] impl with `futures::StreamExt`.
#[derive(Debug)]
pub struct Subscription<T> {
    inner: tonic::Streaming<T>,
}

/// Refuses, before sending, a request the coordinator would refuse for its size: it would
/// cut the stream while the request is still being sent, which clients see as a bare
/// HTTP/2 error.
fn check_request_size(request: &impl prost::Message) -> Result<(), Error> {
    let len = request.encoded_len();
    if len > weft_model::limits::MAX_REQUEST_BYTES {
        return Err(Error::InvalidInput {
            field: "request".into(),
            message: format!(
                "is {len} bytes encoded, more than a coordinator accepts ({} bytes: a spec of at most {} and an \
                 input of at most {})",
                weft_model::limits::MAX_REQUEST_BYTES,
                weft_model::limits::MAX_SPEC_BYTES,
                weft_model::limits::MAX_INPUT_BYTES
            ),
        });
    }
    Ok(())
}

/// How long [`Subscription::finish`] waits for the server to close a stream.
const FINISH_WITHIN: Duration = Duration::from_secs(1);

impl<T> Subscription<T> {
    /// The next item; `None` once the server has closed the stream cleanly.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        self.inner.message().await.map_err(Error::from).transpose()
    }

    /// Reads the stream to its end, for a stream the server is about to close (a run's
    /// watch after its final event), waiting at most a second. Dropping such a stream
    /// instead resets it while the server's last frames are on their way, and an HTTP/2
    /// connection that sees a thousand of those closes itself (`too_many_internal_resets`),
    /// failing every call on it.
    pub async fn finish(mut self) {
        let _ =
            tokio::time::timeout(FINISH_WITHIN, async { while let Ok(Some(_)) = self.inner.message().await {} }).await;
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| item.map(|r| r.map_err(Error::from)))
    }
}

/// True for the event kinds that end a run (and its `WatchRun` stream).
pub fn is_final_event(kind: i32) -> bool {
    matches!(
        pb::EventKind::try_from(kind),
        Ok(pb::EventKind::RunSucceeded | pb::EventKind::RunFailed | pb::EventKind::RunCancelled)
    )
}

/// The status of a run as a model enum; `None` if the server sent an unknown value.
pub fn run_status(run: &pb::Run) -> Option<RunStatus> {
    run_status_from_pb(run.status)
}

impl ConnectOptions {
    /// These options over TLS: see [`ConnectOptions::tls`].
    pub fn with_tls(mut self, tls: ClientTls) -> ConnectOptions {
        self.tls = Some(tls);
        self
    }
}

impl Client {
    /// Connects to a coordinator at `host:port` or `http://host:port` (a bare host gets
    /// port 7070), in plaintext. Fails with [`Error::Unreachable`] when nothing answers
    /// within 5 s.
    pub async fn connect(address: &str) -> Result<Client, Error> {
        Client::connect_with(address, &ConnectOptions::default()).await
    }

    /// Connects as `options` say: with [`ConnectOptions::tls`], over TLS to `host:port` or
    /// `https://host:port`, the files read now. A coordinator that requires a client
    /// certificate this client lacks (or does not accept) still lets the connection open:
    /// the first call fails.
    pub async fn connect_with(address: &str, options: &ConnectOptions) -> Result<Client, Error> {
        let uri = parse_address_with(address, options.tls.is_some())?;
        let bearer = Bearer::new(options.token.as_deref())
            .map_err(|message| Error::InvalidInput { field: "token".into(), message })?;
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| Error::InvalidAddress { address: address.to_string(), reason: e.to_string() })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE)
            .keep_alive_while_idle(true);
        if let Some(tls) = &options.tls {
            endpoint = tls.endpoint(endpoint).map_err(|e| Error::Tls { message: e.to_string() })?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| Error::Unreachable { address: uri.clone(), reason: error_chain(&e) })?;
        // The same message limit as every other weft node: a big run's view or a spec near
        // its limit passes both ways.
        Ok(Client {
            address: uri,
            workflow: WorkflowServiceClient::with_interceptor(channel.clone(), bearer.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            monitor: MonitorServiceClient::with_interceptor(channel.clone(), bearer.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            health: HealthClient::with_interceptor(channel, bearer),
        })
    }

    /// The normalised address this client dials (`http://host:port` or `https://host:port`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The coordinator's serving status from the gRPC health service, for `service` ("" for
    /// the coordinator as a whole, or a service such as `weft.v1.WorkflowService`).
    pub async fn health(&self, service: &str) -> Result<ServingStatus, Error> {
        let request = HealthCheckRequest { service: service.to_string() };
        let answer = self.health.clone().check(request).await?.into_inner();
        Ok(ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown))
    }

    /// The health service's client (`wait_leading` watches it).
    pub(crate) fn health_client(&self) -> HealthClient<AuthChannel> {
        self.health.clone()
    }

    /// The generated WorkflowService client, for calls this wrapper does not cover.
    pub fn workflow_service(&self) -> WorkflowServiceClient<AuthChannel> {
        self.workflow.clone()
    }

    /// The generated MonitorService client, for calls this wrapper does not cover.
    pub fn monitor_service(&self) -> MonitorServiceClient<AuthChannel> {
        self.monitor.clone()
    }

    /// Registers `spec` as the next version of the definition named `spec.name`.
    pub async fn register_definition(&self, spec: &ProcessSpec) -> Result<Registered, Error> {
        let request = pb::RegisterDefinitionRequest { name: spec.name.clone(), spec: Some(process_to_pb(spec)) };
        check_request_size(&request)?;
        let r = crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.register_definition(request).await }
        })
        .await?
        .into_inner();
        Ok(Registered { name: r.name, version: r.version, created: r.created })
    }

    /// One version of a definition; `None` means the latest.
    pub async fn get_definition(&self, name: &str, version: Option<u32>) -> Result<pb::Definition, Error> {
        let request = pb::GetDefinitionRequest { name: name.to_string(), version: version.unwrap_or(0) };
        Ok(crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.get_definition(request).await }
        })
        .await?
        .into_inner())
    }

    /// Every version of every definition whose name starts with `name_prefix` (all pages),
    /// by name then version.
    pub async fn list_definitions(&self, name_prefix: &str) -> Result<Vec<pb::Definition>, Error> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let request =
                pb::ListDefinitionsRequest { name_prefix: name_prefix.to_string(), page_size: 1000, page_token };
            let page = self.workflow.clone().list_definitions(request).await?.into_inner();
            all.extend(page.definitions);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }

    /// Starts a run. With an idempotency key, repeating the call returns the first run.
    pub async fn start_run(&self, source: RunSource<'_>, options: StartOptions) -> Result<StartedRun, Error> {
        let source = match source {
            RunSource::Definition { name, version } => pb::start_run_request::Source::Definition(pb::DefinitionRef {
                name: name.to_string(),
                version: version.unwrap_or(0),
            }),
            RunSource::Inline(spec) => pb::start_run_request::Source::Spec(process_to_pb(spec)),
        };
        let request = pb::StartRunRequest {
            source: Some(source),
            idempotency_key: options.idempotency_key.unwrap_or_default(),
            input_json: options.input.map(|v| v.to_string()).unwrap_or_default(),
        };
        check_request_size(&request)?;
        let r = crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.start_run(request).await }
        })
        .await?
        .into_inner();
        Ok(StartedRun { run_id: parse_run_id(&r.run_id)?, created: r.created })
    }

    /// A run with per-workflow, per-task detail.
    /// Fetches every page of the run's tasks and merges them into one answer: a run of any
    /// size, though each answer of the coordinator stays small.
    pub async fn get_run(&self, run_id: RunId) -> Result<pb::Run, Error> {
        let mut run = self.get_run_page(run_id, "", 0).await?;
        while !run.next_task_page_token.is_empty() {
            let token = std::mem::take(&mut run.next_task_page_token);
            let page = self.get_run_page(run_id, &token, 0).await?;
            // Workflows come in plan order on every page; a page adds tasks to them.
            for (all, more) in run.workflows.iter_mut().zip(page.workflows) {
                all.status = more.status;
                all.tasks.extend(more.tasks);
            }
            run.next_task_page_token = page.next_task_page_token;
        }
        Ok(run)
    }

    /// One page of a run's tasks (`token` empty for the first; `page_size` 0 for the
    /// coordinator's default); the answer's `next_task_page_token` leads to the next.
    pub async fn get_run_page(&self, run_id: RunId, token: &str, page_size: u32) -> Result<pb::Run, Error> {
        let request =
            pb::GetRunRequest { run_id: run_id.to_string(), task_page_size: page_size, task_page_token: token.into() };
        Ok(crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.get_run(request).await }
        })
        .await?
        .into_inner())
    }

    /// One page of runs, newest first.
    pub async fn list_runs(&self, query: &RunQuery) -> Result<RunPage, Error> {
        let request = pb::ListRunsRequest {
            status: query.status.map(run_status_to_pb).unwrap_or(pb::RunStatus::Unspecified) as i32,
            process_name: query.process_name.clone().unwrap_or_default(),
            page_size: query.page_size.unwrap_or(0),
            page_token: query.page_token.clone().unwrap_or_default(),
            idempotency_key: query.idempotency_key.clone().unwrap_or_default(),
        };
        let r = crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.list_runs(request).await }
        })
        .await?
        .into_inner();
        let next_page_token = (!r.next_page_token.is_empty()).then_some(r.next_page_token);
        Ok(RunPage { runs: r.runs, next_page_token })
    }

    /// Cancels a running run; `reason` is recorded as the run's reason.
    pub async fn cancel_run(&self, run_id: RunId, reason: &str) -> Result<pb::Run, Error> {
        let request = pb::CancelRunRequest { run_id: run_id.to_string(), reason: reason.to_string() };
        Ok(crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.cancel_run(request).await }
        })
        .await?
        .into_inner())
    }

    /// The events of one run from sequence number `from_seq` on (0 or 1: from the start).
    /// The stream ends after the run's final event.
    pub async fn watch_run(&self, run_id: RunId, from_seq: u64) -> Result<Subscription<pb::RunEvent>, Error> {
        self.watch_run_kinds(run_id, from_seq, &[]).await
    }

    /// [`Client::watch_run`], but only events of `kinds` (every kind when empty); the run's
    /// final event always comes. `&[TaskSucceeded, TaskFailed]` follows results only.
    pub async fn watch_run_kinds(
        &self,
        run_id: RunId,
        from_seq: u64,
        kinds: &[pb::EventKind],
    ) -> Result<Subscription<pb::RunEvent>, Error> {
        let kinds = kinds.iter().map(|k| *k as i32).collect();
        let request = pb::WatchRunRequest { run_id: run_id.to_string(), from_seq, kinds };
        Ok(Subscription {
            inner: crate::retry::when_saturated(|| {
                let (mut service, request) = (self.workflow.clone(), request.clone());
                async move { service.watch_run(request).await }
            })
            .await?
            .into_inner(),
        })
    }

    /// One page of a run's recorded history, from sequence number `from_seq` on (0 or 1:
    /// from the start), at most `page_size` events (0: the server's default, 1000; the
    /// server caps it at 10,000). Works for running and finished runs alike.
    pub async fn run_history(&self, run_id: RunId, from_seq: u64, page_size: u32) -> Result<HistoryPage, Error> {
        let request = pb::GetRunHistoryRequest { run_id: run_id.to_string(), from_seq, page_size };
        let r = crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.get_run_history(request).await }
        })
        .await?
        .into_inner();
        // A next page must start after this one, or following the pages would never end.
        let first = from_seq.max(1);
        let floor = r.events.last().map_or(first, |e| e.seq);
        if r.next_seq != 0 && r.next_seq <= floor {
            return Err(Error::Protocol(format!(
                "GetRunHistory for run {run_id} from seq {first} sent {} event(s) and next_seq {}, which goes nowhere",
                r.events.len(),
                r.next_seq
            )));
        }
        Ok(HistoryPage { events: r.events, next_seq: (r.next_seq != 0).then_some(r.next_seq) })
    }

    /// The whole recorded history of a run (every page, `page_size` events at a time; 0 for
    /// the server's default), oldest first.
    pub async fn run_history_all(&self, run_id: RunId, page_size: u32) -> Result<Vec<pb::RunEvent>, Error> {
        let mut all = Vec::new();
        let mut from_seq = 1;
        loop {
            let page = self.run_history(run_id, from_seq, page_size).await?;
            all.extend(page.events);
            match page.next_seq {
                Some(next) => from_seq = next,
                None => return Ok(all),
            }
        }
    }

    /// Follows the run's events until its final one, then returns the finished run.
    pub async fn wait_run(&self, run_id: RunId) -> Result<pb::Run, Error> {
        self.wait_run_with(run_id, |_| {}).await
    }

    /// [`Client::wait_run`], handing each event to `on_event` as it arrives, exactly once
    /// and in sequence order. If the watch stream closes before the final event (a
    /// coordinator restart, a proxy timeout) it re-subscribes from the next sequence number.
    pub async fn wait_run_with(
        &self,
        run_id: RunId,
        mut on_event: impl FnMut(&pb::RunEvent),
    ) -> Result<pb::Run, Error> {
        let mut next_seq = 1;
        let mut resubscribes = 0;
        let mut drained = false;
        loop {
            let mut events = self.watch_run(run_id, next_seq).await?;
            while let Some(event) = events.next().await {
                let event = event?;
                // A resumed stream may repeat what was already seen; hand each event on once.
                if event.seq >= next_seq {
                    next_seq = event.seq + 1;
                    on_event(&event);
                }
                if is_final_event(event.kind) {
                    events.finish().await;
                    return self.get_run(run_id).await;
                }
            }
            let run = self.get_run(run_id).await?;
            if run_status(&run).is_some_and(RunStatus::is_final) {
                // Finished while we were cut off: subscribe once more so `on_event` still
                // sees the remaining events, but never loop on a server that will not send them.
                if drained {
                    return Ok(run);
                }
                drained = true;
                continue;
            }
            resubscribes += 1;
            if resubscribes > MAX_RESUBSCRIBES {
                return Err(Error::Protocol(format!(
                    "WatchRun for run {run_id} kept closing before the run finished ({MAX_RESUBSCRIBES} tries)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(resubscribes))).await;
        }
    }

    /// Workers with liveness and load, queue depths and run counts.
    pub async fn cluster_status(&self) -> Result<pb::ClusterStatus, Error> {
        Ok(crate::retry::when_saturated(|| {
            let mut service = self.monitor.clone();
            async move { service.get_cluster_status(pb::GetClusterStatusRequest {}).await }
        })
        .await?
        .into_inner())
    }

    /// Every stored record the coordinator set aside because it could not restore it (all
    /// pages), oldest first.
    /// Writes a consistent copy of the coordinator's store to `dest` (a new file: an
    /// existing one is never overwritten), through `dest` + `.partial`, synced, then renamed.
    /// Returns the copy's size and schema version.
    pub async fn backup(&self, dest: &std::path::Path) -> Result<BackupCopy, Error> {
        use tokio::io::AsyncWriteExt;
        let io = |e: std::io::Error| Error::ReadFile { path: dest.to_path_buf(), source: e };
        if tokio::fs::try_exists(dest).await.map_err(io)? {
            return Err(Error::InvalidInput { field: "FILE".into(), message: format!("{} exists", dest.display()) });
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let mut stream = self.monitor.clone().backup(pb::BackupRequest {}).await?.into_inner();
        let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
        let (mut copy, mut written) = (BackupCopy::default(), 0u64);
        let received = async {
            while let Some(chunk) = stream.message().await? {
                if written == 0 {
                    copy = BackupCopy { bytes: chunk.total_bytes, schema_version: chunk.schema_version };
                }
                file.write_all(&chunk.data).await.map_err(io)?;
                written += chunk.data.len() as u64;
            }
            if written != copy.bytes {
                return Err(Error::Protocol(format!("backup stream ended at {written} of {} bytes", copy.bytes)));
            }
            file.sync_all().await.map_err(io)?;
            tokio::fs::rename(&partial, dest).await.map_err(io)
        };
        match received.await {
            Ok(()) => Ok(copy),
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(e)
            }
        }
    }

    pub async fn list_quarantined(&self) -> Result<Vec<pb::QuarantinedRecord>, Error> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListQuarantinedRequest { page_size: 1000, page_token };
            let page = self.monitor.clone().list_quarantined(request).await?.into_inner();
            all.extend(page.records);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }

    /// Heartbeats as the coordinator receives them, from one worker or (`None`) all.
    pub async fn watch_heartbeats(&self, worker_id: Option<WorkerId>) -> Result<Subscription<pb::Heartbeat>, Error> {
        let request = pb::WatchHeartbeatsRequest { worker_id: worker_id.map(|w| w.to_string()).unwrap_or_default() };
        Ok(Subscription { inner: self.monitor.clone().watch_heartbeats(request).await?.into_inner() })
    }

    /// Run events (of one run, or all) and worker liveness changes, as they happen.
    pub async fn watch_events(&self, run_id: Option<RunId>) -> Result<Subscription<pb::ClusterEvent>, Error> {
        let request = pb::WatchEventsRequest { run_id: run_id.map(|r| r.to_string()).unwrap_or_default() };
        Ok(Subscription { inner: self.monitor.clone().watch_events(request).await?.into_inner() })
    }
}

fn parse_run_id(text: &str) -> Result<RunId, Error> {
    text.parse().map_err(|e| Error::Protocol(format!("run id `{text}` is not a UUID: {e}")))
}

/// "transport error: tcp connect error: Connection refused (os error 111)": tonic's
/// top-level message alone ("transport error") hides the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

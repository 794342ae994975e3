//! An in-process coordinator that speaks just enough of WorkerService and MonitorService
//! for worker tests: it registers sessions, lets the test push messages down them, records
//! everything the worker sends, and acknowledges statuses as the test says.
// Each test binary uses a different part of the fake.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tonic::{Code, Request, Response, Status, Streaming};
use weft_proto::pb::monitor_service_server::{MonitorService, MonitorServiceServer};
use weft_proto::pb::worker_service_server::{WorkerService, WorkerServiceServer};
use weft_proto::pb::{self, AckOutcome, TaskState, coordinator_message, worker_message, worker_report};

/// Every test step waits at most this long for the worker.
pub const STEP: Duration = Duration::from_secs(15);
pub const HEARTBEAT_MS: u64 = 50;

pub type Push = mpsc::UnboundedSender<Result<pb::CoordinatorMessage, Status>>;

/// What the fake saw, in order.
#[derive(Debug)]
pub enum Seen {
    /// A registered session; dropping `push` ends the session stream (a lost connection).
    Session {
        register: pb::Register,
        push: Push,
    },
    Drain,
    Report(pb::WorkerReport),
}

/// Metadata of one call the worker made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub method: &'static str,
    pub authorization: Option<String>,
    /// The `weft-session-secret` a report stream carried.
    pub session_secret: Option<String>,
}

/// The session secret the fake gives session number `n` (from 1).
pub fn session_secret(n: u64) -> String {
    format!("{n:064x}")
}

#[derive(Clone)]
struct Fake {
    events: mpsc::UnboundedSender<Seen>,
    /// Every call's metadata, in order; sessions opened so far is the count of `Session`.
    /// A std Mutex: held only to push or copy, never across an await.
    calls: Arc<Mutex<Vec<Call>>>,
    /// How statuses are acknowledged; `None` means not at all. A std Mutex: held only to
    /// copy the value, never across an await.
    ack: Arc<Mutex<Option<AckOutcome>>>,
    refuse: Option<Code>,
}

pub struct Coordinator {
    pub addr: String,
    events: mpsc::UnboundedReceiver<Seen>,
    ack: Arc<Mutex<Option<AckOutcome>>>,
    calls: Arc<Mutex<Vec<Call>>>,
    /// Every report received so far, so a wait also finds what arrived earlier.
    pub reports: Vec<pb::WorkerReport>,
    pub drains: usize,
}

impl Coordinator {
    pub async fn start(refuse: Option<Code>) -> Coordinator {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, refuse)
    }

    pub fn serve(listener: TcpListener, refuse: Option<Code>) -> Coordinator {
        let addr = format!("http://{}", listener.local_addr().expect("local addr"));
        let (events_tx, events) = mpsc::unbounded_channel();
        let ack = Arc::new(Mutex::new(Some(AckOutcome::Accepted)));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake { events: events_tx, calls: calls.clone(), ack: ack.clone(), refuse };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(WorkerServiceServer::new(fake.clone()))
                .add_service(MonitorServiceServer::new(fake))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Coordinator { addr, events, ack, calls, reports: Vec::new(), drains: 0 }
    }

    /// Metadata of every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls lock").clone()
    }

    pub fn set_ack(&self, outcome: Option<AckOutcome>) {
        *self.ack.lock().expect("ack lock") = outcome;
    }

    async fn next(&mut self) -> Seen {
        match tokio::time::timeout(STEP, self.events.recv()).await {
            Ok(Some(seen)) => seen,
            Ok(None) => panic!("fake coordinator stopped"),
            Err(_) => panic!("nothing from the worker within {STEP:?}; reports so far: {:#?}", self.reports),
        }
    }

    /// Waits for the next registered session, recording reports on the way.
    pub async fn session(&mut self) -> (pb::Register, Push) {
        loop {
            match self.next().await {
                Seen::Session { register, push } => return (register, push),
                other => self.record(other),
            }
        }
    }

    /// Waits until `found` matches a report (one that arrived before counts too).
    pub async fn report<T>(&mut self, mut found: impl FnMut(&pb::WorkerReport) -> Option<T>) -> T {
        if let Some(hit) = self.reports.iter().find_map(&mut found) {
            return hit;
        }
        loop {
            match self.next().await {
                Seen::Report(report) => {
                    let hit = found(&report);
                    self.reports.push(report);
                    if let Some(hit) = hit {
                        return hit;
                    }
                }
                Seen::Session { register, .. } => panic!("unexpected new session: {register:?}"),
                Seen::Drain => self.drains += 1,
            }
        }
    }

    /// Waits for a status of `task` in `state`; `nth` = 1 for the first such status.
    pub async fn status(&mut self, task: &str, state: TaskState, nth: usize) -> pb::TaskStatus {
        let mut count = 0;
        self.report(|r| match &r.report {
            Some(worker_report::Report::Status(s))
                if s.attempt.as_ref().is_some_and(|a| a.task == task) && s.state == state as i32 =>
            {
                count += 1;
                (count == nth).then(|| s.clone())
            }
            _ => None,
        })
        .await
    }

    /// Waits for a heartbeat that satisfies `check`.
    pub async fn heartbeat(&mut self, mut check: impl FnMut(&pb::Heartbeat) -> bool) -> pb::Heartbeat {
        // Only heartbeats after this call: the test asks about the worker's state from now on.
        let skip = self.reports.len();
        let mut index = 0;
        self.report(|r| {
            index += 1;
            match &r.report {
                Some(worker_report::Report::Heartbeat(h)) if index > skip && check(h) => Some(h.clone()),
                _ => None,
            }
        })
        .await
    }

    /// Waits until the worker has taken the session into use. Call right after
    /// [`Coordinator::session`]: the first heartbeat rides on the connect, the second comes
    /// from the worker's timer, which runs only once the link is installed.
    pub async fn linked(&mut self) {
        self.heartbeat(|_| true).await;
        self.heartbeat(|_| true).await;
    }

    pub async fn drain(&mut self) {
        while self.drains == 0 {
            let seen = self.next().await;
            self.record(seen);
        }
    }

    fn record(&mut self, seen: Seen) {
        match seen {
            Seen::Report(report) => self.reports.push(report),
            Seen::Drain => self.drains += 1,
            Seen::Session { register, .. } => panic!("unexpected new session: {register:?}"),
        }
    }

    /// Statuses of `task` received so far.
    pub fn statuses_of(&self, task: &str) -> Vec<pb::TaskStatus> {
        self.reports
            .iter()
            .filter_map(|r| match &r.report {
                Some(worker_report::Report::Status(s)) if s.attempt.as_ref().is_some_and(|a| a.task == task) => {
                    Some(s.clone())
                }
                _ => None,
            })
            .collect()
    }
}

pub fn attempt(task: &str) -> pb::AttemptRef {
    pb::AttemptRef {
        run_id: "0190a1b2-0000-7000-8000-000000000001".into(),
        workflow: "wf".into(),
        task: task.into(),
        attempt: 1,
    }
}

pub fn assignment(task: &str, kind: &str, params: serde_json::Value) -> Result<pb::CoordinatorMessage, Status> {
    let attempt = attempt(task);
    Ok(pb::CoordinatorMessage {
        message: Some(coordinator_message::Message::Assignment(pb::Assignment {
            idempotency_key: attempt.key(),
            attempt: Some(attempt),
            kind: kind.into(),
            params_json: params.to_string(),
            ..Default::default()
        })),
    })
}

pub fn cancel(task: &str) -> Result<pb::CoordinatorMessage, Status> {
    Ok(pb::CoordinatorMessage {
        message: Some(coordinator_message::Message::Cancel(pb::CancelAttempt {
            attempt: Some(attempt(task)),
            reason: "test".into(),
        })),
    })
}

#[tonic::async_trait]
impl WorkerService for Fake {
    type SessionStream = UnboundedReceiverStream<Result<pb::CoordinatorMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        if let Some(code) = self.refuse {
            return Err(Status::new(code, "refused by the test coordinator"));
        }
        let session = self.record("Session", &request);
        let mut inbound = request.into_inner();
        let (out, rx) = mpsc::unbounded_channel();
        let (push, mut pushed) = mpsc::unbounded_channel();
        let events = self.events.clone();
        tokio::spawn(async move {
            let Ok(Some(pb::WorkerMessage { message: Some(worker_message::Message::Register(register)) })) =
                inbound.message().await
            else {
                return;
            };
            let registered = pb::Registered {
                worker_id: register.worker_id.clone(),
                heartbeat_interval_ms: HEARTBEAT_MS,
                lease_timeout_ms: 10_000,
                session_secret: session_secret(session),
            };
            let _ = out.send(Ok(pb::CoordinatorMessage {
                message: Some(coordinator_message::Message::Registered(registered)),
            }));
            let _ = events.send(Seen::Session { register, push });
            // Like a real coordinator, the session ends when either side ends it: the test
            // by dropping `push`, the worker by closing its stream. `out` goes with it.
            loop {
                tokio::select! {
                    message = inbound.message() => match message {
                        Ok(Some(pb::WorkerMessage { message: Some(worker_message::Message::Drain(_)) })) => {
                            let _ = events.send(Seen::Drain);
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    },
                    message = pushed.recv() => match message {
                        Some(message) => {
                            let _ = out.send(message);
                        }
                        None => break,
                    },
                }
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }
}

impl Fake {
    /// Records a call's metadata; returns how many sessions were opened, this one included.
    fn record<T>(&self, method: &'static str, request: &Request<T>) -> u64 {
        let text = |key: &str| request.metadata().get(key).and_then(|v| v.to_str().ok()).map(String::from);
        let call = Call { method, authorization: text("authorization"), session_secret: text("weft-session-secret") };
        let mut calls = self.calls.lock().expect("calls lock");
        calls.push(call);
        calls.iter().filter(|c| c.method == "Session").count() as u64
    }
}

type Unimplemented<T> = UnboundedReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl MonitorService for Fake {
    type ReportStream = UnboundedReceiverStream<Result<pb::ReportAck, Status>>;
    type WatchHeartbeatsStream = Unimplemented<pb::Heartbeat>;
    type WatchEventsStream = Unimplemented<pb::ClusterEvent>;

    async fn report(
        &self,
        request: Request<Streaming<pb::WorkerReport>>,
    ) -> Result<Response<Self::ReportStream>, Status> {
        self.record("Report", &request);
        let mut inbound = request.into_inner();
        let (acks, rx) = mpsc::unbounded_channel();
        let events = self.events.clone();
        let ack = self.ack.clone();
        tokio::spawn(async move {
            while let Ok(Some(report)) = inbound.message().await {
                if let Some(worker_report::Report::Status(status)) = &report.report {
                    let outcome = *ack.lock().expect("ack lock");
                    if let Some(outcome) = outcome {
                        let _ = acks.send(Ok(pb::ReportAck {
                            attempt: status.attempt.clone(),
                            state: status.state,
                            outcome: outcome as i32,
                        }));
                    }
                }
                let _ = events.send(Seen::Report(report));
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn watch_heartbeats(
        &self,
        _: Request<pb::WatchHeartbeatsRequest>,
    ) -> Result<Response<Self::WatchHeartbeatsStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn watch_events(
        &self,
        _: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn get_cluster_status(
        &self,
        _: Request<pb::GetClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    type BackupStream = tokio_stream::Empty<Result<pb::BackupChunk, Status>>;

    async fn backup(&self, _: Request<pb::BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_quarantined(
        &self,
        _: Request<pb::ListQuarantinedRequest>,
    ) -> Result<Response<pb::ListQuarantinedResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn drain_worker(
        &self,
        _: Request<pb::DrainWorkerRequest>,
    ) -> Result<Response<pb::DrainWorkerResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
}

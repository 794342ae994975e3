//! The driver: one task that owns the engine. gRPC handlers reach it through a [`Handle`]
//! (a command plus, where an answer is needed, a oneshot reply); it applies each command,
//! then performs the effects the engine produced: pushes assignments and cancellations down
//! worker sessions, fans events out to watchers, and sleeps until the engine's next deadline.
//!
//! Every answer, reads included, and every event leaves through [`commit_order`]: only
//! once the changes applied before it are durable (read-committed).
mod commit_order;
pub mod config;
mod effects;
mod watchers;

use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;
use weft_engine::{Engine, HeartbeatInfo, Reported, RunSource, SessionSecret, StartRun, TaskError, WorkerRegistration};
use weft_model::{RunId, WorkerId};
use weft_proto::pb;

use crate::clock::Clock;
use crate::convert::{self, Detail, ack_to_pb, event_to_pb, run_to_pb};
use crate::metrics;
use crate::status::{from_engine, shutting_down};
use commit_order::{CommitOrder, Outbox};
use watchers::Watchers;
use weft_store::GroupCommitter;

/// Messages pushed down a worker's session stream.
pub type SessionTx = mpsc::UnboundedSender<Result<pb::CoordinatorMessage, Status>>;
/// Acknowledgements pushed down a worker's report stream.
pub type AckTx = mpsc::UnboundedSender<Result<pb::ReportAck, Status>>;
pub type EventTx = mpsc::Sender<Result<pb::RunEvent, Status>>;
pub type ClusterEventTx = mpsc::Sender<Result<pb::ClusterEvent, Status>>;
pub type HeartbeatTx = mpsc::Sender<Result<pb::Heartbeat, Status>>;

/// Where a command's answer goes: a domain result, mapped to a gRPC status by the handler.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, weft_engine::Error>>;
/// The outcome of a backup: the copy made, or why not.
pub type BackupReply = oneshot::Sender<Result<weft_store::BackupInfo, String>>;

/// Definitions page: (definitions, next page token).
pub type DefinitionPage = (Vec<pb::Definition>, String);
/// Runs page: (runs, next page token).
pub type RunPage = (Vec<pb::Run>, String);

pub enum Command {
    /// A copy of the store to `dest`, after every change applied so far is durable.
    Backup {
        dest: std::path::PathBuf,
        reply: BackupReply,
    },
    /// A definition whose spec the handler validated (kinds aside).
    RegisterDefinition {
        name: String,
        plan: std::sync::Arc<weft_model::ProcessPlan>,
        reply: Reply<(u32, bool)>,
    },
    GetDefinition {
        name: String,
        version: u32,
        reply: Reply<pb::Definition>,
    },
    ListDefinitions {
        prefix: String,
        after: Option<(String, u32)>,
        limit: usize,
        reply: Reply<DefinitionPage>,
    },
    StartRun {
        source: RunSource,
        key: Option<String>,
        input_json: String,
        reply: Reply<(RunId, bool)>,
    },
    /// A run with one page of its tasks: from plan index `start`, at most `size`.
    GetRun {
        id: RunId,
        start: u32,
        size: usize,
        reply: Reply<pb::Run>,
    },
    ListRuns {
        filter: weft_engine::query::RunFilter,
        after: Option<RunId>,
        limit: usize,
        reply: Reply<RunPage>,
    },
    CancelRun {
        id: RunId,
        reason: String,
        reply: Reply<pb::Run>,
    },
    /// Schedules and cluster-wide limits.
    Config(config::ConfigCommand),
    /// History from `from_seq` now, live events into `tx` after; only kinds in the
    /// `kinds` bit mask (by `EventKind` value), final events always.
    WatchRun {
        id: RunId,
        from_seq: u64,
        kinds: u32,
        tx: EventTx,
        reply: Reply<Vec<pb::RunEvent>>,
    },
    /// A page of history: (events, next sequence number or 0).
    History {
        id: RunId,
        from_seq: u64,
        limit: usize,
        reply: Reply<(Vec<pb::RunEvent>, u64)>,
    },
    WatchEvents {
        run: Option<RunId>,
        tx: ClusterEventTx,
    },
    WatchHeartbeats {
        worker: Option<WorkerId>,
        tx: HeartbeatTx,
    },
    /// Answers the session number that later commands of this session carry. Refused
    /// (AlreadyExists) for the id of a live worker without its previous session's secret.
    WorkerOpen {
        reg: WorkerRegistration,
        tx: SessionTx,
        /// The name of the bearer token that opened the session, for the log.
        token: Option<std::sync::Arc<str>>,
        reply: Reply<u64>,
    },
    WorkerDrain {
        id: WorkerId,
        session: u64,
    },
    WorkerClosed {
        id: WorkerId,
        session: u64,
    },
    /// Applied only if `secret` is the secret of the session that registered `id`;
    /// otherwise the report stream (`ack`) ends with PERMISSION_DENIED.
    Heartbeat {
        id: WorkerId,
        secret: SessionSecret,
        heartbeat: pb::Heartbeat,
        ack: AckTx,
    },
    /// Applied only on the session that registered `id`, as a heartbeat.
    TaskStatus {
        id: WorkerId,
        secret: SessionSecret,
        status: pb::TaskStatus,
        attempt: weft_engine::AttemptId,
        ack: AckTx,
    },
    ClusterStatus {
        reply: Reply<pb::ClusterStatus>,
    },
    /// An operator's drain: no new attempts for the worker's current session.
    DrainWorker {
        id: WorkerId,
        reply: Reply<()>,
    },
}

/// Commands from clients waiting for the driver. Past this a request is refused with
/// RESOURCE_EXHAUSTED and a retry hint rather than queued: a burst of submissions cannot
/// grow memory without bound or delay the workers' messages behind it.
pub const CLIENT_QUEUE: usize = 4_096;
/// Commands from workers (sessions, heartbeats, reports) waiting for the driver. A worker's
/// reader waits when it is full (back-pressure down its connection): worker messages are
/// slowed, never dropped.
pub const WORKER_QUEUE: usize = 8_192;
/// How long a refused client is told to wait before trying again.
pub const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// A cheap, cloneable way to reach the driver. Workers and clients have separate inboxes,
/// and the driver always empties the workers' first, so heartbeats and reports are never
/// starved by submissions.
#[derive(Clone)]
pub struct Handle {
    workers: mpsc::Sender<Command>,
    clients: mpsc::Sender<Command>,
}

impl Handle {
    /// Sends a worker's command, waiting for room.
    pub async fn send_for_worker(&self, cmd: Command) {
        // A closed channel means the coordinator is stopping; the caller's stream ends with it.
        let _ = self.workers.send(cmd).await;
    }

    /// Sends a worker's command and waits for its answer.
    pub async fn ask_for_worker<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Status> {
        let (reply, rx) = oneshot::channel();
        self.workers.send(make(reply)).await.map_err(|_| shutting_down())?;
        rx.await.map_err(|_| shutting_down())?.map_err(from_engine)
    }

    /// Sends a client's command that needs no answer; refused when the driver is saturated.
    pub fn send_for_client(&self, cmd: Command) -> Result<(), Status> {
        self.clients.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => saturated(),
            mpsc::error::TrySendError::Closed(_) => shutting_down(),
        })
    }

    /// Asks for a backup; the reply carries the store's own outcome.
    pub async fn ask_backup(
        &self,
        make: impl FnOnce(BackupReply) -> Command,
    ) -> Result<Result<weft_store::BackupInfo, String>, Status> {
        let (reply, rx) = oneshot::channel();
        self.send_for_client(make(reply))?;
        rx.await.map_err(|_| shutting_down())
    }

    /// Sends a client's command and waits for its answer; engine errors become gRPC
    /// statuses here, once for every handler. A dropped reply means the coordinator is
    /// stopping (or its store failed and nothing more is acknowledged).
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Status> {
        let (reply, rx) = oneshot::channel();
        self.send_for_client(make(reply))?;
        rx.await.map_err(|_| shutting_down())?.map_err(from_engine)
    }
}

/// RESOURCE_EXHAUSTED with a RetryInfo detail: the request was not applied; try again.
fn saturated() -> Status {
    let details = tonic_types::ErrorDetails::with_retry_info(Some(RETRY_AFTER));
    <Status as tonic_types::StatusExt>::with_error_details(
        tonic::Code::ResourceExhausted,
        format!(
            "the coordinator is saturated ({CLIENT_QUEUE} requests waiting); nothing was applied: retry after {} ms",
            RETRY_AFTER.as_millis()
        ),
        details,
    )
}

pub struct Driver {
    engine: Engine,
    commits: CommitOrder,
    /// What the current step would show; released by `commits` after the step is durable.
    outbox: Outbox,
    store: pb::StoreStatus,
    retention: std::time::Duration,
    clock: Clock,
    workers_rx: mpsc::Receiver<Command>,
    clients_rx: mpsc::Receiver<Command>,
    sessions: HashMap<WorkerId, (u64, SessionTx)>,
    next_session: u64,
    watchers: Watchers,
    gauges_at: weft_model::Millis,
    seen_queues: std::collections::BTreeSet<(std::sync::Arc<str>, i32)>,
}

impl Driver {
    pub fn new(
        engine: Engine,
        clock: Clock,
        committer: GroupCommitter,
        store: pb::StoreStatus,
        retention: std::time::Duration,
    ) -> (Driver, Handle) {
        let (workers, workers_rx) = mpsc::channel(WORKER_QUEUE);
        let (clients, clients_rx) = mpsc::channel(CLIENT_QUEUE);
        let driver = Driver {
            engine,
            commits: CommitOrder::new(committer),
            outbox: Outbox::default(),
            store,
            retention,
            clock,
            workers_rx,
            clients_rx,
            sessions: HashMap::new(),
            next_session: 0,
            watchers: Watchers::default(),
            gauges_at: 0,
            seen_queues: Default::default(),
        };
        (driver, Handle { workers, clients })
    }

    /// Runs until every handle is dropped or `shutdown` flips. Fails if the store does.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), String> {
        metrics::gauges(&self.engine, &mut self.seen_queues);
        // Whatever restoring produced (tasks that became ready) is persisted first.
        self.perform_effects();
        // Sweep for expired runs every minute, or twice per retention period if shorter.
        let sweep =
            (self.retention / 2).clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(60));
        let mut retention = tokio::time::interval(sweep);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.engine.next_deadline().map(|at| self.clock.instant_of(at));
            tokio::select! {
                // Workers first: a flood of client requests must not delay heartbeats.
                biased;
                cmd = self.workers_rx.recv() => match cmd {
                    Some(cmd) => {
                        self.apply(cmd);
                        self.apply_queued();
                    }
                    None => break,
                },
                cmd = self.clients_rx.recv() => match cmd {
                    Some(cmd) => {
                        self.apply(cmd);
                        self.apply_queued();
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                    self.engine.tick(self.clock.now());
                }
                committed = self.commits.committed() => match committed {
                    Ok(events) => {
                        self.publish(events);
                        continue;
                    }
                    Err(reason) => {
                        tracing::error!(%reason, "store commit failed; stopping: nothing more can be acknowledged");
                        return Err(reason);
                    }
                },
                _ = retention.tick() => {
                    let cutoff = self.clock.now() - self.retention.as_millis() as weft_model::Millis;
                    let expired = self.engine.expire_finished_runs(cutoff);
                    if !expired.is_empty() {
                        tracing::info!(runs = expired.len(), "removed runs past the retention period");
                    }
                }
                _ = shutdown.changed() => break,
            }
            self.perform_effects();
            // Let the other tasks of this runtime (health checks, request decoding, worker
            // streams) run between batches: under a flood the channels are never empty, and
            // tokio's own budget would only yield after many batches.
            tokio::task::yield_now().await;
        }
        // Let the commit thread finish what it has, so no acknowledged change is lost.
        self.commits.finish();
        tracing::debug!("driver stopped");
        Ok(())
    }

    /// Takes whatever else is already queued (workers' first) before performing effects,
    /// so that one commit covers many commands.
    fn apply_queued(&mut self) {
        for _ in 0..256 {
            match self.workers_rx.try_recv() {
                Ok(cmd) => self.apply(cmd),
                Err(_) => break,
            }
        }
        for _ in 0..256 {
            match self.clients_rx.try_recv() {
                Ok(cmd) => self.apply(cmd),
                Err(_) => break,
            }
        }
    }

    /// Answers a request once everything applied so far is durable: the only way a reply
    /// leaves the driver.
    fn answer<T: Send + 'static>(&mut self, reply: Reply<T>, result: Result<T, weft_engine::Error>) {
        self.outbox.answers.push(Box::new(move || {
            // The caller may have gone away; nothing to do then.
            let _ = reply.send(result);
        }));
    }

    /// Hands durable events to their watchers.
    fn publish(&mut self, events: commit_order::Events) {
        for event in &events.runs {
            self.watchers.run_event(event);
        }
        for event in events.workers {
            self.watchers.worker_event(event);
        }
        for anomaly in events.anomalies {
            self.watchers.anomaly(anomaly);
        }
    }

    fn apply(&mut self, cmd: Command) {
        let now = self.clock.now();
        match cmd {
            Command::RegisterDefinition { name, plan, reply } => {
                let result = self.engine.register_plan(&name, plan, now);
                self.answer(reply, result);
            }
            Command::Config(cmd) => self.apply_config(cmd, now),
            Command::Backup { dest, reply } => {
                self.commits.backup(dest, Box::new(move |outcome| drop(reply.send(outcome))));
            }
            Command::GetDefinition { name, version, reply } => {
                let v = (version != 0).then_some(version);
                let result = self.engine.definition(&name, v).map(convert::definition_to_pb);
                self.answer(reply, result);
            }
            Command::ListDefinitions { prefix, after, limit, reply } => {
                let after = after.as_ref().map(|(n, v)| (n.as_str(), *v));
                let (page, more) = self.engine.list_definitions(&prefix, after, limit);
                let token = match (more, page.last()) {
                    (true, Some(d)) => format!("{}@{}", d.name, d.version),
                    _ => String::new(),
                };
                let page = page.into_iter().map(convert::definition_to_pb).collect();
                self.answer(reply, Ok((page, token)));
            }
            Command::StartRun { source, key, input_json, reply } => {
                let req = StartRun { id: RunId::new_v7(), source, idempotency_key: key, input_json };
                let result = self.engine.start_run(req, now);
                if let Ok((id, true)) = &result
                    && let Ok(run) = self.engine.run(*id)
                {
                    tracing::info!(run_id = %id, process = %run.plan.name, tasks = run.tasks.len(), "run started");
                    metrics::run_started();
                }
                self.answer(reply, result);
            }
            Command::GetRun { id, start, size, reply } => {
                let detail = Detail::Page { start, size, max_result_bytes: convert::PAGE_RESULT_BYTES };
                let run = self.engine.run(id).map(|r| (run_to_pb(r, detail), r.plan.clone())).map(|(mut run, plan)| {
                    run.estimate = self.engine.estimate(id, now).ok().map(|e| convert::estimate_to_pb(&e));
                    // Each task of the page: what the estimate takes it to cost, and why.
                    let default_cost = self.engine.default_cost();
                    for w in &mut run.workflows {
                        for t in &mut w.tasks {
                            let Some(task) = plan.find(&w.name, &t.name) else { continue };
                            let r = weft_engine::types::TaskRef { run: id, task };
                            let (cost, source) = self.engine.cost_of(r, default_cost);
                            t.cost_seconds = cost;
                            t.cost_source = convert::cost_source_to_pb(source) as i32;
                            // Why it waits at a limit, if it does.
                            t.waiting = self.engine.waiting_reason(r, now).unwrap_or_default();
                        }
                    }
                    run
                });
                self.answer(reply, run);
            }
            Command::ListRuns { filter, after, limit, reply } => {
                let (page, more) = self.engine.list_runs(&filter, after, limit);
                let token = match (more, page.last()) {
                    (true, Some(r)) => r.id.to_string(),
                    _ => String::new(),
                };
                let page = page.into_iter().map(|r| run_to_pb(r, Detail::None)).collect();
                self.answer(reply, Ok((page, token)));
            }
            Command::CancelRun { id, reason, reply } => {
                let result = self.engine.cancel_run(id, &reason, now);
                // Counts only: a run of 100,000 tasks must not make an answer too big to send.
                let result = result.and_then(|()| self.engine.run(id).map(|r| run_to_pb(r, Detail::None)));
                self.answer(reply, result);
            }
            Command::WatchRun { id, from_seq, kinds, tx, reply } => match self.engine.events_from(id, from_seq) {
                Ok(history) => {
                    let finished = history.last().is_some_and(|e| e.kind.is_run_final())
                        || self.engine.run(id).is_ok_and(|r| r.status.is_final());
                    let next_seq = history.last().map_or(from_seq.max(1), |e| e.seq + 1);
                    let history = history.iter().map(event_to_pb).filter(|e| watchers::wanted(kinds, e.kind)).collect();
                    // Live events are published only once durable, and the history is
                    // answered only once durable too: the stream never shows more than disk.
                    if !finished {
                        self.watchers.add_run(id, next_seq, kinds, tx);
                    }
                    self.answer(reply, Ok(history));
                }
                Err(e) => self.answer(reply, Err(e)),
            },
            Command::History { id, from_seq, limit, reply } => {
                let page = self.engine.events_from(id, from_seq).map(|events| {
                    let next = if events.len() > limit { events[limit].seq } else { 0 };
                    (events.iter().take(limit).map(event_to_pb).collect(), next)
                });
                self.answer(reply, page);
            }
            Command::WatchEvents { run, tx } => self.watchers.add_events(run, tx),
            Command::WatchHeartbeats { worker, tx } => self.watchers.add_heartbeats(worker, tx),
            Command::WorkerOpen { mut reg, tx, token, reply } => {
                self.next_session += 1;
                reg.session = self.next_session;
                reg.secret = SessionSecret(weft_net::auth::random_bytes());
                let (id, secret, proved) = (reg.id, reg.secret, reg.proof.is_some());
                let name = reg.name.clone();
                let result = self.engine.register_worker(reg, now);
                let token = token.as_deref().unwrap_or("none");
                match &result {
                    Ok(()) => {
                        let registered = pb::CoordinatorMessage {
                            message: Some(pb::coordinator_message::Message::Registered(pb::Registered {
                                worker_id: id.to_string(),
                                heartbeat_interval_ms: self.engine.config().heartbeat_interval_ms,
                                lease_timeout_ms: self.engine.config().lease_timeout_ms,
                                session_secret: convert::session_secret_to_text(&secret),
                            })),
                        };
                        // Registered must be the first message: this step's assignments are
                        // pushed after it, once the session is in `sessions`.
                        let _ = tx.send(Ok(registered));
                        tracing::info!(worker_id = %id, name = %name, session = self.next_session, token, "worker session opened");
                        self.sessions.insert(id, (self.next_session, tx));
                    }
                    Err(weft_engine::Error::AlreadyExists(_)) => {
                        tracing::warn!(
                            target: "weft::auth",
                            worker_id = %id,
                            name = %name,
                            token,
                            with_secret = proved,
                            reason = "worker_id_in_use",
                            "worker registration refused: the id belongs to a live session and the secret of \
                             that session was not given"
                        );
                        metrics::auth_failure("worker_id_in_use");
                    }
                    Err(_) => {}
                }
                // Sessions are not stored, but the attempts a worker says it holds may be
                // taken back into the engine: answered after the commit, like everything.
                self.answer(reply, result.map(|()| self.next_session));
            }
            Command::WorkerDrain { id, session } => self.engine.worker_draining(id, session, now),
            Command::WorkerClosed { id, session } => {
                if self.sessions.get(&id).is_some_and(|(s, _)| *s == session) {
                    self.sessions.remove(&id);
                }
                self.engine.worker_disconnected(id, session, now);
            }
            Command::Heartbeat { id, secret, heartbeat, ack } => {
                if self.on_session(id, &secret, &ack) {
                    self.heartbeat(id, heartbeat, now);
                }
            }
            Command::TaskStatus { id, secret, status, attempt, ack } => {
                if !self.on_session(id, &secret, &ack) {
                    return;
                }
                let reported = match pb::TaskState::try_from(status.state) {
                    Ok(pb::TaskState::Running) => Reported::Running,
                    Ok(pb::TaskState::Succeeded) => Reported::Succeeded(status.result_json.as_str().into()),
                    Ok(pb::TaskState::Failed) => {
                        let e = status.error.clone().unwrap_or_default();
                        Reported::Failed(TaskError { message: e.message, retryable: e.retryable })
                    }
                    _ => {
                        let msg = format!("status.state: {} is not RUNNING, SUCCEEDED or FAILED", status.state);
                        let _ = ack.send(Err(Status::invalid_argument(msg)));
                        return;
                    }
                };
                let outcome = self.engine.task_status(id, &attempt, reported, now);
                if outcome == weft_engine::AckOutcome::Stale {
                    tracing::warn!(worker_id = %id, run_id = %attempt.run, task = %attempt.task, attempt = attempt.attempt, "stale report refused");
                }
                metrics::report(outcome);
                let answer =
                    pb::ReportAck { attempt: status.attempt, state: status.state, outcome: ack_to_pb(outcome) as i32 };
                // A result is acknowledged only once recorded: until then the worker keeps it.
                self.outbox.answers.push(Box::new(move || {
                    let _ = ack.send(Ok(answer));
                }));
            }
            Command::ClusterStatus { reply } => {
                let status = convert::cluster_status(&self.engine, now, &self.store);
                self.answer(reply, Ok(status));
            }
            Command::DrainWorker { id, reply } => {
                let drained = match self.sessions.get(&id) {
                    Some((session, _)) => {
                        let session = *session;
                        tracing::info!(worker_id = %id, session, "worker drained by an operator: no new attempts");
                        self.engine.worker_draining(id, session, now);
                        Ok(())
                    }
                    None => {
                        Err(weft_engine::Error::NotFound { what: "worker with an open session", id: id.to_string() })
                    }
                };
                self.answer(reply, drained);
            }
        }
    }

    /// Whether a report for worker `id` comes on the session that registered it (its stream
    /// carries that session's secret). If not, it is logged, counted, and its stream ends
    /// with PERMISSION_DENIED: a report under another worker's id, or on a session that was
    /// replaced or closed, changes nothing.
    fn on_session(&self, id: WorkerId, secret: &SessionSecret, ack: &AckTx) -> bool {
        if self.engine.session_matches(id, secret) {
            return true;
        }
        if !ack.is_closed() {
            tracing::warn!(
                target: "weft::auth",
                worker_id = %id,
                reason = "bad_session",
                "report refused: it is not on the session that registered this worker"
            );
            metrics::auth_failure("bad_session");
            let _ = ack.send(Err(Status::permission_denied(format!(
                "reports for worker {id} are accepted only on the session that registered it (with its secret)"
            ))));
        }
        false
    }

    fn heartbeat(&mut self, id: WorkerId, hb: pb::Heartbeat, now: weft_model::Millis) {
        let lag = self.engine.worker(id).map(|w| now - w.last_heartbeat);
        let running: Vec<_> =
            hb.running.iter().filter_map(|a| convert::attempt_from_pb("heartbeat.running", Some(a)).ok()).collect();
        let info = HeartbeatInfo {
            used: hb.used,
            cpu_percent: hb.cpu_percent,
            memory_used_bytes: hb.memory_used_bytes,
            memory_total_bytes: hb.memory_total_bytes,
            running,
        };
        if !self.engine.heartbeat(id, info, now) {
            return;
        }
        let name = self.engine.worker(id).map(|w| w.name.as_str()).unwrap_or("");
        tracing::info!(
            target: weft_telemetry::HEARTBEAT_TARGET,
            worker_id = %id,
            name,
            load = format_args!("{}/{}", hb.used, hb.slots),
            running = hb.running.len(),
            cpu_percent = format_args!("{:.1}", hb.cpu_percent),
            memory_mib = hb.memory_used_bytes / (1024 * 1024),
            lag_ms = lag.unwrap_or(0),
            "heartbeat"
        );
        self.watchers.heartbeat(id, &hb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_driver() -> (Driver, Handle) {
        let committer =
            GroupCommitter::start(Box::new(weft_store::MemoryStore::new()), Default::default(), |_| {}).unwrap();
        let engine = Engine::new(Default::default());
        Driver::new(engine, Clock::new(), committer, pb::StoreStatus::default(), std::time::Duration::from_secs(60))
    }

    #[tokio::test]
    async fn a_full_client_queue_refuses_with_a_retry_hint_while_workers_still_get_through() {
        // The driver is not running: nothing is taken off its queues.
        let (_driver, handle) = idle_driver();
        let watch = || {
            let (tx, _rx) = mpsc::channel(1);
            Command::WatchEvents { run: None, tx }
        };
        for i in 0..CLIENT_QUEUE {
            handle.send_for_client(watch()).unwrap_or_else(|e| panic!("request {i} fits: {e}"));
        }
        let refused = handle.send_for_client(watch()).expect_err("the queue is full");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("nothing was applied"), "{}", refused.message());
        let hint = tonic_types::StatusExt::get_details_retry_info(&refused).and_then(|r| r.retry_delay);
        assert_eq!(hint, Some(RETRY_AFTER), "the refusal carries a retry hint");
        // Workers have their own queue: a heartbeat is not refused because clients flood.
        let (ack, _acks) = mpsc::unbounded_channel();
        let heartbeat = Command::Heartbeat {
            id: WorkerId::new_v7(),
            secret: SessionSecret([0; 32]),
            heartbeat: pb::Heartbeat::default(),
            ack,
        };
        tokio::time::timeout(std::time::Duration::from_secs(1), handle.send_for_worker(heartbeat))
            .await
            .expect("a worker's message is queued at once");
    }
}

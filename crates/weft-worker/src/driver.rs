//! The worker's event loop. One task owns all worker state (running attempts, unacked
//! statuses, the link) and reacts to one event at a time, so nothing needs a lock:
//!
//! ```text
//!   shutdown ─┐  coordinator session ─┐  report acks ─┐  heartbeat tick ─┐  attempt finished ─┐
//!             └──────────────────────── next_event() ──────────────────────────────────────────┘
//!                                            │
//!      link down ──(backoff)──▶ connecting ──▶ link up ──(stream error)──▶ link down
//! ```
//!
//! Attempts run on their own tasks and report back through a channel; a lost link never
//! stops them. Drain: announce, refuse new work, wait up to the grace, stop the rest,
//! flush final statuses (bounded), return.
use crate::Error;
use crate::WorkerConfig;
use crate::host::HostStats;
use crate::reports::{self, Outbox, now_ms};
use crate::runner::{self, Executors, Outcome, STOP_GRACE};
use crate::session::{self, Backoff, ConnectError, Link};
use crate::task::TaskError;
use std::collections::HashMap;
use std::future::Future;
use std::pin::{Pin, pin};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use weft_proto::pb::{self, coordinator_message};

/// After the drain grace, how long final statuses may take to be acknowledged.
const FLUSH_GRACE: Duration = Duration::from_secs(5);
/// On exit, how long the coordinator may take to end the session after the worker
/// closes its side.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// After a standby's refusal: the next try, without growing the backoff.
const STANDBY_RETRY: Duration = Duration::from_millis(100);

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// An attempt that is running on this worker.
struct Running {
    attempt: pb::AttemptRef,
    kind: String,
    cancel: CancellationToken,
    /// Set when the worker stopped the attempt; decides what (if anything) is reported.
    stop: Option<Stop>,
    started: Instant,
}

#[derive(Clone, Debug)]
enum Stop {
    /// The coordinator cancelled it: its result is not wanted, nothing is reported.
    Cancelled,
    /// The coordinator said it is no longer current: nothing is reported.
    Stale,
    /// The worker is shutting down: reported as a retryable failure.
    Shutdown,
}

struct Finished {
    key: String,
    outcome: Outcome,
}

struct Draining {
    grace_ends: Instant,
    /// Running attempts were told to stop when the grace ended.
    stopped: bool,
    give_up_at: Instant,
}

type Connecting = Pin<Box<dyn Future<Output = Result<Link, ConnectError>> + Send>>;

enum Event {
    Shutdown,
    GraceOver,
    GiveUp,
    Reconnect,
    // Boxed: a link is large, and events are moved around on every loop turn.
    Connected(Box<Result<Link, ConnectError>>),
    Session(Option<Result<pb::CoordinatorMessage, tonic::Status>>),
    Ack(Option<Result<pb::ReportAck, tonic::Status>>),
    Heartbeat,
    Finished(Finished),
}

pub(crate) struct Driver {
    config: WorkerConfig,
    executors: Executors,
    worker_id: String,
    running: HashMap<String, Running>,
    outbox: Outbox,
    finished_tx: mpsc::UnboundedSender<Finished>,
    finished_rx: mpsc::UnboundedReceiver<Finished>,
    host: HostStats,
    link: Option<Link>,
    connecting: Option<Connecting>,
    reconnect_at: Option<Instant>,
    backoff: Backoff,
    /// Index into `config.coordinators` of the next address to try.
    next_addr: usize,
    announced: bool,
    draining: Option<Draining>,
    /// The secret of the last session a coordinator gave this worker: the next registration
    /// sends it to prove it is the same worker (the coordinator refuses a live worker's id
    /// without it).
    session_secret: String,
}

impl Driver {
    pub(crate) fn new(config: WorkerConfig, executors: Executors) -> Self {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        Driver {
            worker_id: config.worker_id.to_string(),
            backoff: Backoff::new(config.reconnect_initial, config.reconnect_max),
            config,
            executors,
            running: HashMap::new(),
            outbox: Outbox::default(),
            finished_tx,
            finished_rx,
            host: HostStats::new(),
            link: None,
            connecting: None,
            reconnect_at: Some(Instant::now()),
            next_addr: 0,
            announced: false,
            draining: None,
            session_secret: String::new(),
        }
    }

    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let mut shutdown = pin!(shutdown);
        info!(worker_id = %self.worker_id, name = %self.config.name, kinds = ?self.executors.kinds(),
            slots = self.config.slots, "worker starting");
        loop {
            if self.draining.is_some() && self.running.is_empty() && self.outbox.is_empty() {
                info!(worker_id = %self.worker_id, "drained; exiting");
                self.close().await;
                return Ok(());
            }
            match self.next_event(shutdown.as_mut()).await {
                Event::Shutdown => self.start_drain(),
                Event::GraceOver => self.stop_all_for_shutdown(),
                Event::GiveUp => {
                    warn!(
                        unacked = self.outbox.len(),
                        running = self.running.len(),
                        "drain timed out; exiting with statuses not acknowledged"
                    );
                    self.close().await;
                    return Ok(());
                }
                Event::Reconnect => self.start_connect(),
                Event::Connected(result) => self.connected(*result)?,
                Event::Session(message) => self.on_session(message),
                Event::Ack(ack) => self.on_ack(ack),
                Event::Heartbeat => self.send_heartbeat(),
                Event::Finished(finished) => self.on_finished(finished),
            }
        }
    }

    async fn next_event(&mut self, shutdown: Pin<&mut (impl Future<Output = ()> + Send)>) -> Event {
        let draining = self.draining.is_some();
        let grace_ends = self.draining.as_ref().filter(|d| !d.stopped).map(|d| d.grace_ends);
        let give_up_at = self.draining.as_ref().map(|d| d.give_up_at);
        let (session_rx, report_rx, heartbeat) = match &mut self.link {
            Some(link) => (Some(&mut link.session_rx), Some(&mut link.report_rx), Some(&mut link.heartbeat)),
            None => (None, None, None),
        };
        tokio::select! {
            _ = shutdown, if !draining => Event::Shutdown,
            Some(finished) = self.finished_rx.recv() => Event::Finished(finished),
            message = next_or_pending(session_rx) => Event::Session(message),
            ack = next_or_pending(report_rx) => Event::Ack(ack),
            _ = tick_or_pending(heartbeat) => Event::Heartbeat,
            result = connecting_or_pending(self.connecting.as_mut()) => Event::Connected(Box::new(result)),
            _ = sleep_or_pending(self.reconnect_at) => Event::Reconnect,
            _ = sleep_or_pending(grace_ends) => Event::GraceOver,
            _ = sleep_or_pending(give_up_at) => Event::GiveUp,
        }
    }

    // ---- connection ----

    async fn close(&mut self) {
        if let Some(link) = self.link.take() {
            link.close(CLOSE_GRACE).await;
        }
    }

    fn start_connect(&mut self) {
        self.reconnect_at = None;
        let addr = self.config.coordinators[self.next_addr % self.config.coordinators.len()].clone();
        debug!(coordinator = %addr, "connecting");
        let register = self.register_message();
        let heartbeat = self.heartbeat_message();
        let (tls, bearer) = (self.config.tls.clone(), self.config.token.clone());
        self.connecting =
            Some(Box::pin(session::connect(addr, tls, bearer, register, heartbeat, self.config.connect_timeout)));
    }

    fn connected(&mut self, result: Result<Link, ConnectError>) -> Result<(), Error> {
        self.connecting = None;
        let link = match result {
            Ok(link) => link,
            Err(ConnectError::Fatal(error)) => return Err(error),
            Err(ConnectError::Retry(reason)) => {
                let addr = &self.config.coordinators[self.next_addr % self.config.coordinators.len()];
                self.schedule_reconnect(addr.clone(), &reason);
                return Ok(());
            }
            Err(ConnectError::Standby { reason, leader }) => {
                self.follow_leader(&reason, leader.as_deref());
                return Ok(());
            }
        };
        self.backoff.reset();
        self.session_secret = link.registered.session_secret.clone();
        info!(coordinator = %link.addr, worker_id = %self.worker_id,
            heartbeat_interval_ms = link.registered.heartbeat_interval_ms,
            lease_timeout_ms = link.registered.lease_timeout_ms,
            running = self.running.len(), unacked = self.outbox.len(), "registered");
        if !self.announced {
            self.announced = true;
            if self.config.ready_line {
                print_ready_line(&self.worker_id, &self.config.name);
            }
        }
        if self.draining.is_some() {
            link.send_drain();
        }
        for status in self.outbox.statuses() {
            link.send_status(status);
        }
        self.link = Some(link);
        Ok(())
    }

    fn lost_link(&mut self, reason: &str) {
        if let Some(link) = self.link.take() {
            self.schedule_reconnect(link.addr, reason);
        }
    }

    fn schedule_reconnect(&mut self, addr: String, reason: &str) {
        // The next try goes to the next address: another coordinator may be the one up.
        self.next_addr = self.next_addr.wrapping_add(1);
        let delay = self.backoff.next_delay();
        warn!(coordinator = %addr, %reason, retry_in_ms = delay.as_millis() as u64,
            running = self.running.len(), "coordinator unreachable; reconnecting");
        self.reconnect_at = Some(Instant::now() + delay);
    }

    /// A standby refused the session: go to the leader it names if it is one of ours, else
    /// to the next address, soon and without growing the backoff (an election is quick; a
    /// standby is not a failure).
    fn follow_leader(&mut self, reason: &str, leader: Option<&str>) {
        let n = self.config.coordinators.len();
        let named = leader.and_then(|leader| {
            self.config
                .coordinators
                .iter()
                .position(|c| c.trim_start_matches("http://").trim_start_matches("https://") == leader)
        });
        self.next_addr = named.unwrap_or_else(|| self.next_addr.wrapping_add(1) % n);
        debug!(%reason, next = %self.config.coordinators[self.next_addr], "a standby answered; trying the leader");
        self.reconnect_at = Some(Instant::now() + STANDBY_RETRY);
    }

    fn register_message(&self) -> pb::Register {
        let holding = self.running.values().map(|r| &r.attempt).chain(self.outbox.attempts()).cloned().collect();
        pb::Register {
            protocol_version: weft_proto::PROTOCOL_VERSION,
            worker_id: self.worker_id.clone(),
            name: self.config.name.clone(),
            queues: self.config.queues.clone(),
            kinds: self.executors.kinds(),
            slots: self.config.slots,
            speed: self.config.speed,
            version: VERSION.to_string(),
            holding,
            previous_session_secret: self.session_secret.clone(),
        }
    }

    fn heartbeat_message(&mut self) -> pb::Heartbeat {
        let load = self.host.sample();
        pb::Heartbeat {
            worker_id: self.worker_id.clone(),
            sent_at_ms: now_ms(),
            slots: self.config.slots,
            used: self.slots_in_use() as u32,
            running: self.running.values().map(|r| r.attempt.clone()).collect(),
            cpu_percent: load.cpu_percent,
            memory_used_bytes: load.memory_used_bytes,
            memory_total_bytes: load.memory_total_bytes,
            version: VERSION.to_string(),
        }
    }

    fn send_heartbeat(&mut self) {
        let heartbeat = self.heartbeat_message();
        debug!(used = heartbeat.used, slots = heartbeat.slots, cpu = heartbeat.cpu_percent, "heartbeat");
        if let Some(link) = &self.link {
            link.send_heartbeat(heartbeat);
        }
    }

    // ---- coordinator messages ----

    fn on_session(&mut self, message: Option<Result<pb::CoordinatorMessage, tonic::Status>>) {
        match message {
            Some(Ok(pb::CoordinatorMessage { message: Some(message) })) => match message {
                coordinator_message::Message::Assignment(assignment) => self.assign(assignment),
                coordinator_message::Message::Cancel(cancel) => self.cancel(cancel),
                coordinator_message::Message::Registered(_) => debug!("ignoring a repeated `registered`"),
            },
            // A message of a newer protocol this worker does not know: nothing to do.
            Some(Ok(_)) => debug!("ignoring an empty coordinator message"),
            Some(Err(status)) => self.lost_link(&format!("session stream: {}", session::status_text(&status))),
            None => self.lost_link("session stream closed by the coordinator"),
        }
    }

    fn assign(&mut self, assignment: pb::Assignment) {
        let attempt = assignment.attempt.clone().unwrap_or_default();
        let key = attempt.key();
        if self.running.contains_key(&key) {
            debug!(attempt = %key, "assignment already running; ignoring the repeat");
            return;
        }
        if let Some(status) = self.outbox.get(&key) {
            // Already done: the coordinator missed the report, so send it again.
            if let Some(link) = &self.link {
                link.send_status(status.clone());
            }
            return;
        }
        let cancel = CancellationToken::new();
        // Faults of the assignment itself come first: they are the real reason, and final.
        let prepared = runner::task_from_assignment(&assignment, cancel.clone())
            .and_then(|task| self.executors.get(&task.kind).map(|executor| (executor, task)))
            .and_then(|ready| {
                if self.draining.is_some() {
                    Err(TaskError::retryable("worker draining"))
                } else if self.slots_in_use() >= self.config.slots as usize {
                    let (used, slots) = (self.slots_in_use(), self.config.slots);
                    Err(TaskError::retryable(format!("worker has no free slot ({used} of {slots} in use)")))
                } else {
                    Ok(ready)
                }
            });
        let (executor, task) = match prepared {
            Ok(ready) => ready,
            Err(error) => {
                warn!(run_id = %attempt.run_id, workflow = %attempt.workflow, task = %attempt.task,
                    attempt = attempt.attempt, kind = %assignment.kind, error = %error, "assignment refused");
                self.report_final(&attempt, Err(error));
                return;
            }
        };

        // Debug, like "succeeded" below: at thousands of tasks a second, one info line per
        // step would cost more than the tasks. Failures and refusals stay visible at info.
        debug!(run_id = %attempt.run_id, workflow = %attempt.workflow, task = %attempt.task,
            attempt = attempt.attempt, kind = %task.kind, "attempt started");
        if let Some(link) = &self.link {
            link.send_status(reports::running(&attempt, now_ms()));
        }
        let span = info_span!("attempt", run_id = %attempt.run_id, workflow = %attempt.workflow,
            task = %attempt.task, attempt = attempt.attempt);
        let finished_tx = self.finished_tx.clone();
        let finished_key = key.clone();
        tokio::spawn(
            async move {
                let outcome = runner::run_attempt(executor, task).await;
                // Fails only when the driver is gone, and then nobody is left to tell.
                let _ = finished_tx.send(Finished { key: finished_key, outcome });
            }
            .instrument(span),
        );
        let kind = assignment.kind;
        self.running.insert(key, Running { attempt, kind, cancel, stop: None, started: Instant::now() });
    }

    /// Attempts that hold a slot. A cancelled or stale attempt gave its slot back the moment
    /// the coordinator said so (the coordinator already counts it free), even while its
    /// process is still being stopped.
    fn slots_in_use(&self) -> usize {
        self.running.values().filter(|r| r.stop.is_none()).count()
    }

    fn cancel(&mut self, cancel: pb::CancelAttempt) {
        let attempt = cancel.attempt.unwrap_or_default();
        let key = attempt.key();
        if let Some(running) = self.running.get_mut(&key) {
            info!(run_id = %attempt.run_id, workflow = %attempt.workflow, task = %attempt.task,
                attempt = attempt.attempt, reason = %cancel.reason, "cancel requested; stopping attempt");
            running.stop.get_or_insert(Stop::Cancelled);
            running.cancel.cancel();
        } else if self.outbox.remove(&key).is_some() {
            debug!(attempt = %key, "cancelled after it finished; forgetting its final status (the coordinator no longer wants it)");
        }
    }

    fn on_ack(&mut self, ack: Option<Result<pb::ReportAck, tonic::Status>>) {
        let ack = match ack {
            Some(Ok(ack)) => ack,
            Some(Err(status)) => return self.lost_link(&format!("report stream: {}", session::status_text(&status))),
            None => return self.lost_link("report stream closed by the coordinator"),
        };
        let key = ack.attempt.as_ref().map(pb::AttemptRef::key).unwrap_or_default();
        if let Some(running) = self.running.get_mut(&key).filter(|_| reports::is_stale(&ack)) {
            warn!(attempt = %key, "coordinator says the attempt is stale; stopping it");
            running.stop.get_or_insert(Stop::Stale);
            running.cancel.cancel();
        }
        if self.outbox.ack(&ack) {
            debug!(attempt = %key, outcome = ack.outcome, "final status acknowledged");
        }
    }

    // ---- attempts ----

    fn on_finished(&mut self, finished: Finished) {
        let Some(running) = self.running.remove(&finished.key) else { return };
        let a = &running.attempt;
        let elapsed_ms = running.started.elapsed().as_millis() as u64;
        let outcome = match (running.stop, finished.outcome) {
            (Some(stop @ (Stop::Cancelled | Stop::Stale)), _) => {
                info!(run_id = %a.run_id, workflow = %a.workflow, task = %a.task, attempt = a.attempt,
                    reason = ?stop, elapsed_ms, "attempt stopped");
                return;
            }
            (Some(Stop::Shutdown), Err(_)) => Err(TaskError::retryable("worker shut down")),
            (_, outcome) => outcome,
        };
        match &outcome {
            Ok(_) => debug!(run_id = %a.run_id, workflow = %a.workflow, task = %a.task, attempt = a.attempt,
                kind = %running.kind, elapsed_ms, "attempt succeeded"),
            Err(e) => info!(run_id = %a.run_id, workflow = %a.workflow, task = %a.task, attempt = a.attempt,
                kind = %running.kind, elapsed_ms, error = %e.message(), retryable = e.is_retryable(), "attempt failed"),
        }
        let attempt = running.attempt;
        self.report_final(&attempt, outcome);
    }

    fn report_final(&mut self, attempt: &pb::AttemptRef, outcome: Outcome) {
        let status = reports::finished(attempt, outcome, now_ms());
        if let Some(link) = &self.link {
            link.send_status(status.clone());
        }
        self.outbox.push(status);
    }

    // ---- drain ----

    fn start_drain(&mut self) {
        let now = Instant::now();
        let grace = self.config.drain_grace;
        info!(running = self.running.len(), grace_ms = grace.as_millis() as u64, "shutdown requested; draining");
        self.draining = Some(Draining {
            grace_ends: now + grace,
            stopped: false,
            give_up_at: now + grace + STOP_GRACE + FLUSH_GRACE,
        });
        if let Some(link) = &self.link {
            link.send_drain();
        }
    }

    fn stop_all_for_shutdown(&mut self) {
        if let Some(draining) = &mut self.draining {
            draining.stopped = true;
        }
        if !self.running.is_empty() {
            warn!(running = self.running.len(), "drain grace over; stopping running attempts");
        }
        for running in self.running.values_mut() {
            running.stop.get_or_insert(Stop::Shutdown);
            running.cancel.cancel();
        }
    }
}

/// The one stdout line scripts wait for. Everything else goes to stderr.
fn print_ready_line(worker_id: &str, name: &str) {
    let ready = weft_procs::WorkerReady { worker_id: worker_id.to_string(), name: name.to_string() };
    if let Err(e) = weft_procs::announce(&ready) {
        warn!(error = %e, "cannot write the ready line to stdout");
    }
}

async fn next_or_pending<S: tokio_stream::Stream + Unpin>(stream: Option<&mut S>) -> Option<S::Item> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

async fn tick_or_pending(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn connecting_or_pending(connecting: Option<&mut Connecting>) -> Result<Link, ConnectError> {
    match connecting {
        Some(connecting) => connecting.await,
        None => std::future::pending().await,
    }
}

async fn sleep_or_pending(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

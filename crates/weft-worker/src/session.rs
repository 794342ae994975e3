//! One connection to a coordinator: the `WorkerService.Session` stream (registration,
//! then assignments and cancels down) and the `MonitorService.Report` stream (heartbeats
//! and statuses up, acks down), over one HTTP/2 channel. Reconnecting is the driver's
//! job; [`Backoff`] spaces the tries.
use crate::Error;
use crate::error::error_chain;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Endpoint;
use tonic::{Code, Status, Streaming};
use weft_model::limits::MAX_MESSAGE_BYTES;
use weft_net::auth::{Bearer, SESSION_SECRET_METADATA};
use weft_net::tls::ClientTls;
use weft_proto::pb::{self, coordinator_message, worker_message, worker_report};
use weft_proto::pb::{monitor_service_client::MonitorServiceClient, worker_service_client::WorkerServiceClient};

/// Heartbeat interval when the coordinator names none.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// HTTP/2 pings find a dead coordinator (a cut cable, a frozen host or process) that a
/// quiet stream would not notice on its own: within about 3 s, so that a worker held by a
/// paused leader moves to its successor about as soon as the successor is elected. A ping is
/// a few bytes a second.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// A registered session and its report stream.
pub(crate) struct Link {
    pub(crate) addr: String,
    pub(crate) registered: pb::Registered,
    worker_id: String,
    // Unbounded so the driver never waits on the network; what they hold is bounded by the
    // attempts in flight plus one heartbeat per interval until keepalive drops a dead link.
    session_tx: mpsc::UnboundedSender<pb::WorkerMessage>,
    report_tx: mpsc::UnboundedSender<pb::WorkerReport>,
    pub(crate) session_rx: Streaming<pb::CoordinatorMessage>,
    pub(crate) report_rx: Streaming<pb::ReportAck>,
    /// Ticks every heartbeat interval; the first heartbeat went out with the connect.
    pub(crate) heartbeat: Interval,
}

impl Link {
    // A failed send means the stream is closing; its receiving half reports that, so the
    // sends themselves need no error path.
    pub(crate) fn send_status(&self, status: pb::TaskStatus) {
        let _ = self.report_tx.send(report(&self.worker_id, worker_report::Report::Status(status)));
    }

    pub(crate) fn send_heartbeat(&self, heartbeat: pb::Heartbeat) {
        let _ = self.report_tx.send(report(&self.worker_id, worker_report::Report::Heartbeat(heartbeat)));
    }

    /// Closes both request streams and waits (at most `grace`) for the coordinator to end
    /// the session. Dropping the streams outright could reset them before the last
    /// queued messages (the drain notice) are written.
    pub(crate) async fn close(self, grace: Duration) {
        let Link { session_tx, report_tx, mut session_rx, .. } = self;
        drop((session_tx, report_tx));
        let _ = tokio::time::timeout(grace, async { while let Some(Ok(_)) = session_rx.next().await {} }).await;
    }

    pub(crate) fn send_drain(&self) {
        let message = worker_message::Message::Drain(pb::Drain {});
        let _ = self.session_tx.send(pb::WorkerMessage { message: Some(message) });
    }
}

fn report(worker_id: &str, report: worker_report::Report) -> pb::WorkerReport {
    pb::WorkerReport { worker_id: worker_id.to_string(), report: Some(report) }
}

/// Why a connection attempt failed.
pub(crate) enum ConnectError {
    /// Trying again cannot help (protocol mismatch, registration refused).
    Fatal(Error),
    /// Network trouble or a coordinator not ready: try again later.
    Retry(String),
    /// A standby refused the session; `leader` is where it says the leader is, if it knows.
    Standby { reason: String, leader: Option<String> },
}

/// Connects (over TLS with `tls`, its files read now), registers and opens the report
/// stream with `heartbeat` as its first message, all within `timeout`.
/// Every call carries `bearer` (the worker's token); the report stream also carries the
/// session's secret, which binds it to the session just registered.
pub(crate) async fn connect(
    addr: String,
    tls: Option<ClientTls>,
    bearer: Bearer,
    register: pb::Register,
    heartbeat: pb::Heartbeat,
    timeout: Duration,
) -> Result<Link, ConnectError> {
    match tokio::time::timeout(timeout, open(&addr, tls.as_ref(), bearer, register, heartbeat, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Retry(format!("no registration within {}", humantime::format_duration(timeout)))),
    }
}

async fn open(
    addr: &str,
    tls: Option<&ClientTls>,
    bearer: Bearer,
    register: pb::Register,
    heartbeat: pb::Heartbeat,
    timeout: Duration,
) -> Result<Link, ConnectError> {
    let mut endpoint = Endpoint::from_shared(addr.to_string())
        .map_err(|e| ConnectError::Retry(format!("bad address: {e}")))?
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    if let Some(tls) = tls {
        // Read at every connect: a rotated certificate is used from the next reconnect on.
        // A file caught mid-rotation fails this try only.
        endpoint = tls.endpoint(endpoint).map_err(|e| ConnectError::Retry(format!("TLS: {e}")))?;
    }
    let channel = endpoint.connect().await.map_err(|e| ConnectError::Retry(error_chain(&e)))?;

    // The first message is queued before the call: a server may wait for it before it
    // answers with response headers, which is what the call itself waits for.
    let version = register.protocol_version;
    let worker_id = register.worker_id.clone();
    let (session_tx, rx) = mpsc::unbounded_channel();
    let _ = session_tx.send(pb::WorkerMessage { message: Some(worker_message::Message::Register(register)) });
    let refused = |status: Status| classify(addr, version, status);
    let mut session_rx = WorkerServiceClient::with_interceptor(channel.clone(), bearer.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .session(UnboundedReceiverStream::new(rx))
        .await
        .map_err(refused)?
        .into_inner();
    let registered = match session_rx.message().await.map_err(refused)? {
        Some(pb::CoordinatorMessage { message: Some(coordinator_message::Message::Registered(r)) }) => r,
        Some(other) => return Err(ConnectError::Retry(format!("expected `registered` first, got {other:?}"))),
        None => return Err(ConnectError::Retry("the session closed before registration".into())),
    };

    let (report_tx, rx) = mpsc::unbounded_channel();
    let _ = report_tx.send(report(&worker_id, worker_report::Report::Heartbeat(heartbeat)));
    // The coordinator applies a report only on the session that registered its worker: the
    // stream proves it belongs to this one with the session's secret.
    let mut request = tonic::Request::new(UnboundedReceiverStream::new(rx));
    let mut secret: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = registered
        .session_secret
        .parse()
        .map_err(|_| ConnectError::Retry("the coordinator's session secret is not a header value".into()))?;
    secret.set_sensitive(true);
    request.metadata_mut().insert(SESSION_SECRET_METADATA, secret);
    let report_rx = MonitorServiceClient::with_interceptor(channel, bearer)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .report(request)
        .await
        .map_err(|status| ConnectError::Retry(format!("report stream refused: {}", status_text(&status))))?
        .into_inner();

    let period = match registered.heartbeat_interval_ms {
        0 => DEFAULT_HEARTBEAT,
        // Floor: a zero-length tokio interval panics, and a busy loop helps nobody.
        ms => Duration::from_millis(ms.max(10)),
    };
    let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Ok(Link { addr: addr.to_string(), registered, worker_id, session_tx, report_tx, session_rx, report_rx, heartbeat })
}

/// FAILED_PRECONDITION, INVALID_ARGUMENT, UNAUTHENTICATED and PERMISSION_DENIED end the
/// worker: the same registration, or the same token, would be refused again. Everything else
/// (UNAVAILABLE while a coordinator starts, a standby that is not the leader, ALREADY_EXISTS
/// while a previous session of this worker id is still live) is worth another try.
fn classify(addr: &str, version: u32, status: Status) -> ConnectError {
    let message = status.message().to_string();
    match status.code() {
        Code::FailedPrecondition => {
            ConnectError::Fatal(Error::ProtocolMismatch { addr: addr.into(), version, message })
        }
        Code::InvalidArgument => ConnectError::Fatal(Error::Rejected { addr: addr.into(), message }),
        Code::Unauthenticated | Code::PermissionDenied => ConnectError::Fatal(Error::Rejected {
            addr: addr.into(),
            message: format!(
                "{:?}: {message} (check the worker's token: --token-file or WEFT_WORKER_TOKEN)",
                status.code()
            ),
        }),
        Code::Unavailable if status.metadata().contains_key(weft_proto::LEADER_METADATA) => {
            let leader = status
                .metadata()
                .get(weft_proto::LEADER_METADATA)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_string);
            ConnectError::Standby { reason: status_text(&status), leader }
        }
        _ => ConnectError::Retry(status_text(&status)),
    }
}

pub(crate) fn status_text(status: &Status) -> String {
    // A call that failed in the transport says why only in its innermost source: "received
    // fatal alert: CertificateRequired" from a coordinator that wants a client certificate.
    let mut cause = std::error::Error::source(status);
    while let Some(inner) = cause.and_then(std::error::Error::source) {
        cause = Some(inner);
    }
    match cause {
        Some(cause) => format!("{:?}: {} ({cause})", status.code(), status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// Exponential backoff with jitter: each delay is drawn from the upper half of the current
/// step, so workers cut off together do not come back in lockstep.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max, step: initial }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        step.mul_f64(0.5 + 0.5 * random_unit())
    }

    pub(crate) fn reset(&mut self) {
        self.step = self.initial;
    }
}

/// A number in [0, 1) from the standard library's randomly keyed hasher; jitter needs no
/// better randomness than that.
fn random_unit() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[1] >= Duration::from_millis(100) && delays[1] <= Duration::from_millis(200));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(5)));
        assert!(delays[9] >= Duration::from_millis(2500));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn refusals_are_fatal_only_for_protocol_and_registration() {
        let fatal = |code| matches!(classify("a", 1, Status::new(code, "m")), ConnectError::Fatal(_));
        assert!(fatal(Code::FailedPrecondition));
        assert!(fatal(Code::InvalidArgument));
        assert!(fatal(Code::Unauthenticated));
        assert!(fatal(Code::PermissionDenied));
        assert!(!fatal(Code::AlreadyExists), "a previous session of this id may still be live: wait for it");
        assert!(!fatal(Code::Unavailable));
        assert!(!fatal(Code::Internal));
    }
}

//! The worker against an in-process fake coordinator: registration, assignments, status
//! and heartbeat reports, acks, cancel, stale attempts, reconnects, refusals and drain.
//! Every wait is on an event from the worker, bounded by `fake::STEP`.
mod fake;

use fake::{Coordinator, STEP, assignment, cancel};
use serde_json::json;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use weft_proto::pb::{AckOutcome, TaskState};
use weft_worker::{Error, Task, Worker, WorkerConfig};

struct Running {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), Error>>,
    id: String,
}

impl Running {
    /// Triggers shutdown (drain) and waits for `run` to return.
    async fn shut_down(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finish().await
    }

    async fn finish(self) -> Result<(), Error> {
        tokio::time::timeout(STEP, self.handle).await.expect("worker did not stop in time").expect("worker panicked")
    }
}

fn config(coordinator: &Coordinator, slots: u32) -> WorkerConfig {
    WorkerConfig {
        slots,
        ready_line: false,
        reconnect_initial: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(200),
        drain_grace: Duration::from_secs(10),
        ..WorkerConfig::new(coordinator.addr.clone())
    }
}

fn start(config: WorkerConfig) -> Running {
    let worker = Worker::builder(config)
        .executor("echo", |task: Task| async move { Ok(json!({"params": task.params, "key": task.idempotency_key})) })
        .build()
        .expect("worker builds");
    let id = worker.id().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    Running { stop: Some(stop), handle, id }
}

#[tokio::test]
async fn registers_runs_two_assignments_and_reports_statuses_and_heartbeats() {
    let mut coordinator = Coordinator::start(None).await;
    let worker = start(config(&coordinator, 2));

    let (register, push) = coordinator.session().await;
    assert_eq!(register.protocol_version, weft_proto::PROTOCOL_VERSION);
    assert_eq!(register.worker_id, worker.id);
    assert_eq!(register.queues, ["default"]);
    assert_eq!(register.kinds, ["echo", "http", "noop", "sleep"]);
    assert_eq!(register.slots, 2);
    assert!(register.holding.is_empty());

    // Heartbeats: one at once, then one per interval.
    for _ in 0..2 {
        let beat = coordinator.heartbeat(|_| true).await;
        assert_eq!((beat.worker_id.as_str(), beat.slots, beat.used), (worker.id.as_str(), 2, 0));
        assert!(beat.memory_total_bytes > 0 && !beat.version.is_empty());
    }

    push.send(assignment("a", "echo", json!({"n": 1}))).unwrap();
    push.send(assignment("b", "sleep", json!({"duration": "50ms"}))).unwrap();
    coordinator.status("a", TaskState::Running, 1).await;
    coordinator.status("b", TaskState::Running, 1).await;
    let a = coordinator.status("a", TaskState::Succeeded, 1).await;
    let key = fake::attempt("a").key();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&a.result_json).unwrap(),
        json!({"params": {"n": 1}, "key": key})
    );
    let b = coordinator.status("b", TaskState::Succeeded, 1).await;
    assert_eq!(b.result_json, "null");
    assert!(b.at_ms > 0);

    // Both statuses were acknowledged, so a new session holds nothing.
    coordinator.heartbeat(|h| h.used == 0).await;
    drop(push);
    let (register, _push) = coordinator.session().await;
    assert_eq!(register.worker_id, worker.id, "the worker keeps its id across sessions");
    assert!(register.holding.is_empty(), "acked statuses are not held: {:?}", register.holding);

    // Shut down only once the worker uses the new session, so the drain notice goes on it.
    coordinator.linked().await;
    worker.shut_down().await.unwrap();
    coordinator.drain().await;
}

#[tokio::test]
async fn cancel_and_stale_acks_stop_running_attempts_without_a_report() {
    let mut coordinator = Coordinator::start(None).await;
    let worker = start(config(&coordinator, 2));
    let (_, push) = coordinator.session().await;

    push.send(assignment("long", "sleep", json!({"duration": "1h"}))).unwrap();
    coordinator.status("long", TaskState::Running, 1).await;
    let beat = coordinator.heartbeat(|h| h.used == 1).await;
    assert_eq!(beat.running, [fake::attempt("long")]);
    push.send(cancel("long")).unwrap();
    // The slot frees; a final status would have been sent before this heartbeat.
    coordinator.heartbeat(|h| h.used == 0).await;
    assert_eq!(coordinator.statuses_of("long").len(), 1, "{:?}", coordinator.statuses_of("long"));

    coordinator.set_ack(Some(AckOutcome::Stale));
    push.send(assignment("fenced", "sleep", json!({"duration": "1h"}))).unwrap();
    coordinator.status("fenced", TaskState::Running, 1).await;
    coordinator.heartbeat(|h| h.used == 0).await;
    assert_eq!(coordinator.statuses_of("fenced").len(), 1, "{:?}", coordinator.statuses_of("fenced"));

    worker.shut_down().await.unwrap();
}

#[tokio::test]
async fn unacked_final_status_is_held_and_resent_after_a_reconnect() {
    let mut coordinator = Coordinator::start(None).await;
    let worker = start(config(&coordinator, 1));
    let (_, push) = coordinator.session().await;

    coordinator.set_ack(None);
    push.send(assignment("c", "noop", json!({"result": 7}))).unwrap();
    coordinator.status("c", TaskState::Succeeded, 1).await;

    // Lose the connection; the worker comes back holding the attempt and says it again.
    coordinator.set_ack(Some(AckOutcome::Duplicate));
    drop(push);
    let (register, push) = coordinator.session().await;
    assert_eq!(register.holding, [fake::attempt("c")]);
    let again = coordinator.status("c", TaskState::Succeeded, 2).await;
    assert_eq!(again.result_json, "7");

    // That one was acked: the next session holds nothing. The ack went out the moment the
    // status arrived; the worker's next timer heartbeat comes well after it handled it.
    coordinator.linked().await;
    drop(push);
    let (register, _push) = coordinator.session().await;
    assert!(register.holding.is_empty(), "{:?}", register.holding);

    worker.shut_down().await.unwrap();
}

#[tokio::test]
async fn sends_its_token_on_every_call_and_proves_its_session_on_reports_and_reconnects() {
    let mut coordinator = Coordinator::start(None).await;
    let token = "weft_0123456789abcdef";
    let worker =
        start(WorkerConfig { token: weft_net::auth::Bearer::new(Some(token)).unwrap(), ..config(&coordinator, 1) });
    let (register, push) = coordinator.session().await;
    assert!(register.previous_session_secret.is_empty(), "a first registration has nothing to prove");
    coordinator.linked().await;

    // Lose the connection: the next registration carries the secret of the session before.
    drop(push);
    let (register, _push) = coordinator.session().await;
    assert_eq!(register.previous_session_secret, fake::session_secret(1));
    coordinator.linked().await;

    let calls = coordinator.calls();
    let bearer = format!("Bearer {token}");
    assert!(calls.iter().all(|c| c.authorization.as_deref() == Some(bearer.as_str())), "{calls:?}");
    let reports: Vec<Option<String>> =
        calls.iter().filter(|c| c.method == "Report").map(|c| c.session_secret.clone()).collect();
    assert_eq!(reports, [Some(fake::session_secret(1)), Some(fake::session_secret(2))], "{calls:?}");
    worker.shut_down().await.unwrap();
}

#[tokio::test]
async fn refuses_extra_shell_and_post_drain_assignments_and_stops_at_the_grace() {
    let mut coordinator = Coordinator::start(None).await;
    let mut worker = start(WorkerConfig { drain_grace: Duration::from_millis(200), ..config(&coordinator, 1) });
    let (_, push) = coordinator.session().await;

    push.send(assignment("first", "sleep", json!({"duration": "1h"}))).unwrap();
    push.send(assignment("extra", "sleep", json!({"duration": "1h"}))).unwrap();
    push.send(assignment("script", "shell", json!({"argv": ["true"]}))).unwrap();
    coordinator.status("first", TaskState::Running, 1).await;
    let extra = coordinator.status("extra", TaskState::Failed, 1).await.error.unwrap();
    assert!(extra.retryable && extra.message.contains("no free slot"), "{extra:?}");
    let script = coordinator.status("script", TaskState::Failed, 1).await.error.unwrap();
    assert_eq!(script.message, "shell tasks are not allowed on this worker");
    assert!(!script.retryable);

    let _ = worker.stop.take().unwrap().send(());
    coordinator.drain().await;
    push.send(assignment("late", "noop", json!({}))).unwrap();
    let late = coordinator.status("late", TaskState::Failed, 1).await.error.unwrap();
    assert_eq!((late.message.as_str(), late.retryable), ("worker draining", true));
    let first = coordinator.status("first", TaskState::Failed, 1).await.error.unwrap();
    assert_eq!((first.message.as_str(), first.retryable), ("worker shut down", true));

    worker.finish().await.unwrap();
}

#[tokio::test]
async fn drain_lets_running_attempts_finish() {
    let mut coordinator = Coordinator::start(None).await;
    let mut worker = start(config(&coordinator, 2));
    let (_, push) = coordinator.session().await;

    push.send(assignment("short", "sleep", json!({"duration": "300ms"}))).unwrap();
    coordinator.status("short", TaskState::Running, 1).await;
    let _ = worker.stop.take().unwrap().send(());
    coordinator.drain().await;
    coordinator.status("short", TaskState::Succeeded, 1).await;
    worker.finish().await.unwrap();
}

#[tokio::test]
async fn tries_the_next_coordinator_when_one_is_down() {
    let mut coordinator = Coordinator::start(None).await;
    // Nothing listens on port 1 of localhost: that connect fails at once.
    let config =
        WorkerConfig { coordinators: vec!["127.0.0.1:1".into(), coordinator.addr.clone()], ..config(&coordinator, 1) };
    let worker = start(config);
    let (register, _push) = coordinator.session().await;
    assert_eq!(register.worker_id, worker.id);
    worker.shut_down().await.unwrap();
}

#[tokio::test]
async fn protocol_mismatch_and_refused_registration_are_fatal() {
    let coordinator = Coordinator::start(Some(Code::FailedPrecondition)).await;
    let err = start(config(&coordinator, 1)).finish().await.unwrap_err();
    assert!(matches!(err, Error::ProtocolMismatch { .. }), "{err}");
    assert!(err.to_string().contains("protocol version 1"), "{err}");

    let coordinator = Coordinator::start(Some(Code::InvalidArgument)).await;
    let err = start(config(&coordinator, 1)).finish().await.unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err}");

    // A token the coordinator does not take will not be taken on the next try either.
    for code in [Code::Unauthenticated, Code::PermissionDenied] {
        let coordinator = Coordinator::start(Some(code)).await;
        let err = start(config(&coordinator, 1)).finish().await.unwrap_err();
        assert!(matches!(err, Error::Rejected { .. }) && err.to_string().contains("token"), "{err}");
    }
}

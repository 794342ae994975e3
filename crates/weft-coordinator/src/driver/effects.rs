//! Performing what the engine asked for after a step: assignments and cancels go out at
//! once; the step's changes go to the commit thread; answers and events follow the commit.
use weft_engine::Effect;
use weft_model::TaskState;
use weft_model::WorkerId;
use weft_proto::pb;

use super::Driver;
use crate::convert::{anomaly_to_pb, assignment_to_pb, attempt_to_pb, worker_event_to_pb};
use crate::metrics;

impl Driver {
    pub(super) fn perform_effects(&mut self) {
        let effects = self.engine.take_effects();
        // What this step made durable-to-be: exactly what the engine says it changed.
        let batch = self.engine.take_changes();
        let mut workers_changed = false;
        for effect in effects {
            match effect {
                // Work goes out at once: a lost assignment is re-run, never lost, so it need
                // not wait for the disk.
                Effect::Assign { worker, assignment } => {
                    self.observe_dispatch(&assignment);
                    let msg = pb::CoordinatorMessage {
                        message: Some(pb::coordinator_message::Message::Assignment(assignment_to_pb(&assignment))),
                    };
                    self.push(worker, msg);
                }
                Effect::Cancel { worker, attempt, reason } => {
                    let msg = pb::CoordinatorMessage {
                        message: Some(pb::coordinator_message::Message::Cancel(pb::CancelAttempt {
                            attempt: Some(attempt_to_pb(&attempt)),
                            reason,
                        })),
                    };
                    self.push(worker, msg);
                }
                Effect::Event(event) => {
                    metrics::event(&event);
                    self.observe_task_end(&event);
                    if event.kind.is_run_final() {
                        tracing::info!(run_id = %event.run, outcome = ?event.kind, reason = %event.detail, "run finished");
                        if let Ok(run) = self.engine.run(event.run) {
                            metrics::estimate_errors(&run.predictions, run.created_at, event.at);
                        }
                    }
                    self.outbox.events.runs.push(event);
                }
                Effect::Worker(event) => {
                    workers_changed = true;
                    match event.liveness {
                        weft_engine::Liveness::Live | weft_engine::Liveness::Draining => {
                            tracing::info!(worker_id = %event.worker, name = %event.name, liveness = ?event.liveness, detail = %event.detail, "worker liveness")
                        }
                        _ => {
                            tracing::warn!(worker_id = %event.worker, name = %event.name, liveness = ?event.liveness, detail = %event.detail, "worker liveness")
                        }
                    }
                    self.outbox.events.workers.push(worker_event_to_pb(&event));
                }
                Effect::Anomaly(anomaly) => {
                    workers_changed = true;
                    metrics::anomaly(anomaly.kind);
                    tracing::warn!(
                        target: "weft::anomaly",
                        kind = metrics::anomaly_label(anomaly.kind),
                        worker_id = ?anomaly.worker,
                        run_id = ?anomaly.run,
                        task = %anomaly.task,
                        queue = %anomaly.queue,
                        value = anomaly.value,
                        "{}",
                        anomaly.detail
                    );
                    self.outbox.events.anomalies.push(anomaly_to_pb(&anomaly));
                }
            }
        }
        let outbox = std::mem::take(&mut self.outbox);
        if let Some(events) = self.commits.submit(batch, outbox) {
            self.publish(events);
        }
        // Gauges are read off the whole engine: a few times a second is plenty, but at once
        // when a worker's state changed, so that they agree with the events just sent.
        let now = self.clock.now();
        if now - self.gauges_at >= 250 || workers_changed {
            self.gauges_at = now;
            metrics::gauges(&self.engine, &mut self.seen_queues);
        }
    }

    fn push(&mut self, worker: WorkerId, msg: pb::CoordinatorMessage) {
        if let Some((_, tx)) = self.sessions.get(&worker)
            && tx.send(Ok(msg)).is_err()
        {
            // The stream is gone; its reader will report WorkerClosed.
            tracing::debug!(worker_id = %worker, "session closed while sending");
        }
    }
}

impl Driver {
    /// Dispatch latency: from ready to assigned.
    fn observe_dispatch(&self, a: &weft_engine::Assignment) {
        let ready_at = self
            .engine
            .run(a.attempt.run)
            .ok()
            .and_then(|run| run.plan.find(&a.attempt.workflow, &a.attempt.task).map(|i| run.tasks[i as usize].ready_at))
            .flatten();
        metrics::dispatched(ready_at.map(|at| self.clock.now() - at));
    }

    /// Task duration by kind and outcome, from a task's final event.
    fn observe_task_end(&self, e: &weft_engine::RunEvent) {
        let outcome = match e.kind {
            weft_engine::EventKind::TaskSucceeded => "succeeded",
            weft_engine::EventKind::TaskFailed => "failed",
            _ => return,
        };
        let Ok(run) = self.engine.run(e.run) else { return };
        let Some(i) = run.plan.find(&e.workflow, &e.task) else { return };
        let t = &run.tasks[i as usize];
        if let (Some(start), Some(end), true) = (t.started_at, t.finished_at, t.state != TaskState::Pending) {
            metrics::task_finished(&run.plan.tasks[i as usize].kind, outcome, end - start);
        }
    }
}

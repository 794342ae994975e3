//! Everything that happens because time passed: retry backoffs ending, tasks waiting too
//! long in their queue, attempts running past their timeout with no word from their worker,
//! and runs reaching their deadline. Each timer is checked when it fires: if the task or run
//! moved on meanwhile, it does nothing, so timers never need to be cancelled.
use weft_model::{Millis, RunId, RunStatus, TaskState};

use crate::types::{TaskError, TaskRef};
use crate::{Effect, Engine};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// A retry backoff ends (the task's `retry_at` must still match).
    Retry(TaskRef),
    /// The task has waited its `queue_timeout` since it became ready at the given time.
    QueueTimeout(TaskRef, Millis),
    /// The attempt has run its timeout plus a grace with no final report.
    AttemptTimeout(TaskRef, u32),
    /// The run reaches its deadline.
    RunDeadline(RunId),
    /// A rate window of a gate the task waits at opens.
    GateOpens(TaskRef),
    /// A schedule's next slot (by its number) is due.
    ScheduleDue(u64, Millis),
}

/// A 0..1 value from an attempt's identity: retry jitter that is random-looking across tasks
/// yet the same on every replay.
pub(crate) fn spread(r: TaskRef, attempt: u32) -> f64 {
    // splitmix64 over the run id, task index and attempt.
    let mut x = (r.run.0.as_u128() as u64) ^ ((r.run.0.as_u128() >> 64) as u64);
    x ^= (u64::from(r.task) << 32) | u64::from(attempt);
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Engine {
    pub(crate) fn set_timer(&mut self, at: Millis, timer: Timer) {
        self.timers.insert((at, timer));
    }

    /// Fires every timer due by `now`.
    pub(crate) fn fire_timers(&mut self, now: Millis) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::Retry(r) => self.retry_due(r, at, now),
                Timer::QueueTimeout(r, ready_at) => self.queue_timeout(r, ready_at, now),
                Timer::AttemptTimeout(r, attempt) => self.attempt_timeout(r, attempt, now),
                Timer::RunDeadline(id) => self.run_deadline(id, now),
                Timer::GateOpens(r) => self.gate_opens(r),
                Timer::ScheduleDue(seq, slot) => self.schedule_due(seq, slot, now),
            }
        }
    }

    fn retry_due(&mut self, r: TaskRef, at: Millis, now: Millis) {
        let due = self.runs.get(&r.run).is_some_and(|run| run.tasks[r.task as usize].retry_at == Some(at));
        if due {
            self.make_ready(r, now);
        }
    }

    fn queue_timeout(&mut self, r: TaskRef, ready_at: Millis, now: Millis) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        let t = &mut run.tasks[r.task as usize];
        if t.state != TaskState::Ready || t.ready_at != Some(ready_at) {
            return;
        }
        let place = match t.ticket.take() {
            Some(ticket) => {
                let plan = &run.plan.tasks[r.task as usize];
                self.sched.queues.remove(&plan.queue, &plan.kind, ticket);
                format!("in queue `{}` without a free slot", plan.queue)
            }
            // Parked at a limit (see `gates`); a retry's backoff does not count.
            None if t.retry_at.is_none() => "at its limits".to_string(),
            None => return,
        };
        let waited = now - ready_at;
        let message = format!("waited {waited} ms {place} (queue_timeout)");
        self.fail_task(r, TaskError { message, retryable: false }, now);
    }

    fn attempt_timeout(&mut self, r: TaskRef, attempt: u32, now: Millis) {
        let Some(run) = self.runs.get(&r.run) else { return };
        let t = &run.tasks[r.task as usize];
        if !(t.state.is_active() && t.attempt == attempt) {
            return;
        }
        let Some(worker) = t.worker else { return };
        let timeout = run.plan.tasks[r.task as usize].timeout_ms.unwrap_or(0);
        let id = self.attempt_id(r);
        self.release(worker, r);
        let message = format!("timed out after {timeout} ms (enforced by the coordinator: no report from the worker)");
        self.emit(Effect::Cancel { worker, attempt: id, reason: message.clone() });
        self.retry_or_fail(r, TaskError { message, retryable: true }, false, now);
        self.observe_outcome(worker, r, true, now);
    }

    fn run_deadline(&mut self, id: RunId, now: Millis) {
        let Some(run) = self.runs.get(&id) else { return };
        if run.status != RunStatus::Running {
            return;
        }
        let deadline = run.plan.deadline_ms.unwrap_or(0);
        let reason = format!("deadline of {deadline} ms exceeded");
        self.end_run(id, RunStatus::Failed, &reason, now);
    }

    /// The grace the coordinator adds to a task's timeout before it enforces it itself:
    /// the worker enforces the timeout first and has two heartbeats to report it.
    pub(crate) fn timeout_grace(&self) -> Millis {
        2 * self.cfg.heartbeat_interval_ms as Millis
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_model::RunId;

    #[test]
    fn spread_is_deterministic_and_spread_out() {
        let r = TaskRef { run: RunId::from_u128(42), task: 3 };
        assert_eq!(spread(r, 2), spread(r, 2));
        let values: Vec<f64> = (0..1000).map(|t| spread(TaskRef { run: r.run, task: t }, 2)).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let low = values.iter().filter(|v| **v < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below 0.5");
    }
}

//! Task status reports from workers. The attempt number is the fencing token: only the
//! current attempt, from the worker that holds it, may change a task.
//!
//! A reported result is checked before it is recorded (at most `MAX_RESULT_BYTES`, nesting
//! at most `MAX_JSON_DEPTH`, valid JSON): a result past them would break the tasks that
//! take it as input, so the attempt fails instead, not retryable (the same code would
//! produce the same result), with an error that says why. The worker's report is still
//! accepted: its attempt has ended and there is nothing for it to send again.
use std::sync::Arc;
use weft_model::json::check_text;
use weft_model::limits::{MAX_ERROR_BYTES, MAX_RESULT_BYTES};
use weft_model::{Millis, RunStatus, TaskState, WorkerId};

use crate::types::{TaskError, TaskRef};
use crate::{AckOutcome, AttemptId, Engine, EventKind};

/// What a worker says about an attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Reported {
    Running,
    Succeeded(Arc<str>),
    Failed(TaskError),
}

/// How the error of an attempt whose result was refused begins.
const RESULT_REFUSED: &str = "result refused:";

/// A worker's error message cut to [`MAX_ERROR_BYTES`] on a character boundary: it is
/// recorded in the run's history and reason. weft's worker library cuts its own; this holds
/// for any worker.
fn bounded(mut error: TaskError) -> TaskError {
    const MARK: &str = " …[truncated]";
    if error.message.len() > MAX_ERROR_BYTES {
        let mut cut = MAX_ERROR_BYTES - MARK.len();
        while !error.message.is_char_boundary(cut) {
            cut -= 1;
        }
        error.message.truncate(cut);
        error.message.push_str(MARK);
    }
    error
}

impl Engine {
    /// Resolves an attempt's names to a task.
    pub(crate) fn resolve(&self, a: &AttemptId) -> Option<TaskRef> {
        let run = self.runs.get(&a.run)?;
        let task = run.plan.find(&a.workflow, &a.task)?;
        Some(TaskRef { run: a.run, task })
    }

    /// Applies a worker's report about one of its attempts.
    pub fn task_status(
        &mut self,
        worker: WorkerId,
        attempt: &AttemptId,
        reported: Reported,
        now: Millis,
    ) -> AckOutcome {
        let Some(r) = self.resolve(attempt) else { return AckOutcome::Stale };
        let t = &self.runs[&r.run].tasks[r.task as usize];
        if t.attempt != attempt.attempt || t.worker != Some(worker) {
            return AckOutcome::Stale;
        }
        if !t.state.is_active() {
            // The attempt already ended here; a repeat of how it ended is harmless.
            let refused = t.error.as_ref().is_some_and(|e| e.message.starts_with(RESULT_REFUSED));
            let repeat = matches!(
                (&reported, t.state),
                (Reported::Succeeded(_), TaskState::Succeeded)
                    | (Reported::Failed(_), TaskState::Failed | TaskState::Ready | TaskState::Pending)
            ) || (refused && matches!(reported, Reported::Succeeded(_)));
            return if repeat { AckOutcome::Duplicate } else { AckOutcome::Stale };
        }
        match reported {
            Reported::Running if t.state == TaskState::Running => return AckOutcome::Duplicate,
            Reported::Running => {
                let t = &mut self.runs.get_mut(&r.run).expect("resolved").tasks[r.task as usize];
                t.state = TaskState::Running;
                t.started_at = Some(now);
                let assigned_at = t.assigned_at;
                self.observe_start(assigned_at, now);
                self.record(r.run, Some(r.task), EventKind::TaskRunning, String::new(), now);
                return AckOutcome::Accepted;
            }
            Reported::Succeeded(result) => {
                self.mark_started(r, now);
                self.release(worker, r);
                match check_text(&result, MAX_RESULT_BYTES) {
                    Ok(()) if result.trim().is_empty() => self.complete_task(r, Arc::from("null"), now),
                    Ok(()) => self.complete_task(r, result, now),
                    Err(e) => {
                        let message = format!("{RESULT_REFUSED} it {e}");
                        self.retry_or_fail(r, TaskError { message, retryable: false }, false, now);
                    }
                }
                self.observe_outcome(worker, r, false, now);
            }
            Reported::Failed(error) => {
                self.mark_started(r, now);
                self.release(worker, r);
                self.retry_or_fail(r, bounded(error), false, now);
                self.observe_outcome(worker, r, true, now);
            }
        }
        self.schedule(now);
        AckOutcome::Accepted
    }

    /// An attempt that ended without a RUNNING report (it was quick, or that report was
    /// lost) started no later than now.
    fn mark_started(&mut self, r: TaskRef, now: Millis) {
        let t = &mut self.runs.get_mut(&r.run).expect("resolved").tasks[r.task as usize];
        if t.state == TaskState::Assigned {
            t.started_at = Some(now);
        }
    }

    /// Frees the worker's slot held by this attempt.
    pub(crate) fn release(&mut self, worker: WorkerId, r: TaskRef) {
        if let Some(w) = self.workers.get_mut(&worker) {
            w.attempts.remove(&r);
        }
    }

    /// After an attempt ended without success: try again if the policy allows, else fail.
    /// `immediate` skips the backoff (an attempt lost with its worker was not the task's fault).
    pub(crate) fn retry_or_fail(&mut self, r: TaskRef, error: TaskError, immediate: bool, now: Millis) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        let policy = *run.plan.tasks[r.task as usize].retry;
        let running = run.status == RunStatus::Running;
        let t = &mut run.tasks[r.task as usize];
        if t.state.is_final() {
            // Ended meanwhile (its workflow failed while its lost attempts were being handled).
            return;
        }
        if !(error.retryable && running && t.attempt < policy.max_attempts) {
            self.fail_task(r, error, now);
            return;
        }
        let delay = if immediate { 0 } else { policy.backoff_ms(t.attempt + 1, crate::timers::spread(r, t.attempt)) };
        let detail =
            format!("attempt {} failed: {}; attempt {} in {delay} ms", t.attempt, error.message, t.attempt + 1);
        t.error = Some(error);
        t.state = TaskState::Ready;
        self.record(r.run, Some(r.task), EventKind::TaskRetrying, detail, now);
        if delay == 0 {
            self.make_ready(r, now);
        } else {
            let at = now + delay as Millis;
            self.runs.get_mut(&r.run).expect("exists").tasks[r.task as usize].retry_at = Some(at);
            self.set_timer(at, crate::timers::Timer::Retry(r));
        }
    }
}

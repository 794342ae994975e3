//! Task status reporting. Final statuses stay in the [`Outbox`] until the coordinator
//! acknowledges them, and are sent again after every reconnect: reporting is at least
//! once, and the coordinator drops the duplicates.
use crate::runner::Outcome;
use std::collections::HashMap;
use weft_proto::pb::{self, AckOutcome, TaskState};

/// Final statuses not yet acknowledged, by attempt key.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pending: HashMap<String, pb::TaskStatus>,
}

impl Outbox {
    pub(crate) fn push(&mut self, status: pb::TaskStatus) {
        let key = status.attempt.as_ref().map(pb::AttemptRef::key).unwrap_or_default();
        self.pending.insert(key, status);
    }

    pub(crate) fn get(&self, key: &str) -> Option<&pb::TaskStatus> {
        self.pending.get(key)
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<pb::TaskStatus> {
        self.pending.remove(key)
    }

    /// Settles the status an ack answers. Any outcome settles it: ACCEPTED and DUPLICATE
    /// mean it is recorded, STALE that it never will be. An ack of another state (the
    /// RUNNING report) leaves the final status pending.
    pub(crate) fn ack(&mut self, ack: &pb::ReportAck) -> bool {
        let Some(attempt) = &ack.attempt else { return false };
        let key = attempt.key();
        match self.pending.get(&key) {
            Some(status) if status.state == ack.state => {
                self.pending.remove(&key);
                true
            }
            _ => false,
        }
    }

    /// Oldest first, so a reconnect replays in the order things happened.
    pub(crate) fn statuses(&self) -> Vec<pb::TaskStatus> {
        let mut statuses: Vec<pb::TaskStatus> = self.pending.values().cloned().collect();
        statuses.sort_by_key(|s| s.at_ms);
        statuses
    }

    pub(crate) fn attempts(&self) -> impl Iterator<Item = &pb::AttemptRef> {
        self.pending.values().filter_map(|s| s.attempt.as_ref())
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

pub(crate) fn running(attempt: &pb::AttemptRef, at_ms: i64) -> pb::TaskStatus {
    pb::TaskStatus { attempt: Some(attempt.clone()), state: TaskState::Running as i32, at_ms, ..Default::default() }
}

pub(crate) fn finished(attempt: &pb::AttemptRef, outcome: Outcome, at_ms: i64) -> pb::TaskStatus {
    let mut status = pb::TaskStatus { attempt: Some(attempt.clone()), at_ms, ..Default::default() };
    match outcome {
        Ok(result_json) => {
            status.state = TaskState::Succeeded as i32;
            status.result_json = result_json;
        }
        Err(error) => {
            status.state = TaskState::Failed as i32;
            status.error =
                Some(pb::TaskError { message: error.message().to_string(), retryable: error.is_retryable() });
        }
    }
    status
}

pub(crate) fn is_stale(ack: &pb::ReportAck) -> bool {
    ack.outcome == AckOutcome::Stale as i32
}

/// Unix epoch milliseconds, the wire's time unit.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskError;

    fn attempt(task: &str) -> pb::AttemptRef {
        pb::AttemptRef { run_id: "r".into(), workflow: "w".into(), task: task.into(), attempt: 1 }
    }

    fn ack(task: &str, state: TaskState, outcome: AckOutcome) -> pb::ReportAck {
        pb::ReportAck { attempt: Some(attempt(task)), state: state as i32, outcome: outcome as i32 }
    }

    #[test]
    fn final_statuses_stay_until_their_own_ack() {
        let mut outbox = Outbox::default();
        outbox.push(finished(&attempt("b"), Err(TaskError::retryable("x")), 20));
        outbox.push(finished(&attempt("a"), Ok("1".into()), 10));
        assert_eq!(outbox.statuses().iter().map(|s| s.at_ms).collect::<Vec<_>>(), [10, 20]);
        assert!(!outbox.ack(&ack("a", TaskState::Running, AckOutcome::Accepted)));
        assert!(outbox.ack(&ack("a", TaskState::Succeeded, AckOutcome::Duplicate)));
        assert!(outbox.ack(&ack("b", TaskState::Failed, AckOutcome::Stale)));
        assert!(outbox.is_empty());
    }

    #[test]
    fn failures_carry_message_and_retryability() {
        let status = finished(&attempt("a"), Err(TaskError::fatal("bad")), 5);
        assert_eq!(status.state, TaskState::Failed as i32);
        assert_eq!(status.error, Some(pb::TaskError { message: "bad".into(), retryable: false }));
    }
}

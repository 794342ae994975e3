//! Child processes: a task of kind `process` starts a registered definition as a child run
//! and succeeds or fails with it. No worker runs it: the coordinator starts the child when
//! the task is ready (the task is then running, held by no worker), and ends the task when
//! the child ends. Cancelling the parent (or failing its workflow) cancels the child. The
//! child's idempotency key, `child:PARENT:TASK:ATTEMPT`, links the two both ways and is
//! how a restarted coordinator finds a running child's parent again.
use std::collections::HashMap;
use std::sync::Arc;
use weft_model::builtin::ProcessParams;
use weft_model::limits::MAX_RESULT_BYTES;
use weft_model::{Millis, RunId, RunStatus, TaskState};

use crate::runs::{RunSource, StartRun};
use crate::types::{TaskError, TaskRef};
use crate::{Engine, EventKind};

/// How deep children may nest: a child of a child of ... this many levels.
pub const MAX_CHILD_DEPTH: u32 = 8;
/// Children one run may start (all its `process` tasks' attempts together).
pub const MAX_CHILDREN_PER_RUN: u32 = 1_000;

#[derive(Debug, Default)]
pub(crate) struct Children {
    /// Running children and the task (and its attempt) each was started for.
    parent_of: HashMap<RunId, (TaskRef, u32)>,
    /// The reverse: a `process` task's running child.
    child_of: HashMap<TaskRef, RunId>,
    /// Nesting depth of runs that are children (absent: 0).
    depth: HashMap<RunId, u32>,
    /// Children started per parent run.
    started: HashMap<RunId, u32>,
    /// What the next RunStarted event says (the child's parent), taken by `start_run`.
    pub(crate) note: Option<String>,
    /// Work queued while other child work is being done: starting a child can end it at
    /// once, ending one can start another. Done in a loop, never by recursion, so deep
    /// nesting costs no stack.
    to_start: std::collections::VecDeque<TaskRef>,
    ended: std::collections::VecDeque<RunId>,
    busy: bool,
}

/// The key of the child started for `task`'s attempt `attempt` of run `parent`.
fn child_key(parent: RunId, task: u32, attempt: u32) -> String {
    format!("child:{parent}:{task}:{attempt}")
}

/// (parent, task, attempt) from a child's idempotency key.
fn parse_child_key(key: &str) -> Option<(RunId, u32, u32)> {
    let mut parts = key.strip_prefix("child:")?.split(':');
    let parent = parts.next()?.parse().ok()?;
    let task = parts.next()?.parse().ok()?;
    let attempt = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((parent, task, attempt))
}

/// A child's id: time-ordered (so it sorts after its parent, and a restore that goes in id
/// order meets the parent first), unique per (parent, task, attempt), the same on every
/// replay.
fn child_id(parent: RunId, task: u32, attempt: u32, now: Millis) -> RunId {
    RunId::derived(now, &[parent.0.as_bytes(), &task.to_be_bytes(), &attempt.to_be_bytes()])
}

impl Engine {
    /// A `process` task is ready: its child run starts, and the task runs with it.
    pub(crate) fn start_child(&mut self, r: TaskRef, now: Millis) {
        self.children.to_start.push_back(r);
        self.child_work(now);
    }

    /// A run ended: if it is a child, its task ends with it.
    pub(crate) fn child_run_ended(&mut self, child: RunId, now: Millis) {
        if self.children.parent_of.contains_key(&child) {
            self.children.ended.push_back(child);
            self.child_work(now);
        }
    }

    /// Does the queued child work, unless a caller up the stack is doing it already.
    fn child_work(&mut self, now: Millis) {
        if self.children.busy {
            return;
        }
        self.children.busy = true;
        loop {
            if let Some(child) = self.children.ended.pop_front() {
                self.end_child(child, now);
            } else if let Some(r) = self.children.to_start.pop_front() {
                self.start_child_now(r, now);
            } else {
                break;
            }
        }
        self.children.busy = false;
    }

    fn start_child_now(&mut self, r: TaskRef, now: Millis) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        // Cancelled (or otherwise moved on) while queued.
        if run.status.is_final() || !matches!(run.tasks[r.task as usize].state, TaskState::Pending | TaskState::Ready) {
            return;
        }
        let tp = run.plan.tasks[r.task as usize].clone();
        let t = &mut run.tasks[r.task as usize];
        t.state = TaskState::Running;
        t.attempt += 1;
        t.worker = None;
        t.ready_at = Some(now);
        t.assigned_at = Some(now);
        t.started_at = Some(now);
        t.retry_at = None;
        let attempt = t.attempt;
        let depth = self.children.depth.get(&r.run).copied().unwrap_or(0) + 1;
        let started = self.children.started.get(&r.run).copied().unwrap_or(0);
        let refuse = |message: String| TaskError { message, retryable: false };
        let params: Result<ProcessParams, String> =
            serde_json::from_str(&tp.params_json).map_err(|e| format!("bad parameters for kind `process`: {e}"));
        let params = match params {
            Ok(_) if depth > MAX_CHILD_DEPTH => {
                let e = refuse(format!("child runs nest at most {MAX_CHILD_DEPTH} deep; this one would be {depth}"));
                return self.fail_task(r, e, now);
            }
            Ok(_) if started >= MAX_CHILDREN_PER_RUN => {
                let e = refuse(format!("a run starts at most {MAX_CHILDREN_PER_RUN} child runs"));
                return self.fail_task(r, e, now);
            }
            Ok(p) => p,
            Err(e) => return self.fail_task(r, refuse(e), now),
        };
        // Its input: the one it names, else its dependencies' results by task name.
        let input_json = match &params.input {
            Some(input) => input.to_string(),
            None => {
                let run = &self.runs[&r.run];
                let mut inputs = serde_json::Map::new();
                for &d in &tp.deps {
                    let result = run.tasks[d as usize].result.as_deref().unwrap_or("null");
                    let value = serde_json::from_str(result).unwrap_or(serde_json::Value::Null);
                    inputs.insert(run.plan.tasks[d as usize].name.to_string(), value);
                }
                serde_json::Value::Object(inputs).to_string()
            }
        };
        let id = child_id(r.run, r.task, attempt, now);
        let workflow = self.runs[&r.run].plan.workflow_name(r.task).clone();
        self.children.note = Some(format!("child of run {} (task {workflow}/{})", r.run, tp.name));
        let req = StartRun {
            id,
            source: RunSource::Definition { name: params.definition.clone(), version: params.version },
            idempotency_key: Some(child_key(r.run, r.task, attempt)),
            input_json,
        };
        let started_child = self.start_run(req, now);
        self.children.note = None;
        match started_child {
            Ok((child, _)) => {
                self.children.parent_of.insert(child, (r, attempt));
                self.children.child_of.insert(r, child);
                self.children.depth.insert(child, depth);
                *self.children.started.entry(r.run).or_default() += 1;
                self.record(r.run, Some(r.task), EventKind::TaskRunning, format!("child run {child}"), now);
                // A child that ended at once (nothing to do) ends its task now.
                if self.runs.get(&child).is_some_and(|c| c.status.is_final()) {
                    self.child_run_ended(child, now);
                }
            }
            Err(e) => self.fail_task(r, refuse(format!("child run not started: {e}")), now),
        }
    }

    fn end_child(&mut self, child: RunId, now: Millis) {
        let Some((r, attempt)) = self.children.parent_of.remove(&child) else { return };
        self.children.child_of.remove(&r);
        let Some(c) = self.runs.get(&child) else { return };
        let (status, reason) = (c.status, c.reason.clone());
        let result = child_result(c);
        let Some(parent) = self.runs.get(&r.run) else { return };
        let t = &parent.tasks[r.task as usize];
        if t.state != TaskState::Running || t.attempt != attempt {
            return;
        }
        match status {
            RunStatus::Succeeded => self.complete_task(r, Arc::from(result.as_str()), now),
            // Its child had its own retries; a child per parent attempt would multiply them
            // at every level of nesting.
            _ => {
                let message = format!("child run {child} ended {status:?}: {reason}");
                self.retry_or_fail(r, TaskError { message, retryable: false }, false, now);
            }
        }
        self.schedule(now);
    }

    /// A `process` task ends early (cancelled, its workflow failed): its child is cancelled.
    pub(crate) fn cancel_child(&mut self, r: TaskRef, now: Millis) {
        let Some(child) = self.children.child_of.remove(&r) else { return };
        self.children.parent_of.remove(&child);
        let _ = self.cancel_run(child, "its parent task was cancelled", now);
    }

    /// After a restore: a run that is a child finds its parent's task again.
    pub(crate) fn restore_child_link(&mut self, child: RunId, now: Millis) {
        let Some(key) = self.runs.get(&child).and_then(|c| c.idempotency_key.clone()) else { return };
        let Some((parent, task, attempt)) = parse_child_key(&key) else { return };
        let r = TaskRef { run: parent, task };
        let depth = self.children.depth.get(&parent).copied().unwrap_or(0) + 1;
        self.children.depth.insert(child, depth);
        let running = self
            .runs
            .get(&parent)
            .and_then(|p| p.tasks.get(task as usize))
            .is_some_and(|t| t.state == TaskState::Running && t.attempt == attempt);
        if !running {
            return;
        }
        self.children.parent_of.insert(child, (r, attempt));
        self.children.child_of.insert(r, child);
        if self.runs.get(&child).is_some_and(|c| c.status.is_final()) {
            self.child_run_ended(child, now);
        }
    }
}

/// A child's result for its parent task: its id, and the results of its last tasks (those
/// nothing depends on) by name, or only its id when they would not fit in a result.
fn child_result(c: &crate::types::Run) -> String {
    let mut results = serde_json::Map::new();
    for (i, tp) in c.plan.tasks.iter().enumerate() {
        if tp.dependents.is_empty() && tp.compensates.is_none() {
            let text = c.tasks[i].result.as_deref().unwrap_or("null");
            let value = serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
            results.insert(format!("{}/{}", c.plan.workflow_name(i as u32), tp.name), value);
        }
    }
    let full = serde_json::json!({ "run_id": c.id.to_string(), "results": results }).to_string();
    if full.len() <= MAX_RESULT_BYTES {
        return full;
    }
    serde_json::json!({ "run_id": c.id.to_string() }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_keys_round_trip_and_ids_sort_after_their_parent() {
        let parent = RunId::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let key = child_key(parent, 3, 2);
        assert_eq!(parse_child_key(&key), Some((parent, 3, 2)));
        assert_eq!(parse_child_key("child:x:1:1"), None);
        assert_eq!(parse_child_key("order-42"), None);
        let a = child_id(parent, 3, 2, 1_000);
        assert_eq!(a.0.get_version_num(), 7);
        assert_ne!(child_id(parent, 3, 3, 1_000), a);
        assert!(child_id(parent, 3, 2, 2_000) > a);
    }
}

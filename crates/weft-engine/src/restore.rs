//! Rebuilding the engine from stored state after a restart, and forgetting old runs.
//!
//! Restored attempts stay with their workers: each such worker gets a placeholder entry,
//! disconnected and suspect, whose lease starts at restore time. A worker that reconnects
//! within the lease and still holds an attempt keeps it; otherwise the lease runs out and
//! the attempt is re-queued, as for any silent worker.
use std::collections::BTreeSet;
use std::sync::Arc;
use weft_model::{Millis, ProcessPlan, RunId, RunStatus, TaskState, WorkerId};

use crate::stored::{StoredRun, StoredTask};
use crate::timers::Timer;
use crate::types::{Definition, Run, TaskError, TaskRef, TaskRun, Worker, WorkflowRun};
use crate::{Engine, RunEvent};

/// A run read back from the store: its records, and its plan rebuilt from `run.spec_json`.
#[derive(Clone, Debug)]
pub struct RestoredRun {
    pub run: StoredRun,
    pub plan: Arc<ProcessPlan>,
    /// Tasks as stored, in any order; a task never written is pending.
    pub tasks: Vec<StoredTask>,
    /// The history, in order.
    pub events: Vec<RunEvent>,
}

impl Engine {
    pub fn restore_definition(&mut self, def: Definition) {
        let versions = self.definitions.entry(def.name.clone()).or_default();
        versions.push(def);
        versions.sort_by_key(|d| d.version);
        self.known_kinds.extend(versions.iter().flat_map(|d| d.plan.tasks.iter().map(|t| t.kind.clone())));
    }

    /// Puts a stored run back. Call [`Engine::tick`] afterwards to dispatch.
    pub fn restore_run(&mut self, restored: RestoredRun, now: Millis) {
        let RestoredRun { run: r, plan, tasks: stored_tasks, events } = restored;
        let running = r.status == RunStatus::Running;
        let mut stored: Vec<StoredTask> = (0..plan.tasks.len() as u32).map(|i| StoredTask::pending(r.id, i)).collect();
        for t in stored_tasks {
            // Records of tasks the plan does not have were refused when the store was read.
            if let Some(slot) = stored.get_mut(t.index as usize) {
                *slot = t;
            }
        }
        let mut tasks: Vec<TaskRun> = stored
            .into_iter()
            .map(|t| TaskRun {
                state: t.state,
                attempt: t.attempt,
                worker: t.worker,
                waiting_on: 0,
                ready_at: t.ready_at,
                assigned_at: None,
                started_at: t.started_at,
                finished_at: t.finished_at,
                result: t.result,
                error: t.error,
                ticket: None,
                retry_at: t.retry_at,
            })
            .collect();
        let mut bumped = Vec::new();
        for (i, tp) in plan.tasks.iter().enumerate() {
            tasks[i].waiting_on =
                tp.deps.iter().filter(|&&d| tasks[d as usize].state != TaskState::Succeeded).count() as u32;
            // Assignments leave before the change that records them is durable, so a task
            // stored as dispatchable may have been sent out as attempt n+1 just before the
            // crash. Skip that number: an attempt number (the fencing token) is never reused.
            let t = &mut tasks[i];
            let dispatchable = t.state == TaskState::Ready
                || (t.state == TaskState::Pending && t.waiting_on == 0 && tp.compensates.is_none());
            if running && dispatchable {
                // Saturating: the number comes from the store, which may be damaged.
                t.attempt = t.attempt.saturating_add(1);
                bumped.push(i as u32);
            }
        }
        let workflows = plan
            .workflows
            .iter()
            .map(|w| {
                let states: Vec<TaskState> = w.members().map(|i| tasks[i as usize].state).collect();
                let unfinished = states.iter().filter(|s| **s != TaskState::Succeeded).count() as u32;
                let status = if unfinished == 0 {
                    RunStatus::Succeeded
                } else if states.contains(&TaskState::Failed) {
                    RunStatus::Failed
                } else if states.contains(&TaskState::Cancelled) {
                    RunStatus::Cancelled
                } else {
                    RunStatus::Running
                };
                WorkflowRun { status, unfinished }
            })
            .collect();
        let finished_tasks = tasks
            .iter()
            .filter(|t| matches!(t.state, TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled))
            .count() as u32;
        let id = r.id;
        if let Some(key) = &r.idempotency_key {
            self.idempotency.insert(key.clone(), id);
        }
        let mut ready: Vec<(Millis, u32)> = Vec::new();
        let mut newly_ready = Vec::new();
        if running {
            self.running_runs += 1;
            for (i, t) in tasks.iter().enumerate() {
                let r = TaskRef { run: id, task: i as u32 };
                match (t.state, t.retry_at, t.worker) {
                    (TaskState::Ready, Some(at), _) => {
                        self.set_timer(at, crate::timers::Timer::Retry(r));
                    }
                    (TaskState::Ready, None, _) => ready.push((t.ready_at.unwrap_or(0), i as u32)),
                    (TaskState::Assigned | TaskState::Running, _, Some(w)) => {
                        self.placeholder(w, now).insert(r);
                    }
                    (TaskState::Pending, _, _) if t.waiting_on == 0 && plan.tasks[i].compensates.is_none() => {
                        newly_ready.push(i as u32)
                    }
                    _ => {}
                };
            }
        }
        self.runs.insert(
            id,
            Run {
                id,
                plan: plan.clone(),
                definition: r.definition,
                status: r.status,
                reason: r.reason,
                idempotency_key: r.idempotency_key,
                input_json: r.input_json,
                created_at: r.created_at,
                finished_at: r.finished_at,
                tasks,
                workflows,
                events,
                compensations: Default::default(),
                compensated: false,
                predictions: Vec::new(),
                predicting: false,
                finished_tasks,
                published_finish: None,
            },
        );
        // The skipped attempt numbers are state too: store them, so that a second crash
        // before the tasks run does not hand out the same numbers again.
        for i in bumped {
            self.mark_task(TaskRef { run: id, task: i });
        }
        if running {
            self.restore_timers_and_compensations(id, now);
            self.restore_gates(id, now);
        }
        // A child run (restored after its parent: ids are time-ordered) finds its task.
        self.restore_child_link(id, now);
        // Oldest first, so waiting tasks keep their place among equals.
        ready.sort();
        for (_, i) in ready {
            let tp = &plan.tasks[i as usize];
            let r = TaskRef { run: id, task: i };
            let ticket = self.sched.queues.push(&tp.queue, &tp.kind, tp.priority, r);
            self.runs.get_mut(&id).expect("inserted").tasks[i as usize].ticket = Some(ticket);
        }
        // Tasks whose dependencies all succeeded but that were never made ready (or whose
        // attempt was held by nobody) continue now.
        for i in newly_ready {
            self.make_ready(TaskRef { run: id, task: i }, now);
        }
        let orphans: Vec<u32> = self.runs[&id]
            .tasks
            .iter()
            .enumerate()
            // A `process` task runs with no worker: its child run finds it (`children`).
            .filter(|(i, t)| {
                running
                    && t.state.is_active()
                    && t.worker.is_none()
                    && &*plan.tasks[*i].kind != weft_model::builtin::PROCESS
            })
            .map(|(i, _)| i as u32)
            .collect();
        for i in orphans {
            let r = TaskRef { run: id, task: i };
            self.retry_or_fail(r, TaskError { message: "attempt had no worker".into(), retryable: true }, true, now);
        }
    }

    /// Timers of a restored running run (its deadline, queue and attempt timeouts) and the
    /// compensations still to run if a workflow had failed.
    fn restore_timers_and_compensations(&mut self, id: RunId, now: Millis) {
        let run = &self.runs[&id];
        let plan = run.plan.clone();
        let mut timers = Vec::new();
        if let Some(deadline) = plan.deadline_ms {
            timers.push((run.created_at + deadline as Millis, Timer::RunDeadline(id)));
        }
        for (i, (tp, t)) in plan.tasks.iter().zip(&run.tasks).enumerate() {
            let r = TaskRef { run: id, task: i as u32 };
            match (t.state, tp.queue_timeout_ms, tp.timeout_ms) {
                (TaskState::Ready, Some(limit), _) if t.ticket.is_some() => {
                    let since = t.ready_at.unwrap_or(now);
                    timers.push((since + limit as Millis, Timer::QueueTimeout(r, since)));
                }
                (TaskState::Assigned | TaskState::Running, _, Some(timeout)) => {
                    timers.push((now + timeout as Millis + self.timeout_grace(), Timer::AttemptTimeout(r, t.attempt)));
                }
                _ => {}
            }
        }
        for (at, timer) in timers {
            self.set_timer(at, timer);
        }
        // Compensations: of the succeeded tasks of failed or cancelled workflows, those whose
        // compensation has not started yet, latest-finished first.
        let run = self.runs.get_mut(&id).expect("restored");
        let undone: Vec<usize> = (0..plan.workflows.len())
            .filter(|&w| run.workflows[w].status.is_final() && run.workflows[w].status != RunStatus::Succeeded)
            .collect();
        let mut pending: Vec<(Millis, u32)> = undone
            .iter()
            .flat_map(|&w| plan.workflows[w].members())
            .filter_map(|i| {
                let comp = plan.tasks[i as usize].compensation?;
                let (t, c) = (&run.tasks[i as usize], &run.tasks[comp as usize]);
                (t.state == TaskState::Succeeded && c.state == TaskState::Pending)
                    .then(|| (t.finished_at.unwrap_or(0), comp))
            })
            .collect();
        let started =
            plan.tasks.iter().zip(&run.tasks).any(|(tp, t)| tp.compensates.is_some() && t.state != TaskState::Pending);
        run.compensated = started || run.events.iter().any(|e| e.kind == crate::EventKind::RunCompensating);
        if pending.is_empty() {
            return;
        }
        pending.sort_by(|a, b| b.cmp(a));
        for &(_, comp) in &pending {
            // It may have been sent out just before the crash: never reuse its number.
            run.tasks[comp as usize].attempt = run.tasks[comp as usize].attempt.saturating_add(1);
        }
        run.compensations.extend(pending.iter().map(|(_, comp)| *comp));
        let active = plan.tasks.iter().zip(&run.tasks).any(|(tp, t)| {
            tp.compensates.is_some() && matches!(t.state, TaskState::Ready | TaskState::Assigned | TaskState::Running)
        });
        let next = if active { None } else { run.compensations.pop_front() };
        for &(_, comp) in &pending {
            self.mark_task(TaskRef { run: id, task: comp });
        }
        if let Some(next) = next {
            self.make_ready(TaskRef { run: id, task: next }, now);
        }
    }

    /// The attempts set of a worker known only from stored attempts.
    fn placeholder(&mut self, id: WorkerId, now: Millis) -> &mut BTreeSet<TaskRef> {
        &mut self
            .workers
            .entry(id)
            // Restored attempts get the whole lease for their worker to come back.
            .or_insert_with(|| Worker { name: "(not reconnected since restart)".into(), ..Worker::blank(id, now) })
            .attempts
    }

    /// Forgets runs that finished before `before`. Returns their ids (to delete from the store).
    pub fn expire_finished_runs(&mut self, before: Millis) -> Vec<RunId> {
        let expired: Vec<RunId> = self
            .runs
            .values()
            .filter(|r| r.status.is_final() && r.finished_at.is_some_and(|at| at < before))
            .map(|r| r.id)
            .collect();
        for id in &expired {
            if let Some(run) = self.runs.remove(id)
                && let Some(key) = run.idempotency_key
            {
                self.idempotency.remove(&key);
            }
            self.mark_expired(*id);
        }
        expired
    }
}

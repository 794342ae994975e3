//! Ready tasks onto free worker slots.
use std::sync::Arc;
use weft_model::{Millis, TaskState, WorkerId};
use weft_sched::Candidate;

use crate::types::TaskRef;
use crate::{Assignment, AttemptId, Effect, Engine, EventKind};

impl Engine {
    /// Places as many ready tasks as free slots allow. Called after every input, so an
    /// assignment leaves as soon as a slot frees: nothing polls.
    pub(crate) fn schedule(&mut self, now: Millis) {
        if self.sched.queues.is_empty() {
            return;
        }
        let mut ids: Vec<WorkerId> = Vec::new();
        let mut candidates: Vec<Candidate<'_>> = Vec::new();
        for w in self.workers.values() {
            // A penalized (slow or failing) worker fills only part of its slots.
            let slots = w.effective_slots();
            if w.accepting() && (w.attempts.len() as u32) < slots {
                ids.push(w.id);
                candidates.push(Candidate {
                    queues: &w.queues,
                    kinds: &w.kinds,
                    slots,
                    in_flight: w.attempts.len() as u32,
                    cpu_percent: w.cpu_percent,
                    speed: w.speed,
                    accepting: true,
                });
            }
        }
        if candidates.is_empty() {
            return;
        }
        let placements = self.sched.dispatch(&mut candidates);
        for p in placements {
            self.assign(p.task, ids[p.worker], now);
        }
    }

    fn assign(&mut self, r: TaskRef, worker: WorkerId, now: Millis) {
        let run = self.runs.get_mut(&r.run).expect("queued tasks belong to live runs");
        let plan = run.plan.clone();
        let tp = &plan.tasks[r.task as usize];
        // A compensation gets the result of the task it undoes; others their dependencies'.
        let sources: Vec<u32> = match tp.compensates {
            Some(original) => vec![original],
            None => tp.deps.clone(),
        };
        let inputs = sources
            .iter()
            .map(|&d| {
                let result = run.tasks[d as usize].result.clone().unwrap_or_else(|| Arc::from("null"));
                (plan.tasks[d as usize].name.clone(), result)
            })
            .collect();
        let run_input_json = run.input_json.clone();
        let t = &mut run.tasks[r.task as usize];
        debug_assert_eq!(t.state, TaskState::Ready);
        t.state = TaskState::Assigned;
        t.attempt += 1;
        t.worker = Some(worker);
        t.ticket = None;
        t.started_at = None;
        let attempt = AttemptId {
            run: r.run,
            workflow: plan.workflow_name(r.task).clone(),
            task: tp.name.clone(),
            attempt: t.attempt,
        };
        self.workers.get_mut(&worker).expect("candidate exists").attempts.insert(r);
        if let Some(timeout) = tp.timeout_ms {
            let at = now + timeout as Millis + self.timeout_grace();
            self.set_timer(at, crate::timers::Timer::AttemptTimeout(r, attempt.attempt));
        }
        self.record(r.run, Some(r.task), EventKind::TaskAssigned, String::new(), now);
        let assignment = Assignment {
            attempt,
            kind: tp.kind.clone(),
            params_json: tp.params_json.clone(),
            inputs,
            run_input_json,
            timeout_ms: tp.timeout_ms,
        };
        self.emit(Effect::Assign { worker, assignment });
    }

    /// The current attempt of a task.
    pub(crate) fn attempt_id(&self, r: TaskRef) -> AttemptId {
        let run = &self.runs[&r.run];
        AttemptId {
            run: r.run,
            workflow: run.plan.workflow_name(r.task).clone(),
            task: run.plan.tasks[r.task as usize].name.clone(),
            attempt: run.tasks[r.task as usize].attempt,
        }
    }
}

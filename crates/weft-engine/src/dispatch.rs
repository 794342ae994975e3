//! Ready tasks onto free worker slots.
//!
//! An assignment carries the task's inputs (its params, the run's input, its dependencies'
//! results) in one message, which every node bounds at `MAX_MESSAGE_BYTES`. A task whose
//! inputs would not fit fails at dispatch, not retryable, saying so: sent, it would be
//! refused by the worker's session and break it.
use std::sync::Arc;
use weft_model::limits::MAX_ASSIGNMENT_INPUT_BYTES;
use weft_model::{Millis, TaskState, WorkerId};
use weft_sched::Candidate;

use crate::types::{TaskError, TaskRef};
use crate::{Assignment, AttemptId, Effect, Engine, EventKind};

/// Tags and lengths around one entry of an assignment's `inputs` map.
const INPUT_ENTRY_FRAMING: usize = 16;

impl Engine {
    /// Places as many ready tasks as free slots allow. Called after every input, so an
    /// assignment leaves as soon as a slot frees: nothing polls.
    pub(crate) fn schedule(&mut self, now: Millis) {
        self.wake_gates(now);
        // A task refused at dispatch leaves its slot free for the next one.
        while self.schedule_round(now) {}
    }

    /// One round of placements; true if a placed task was refused (a slot is left free).
    fn schedule_round(&mut self, now: Millis) -> bool {
        if self.sched.queues.is_empty() {
            return false;
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
            return false;
        }
        let placements = self.sched.dispatch(&mut candidates);
        let mut refused = false;
        for p in placements {
            refused |= !self.assign(p.task, ids[p.worker], now);
        }
        refused
    }

    /// Sends the task to `worker`; false if it was not sent (refused, or ended meanwhile).
    fn assign(&mut self, r: TaskRef, worker: WorkerId, now: Millis) -> bool {
        let run = self.runs.get_mut(&r.run).expect("queued tasks belong to live runs");
        if run.tasks[r.task as usize].state != TaskState::Ready {
            // Placed in this round, then cancelled by a task refused before it (its
            // workflow failed). Its slot stays free.
            return false;
        }
        // A limit it uses filled since it was queued (by a task placed before it): it waits
        // there, off its queue (the placement took it off), and its slot stays free.
        if self.park_if_shut(r, now) {
            if let Some(run) = self.runs.get_mut(&r.run) {
                run.tasks[r.task as usize].ticket = None;
            }
            return false;
        }
        let Some(run) = self.runs.get_mut(&r.run) else { return false };
        let plan = run.plan.clone();
        let tp = &plan.tasks[r.task as usize];
        // A compensation gets the result of the task it undoes; others their dependencies'.
        let mut sources: Vec<u32> = match tp.compensates {
            Some(original) => vec![original],
            None => tp.deps.clone(),
        };
        // An instance gets its element, not the whole list it came from: 10,000 instances
        // must not each carry a 10,000-element result.
        if let Some(weft_model::plan::Fan::Item { map, .. }) = tp.fan.as_deref()
            && let Some(weft_model::plan::Fan::Map { source: weft_model::plan::ListSource::Task { task, .. }, .. }) =
                plan.tasks[*map as usize].fan.as_deref()
        {
            sources.retain(|d| d != task);
        }
        let inputs = sources
            .iter()
            .map(|&d| {
                let result = run.tasks[d as usize].result.clone().unwrap_or_else(|| Arc::from("null"));
                (plan.tasks[d as usize].name.clone(), result)
            })
            // An instance of a `for_each` task also gets its element.
            .chain(match tp.fan.as_deref() {
                Some(weft_model::plan::Fan::Item { element, .. }) => Some((Arc::from("item"), element.clone())),
                _ => None,
            })
            .collect::<Vec<_>>();
        let run_input_json = run.input_json.clone();
        // An instance's `{{item...}}` placeholders, filled (and counted in its size).
        let params_json: Arc<str> = match tp.fan.as_deref() {
            Some(weft_model::plan::Fan::Item { element, .. }) => {
                Arc::from(weft_model::plan::render_item(&tp.params_json, element).as_str())
            }
            _ => tp.params_json.clone(),
        };
        let bytes = input_bytes(&params_json, &run_input_json, &inputs);
        if bytes > MAX_ASSIGNMENT_INPUT_BYTES {
            // It was taken off its queue by the placement.
            run.tasks[r.task as usize].ticket = None;
            let message = format!(
                "inputs too large to send: the task's params, the run's input and its dependencies' results come \
                 to {bytes} bytes, and one assignment carries at most {MAX_ASSIGNMENT_INPUT_BYTES}; make the results \
                 it depends on smaller or split the fan-in"
            );
            self.fail_task(r, TaskError { message, retryable: false }, now);
            return false;
        }
        let t = &mut run.tasks[r.task as usize];
        t.state = TaskState::Assigned;
        t.attempt += 1;
        t.worker = Some(worker);
        t.ticket = None;
        t.assigned_at = Some(now);
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
        self.take_gates(r, now);
        self.record(r.run, Some(r.task), EventKind::TaskAssigned, String::new(), now);
        let assignment = Assignment {
            attempt,
            kind: tp.kind.clone(),
            params_json,
            inputs,
            run_input_json,
            timeout_ms: tp.timeout_ms,
        };
        self.emit(Effect::Assign { worker, assignment });
        true
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

/// What an assignment of these inputs carries beyond its fixed framing, in bytes.
fn input_bytes(params_json: &str, run_input_json: &str, inputs: &[(Arc<str>, Arc<str>)]) -> usize {
    let results: usize = inputs.iter().map(|(name, result)| name.len() + result.len() + INPUT_ENTRY_FRAMING).sum();
    params_json.len() + run_input_json.len() + results
}

#[cfg(test)]
mod tests {
    use crate::tests::{Env, process};
    use crate::{AckOutcome, EventKind};
    use weft_model::limits::{MAX_ASSIGNMENT_INPUT_BYTES, MAX_RESULT_BYTES};
    use weft_model::{RunStatus, TaskSpec, TaskState, WorkflowSpec};

    /// A fan-in of `n` tasks, each to succeed with a result of `size` bytes, then `join`;
    /// and a low-priority task of another workflow.
    fn fan_in(n: usize) -> weft_model::ProcessSpec {
        let mut tasks: Vec<TaskSpec> = (0..n).map(|i| TaskSpec::new(format!("part{i}"), "noop")).collect();
        let mut join = TaskSpec::new("join", "noop");
        join.depends_on = tasks.iter().map(|t| t.name.clone()).collect();
        tasks.push(join);
        process(vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }])
    }

    fn result(size: usize) -> String {
        format!("\"{}\"", "a".repeat(size - 2))
    }

    #[test]
    fn a_fan_in_whose_inputs_do_not_fit_one_message_fails_at_dispatch_and_frees_the_slot() {
        let size = MAX_RESULT_BYTES - 1024;
        let parts = MAX_ASSIGNMENT_INPUT_BYTES / size + 1;
        let mut env = Env::new();
        let w = env.worker(1, 1, &["default"], &["noop"]);
        let (big, _) = env.start(fan_in(parts), None).unwrap();
        let mut low = TaskSpec::new("later", "noop");
        low.priority = -5;
        let (other, _) = env
            .start(
                process(vec![WorkflowSpec { name: "o".into(), tasks: vec![low], chain: false, default_retry: None }]),
                None,
            )
            .unwrap();
        // One slot: the parts run one at a time, ahead of the low-priority task.
        let mut last = Vec::new();
        for i in 0..parts {
            let got = env.assignments();
            assert_eq!(got.len(), 1, "part {i}");
            assert_eq!(&*got[0].1.attempt.task, format!("part{i}"));
            assert_eq!(env.succeed(w, &got[0].1, &result(size)), AckOutcome::Accepted);
            last = got;
        }
        drop(last);
        // `join` is placed first and refused; the slot goes to the other run's task at once.
        let got = env.assignments();
        assert_eq!(got.iter().map(|(_, a)| a.attempt.run).collect::<Vec<_>>(), vec![other]);
        let run = env.engine.run(big).unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        let join = &run.tasks[parts];
        assert_eq!(join.state, TaskState::Failed);
        let error = join.error.as_ref().unwrap();
        assert!(!error.retryable);
        assert!(error.message.contains("inputs too large to send"), "{}", error.message);
        assert!(error.message.contains(&MAX_ASSIGNMENT_INPUT_BYTES.to_string()), "{}", error.message);
        assert!(run.reason.contains("`join`") && run.reason.contains("inputs too large"), "{}", run.reason);
        assert!(run.events.iter().any(|e| e.kind == EventKind::TaskFailed && e.task.as_ref() == "join"));
        assert!(!run.events.iter().any(|e| e.kind == EventKind::TaskAssigned && e.task.as_ref() == "join"));
    }

    #[test]
    fn a_fan_in_that_fits_is_sent_whole() {
        let size = MAX_RESULT_BYTES - 1024;
        let mut env = Env::new();
        let w = env.worker(1, 8, &["default"], &["noop"]);
        env.start(fan_in(6), None).unwrap();
        for (_, a) in env.assignments() {
            env.succeed(w, &a, &result(size));
        }
        let got = env.assignments();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.inputs.len(), 6);
        assert!(got[0].1.inputs.iter().all(|(_, r)| r.len() == size));
    }
}

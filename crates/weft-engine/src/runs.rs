//! Definitions, starting and cancelling runs, and how tasks, workflows and runs finish.
use std::sync::Arc;
use weft_model::limits::{MAX_IDEMPOTENCY_KEY_LEN, MAX_INPUT_BYTES, MAX_REASON_BYTES};
use weft_model::validate::{check_json, check_name, echo};
use weft_model::{
    FailurePolicy, Millis, ProcessPlan, ProcessSpec, RunId, RunStatus, TaskState, ValidationError, check_plan_kinds,
    validate_process,
};

use crate::timers::Timer;
use crate::types::{Definition, Run, TaskError, TaskRef, TaskRun, WorkflowRun};
use crate::{Effect, Engine, Error, EventKind, RunEvent};

/// Where a run's process comes from.
#[derive(Clone, Debug)]
pub enum RunSource {
    /// An inline spec, not kept in the registry.
    Spec(ProcessSpec),
    /// An inline spec already validated (off the driver, with every kind taken as known):
    /// only its kinds are checked here.
    Plan(Arc<ProcessPlan>),
    /// A registered definition; `None` means the latest version.
    Definition { name: String, version: Option<u32> },
}

/// A request to start a run. The caller makes the id (the engine reads no clock).
#[derive(Clone, Debug)]
pub struct StartRun {
    pub id: RunId,
    pub source: RunSource,
    pub idempotency_key: Option<String>,
    pub input_json: String,
}

fn prefixed(prefix: &str, err: ValidationError) -> ValidationError {
    err.prefixed(prefix)
}

/// What differs between a start request and the run its idempotency key already made, if
/// anything. Cheap: the spec is compared as the JSON text the run keeps, the input as text
/// first and as JSON values only when the texts differ (so `{"a":1,"b":2}` matches
/// `{"b": 2, "a": 1}`).
fn differs(run: &Run, req: &StartRun) -> Option<&'static str> {
    match (&req.source, &run.definition) {
        (RunSource::Spec(spec), None) => {
            if serde_json::to_string(spec).ok().as_deref() != Some(&*run.plan.spec_json) {
                return Some("spec");
            }
        }
        (RunSource::Definition { name, version }, Some((def, def_version))) => {
            // The latest version then and now may differ: asking for "the latest" again is
            // the same request.
            if name.as_str() != &**def || version.is_some_and(|v| v != 0 && v != *def_version) {
                return Some("definition");
            }
        }
        (RunSource::Plan(plan), None) => {
            if plan.spec_json != run.plan.spec_json {
                return Some("spec");
            }
        }
        (RunSource::Spec(_) | RunSource::Plan(_), Some(_)) | (RunSource::Definition { .. }, None) => {
            return Some("source");
        }
    }
    let input = if req.input_json.trim().is_empty() { "null" } else { &req.input_json };
    if input != &*run.input_json {
        let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
        match (parse(input), parse(&run.input_json)) {
            (Some(a), Some(b)) if a == b => {}
            _ => return Some("input"),
        }
    }
    None
}

impl Engine {
    fn validate(&self, spec: &ProcessSpec) -> Result<ProcessPlan, ValidationError> {
        validate_process(spec, &|kind| self.known_kinds.contains(kind))
    }

    /// Registers a new version of `name`, or returns the latest if its spec is identical.
    /// Returns (version, created).
    pub fn register_definition(&mut self, name: &str, spec: ProcessSpec, now: Millis) -> Result<(u32, bool), Error> {
        if let Err(e) = check_name(name) {
            return Err(ValidationError::single("name", e).into());
        }
        if spec.name != name {
            return Err(
                ValidationError::single("spec.name", format!("`{}` differs from name `{name}`", spec.name)).into()
            );
        }
        let plan = self.validate(&spec).map_err(|e| prefixed("spec", e))?;
        self.register_plan(name, Arc::new(plan), now)
    }

    /// Registers a definition whose spec was validated off the driver, with every kind
    /// taken as known: checks the name and the kinds, then as [`Engine::register_definition`].
    pub fn register_plan(&mut self, name: &str, plan: Arc<ProcessPlan>, now: Millis) -> Result<(u32, bool), Error> {
        if let Err(e) = check_name(name) {
            return Err(ValidationError::single("name", e).into());
        }
        if *plan.name != *name {
            return Err(ValidationError::single(
                "spec.name",
                format!("`{}` differs from name `{}`", echo(&plan.name), echo(name)),
            )
            .into());
        }
        check_plan_kinds(&plan, &|kind| self.known_kinds.contains(kind)).map_err(|e| prefixed("spec", e))?;
        let versions = self.definitions.entry(Arc::from(name)).or_default();
        if let Some(latest) = versions.last()
            && *latest.plan.spec_json == *plan.spec_json
        {
            return Ok((latest.version, false));
        }
        let version = versions.len() as u32 + 1;
        versions.push(Definition { name: Arc::from(name), version, plan, created_at: now });
        self.mark_definition(Arc::from(name), version);
        Ok((version, true))
    }

    /// Starts a run. Returns (run id, created); with a known idempotency key, the
    /// existing run and `false` if the request is the same (source and input), else
    /// [`Error::AlreadyExists`] naming the key.
    pub fn start_run(&mut self, req: StartRun, now: Millis) -> Result<(RunId, bool), Error> {
        if let Some(key) = &req.idempotency_key
            && key.len() > MAX_IDEMPOTENCY_KEY_LEN
        {
            let msg = format!("is {} bytes, at most {MAX_IDEMPOTENCY_KEY_LEN} allowed", key.len());
            return Err(ValidationError::single("idempotency_key", msg).into());
        }
        check_json(&req.input_json, MAX_INPUT_BYTES).map_err(|e| ValidationError::single("input_json", e))?;
        if let Some(key) = &req.idempotency_key
            && let Some(&existing) = self.idempotency.get(key)
        {
            // Keys are removed with their runs, so the run is there.
            return match self.runs.get(&existing).and_then(|run| differs(run, &req)) {
                None => Ok((existing, false)),
                Some(what) => Err(Error::AlreadyExists(format!(
                    "idempotency key `{}` was used by run {existing} with a different {what}; use a new key",
                    echo(key)
                ))),
            };
        }
        if self.runs.contains_key(&req.id) {
            return Err(Error::FailedPrecondition(format!("run id {} is already in use", req.id)));
        }
        let (plan, definition) = match req.source {
            RunSource::Spec(spec) => (Arc::new(self.validate(&spec).map_err(|e| prefixed("spec", e))?), None),
            RunSource::Plan(plan) => {
                check_plan_kinds(&plan, &|kind| self.known_kinds.contains(kind)).map_err(|e| prefixed("spec", e))?;
                (plan, None)
            }
            RunSource::Definition { name, version } => {
                let def = self.definition(&name, version)?;
                (def.plan.clone(), Some((def.name.clone(), def.version)))
            }
        };
        if let Err(e) = self.check_cluster_uses(&plan) {
            return Err(match (&definition, e) {
                (None, Error::Invalid(v)) => Error::Invalid(v.prefixed("spec")),
                (_, e) => e,
            });
        }
        let input_json: Arc<str> = Arc::from(if req.input_json.trim().is_empty() { "null" } else { &req.input_json });
        let tasks = plan.tasks.iter().map(|t| TaskRun::pending(t.deps.len() as u32)).collect();
        let workflows = plan
            .workflows
            .iter()
            .map(|w| WorkflowRun { status: RunStatus::Running, unfinished: w.tasks.len() as u32 })
            .collect();
        let id = req.id;
        // Compensation tasks have no dependencies but start only when their workflow fails.
        let roots: Vec<u32> = (0..plan.tasks.len() as u32)
            .filter(|&i| plan.tasks[i as usize].deps.is_empty() && plan.tasks[i as usize].compensates.is_none())
            .collect();
        if let Some(deadline) = plan.deadline_ms {
            self.set_timer(now + deadline as Millis, Timer::RunDeadline(id));
        }
        self.runs.insert(
            id,
            Run {
                id,
                plan,
                definition,
                status: RunStatus::Running,
                reason: String::new(),
                idempotency_key: req.idempotency_key.clone(),
                input_json,
                created_at: now,
                finished_at: None,
                tasks,
                workflows,
                // Room for the start and each root's TASK_READY, no more: a run of many
                // queued tasks would otherwise hold up to twice their events' memory.
                events: Vec::with_capacity(roots.len() + 1),
                compensations: Default::default(),
                compensated: false,
                predictions: Vec::new(),
                predicting: true,
                finished_tasks: 0,
                published_finish: None,
            },
        );
        if let Some(key) = req.idempotency_key {
            self.idempotency.insert(key, id);
        }
        self.running_runs += 1;
        let note = self.children.note.take().unwrap_or_default();
        self.record(id, None, EventKind::RunStarted, note, now);
        for task in roots {
            self.make_ready(TaskRef { run: id, task }, now);
        }
        self.schedule(now);
        self.note_predictions(id, now);
        Ok((id, true))
    }

    pub fn definition(&self, name: &str, version: Option<u32>) -> Result<&Definition, Error> {
        let versions =
            self.definitions.get(name).ok_or_else(|| Error::NotFound { what: "definition", id: name.into() })?;
        match version {
            None | Some(0) => versions.last(),
            Some(v) => versions.get(v as usize - 1),
        }
        .ok_or_else(|| Error::NotFound { what: "definition version", id: format!("{name}@{}", version.unwrap_or(0)) })
    }

    /// Cancels a running run: queued tasks are dropped, running attempts are told to stop.
    /// The reason is recorded with every task it ends, so it is bounded.
    pub fn cancel_run(&mut self, id: RunId, reason: &str, now: Millis) -> Result<(), Error> {
        if reason.len() > MAX_REASON_BYTES {
            let msg = format!("is {} bytes, at most {MAX_REASON_BYTES} allowed", reason.len());
            return Err(ValidationError::single("reason", msg).into());
        }
        let run = self.runs.get(&id).ok_or_else(|| Error::NotFound { what: "run", id: id.to_string() })?;
        if run.status.is_final() {
            return Err(Error::FailedPrecondition(format!("run {id} has already ended as {:?}", run.status)));
        }
        let reason = if reason.is_empty() { "cancelled by request" } else { reason };
        self.end_run(id, RunStatus::Cancelled, reason, now);
        Ok(())
    }

    /// Ends a running run now: every unfinished task (compensations included) is cancelled
    /// and running attempts are told to stop.
    pub(crate) fn end_run(&mut self, id: RunId, status: RunStatus, reason: &str, now: Millis) {
        let Some(run) = self.runs.get(&id) else { return };
        let n = run.tasks.len() as u32;
        for task in 0..n {
            self.cancel_task(TaskRef { run: id, task }, reason, now);
        }
        let run = self.runs.get_mut(&id).expect("checked above");
        run.compensations.clear();
        for w in &mut run.workflows {
            if w.status == RunStatus::Running {
                w.status = RunStatus::Cancelled;
            }
        }
        self.finish_run(id, status, reason.to_string(), now);
        self.schedule(now);
    }

    /// Appends an event to the run's history and publishes it.
    pub(crate) fn record(&mut self, run_id: RunId, task: Option<u32>, kind: EventKind, detail: String, now: Millis) {
        let Some(run) = self.runs.get_mut(&run_id) else { return };
        let (workflow, name, attempt, worker) = match task {
            Some(i) => {
                let t = &run.tasks[i as usize];
                (run.plan.workflow_name(i).clone(), run.plan.tasks[i as usize].name.clone(), t.attempt, t.worker)
            }
            None => (Arc::from(""), Arc::from(""), 0, None),
        };
        let event = RunEvent {
            run: run_id,
            seq: run.events.len() as u64 + 1,
            at: now,
            kind,
            workflow,
            task: name,
            attempt,
            worker,
            detail,
        };
        run.events.push(event.clone());
        // Every change of a task or run is recorded as an event; the task's (or run's)
        // record is stored with it.
        match task {
            Some(i) => self.mark_task(TaskRef { run: run_id, task: i }),
            None => self.mark_run(run_id),
        }
        self.mark_event(event.clone());
        self.emit(Effect::Event(event));
        if let Some(i) = task
            && matches!(
                kind,
                EventKind::TaskSucceeded | EventKind::TaskFailed | EventKind::TaskCancelled | EventKind::TaskRetrying
            )
        {
            self.gates_freed(TaskRef { run: run_id, task: i }, kind != EventKind::TaskRetrying);
        }
        if matches!(kind, EventKind::TaskSucceeded | EventKind::TaskFailed | EventKind::TaskCancelled) {
            if let Some(run) = self.runs.get_mut(&run_id) {
                run.finished_tasks += 1;
            }
            self.note_predictions(run_id, now);
        }
    }

    /// Pending -> Ready: into its queue.
    pub(crate) fn make_ready(&mut self, r: TaskRef, now: Millis) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        // A `for_each` task is never handed out: it expands, or collects (see `fanout`).
        if matches!(run.plan.tasks[r.task as usize].fan.as_deref(), Some(weft_model::plan::Fan::Map { .. })) {
            self.map_ready(r, now);
            return;
        }
        // Nor is a `process` task: its child run starts (see `children`).
        if &*run.plan.tasks[r.task as usize].kind == weft_model::builtin::PROCESS {
            self.start_child(r, now);
            return;
        }
        let t = &mut run.tasks[r.task as usize];
        t.state = TaskState::Ready;
        t.ready_at = Some(now);
        t.retry_at = None;
        if let Some(limit) = run.plan.tasks[r.task as usize].queue_timeout_ms {
            self.timers.insert((now + limit as Millis, Timer::QueueTimeout(r, now)));
        }
        // Into its queue, unless a limit it uses is full: then it waits at that limit.
        if !self.park_if_shut(r, now)
            && let Some(run) = self.runs.get_mut(&r.run)
        {
            let plan = &run.plan.tasks[r.task as usize];
            let ticket = self.sched.queues.push(&plan.queue, &plan.kind, plan.priority, r);
            run.tasks[r.task as usize].ticket = Some(ticket);
        }
        self.record(r.run, Some(r.task), EventKind::TaskReady, String::new(), now);
    }

    /// Ends a task that has not finished as cancelled, stopping its attempt if one runs.
    pub(crate) fn cancel_task(&mut self, r: TaskRef, reason: &str, now: Millis) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        let t = &mut run.tasks[r.task as usize];
        if t.state.is_final() {
            return;
        }
        if let Some(ticket) = t.ticket.take() {
            let plan = &run.plan.tasks[r.task as usize];
            self.sched.queues.remove(&plan.queue, &plan.kind, ticket);
        }
        // A pending retry timer finds `retry_at` cleared and does nothing.
        t.retry_at = None;
        let was_active = t.state.is_active();
        t.state = TaskState::Cancelled;
        t.finished_at = Some(now);
        let holder = t.worker;
        if was_active && let Some(worker) = holder {
            let attempt = self.attempt_id(r);
            if let Some(w) = self.workers.get_mut(&worker) {
                w.attempts.remove(&r);
            }
            self.emit(Effect::Cancel { worker, attempt, reason: reason.to_string() });
        }
        if was_active && holder.is_none() {
            // A `process` task: its child run ends too.
            self.cancel_child(r, now);
        }
        self.record(r.run, Some(r.task), EventKind::TaskCancelled, reason.to_string(), now);
    }

    /// A task's last attempt failed: its workflow fails, and by the failure policy the
    /// rest of the run is cancelled or left to finish. The compensations of what had
    /// succeeded in the failed (and cancelled) workflows then run, latest-finished first.
    pub(crate) fn fail_task(&mut self, r: TaskRef, error: TaskError, now: Millis) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        let plan = run.plan.clone();
        let t = &mut run.tasks[r.task as usize];
        t.state = TaskState::Failed;
        t.finished_at = Some(now);
        let attempt = t.attempt;
        t.error = Some(error.clone());
        self.record(r.run, Some(r.task), EventKind::TaskFailed, error.message.clone(), now);

        let tp = &plan.tasks[r.task as usize];
        if tp.compensates.is_some() {
            // A compensation that failed for good: say so, and go on undoing the rest.
            let run = self.runs.get_mut(&r.run).expect("exists");
            run.reason.push_str(&format!("; compensation `{}` failed: {}", tp.name, error.message));
            self.mark_run(r.run);
            self.next_compensation(r.run, now);
            return;
        }
        let wi = tp.workflow;
        let wf_name = plan.workflows[wi as usize].name.clone();
        let reason = format!("workflow `{wf_name}` failed: task `{}` attempt {attempt}: {}", tp.name, error.message);
        // The workflow's other tasks can no longer all succeed.
        for task in plan.workflows[wi as usize].members() {
            self.cancel_task(TaskRef { run: r.run, task }, &format!("workflow `{wf_name}` failed"), now);
        }
        let fail_fast = plan.failure_policy == FailurePolicy::FailFast;
        let run = self.runs.get_mut(&r.run).expect("exists");
        run.workflows[wi as usize].status = RunStatus::Failed;
        if run.reason.is_empty() {
            run.reason = reason;
            // The reason is stored before the run ends: compensations may run long.
            self.mark_run(r.run);
        }
        let mut undone = vec![wi];
        if fail_fast {
            for (other, w) in plan.workflows.iter().enumerate() {
                if other as u32 == wi || self.runs[&r.run].workflows[other].status != RunStatus::Running {
                    continue;
                }
                for task in w.members() {
                    self.cancel_task(TaskRef { run: r.run, task }, "a sibling workflow failed (fail fast)", now);
                }
                self.runs.get_mut(&r.run).expect("exists").workflows[other].status = RunStatus::Cancelled;
                undone.push(other as u32);
            }
        }
        self.queue_compensations(r.run, &undone, now);
        self.maybe_finish_run(r.run, now);
    }

    /// Queues the compensations of the succeeded tasks of `workflows`, latest-finished first,
    /// and starts the first if none is running.
    fn queue_compensations(&mut self, id: RunId, workflows: &[u32], now: Millis) {
        let Some(run) = self.runs.get_mut(&id) else { return };
        let plan = run.plan.clone();
        let mut done: Vec<(Millis, u32, u32)> = workflows
            .iter()
            .flat_map(|&wi| plan.workflows[wi as usize].members())
            .filter_map(|i| {
                let comp = plan.tasks[i as usize].compensation?;
                let t = &run.tasks[i as usize];
                let fresh = run.tasks[comp as usize].state == TaskState::Pending && !run.compensations.contains(&comp);
                (t.state == TaskState::Succeeded && fresh).then(|| (t.finished_at.unwrap_or(0), i, comp))
            })
            .collect();
        if done.is_empty() {
            return;
        }
        done.sort_by(|a, b| b.cmp(a));
        let idle = run.compensations.is_empty()
            && !plan.tasks.iter().enumerate().any(|(i, tp)| {
                tp.compensates.is_some()
                    && matches!(run.tasks[i].state, TaskState::Ready | TaskState::Assigned | TaskState::Running)
            });
        run.compensations.extend(done.iter().map(|(_, _, comp)| *comp));
        let first_time = !run.compensated;
        run.compensated = true;
        if first_time {
            let names: Vec<&str> = done.iter().map(|(_, i, _)| &*plan.tasks[*i as usize].name).collect();
            self.record(id, None, EventKind::RunCompensating, format!("undoing {}", names.join(", ")), now);
        }
        if idle {
            self.next_compensation(id, now);
        }
    }

    /// Starts the next queued compensation, or ends the run if none is left.
    fn next_compensation(&mut self, id: RunId, now: Millis) {
        let Some(run) = self.runs.get_mut(&id) else { return };
        match run.compensations.pop_front() {
            Some(comp) => self.make_ready(TaskRef { run: id, task: comp }, now),
            None => self.maybe_finish_run(id, now),
        }
    }

    /// A task succeeded: its dependents may become ready, its workflow and run may finish.
    pub(crate) fn complete_task(&mut self, r: TaskRef, result: Arc<str>, now: Millis) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        let plan = run.plan.clone();
        let t = &mut run.tasks[r.task as usize];
        t.state = TaskState::Succeeded;
        t.finished_at = Some(now);
        t.result = Some(result);
        self.record(r.run, Some(r.task), EventKind::TaskSucceeded, String::new(), now);
        if plan.tasks[r.task as usize].compensates.is_some() {
            self.next_compensation(r.run, now);
            return;
        }
        let run = self.runs.get_mut(&r.run).expect("exists");
        let wi = plan.tasks[r.task as usize].workflow as usize;
        run.workflows[wi].unfinished -= 1;
        if run.workflows[wi].unfinished == 0 && run.workflows[wi].status == RunStatus::Running {
            run.workflows[wi].status = RunStatus::Succeeded;
        }
        let mut ready = Vec::new();
        for &d in &plan.tasks[r.task as usize].dependents {
            let dep = &mut run.tasks[d as usize];
            dep.waiting_on -= 1;
            if dep.waiting_on == 0 && dep.state == TaskState::Pending {
                ready.push(d);
            }
        }
        for task in ready {
            self.make_ready(TaskRef { run: r.run, task }, now);
        }
        self.maybe_finish_run(r.run, now);
    }

    /// Ends the run once every workflow has ended.
    fn maybe_finish_run(&mut self, id: RunId, now: Millis) {
        let Some(run) = self.runs.get(&id) else { return };
        if run.status.is_final() || run.workflows.iter().any(|w| w.status == RunStatus::Running) {
            return;
        }
        let compensating = !run.compensations.is_empty()
            || run
                .plan
                .tasks
                .iter()
                .zip(&run.tasks)
                .any(|(tp, t)| tp.compensates.is_some() && !t.state.is_final() && t.state != TaskState::Pending);
        if compensating {
            return;
        }
        let status = if run.workflows.iter().any(|w| w.status == RunStatus::Failed) || run.status == RunStatus::Failed {
            RunStatus::Failed
        } else if run.workflows.iter().any(|w| w.status == RunStatus::Cancelled) {
            RunStatus::Cancelled
        } else {
            RunStatus::Succeeded
        };
        let reason = run.reason.clone();
        self.finish_run(id, status, reason, now);
    }

    fn finish_run(&mut self, id: RunId, status: RunStatus, reason: String, now: Millis) {
        let Some(run) = self.runs.get_mut(&id) else { return };
        if run.status.is_final() {
            return;
        }
        run.status = status;
        run.reason = reason.clone();
        run.finished_at = Some(now);
        self.running_runs -= 1;
        let kind = match status {
            RunStatus::Succeeded => EventKind::RunSucceeded,
            RunStatus::Failed => EventKind::RunFailed,
            _ => EventKind::RunCancelled,
        };
        // The history says how the estimate did: "predicted 1.20s at start (+20 %); took 1.00s".
        let measured = crate::predictions::summary(&run.predictions, run.created_at, now);
        let detail = match (reason.is_empty(), measured.is_empty()) {
            (_, true) => reason,
            (true, false) => measured,
            (false, false) => format!("{reason} · {measured}"),
        };
        self.record(id, None, kind, detail, now);
        // Its history is complete and retention keeps it for days: give back the room the
        // vector's doubling left (up to half of it).
        if let Some(run) = self.runs.get_mut(&id) {
            run.events.shrink_to_fit();
            run.predictions.shrink_to_fit();
        }
        self.schedule_run_ended(id, now);
        self.child_run_ended(id, now);
    }
}

//! Engine types to wire messages and back. Decoding names the bad field.
use std::sync::Arc;
use weft_engine::{
    AckOutcome, Assignment, AttemptId, Definition, Engine, EventKind, Liveness, Millis, Run, RunEvent, SessionSecret,
    Worker, WorkerEvent, WorkerRegistration,
};
use weft_model::{RunId, TaskState, ValidationError, WorkerId};
use weft_proto::convert::{process_to_pb, run_status_to_pb, task_state_to_pb};
use weft_proto::pb;

pub fn parse_run_id(field: &str, text: &str) -> Result<RunId, ValidationError> {
    text.parse().map_err(|e| ValidationError::single(field, format!("`{text}` is not a run id (UUID): {e}")))
}

pub fn parse_worker_id(field: &str, text: &str) -> Result<WorkerId, ValidationError> {
    text.parse().map_err(|e| ValidationError::single(field, format!("`{text}` is not a worker id (UUID): {e}")))
}

pub fn attempt_from_pb(field: &str, a: Option<&pb::AttemptRef>) -> Result<AttemptId, ValidationError> {
    let a = a.ok_or_else(|| ValidationError::single(field, "is missing"))?;
    Ok(AttemptId {
        run: parse_run_id(&format!("{field}.run_id"), &a.run_id)?,
        workflow: Arc::from(a.workflow.as_str()),
        task: Arc::from(a.task.as_str()),
        attempt: a.attempt,
    })
}

pub fn attempt_to_pb(a: &AttemptId) -> pb::AttemptRef {
    pb::AttemptRef {
        run_id: a.run.to_string(),
        workflow: a.workflow.to_string(),
        task: a.task.to_string(),
        attempt: a.attempt,
    }
}

/// A session secret as the wire carries it (64 hex digits); `None` if it is not one.
pub fn session_secret_from_text(text: &str) -> Option<SessionSecret> {
    weft_net::auth::from_hex::<32>(text).map(SessionSecret)
}

pub fn session_secret_to_text(secret: &SessionSecret) -> String {
    weft_net::auth::to_hex(&secret.0)
}

/// A registration; its session number and secret are the driver's to set.
pub fn registration_from_pb(r: &pb::Register) -> Result<WorkerRegistration, ValidationError> {
    let proof = match r.previous_session_secret.as_str() {
        "" => None,
        text => Some(session_secret_from_text(text).ok_or_else(|| {
            ValidationError::single("register.previous_session_secret", "is not a session secret (64 hex digits)")
        })?),
    };
    let holding = r
        .holding
        .iter()
        .enumerate()
        .map(|(i, a)| attempt_from_pb(&format!("register.holding[{i}]"), Some(a)))
        .collect::<Result<_, _>>()?;
    Ok(WorkerRegistration {
        id: parse_worker_id("register.worker_id", &r.worker_id)?,
        session: 0,
        secret: SessionSecret([0; 32]),
        proof,
        name: r.name.clone(),
        queues: r.queues.iter().map(|q| Arc::from(q.as_str())).collect(),
        kinds: r.kinds.iter().map(|k| Arc::from(k.as_str())).collect(),
        slots: r.slots,
        speed: r.speed,
        version: r.version.clone(),
        holding,
    })
}

pub fn assignment_to_pb(a: &Assignment) -> pb::Assignment {
    pb::Assignment {
        attempt: Some(attempt_to_pb(&a.attempt)),
        kind: a.kind.to_string(),
        params_json: a.params_json.to_string(),
        inputs: a.inputs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        run_input_json: a.run_input_json.to_string(),
        timeout_ms: a.timeout_ms.unwrap_or(0),
        idempotency_key: format!("{}/{}/{}/{}", a.attempt.run, a.attempt.workflow, a.attempt.task, a.attempt.attempt),
    }
}

pub fn ack_to_pb(outcome: AckOutcome) -> pb::AckOutcome {
    match outcome {
        AckOutcome::Accepted => pb::AckOutcome::Accepted,
        AckOutcome::Duplicate => pb::AckOutcome::Duplicate,
        AckOutcome::Stale => pb::AckOutcome::Stale,
    }
}

fn event_kind_to_pb(k: EventKind) -> pb::EventKind {
    match k {
        EventKind::RunStarted => pb::EventKind::RunStarted,
        EventKind::TaskReady => pb::EventKind::TaskReady,
        EventKind::TaskAssigned => pb::EventKind::TaskAssigned,
        EventKind::TaskRunning => pb::EventKind::TaskRunning,
        EventKind::TaskSucceeded => pb::EventKind::TaskSucceeded,
        EventKind::TaskFailed => pb::EventKind::TaskFailed,
        EventKind::TaskRetrying => pb::EventKind::TaskRetrying,
        EventKind::TaskCancelled => pb::EventKind::TaskCancelled,
        EventKind::RunSucceeded => pb::EventKind::RunSucceeded,
        EventKind::RunFailed => pb::EventKind::RunFailed,
        EventKind::RunCancelled => pb::EventKind::RunCancelled,
        EventKind::RunCompensating => pb::EventKind::RunCompensating,
        EventKind::RunEstimate => pb::EventKind::RunEstimate,
        EventKind::TaskExpanded => pb::EventKind::TaskExpanded,
    }
}

/// Plan indices of one page of tasks, and the index the next page starts at, if any.
fn task_page(run: &Run, start: u32, size: usize, max_result_bytes: usize) -> (Vec<u32>, Option<u32>) {
    let total = run.plan.tasks.len() as u32;
    let mut page = Vec::new();
    let mut bytes = 0;
    for i in start.min(total)..total {
        let result = run.tasks[i as usize].result.as_ref().map_or(0, |r| r.len());
        if page.len() >= size || (!page.is_empty() && bytes + result > max_result_bytes) {
            return (page, Some(i));
        }
        bytes += result;
        page.push(i);
    }
    (page, None)
}

fn task_to_pb(run: &Run, workflow: String, i: u32) -> pb::TaskRun {
    let tp = &run.plan.tasks[i as usize];
    let t = &run.tasks[i as usize];
    pb::TaskRun {
        workflow,
        name: tp.name.to_string(),
        kind: tp.kind.to_string(),
        state: task_state_to_pb(t.state) as i32,
        attempt: t.attempt,
        worker_id: t.worker.map(|w| w.to_string()).unwrap_or_default(),
        priority: tp.priority,
        queue: tp.queue.to_string(),
        depends_on: tp.deps.iter().map(|&d| run.plan.tasks[d as usize].name.to_string()).collect(),
        ready_at_ms: t.ready_at.unwrap_or(0),
        started_at_ms: t.started_at.unwrap_or(0),
        finished_at_ms: t.finished_at.unwrap_or(0),
        result_json: t.result.as_deref().unwrap_or("").to_string(),
        error: t.error.as_ref().map(|e| pb::TaskError { message: e.message.clone(), retryable: e.retryable }),
        // Filled in by GetRun, which has the cost model at hand.
        cost_seconds: 0.0,
        cost_source: pb::CostSource::Unspecified as i32,
        waiting: String::new(),
    }
}

pub fn event_to_pb(e: &RunEvent) -> pb::RunEvent {
    pb::RunEvent {
        run_id: e.run.to_string(),
        seq: e.seq,
        at_ms: e.at,
        kind: event_kind_to_pb(e.kind) as i32,
        workflow: e.workflow.to_string(),
        task: e.task.to_string(),
        attempt: e.attempt,
        worker_id: e.worker.map(|w| w.to_string()).unwrap_or_default(),
        detail: e.detail.clone(),
    }
}

pub fn liveness_to_pb(l: Liveness) -> pb::WorkerLiveness {
    match l {
        Liveness::Live => pb::WorkerLiveness::Live,
        Liveness::Suspect => pb::WorkerLiveness::Suspect,
        Liveness::Dead => pb::WorkerLiveness::Dead,
        Liveness::Draining => pb::WorkerLiveness::Draining,
    }
}

pub fn worker_event_to_pb(e: &WorkerEvent) -> pb::WorkerEvent {
    pb::WorkerEvent {
        worker_id: e.worker.to_string(),
        name: e.name.clone(),
        liveness: liveness_to_pb(e.liveness) as i32,
        at_ms: e.at,
        detail: e.detail.clone(),
    }
}

pub fn definition_to_pb(d: &Definition) -> pb::Definition {
    pb::Definition {
        name: d.name.to_string(),
        version: d.version,
        // A plan made by validation always reads back; a damaged one is shown without its spec.
        spec: d.spec().ok().map(|s| process_to_pb(&s)),
        created_at_ms: d.created_at,
    }
}

/// A run; with `detail`, every workflow and task too.
/// Which tasks of a run an answer details.
#[derive(Clone, Copy, Debug)]
pub enum Detail {
    /// Counts only (list views, CancelRun).
    None,
    /// Tasks from plan index `start`, at most `size`, and stopping before their results
    /// pass `max_result_bytes` (the first task of a page is always included).
    Page { start: u32, size: usize, max_result_bytes: usize },
}

/// Results carried by one GetRun answer, at most: a quarter of the message limit, so that
/// the answer fits with everything else in it.
pub const PAGE_RESULT_BYTES: usize = 4 * 1024 * 1024;

/// A run for the API. With a page, `next_task_page_token` says where the next one starts.
pub fn run_to_pb(run: &Run, detail: Detail) -> pb::Run {
    let (def_name, def_version) = run.definition.clone().map(|(n, v)| (n.to_string(), v)).unwrap_or_default();
    let mut next_task_page_token = String::new();
    let workflows = match detail {
        Detail::None => Vec::new(),
        Detail::Page { start, size, max_result_bytes } => {
            let (tasks, next) = task_page(run, start, size, max_result_bytes);
            if let Some(next) = next {
                next_task_page_token = next.to_string();
            }
            run.plan
                .workflows
                .iter()
                .zip(&run.workflows)
                .enumerate()
                .map(|(wi, (wp, wr))| pb::WorkflowRun {
                    name: wp.name.to_string(),
                    status: run_status_to_pb(wr.status) as i32,
                    // The workflow's own tasks, then its compensation tasks (plan order).
                    tasks: tasks
                        .iter()
                        .filter(|&&i| run.plan.tasks[i as usize].workflow as usize == wi)
                        .map(|&i| task_to_pb(run, wp.name.to_string(), i))
                        .collect(),
                })
                .collect()
        }
    };
    pb::Run {
        run_id: run.id.to_string(),
        definition_name: def_name,
        definition_version: def_version,
        process_name: run.plan.name.to_string(),
        status: run_status_to_pb(run.status) as i32,
        reason: run.reason.clone(),
        idempotency_key: run.idempotency_key.clone().unwrap_or_default(),
        created_at_ms: run.created_at,
        finished_at_ms: run.finished_at.unwrap_or(0),
        workflows,
        tasks_total: run.tasks.len() as u32,
        tasks_succeeded: run.count(TaskState::Succeeded) as u32,
        tasks_failed: run.count(TaskState::Failed) as u32,
        input_json: run.input_json.to_string(),
        compensated: run.compensated,
        estimate: None,
        next_task_page_token,
        deadline_ms: run.plan.deadline_ms.map_or(0, |d| run.created_at.saturating_add(d as i64)),
        predictions: run
            .predictions
            .iter()
            .map(|p| pb::Prediction {
                checkpoint_percent: u32::from(p.checkpoint),
                made_at_ms: p.made_at,
                predicted_finish_ms: p.predicted_finish,
            })
            .collect(),
    }
}

pub fn cost_source_to_pb(source: weft_engine::estimate::CostSource) -> pb::CostSource {
    use weft_engine::estimate::CostSource as S;
    match source {
        S::Declared => pb::CostSource::Declared,
        S::History => pb::CostSource::History,
        S::Hint => pb::CostSource::Hint,
        S::KindHistory => pb::CostSource::KindHistory,
        S::Default => pb::CostSource::Default,
    }
}

pub fn estimate_to_pb(e: &weft_engine::estimate::Estimate) -> pb::Estimate {
    pb::Estimate {
        scheduling_seconds: e.scheduling,
        execution_seconds: e.execution,
        monitoring_seconds: e.monitoring,
        remaining_seconds: e.remaining,
        predicted_finish_ms: e.predicted_finish,
        tasks_declared: e.declared,
        tasks_observed: e.observed,
        tasks_unknown: e.unknown,
        tasks_hinted: e.hinted,
        tasks_kind_history: e.kind_history,
        default_cost_seconds: e.default_cost,
        step_overhead_seconds: e.step_overhead,
    }
}

pub fn anomaly_kind_to_pb(k: weft_engine::AnomalyKind) -> pb::AnomalyKind {
    use weft_engine::AnomalyKind as K;
    match k {
        K::LateHeartbeat => pb::AnomalyKind::LateHeartbeat,
        K::StuckTask => pb::AnomalyKind::StuckTask,
        K::QueueBacklog => pb::AnomalyKind::QueueBacklog,
        K::FailingWorker => pb::AnomalyKind::FailingWorker,
        K::Recovered => pb::AnomalyKind::Recovered,
        K::UnservableTask => pb::AnomalyKind::UnservableTask,
        K::DeadlineAtRisk => pb::AnomalyKind::DeadlineAtRisk,
    }
}

pub fn anomaly_to_pb(a: &weft_engine::Anomaly) -> pb::Anomaly {
    pb::Anomaly {
        kind: anomaly_kind_to_pb(a.kind) as i32,
        at_ms: a.at,
        worker_id: a.worker.map(|w| w.to_string()).unwrap_or_default(),
        run_id: a.run.map(|r| r.to_string()).unwrap_or_default(),
        workflow: a.workflow.to_string(),
        task: a.task.to_string(),
        queue: a.queue.to_string(),
        value: a.value,
        detail: a.detail.clone(),
    }
}

pub fn worker_to_pb(w: &Worker, attempts: Vec<pb::AttemptRef>, recent: Vec<pb::HeartbeatSample>) -> pb::WorkerStatus {
    pb::WorkerStatus {
        worker_id: w.id.to_string(),
        name: w.name.clone(),
        liveness: liveness_to_pb(w.liveness) as i32,
        queues: w.queues.iter().map(|q| q.to_string()).collect(),
        kinds: w.kinds.iter().map(|k| k.to_string()).collect(),
        slots: w.slots,
        running: w.attempts.len() as u32,
        load: w.attempts.len() as f64 / w.slots.max(1) as f64,
        cpu_percent: w.cpu_percent,
        memory_used_bytes: w.memory_used_bytes,
        memory_total_bytes: w.memory_total_bytes,
        speed: w.speed,
        last_heartbeat_ms: w.last_heartbeat,
        attempts,
        version: w.version.clone(),
        recent,
        penalized: w.health.penalty.is_some(),
        penalty_reason: match w.health.penalty {
            Some(weft_engine::Penalty::LateHeartbeats) => "late heartbeats".into(),
            Some(weft_engine::Penalty::SlowTask) => "a task running far past its expected time".into(),
            Some(weft_engine::Penalty::Failing) => "most of its recent attempts failed".into(),
            None => String::new(),
        },
        failure_rate: w.health.failure_rate(),
        heartbeat_lag_ms: w.health.lag_ms,
    }
}

/// How the store was opened, for cluster status.
pub fn store_status(info: &weft_store::StoreInfo) -> pb::StoreStatus {
    pb::StoreStatus {
        backend: info.backend.to_string(),
        durability: info.durability.as_str().to_string(),
        location: info.location.clone(),
        filesystem: info.filesystem.clone(),
        setting: info.setting.clone(),
    }
}

/// The whole cluster as `GetClusterStatus` shows it: the engine's views, as wire messages.
pub fn cluster_status(engine: &Engine, now: Millis, store: &pb::StoreStatus) -> pb::ClusterStatus {
    let workers = engine
        .workers()
        .map(|w| {
            let attempts = engine.attempts_of(w).iter().map(attempt_to_pb).collect();
            let recent = w
                .recent
                .iter()
                .map(|h| pb::HeartbeatSample {
                    at_ms: h.at,
                    used: h.used,
                    cpu_percent: h.cpu_percent,
                    memory_used_bytes: h.memory_used_bytes,
                    gap_ms: h.gap_ms,
                })
                .collect();
            worker_to_pb(w, attempts, recent)
        })
        .collect();
    let queues = engine
        .queue_views()
        .into_iter()
        .map(|q| pb::QueueStatus {
            queue: q.queue.to_string(),
            depth: q.depth as u32,
            by_priority: q
                .by_priority
                .iter()
                .map(|&(priority, depth)| pb::PriorityDepth { priority, depth: depth as u32 })
                .collect(),
            free_slots: q.free_slots,
        })
        .collect();
    let (running, finished) = engine.run_counts();
    pb::ClusterStatus {
        workers,
        queues,
        runs_running: running as u32,
        runs_finished: finished as u32,
        now_ms: now,
        store: Some(store.clone()),
        unserved: engine
            .unserved_work()
            .into_iter()
            .map(|u| pb::UnservedWork {
                queue: u.queue.to_string(),
                kind: u.kind.to_string(),
                waiting: u.waiting as u32,
                run_id: u.run.to_string(),
                workflow: u.workflow.to_string(),
                task: u.task.to_string(),
            })
            .collect(),
        at_limits: engine
            .gates_waited_at(now, 100)
            .into_iter()
            .map(|(process, reason, waiting)| pb::LimitWait {
                // A cluster-wide limit belongs to no one process.
                process: if process.is_empty() { "any process".to_string() } else { process.to_string() },
                reason,
                waiting: waiting as u32,
            })
            .collect(),
    }
}

/// A schedule for the API: its spec, state and next fire times.
pub fn schedule_to_pb(s: &weft_engine::schedules::Schedule) -> pb::Schedule {
    use weft_model::schedule::{CatchUp, Overlap};
    let (catch_up, window) = match s.spec.catch_up {
        CatchUp::None => (pb::ScheduleCatchUp::None, 0),
        CatchUp::Latest => (pb::ScheduleCatchUp::Latest, 0),
        CatchUp::All { window_ms } => (pb::ScheduleCatchUp::All, window_ms),
    };
    let overlap = match s.spec.overlap {
        Overlap::Skip => pb::ScheduleOverlap::Skip,
        Overlap::QueueOne => pb::ScheduleOverlap::QueueOne,
        Overlap::Allow => pb::ScheduleOverlap::Allow,
    };
    pb::Schedule {
        spec: Some(pb::ScheduleSpec {
            name: s.spec.name.clone(),
            cron: s.spec.cron.clone(),
            timezone: s.spec.timezone.clone(),
            definition: s.spec.definition.clone(),
            version: s.spec.version.unwrap_or(0),
            input_json: s.spec.input_json.clone(),
            overlap: overlap as i32,
            catch_up: catch_up as i32,
            catch_up_window_ms: window,
        }),
        paused: s.state.paused,
        next_fire_ms: s.upcoming(5),
        last_slot_ms: s.state.last_slot.unwrap_or(0),
        last_run_id: s.state.last_run.map(|r| r.to_string()).unwrap_or_default(),
        fired: s.state.fired,
        skipped: s.state.skipped,
        last_error: s.state.last_error.clone(),
        created_at_ms: s.state.created_at,
        pending_slot_ms: s.state.pending_slot.unwrap_or(0),
    }
}

/// A schedule from the API; unknown enum values are refused naming the field. The rest is
/// checked by the engine (`validate_schedule`).
pub fn schedule_from_pb(
    spec: &pb::ScheduleSpec,
) -> Result<weft_model::schedule::ScheduleSpec, weft_model::ValidationError> {
    use weft_model::ValidationError;
    use weft_model::schedule::{CatchUp, Overlap};
    let overlap = match pb::ScheduleOverlap::try_from(spec.overlap) {
        Ok(pb::ScheduleOverlap::Unspecified | pb::ScheduleOverlap::Skip) => Overlap::Skip,
        Ok(pb::ScheduleOverlap::QueueOne) => Overlap::QueueOne,
        Ok(pb::ScheduleOverlap::Allow) => Overlap::Allow,
        Err(_) => return Err(ValidationError::single("spec.overlap", format!("unknown value {}", spec.overlap))),
    };
    let catch_up = match pb::ScheduleCatchUp::try_from(spec.catch_up) {
        Ok(pb::ScheduleCatchUp::Unspecified | pb::ScheduleCatchUp::Latest) => CatchUp::Latest,
        Ok(pb::ScheduleCatchUp::None) => CatchUp::None,
        Ok(pb::ScheduleCatchUp::All) => CatchUp::All { window_ms: spec.catch_up_window_ms },
        Err(_) => return Err(ValidationError::single("spec.catch_up", format!("unknown value {}", spec.catch_up))),
    };
    Ok(weft_model::schedule::ScheduleSpec {
        name: spec.name.clone(),
        cron: spec.cron.clone(),
        timezone: if spec.timezone.is_empty() { "UTC".into() } else { spec.timezone.clone() },
        definition: spec.definition.clone(),
        version: (spec.version != 0).then_some(spec.version),
        input_json: spec.input_json.clone(),
        overlap,
        catch_up,
    })
}

//! Engine state to store records after each step, and store records back into an engine
//! at start.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use weft_engine::{Definition, Effect, Engine, EventKind, RestoredRun, RestoredTask, RunEvent, TaskError};
use weft_model::{Millis, ProcessPlan, ProcessSpec, RunId, validate_process};
use weft_store::{Batch, DefinitionRecord, EventRecord, RunRecord, Snapshot, TaskRecord};

/// Builds the batch that makes one driver step durable: the events it produced, the latest
/// state of every task and run they touched, new definitions and expired runs.
pub fn batch_for(
    engine: &Engine,
    effects: &[Effect],
    definitions: Vec<(Arc<str>, u32)>,
    deleted_runs: Vec<RunId>,
) -> Batch {
    let mut batch = Batch { deleted_runs, ..Default::default() };
    for (name, version) in definitions {
        if let Ok(d) = engine.definition(&name, Some(version)) {
            batch.definitions.push(DefinitionRecord {
                name: d.name.to_string(),
                version: d.version,
                spec_json: d.plan.spec_json.to_string(),
                created_at: d.created_at,
            });
        }
    }
    let mut runs: BTreeSet<RunId> = BTreeSet::new();
    let mut tasks: BTreeMap<RunId, BTreeSet<u32>> = BTreeMap::new();
    for effect in effects {
        let Effect::Event(e) = effect else { continue };
        batch.events.push(event_record(e));
        if e.kind == EventKind::RunStarted || e.kind.is_run_final() {
            runs.insert(e.run);
        }
        if !e.task.is_empty()
            && let Ok(run) = engine.run(e.run)
            && let Some(i) = run.plan.find(&e.workflow, &e.task)
        {
            tasks.entry(e.run).or_default().insert(i);
        }
    }
    for id in runs {
        if let Ok(run) = engine.run(id) {
            batch.runs.push(RunRecord {
                id,
                spec_json: run.plan.spec_json.to_string(),
                definition: run.definition.as_ref().map(|(n, v)| (n.to_string(), *v)),
                idempotency_key: run.idempotency_key.clone(),
                input_json: run.input_json.to_string(),
                created_at: run.created_at,
                status: run.status,
                reason: run.reason.clone(),
                finished_at: run.finished_at,
            });
        }
    }
    for (id, indices) in tasks {
        let Ok(run) = engine.run(id) else { continue };
        for i in indices {
            let t = &run.tasks[i as usize];
            batch.tasks.push(TaskRecord {
                run: id,
                index: i,
                state: t.state,
                attempt: t.attempt,
                worker: t.worker,
                ready_at: t.ready_at,
                started_at: t.started_at,
                finished_at: t.finished_at,
                result_json: t.result.as_ref().map(|r| r.to_string()),
                error: t.error.as_ref().map(|e| (e.message.clone(), e.retryable)),
                retry_at: t.retry_at,
            });
        }
    }
    batch
}

fn event_record(e: &RunEvent) -> EventRecord {
    EventRecord {
        run: e.run,
        seq: e.seq,
        at: e.at,
        kind: e.kind.code(),
        workflow: e.workflow.to_string(),
        task: e.task.to_string(),
        attempt: e.attempt,
        worker: e.worker,
        detail: e.detail.clone(),
    }
}

/// A stored record that cannot be put back.
#[derive(Debug, thiserror::Error)]
#[error("stored {what} {id} cannot be restored: {reason}")]
pub struct RestoreError {
    what: &'static str,
    id: String,
    reason: String,
}

fn plan_of(what: &'static str, id: &str, json: &str) -> Result<ProcessPlan, RestoreError> {
    let err = |reason: String| RestoreError { what, id: id.to_string(), reason };
    let spec: ProcessSpec = serde_json::from_str(json).map_err(|e| err(format!("spec: {e}")))?;
    // Kinds were checked when it was accepted; workers advertising them may not be back yet.
    validate_process(&spec, &|_| true).map_err(|e| err(format!("spec: {e}")))
}

/// Counts of what was restored, for the start-up log.
#[derive(Debug, Default)]
pub struct Restored {
    pub definitions: usize,
    pub runs: usize,
    pub unfinished_runs: usize,
    pub tasks: usize,
}

/// Puts a snapshot back into a fresh engine.
pub fn restore(engine: &mut Engine, snap: Snapshot, now: Millis) -> Result<Restored, RestoreError> {
    let mut counts = Restored::default();
    for d in snap.definitions {
        let id = format!("{}@{}", d.name, d.version);
        let plan = plan_of("definition", &id, &d.spec_json)?;
        engine.restore_definition(Definition {
            name: Arc::from(d.name.as_str()),
            version: d.version,
            plan: Arc::new(plan),
            created_at: d.created_at,
        });
        counts.definitions += 1;
    }
    let mut tasks = snap.tasks.into_iter().peekable();
    let mut events = snap.events.into_iter().peekable();
    for r in snap.runs {
        let id = r.id.to_string();
        let plan = Arc::new(plan_of("run", &id, &r.spec_json)?);
        let mut restored_tasks: Vec<Option<RestoredTask>> = vec![None; plan.tasks.len()];
        // Tasks and events come ordered by run, like the runs: skip orphans, take ours.
        while tasks.peek().is_some_and(|t| t.run < r.id) {
            tasks.next();
        }
        while let Some(t) = tasks.next_if(|t| t.run == r.id) {
            let slot = restored_tasks.get_mut(t.index as usize).ok_or_else(|| RestoreError {
                what: "task",
                id: format!("{id}#{}", t.index),
                reason: format!("the run has {} tasks", plan.tasks.len()),
            })?;
            *slot = Some(RestoredTask {
                state: t.state,
                attempt: t.attempt,
                worker: t.worker,
                ready_at: t.ready_at,
                started_at: t.started_at,
                finished_at: t.finished_at,
                result: t.result_json.map(Arc::from),
                error: t.error.map(|(message, retryable)| TaskError { message, retryable }),
                retry_at: t.retry_at,
            });
            counts.tasks += 1;
        }
        while events.peek().is_some_and(|e| e.run < r.id) {
            events.next();
        }
        let mut history = Vec::new();
        while let Some(e) = events.next_if(|e| e.run == r.id) {
            let kind = EventKind::from_code(e.kind).ok_or_else(|| RestoreError {
                what: "event",
                id: format!("{id}#{}", e.seq),
                reason: format!("unknown kind {}", e.kind),
            })?;
            history.push(RunEvent {
                run: e.run,
                seq: e.seq,
                at: e.at,
                kind,
                workflow: Arc::from(e.workflow.as_str()),
                task: Arc::from(e.task.as_str()),
                attempt: e.attempt,
                worker: e.worker,
                detail: e.detail,
            });
        }
        if !r.status.is_final() {
            counts.unfinished_runs += 1;
        }
        counts.runs += 1;
        engine.restore_run(
            RestoredRun {
                id: r.id,
                plan,
                definition: r.definition.map(|(n, v)| (Arc::from(n.as_str()), v)),
                status: r.status,
                reason: r.reason,
                idempotency_key: r.idempotency_key,
                input_json: Arc::from(r.input_json.as_str()),
                created_at: r.created_at,
                finished_at: r.finished_at,
                tasks: restored_tasks,
                events: history,
            },
            now,
        );
    }
    Ok(counts)
}

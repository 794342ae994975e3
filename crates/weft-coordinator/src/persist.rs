//! Store records back into an engine at start. (The other way needs no code here: the
//! engine emits its change set per step and the driver hands it to the store as it is.)
use std::sync::Arc;
use weft_engine::{Definition, Engine, RestoredRun};
use weft_model::{Millis, ProcessPlan, ProcessSpec, validate_process};
use weft_store::Snapshot;

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
            name: d.name.clone(),
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
        // Tasks and events come ordered by run, like the runs: skip orphans, take ours.
        while tasks.peek().is_some_and(|t| t.run < r.id) {
            tasks.next();
        }
        let mut run_tasks = Vec::new();
        while let Some(t) = tasks.next_if(|t| t.run == r.id) {
            if t.index as usize >= plan.tasks.len() {
                return Err(RestoreError {
                    what: "task",
                    id: format!("{id}#{}", t.index),
                    reason: format!("the run has {} tasks", plan.tasks.len()),
                });
            }
            run_tasks.push(t);
        }
        counts.tasks += run_tasks.len();
        while events.peek().is_some_and(|e| e.run < r.id) {
            events.next();
        }
        let mut history = Vec::new();
        while let Some(e) = events.next_if(|e| e.run == r.id) {
            history.push(e);
        }
        if !r.status.is_final() {
            counts.unfinished_runs += 1;
        }
        counts.runs += 1;
        engine.restore_run(RestoredRun { run: r, plan, tasks: run_tasks, events: history }, now);
    }
    Ok(counts)
}

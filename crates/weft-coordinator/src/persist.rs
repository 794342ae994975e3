//! Store records back into an engine at start. (The other way needs no code here: the
//! engine emits its change set per step and the driver hands it to the store as it is.)
//!
//! Nothing stored may keep the coordinator from starting: a record that cannot be put
//! back (a spec that no longer parses or validates, a task index past its run's plan) is
//! skipped and named in [`Restored::quarantine`], for the caller to log and move into the
//! store's quarantine. The rest is restored.
use std::collections::HashMap;
use std::sync::Arc;
use weft_engine::{Definition, Engine, EventKind, RestoredRun};
use weft_model::{Millis, ProcessPlan, ProcessSpec, validate_process};
use weft_store::{Quarantine, RecordKey, Snapshot};

/// The plan of a stored spec, or why there is none. A panic while checking it (a bug in
/// the validator, met by a spec an older build accepted) is a reason too, not the end of
/// the coordinator.
fn plan_of(json: &str) -> Result<ProcessPlan, String> {
    let check = || -> Result<ProcessPlan, String> {
        let spec: ProcessSpec = serde_json::from_str(json).map_err(|e| format!("spec: {e}"))?;
        // Kinds were checked when it was accepted; workers advertising them may not be back yet.
        validate_process(&spec, &|_| true).map_err(|e| format!("spec: {e}"))
    };
    std::panic::catch_unwind(check).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("spec: checking it panicked: {what}"))
    })
}

/// Counts of what was restored, for the start-up log, and what could not be.
#[derive(Debug, Default)]
pub struct Restored {
    pub definitions: usize,
    pub runs: usize,
    pub unfinished_runs: usize,
    pub tasks: usize,
    /// Durations the cost model had learned, put back.
    pub observations: usize,
    pub schedules: usize,
    /// Schedules and cluster-wide limits that could not be read back (name, why): left in
    /// the store, not used.
    pub refused_schedules: Vec<(String, String)>,
    /// Records skipped because they cannot be restored, to move into the quarantine.
    pub quarantine: Vec<Quarantine>,
    /// Tasks and events skipped because their run is not in the store (it was quarantined).
    pub orphans: usize,
}

/// Puts a snapshot back into a fresh engine, skipping (and naming) what cannot be.
pub fn restore(engine: &mut Engine, snap: Snapshot, now: Millis) -> Restored {
    let mut counts = Restored { observations: engine.restore_observations(snap.observations), ..Default::default() };
    // Cluster-wide limits first: restored attempts take their shares of them.
    let refused_limits = engine.restore_limits(snap.limits);
    let set_aside = |key: RecordKey, reason: String| Quarantine { key, reason, at: now };
    let mut quarantine = Vec::new();
    // Runs of one definition, or of one inline spec, store the same text: it is checked once
    // and its plan shared, as those runs shared it before the restart (a for_each's
    // expansion copies it first, see `fanout`). Keyed by the stored text.
    let mut checked: HashMap<Arc<str>, Arc<ProcessPlan>> = HashMap::new();
    for d in snap.definitions {
        match plan_of(&d.spec_json) {
            Ok(plan) => {
                let plan = Arc::new(plan);
                checked.insert(d.spec_json.clone(), plan.clone());
                engine.restore_definition(Definition {
                    name: d.name.clone(),
                    version: d.version,
                    plan,
                    created_at: d.created_at,
                });
                counts.definitions += 1;
            }
            Err(reason) => {
                quarantine.push(set_aside(RecordKey::Definition { name: d.name, version: d.version }, reason))
            }
        }
    }
    let mut tasks = snap.tasks.into_iter().peekable();
    let mut events = snap.events.into_iter().peekable();
    for r in snap.runs {
        // Tasks and events come ordered by run, like the runs: skip orphans, take ours.
        while tasks.next_if(|t| t.run < r.id).is_some() {
            counts.orphans += 1;
        }
        while events.next_if(|e| e.run < r.id).is_some() {
            counts.orphans += 1;
        }
        let run_tasks: Vec<_> = std::iter::from_fn(|| tasks.next_if(|t| t.run == r.id)).collect();
        let history: Vec<_> = std::iter::from_fn(|| events.next_if(|e| e.run == r.id)).collect();
        let plan = if history.iter().any(|e| e.kind == EventKind::TaskExpanded) {
            // The for_each expansions its history records, replayed in order, into a plan
            // of its own.
            plan_of(&r.spec_json).and_then(|mut plan| {
                weft_engine::fanout::replay_expansions(&mut plan, &history, &run_tasks, &r.input_json)
                    .map_err(|e| format!("replaying its for_each expansions: {e}"))?;
                Ok(Arc::new(plan))
            })
        } else if let Some(plan) = checked.get(&r.spec_json) {
            Ok(plan.clone())
        } else {
            plan_of(&r.spec_json).map(|plan| {
                let plan = Arc::new(plan);
                checked.insert(r.spec_json.clone(), plan.clone());
                plan
            })
        };
        let plan = match plan {
            Ok(plan) => plan,
            Err(reason) => {
                // Its tasks and events stay in the store with it, under its id.
                counts.orphans += run_tasks.len() + history.len();
                quarantine.push(set_aside(RecordKey::Run(r.id), reason));
                continue;
            }
        };
        let (run_tasks, past_plan): (Vec<_>, Vec<_>) =
            run_tasks.into_iter().partition(|t| (t.index as usize) < plan.tasks.len());
        for t in past_plan {
            let reason = format!("task index {} is past the run's plan of {} tasks", t.index, plan.tasks.len());
            quarantine.push(set_aside(RecordKey::Task { run: t.run, index: t.index }, reason));
        }
        counts.tasks += run_tasks.len();
        if !r.status.is_final() {
            counts.unfinished_runs += 1;
        }
        counts.runs += 1;
        engine.restore_run(RestoredRun { run: r, plan, tasks: run_tasks, events: history }, now);
    }
    counts.orphans += tasks.count() + events.count();
    counts.quarantine = quarantine;
    // After the runs: a schedule whose last run still runs finds it.
    let schedules = snap.schedules.len();
    counts.refused_schedules = engine.restore_schedules(snap.schedules, now);
    counts.refused_schedules.extend(refused_limits);

    counts.schedules = schedules - counts.refused_schedules.len();
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_engine::{Config, StoredDefinition, StoredRun, StoredTask};
    use weft_model::{RunId, RunStatus, TaskState};

    const SPEC: &str = r#"{"name":"p","workflows":[{"name":"w","tasks":[{"name":"a","kind":"noop"}]}]}"#;

    fn run(n: u128, spec: &str) -> StoredRun {
        StoredRun {
            id: RunId::from_u128(n),
            spec_json: spec.into(),
            definition: None,
            idempotency_key: None,
            input_json: "null".into(),
            created_at: 1,
            status: RunStatus::Running,
            reason: String::new(),
            finished_at: None,
        }
    }

    fn def(name: &str, spec: &str) -> StoredDefinition {
        StoredDefinition { name: name.into(), version: 1, spec_json: spec.into(), created_at: 1 }
    }

    #[test]
    fn records_that_cannot_be_restored_are_named_and_the_rest_is_restored() {
        let nested = SPEC.replace(
            r#""kind":"noop""#,
            &format!(r#""kind":"noop","params":{{"x":{}1{}}}"#, "[".repeat(200), "]".repeat(200)),
        );
        let snap = Snapshot {
            definitions: vec![def("bad", "{not json"), def("deep", &nested), def("good", SPEC)],
            runs: vec![run(1, SPEC), run(2, "{}"), run(3, SPEC)],
            tasks: vec![
                StoredTask { state: TaskState::Ready, ..StoredTask::pending(RunId::from_u128(1), 0) },
                StoredTask::pending(RunId::from_u128(1), 5),
                StoredTask::pending(RunId::from_u128(2), 0),
            ],
            ..Default::default()
        };
        let mut engine = Engine::new(Config::default());
        let restored = restore(&mut engine, snap, 10);
        assert_eq!((restored.definitions, restored.runs, restored.tasks), (1, 2, 1));
        let keys: Vec<String> = restored.quarantine.iter().map(|q| q.key.to_string()).collect();
        let (r1, r2) = (RunId::from_u128(1), RunId::from_u128(2));
        assert_eq!(keys, vec!["bad@1".to_string(), "deep@1".into(), format!("{r1}#5"), format!("{r2}")]);
        assert!(restored.quarantine[0].reason.starts_with("spec:"), "{:?}", restored.quarantine[0]);
        assert!(restored.quarantine[1].reason.contains("recursion limit"), "{:?}", restored.quarantine[1]);
        assert!(restored.quarantine[2].reason.contains("past the run's plan of 1 tasks"));
        assert_eq!(restored.orphans, 1, "the task of the quarantined run");
        assert!(engine.definition("good", None).is_ok());
        assert!(engine.definition("bad", None).is_err());
    }

    #[test]
    fn runs_of_one_spec_share_one_checked_plan_and_an_expanded_run_gets_its_own() {
        let expanding = r#"{"name":"f","workflows":[{"name":"w","tasks":[
            {"name":"list","kind":"noop","params":{"result":{"items":[1,2]}}},
            {"name":"each","kind":"noop","depends_on":["list"],"for_each":"list.items"}]}]}"#;
        let e1 = RunId::from_u128(4);
        let expanded = weft_engine::RunEvent {
            run: e1,
            seq: 1,
            at: 1,
            kind: EventKind::TaskExpanded,
            workflow: "w".into(),
            task: "each".into(),
            attempt: 0,
            worker: None,
            detail: "2 items".into(),
        };
        let list_done = StoredTask {
            state: TaskState::Succeeded,
            result: Some(r#"{"items":[1,2]}"#.into()),
            ..StoredTask::pending(e1, 0)
        };
        let snap = Snapshot {
            definitions: vec![def("good", SPEC)],
            runs: vec![run(1, SPEC), run(2, SPEC), run(3, SPEC), run(4, expanding), run(5, expanding)],
            tasks: vec![list_done],
            events: vec![expanded],
            ..Default::default()
        };
        let mut engine = Engine::new(Config::default());
        let restored = restore(&mut engine, snap, 10);
        assert!(restored.quarantine.is_empty(), "{:?}", restored.quarantine);
        let plan = |n: u128| engine.run(RunId::from_u128(n)).unwrap().plan.clone();
        let def = engine.definition("good", None).unwrap().plan.clone();
        assert!(Arc::ptr_eq(&plan(1), &def) && Arc::ptr_eq(&plan(2), &def) && Arc::ptr_eq(&plan(3), &def));
        // Run 4's history expanded its for_each: its plan has the two instances; run 5's not.
        assert_eq!((plan(4).tasks.len(), plan(5).tasks.len()), (4, 2));
        assert!(!Arc::ptr_eq(&plan(4), &plan(5)));
    }
}

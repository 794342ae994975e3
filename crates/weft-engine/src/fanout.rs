//! Dynamic fan-out: a `for_each` task, once ready, reads its list and expands into one
//! instance per element (appended to its run's plan, first-class tasks from then on:
//! queued, retried, fenced, stored); it then waits for them and succeeds with their
//! results, in order. The expansion is recorded as a TASK_EXPANDED event, so a restart
//! replays the same expansions in the same order ([`replay_expansions`]) and every stored
//! instance finds its place again.
use std::sync::Arc;
use weft_model::limits::{MAX_RESULT_BYTES, MAX_TASKS};
use weft_model::plan::{Fan, ListSource};
use weft_model::{Millis, ProcessPlan};

use crate::types::{TaskError, TaskRef, TaskRun};
use crate::{Engine, EventKind, RunEvent, StoredTask};

/// Most tasks a run may reach by expanding: twice what a spec may declare.
pub const MAX_RUN_TASKS: usize = 2 * MAX_TASKS;

/// `split.items` or `input.orders`: the source as a user wrote it, for messages.
fn written(plan: &ProcessPlan, source: &ListSource) -> String {
    let (head, path) = match source {
        ListSource::Input(path) => ("input".to_string(), path),
        ListSource::Task { task, path } => {
            (plan.tasks.get(*task as usize).map_or(String::new(), |t| t.name.to_string()), path)
        }
    };
    std::iter::once(head).chain(path.iter().cloned()).collect::<Vec<_>>().join(".")
}

impl Engine {
    /// A `for_each` task whose dependencies all succeeded (expand it), or whose instances
    /// all did (it succeeds with their results).
    pub(crate) fn map_ready(&mut self, r: TaskRef, now: Millis) {
        let Some(run) = self.runs.get(&r.run) else { return };
        let Some(Fan::Map { source, max_items, expanded, .. }) = run.plan.tasks[r.task as usize].fan.as_deref() else {
            return;
        };
        if let Some(n) = *expanded {
            // Its instances are its last `n` dependencies, in order.
            let deps = &run.plan.tasks[r.task as usize].deps;
            let items = &deps[deps.len().saturating_sub(n as usize)..];
            let mut text = String::from("[");
            for (k, &i) in items.iter().enumerate() {
                if k > 0 {
                    text.push(',');
                }
                text.push_str(run.tasks[i as usize].result.as_deref().unwrap_or("null"));
            }
            text.push(']');
            if text.len() > MAX_RESULT_BYTES {
                let message = format!(
                    "the results of its {n} instances come to {} bytes, and a result is at most {MAX_RESULT_BYTES}",
                    text.len()
                );
                self.fail_task(r, TaskError { message, retryable: false }, now);
                return;
            }
            self.complete_task(r, Arc::from(text), now);
            return;
        }
        let what = written(&run.plan, source);
        let listed = source.elements(&what, &run.input_json, |i| run.tasks.get(i as usize)?.result.clone(), *max_items);
        let elements = match listed {
            Ok(e) if run.tasks.len() + e.len() > MAX_RUN_TASKS => {
                Err(format!("for_each `{what}`: {} items would take the run past {MAX_RUN_TASKS} tasks", e.len()))
            }
            other => other,
        };
        let elements = match elements {
            Ok(elements) => elements,
            Err(message) => {
                self.fail_task(r, TaskError { message, retryable: false }, now);
                return;
            }
        };
        let n = elements.len() as u32;
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        let range = Arc::make_mut(&mut run.plan).expand(r.task, elements);
        run.tasks.extend(range.clone().map(|_| TaskRun::pending(0)));
        let wi = run.plan.tasks[r.task as usize].workflow as usize;
        run.workflows[wi].unfinished += n;
        run.tasks[r.task as usize].waiting_on = n;
        self.record(r.run, Some(r.task), EventKind::TaskExpanded, format!("{n} items"), now);
        if n == 0 {
            self.complete_task(r, Arc::from("[]"), now);
            return;
        }
        for task in range {
            self.make_ready(TaskRef { run: r.run, task }, now);
        }
    }
}

/// Rebuilds a restored run's plan: the expansions its history records, in order, from its
/// stored results and input. An error names what no longer matches.
pub fn replay_expansions(
    plan: &mut ProcessPlan,
    events: &[RunEvent],
    tasks: &[StoredTask],
    input_json: &str,
) -> Result<(), String> {
    let result_of = |i: u32| tasks.iter().find(|t| t.index == i).and_then(|t| t.result.clone());
    for e in events.iter().filter(|e| e.kind == EventKind::TaskExpanded) {
        let Some(map) = plan.find(&e.workflow, &e.task) else {
            return Err(format!("expanded task `{}/{}` is not in the plan", e.workflow, e.task));
        };
        let Some(Fan::Map { source, max_items, .. }) = plan.tasks[map as usize].fan.as_deref() else {
            return Err(format!("expanded task `{}/{}` has no for_each", e.workflow, e.task));
        };
        let what = written(plan, source);
        let elements = source.elements(&what, input_json, result_of, *max_items)?;
        let recorded: Option<usize> = e.detail.split(' ').next().and_then(|n| n.parse().ok());
        if recorded != Some(elements.len()) {
            return Err(format!(
                "`{}/{}` expanded into {:?} items; its list now has {}",
                e.workflow,
                e.task,
                recorded,
                elements.len()
            ));
        }
        plan.expand(map, elements);
    }
    Ok(())
}

//! The validated, indexed form of a process that the engine runs. Tasks of all
//! workflows are numbered `0..n` in one list; dependencies are indices into it.
use crate::spec::{FailurePolicy, ProcessSpec, RetryPolicy};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// A process that passed validation.
#[derive(Clone, Debug)]
pub struct ProcessPlan {
    /// The process's name.
    pub name: Arc<str>,
    pub failure_policy: FailurePolicy,
    /// The spec as submitted, as JSON: kept as text because a plan lives as long as its
    /// run, and the text is a fraction of the size of the parsed spec.
    pub spec_json: Arc<str>,
    pub workflows: Vec<WorkflowPlan>,
    /// The workflows' tasks, then the compensation tasks (see [`TaskPlan::compensates`]).
    pub tasks: Vec<TaskPlan>,
    /// The run must end this long after its start.
    pub deadline_ms: Option<u64>,
    /// The limits its tasks use (see [`crate::gates`]); tasks name them by index.
    pub limits: Vec<LimitPlan>,
}

/// A named limit of a process.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitPlan {
    pub name: Arc<str>,
    pub concurrency: Option<u32>,
    pub rate: Option<crate::gates::Rate>,
    /// Not declared by the process: the cluster's limit of this name (its bounds are the
    /// cluster's, shared by every process that uses it).
    pub cluster: bool,
}

/// A task's concurrency key: its template and how many may run per key.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyPlan {
    pub template: Vec<crate::gates::KeyPart>,
    pub max_per_key: u32,
}

#[derive(Clone, Debug)]
pub struct WorkflowPlan {
    pub name: Arc<str>,
    /// Indices of its own tasks in [`ProcessPlan::tasks`] (compensations not included).
    pub tasks: Range<u32>,
    /// Task name -> index, for reports that name their task.
    pub by_name: HashMap<Arc<str>, u32>,
    /// Instances of its `for_each` tasks, added to the plan when those ran (after every
    /// workflow's own tasks and the compensations).
    pub items: Vec<u32>,
}

impl WorkflowPlan {
    /// Its own tasks, then the instances of its `for_each` tasks.
    pub fn members(&self) -> impl Iterator<Item = u32> + '_ {
        self.tasks.clone().chain(self.items.iter().copied())
    }
}

#[derive(Clone, Debug)]
pub struct TaskPlan {
    /// Index of its workflow in [`ProcessPlan::workflows`].
    pub workflow: u32,
    pub name: Arc<str>,
    pub kind: Arc<str>,
    /// Parameters as JSON text, encoded once.
    pub params_json: Arc<str>,
    pub priority: i32,
    pub queue: Arc<str>,
    /// Tasks that must succeed first (indices, same workflow).
    pub deps: Vec<u32>,
    /// Tasks that wait for this one.
    pub dependents: Vec<u32>,
    /// Shared by the tasks of a plan that have the same policy.
    pub retry: Arc<RetryPolicy>,
    pub timeout_ms: Option<u64>,
    pub cost_seconds: Option<f64>,
    /// How long its executor says it takes (a sleep's duration), for the cost model.
    pub hint_ms: Option<u64>,
    /// How long it can take at most (its timeout, an http request's timeout).
    pub at_most_ms: Option<u64>,
    /// Longest wait in the queue.
    pub queue_timeout_ms: Option<u64>,
    /// The task that undoes this one, if any.
    pub compensation: Option<u32>,
    /// Set on a compensation task: the task it undoes. Compensations run only when their
    /// workflow fails, one at a time, latest-finished first.
    pub compensates: Option<u32>,
    /// Indices into [`ProcessPlan::limits`] of the limits it takes a share of.
    pub uses: Box<[u32]>,
    pub concurrency_key: Option<Arc<KeyPlan>>,
    /// A `for_each` task, or one of its instances (boxed: most tasks are neither).
    pub fan: Option<Box<Fan>>,
}

/// The dynamic side of a task: see [`ProcessPlan::expand`].
#[derive(Clone, Debug, PartialEq)]
pub enum Fan {
    /// A `for_each` task: when it is ready its list is read and it expands into one
    /// instance per element; it then waits for them and succeeds with their results.
    Map { source: ListSource, max_items: u32, max_parallel: Option<u32>, expanded: Option<u32> },
    /// Instance `index` of the map task `map`, with its element (JSON text).
    Item { map: u32, index: u32, element: Arc<str> },
}

/// Where a `for_each` list is.
#[derive(Clone, Debug, PartialEq)]
pub enum ListSource {
    /// A path into the run's input.
    Input(Vec<String>),
    /// A path into the result of `task` (one the map task depends on).
    Task { task: u32, path: Vec<String> },
}

impl ListSource {
    /// The list's elements as JSON texts, from the run's input or a finished task's result;
    /// an error says what is wrong (not found, not a list, too long).
    pub fn elements(
        &self,
        written: &str,
        input_json: &str,
        result_of: impl Fn(u32) -> Option<Arc<str>>,
        max_items: u32,
    ) -> Result<Vec<Arc<str>>, String> {
        let (text, path) = match self {
            ListSource::Input(path) => (Some(Arc::from(input_json)), path),
            ListSource::Task { task, path } => (result_of(*task), path),
        };
        let text = text.ok_or_else(|| format!("for_each `{written}`: its task has no result"))?;
        let value: serde_json::Value = serde_json::from_str(if text.trim().is_empty() { "null" } else { &text })
            .map_err(|e| format!("for_each `{written}`: not JSON: {e}"))?;
        let found = path.iter().try_fold(&value, |v, field| v.get(field.as_str()));
        let Some(serde_json::Value::Array(items)) = found else {
            let what = match found {
                None => "nothing".to_string(),
                Some(v) => format!("a {}", json_kind(v)),
            };
            return Err(format!("for_each `{written}`: found {what}, not a list"));
        };
        if items.len() > max_items as usize {
            return Err(format!("for_each `{written}`: {} items, max_items is {max_items}", items.len()));
        }
        Ok(items.iter().map(|v| Arc::from(v.to_string().as_str())).collect())
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "object",
    }
}

/// An instance's parameters: every `{{item}}` (the element: its text if a string, else its
/// JSON) and `{{item.FIELD.FIELD}}` in the template's strings replaced; other text kept.
/// Built-in executors see their element this way (`echo shipping {{item.sku}}`).
pub fn render_item(params_json: &str, element: &str) -> String {
    if !params_json.contains("{{") {
        return params_json.to_string();
    }
    let (Ok(mut params), Ok(item)) =
        (serde_json::from_str::<serde_json::Value>(params_json), serde_json::from_str::<serde_json::Value>(element))
    else {
        return params_json.to_string();
    };
    fill(&mut params, &item);
    params.to_string()
}

fn fill(value: &mut serde_json::Value, item: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = fill_text(s, item),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| fill(v, item)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|v| fill(v, item)),
        _ => {}
    }
}

fn fill_text(text: &str, item: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}").map(|c| open + c) else { break };
        let inner = rest[open + 2..close].trim();
        let path = match inner.strip_prefix("item") {
            Some("") => Some(Vec::new()),
            Some(p) if p.starts_with('.') => Some(p[1..].split('.').collect::<Vec<_>>()),
            _ => None,
        };
        out.push_str(&rest[..open]);
        match path {
            Some(path) => match path.iter().try_fold(item, |v, f| v.get(*f)) {
                Some(serde_json::Value::String(s)) => out.push_str(s),
                Some(v) => out.push_str(&v.to_string()),
                None => out.push_str("null"),
            },
            None => out.push_str(&rest[open..close + 2]),
        }
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Name of instance `index` of `task`. `[` cannot appear in user names.
pub fn item_name(task: &str, index: u32) -> String {
    format!("{task}[{index}]")
}

/// Name given to the compensation task of `task`. The `:` cannot appear in user names.
pub fn compensation_name(task: &str) -> String {
    format!("compensate:{task}")
}

impl ProcessPlan {
    /// Expands the `for_each` task `map` into one instance per element, appended to the
    /// plan: each a copy of it (kind, params, retries, queue, limits) depending on what it
    /// depends on, and `map` now depends on them. Returns the instances' indices. Pure and
    /// deterministic: replaying the same expansions in the same order rebuilds the plan.
    pub fn expand(&mut self, map: u32, elements: Vec<Arc<str>>) -> Range<u32> {
        let start = self.tasks.len() as u32;
        let Some(template) = self.tasks.get(map as usize).cloned() else { return start..start };
        let wi = template.workflow as usize;
        for (i, element) in elements.into_iter().enumerate() {
            let index = start + i as u32;
            let name: Arc<str> = Arc::from(item_name(&template.name, i as u32).as_str());
            self.tasks.push(TaskPlan {
                name: name.clone(),
                dependents: vec![map],
                fan: Some(Box::new(Fan::Item { map, index: i as u32, element })),
                compensation: None,
                ..template.clone()
            });
            if let Some(w) = self.workflows.get_mut(wi) {
                w.items.push(index);
                w.by_name.insert(name, index);
            }
        }
        let end = self.tasks.len() as u32;
        let m = &mut self.tasks[map as usize];
        m.deps.extend(start..end);
        if let Some(Fan::Map { expanded, .. }) = m.fan.as_deref_mut() {
            *expanded = Some(end - start);
        }
        start..end
    }

    /// The spec as submitted, parsed back from its JSON. A plan made by validation always
    /// parses back (its parameters nest at most `MAX_JSON_DEPTH` levels); the error is for
    /// plans built by hand or from a damaged store, which must not take the caller down.
    pub fn spec(&self) -> Result<ProcessSpec, serde_json::Error> {
        serde_json::from_str(&self.spec_json)
    }

    /// Finds a task by workflow and task name.
    pub fn find(&self, workflow: &str, task: &str) -> Option<u32> {
        let w = self.workflows.iter().find(|w| &*w.name == workflow)?;
        w.by_name.get(task).copied()
    }

    pub fn workflow_name(&self, task: u32) -> &Arc<str> {
        &self.workflows[self.tasks[task as usize].workflow as usize].name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_sees_its_element_in_its_params() {
        let params = r#"{"argv":["sh","-c","echo shipping {{item.sku}} x{{ item.qty }} {{item.none}} {{other}}"],"whole":"{{item}}"}"#;
        let element = r#"{"sku":"A-1","qty":2}"#;
        let filled: serde_json::Value = serde_json::from_str(&render_item(params, element)).unwrap();
        assert_eq!(filled["argv"][2], "echo shipping A-1 x2 null {{other}}");
        // The element's JSON (compared as JSON: key order depends on serde_json's features).
        let whole: serde_json::Value = serde_json::from_str(filled["whole"].as_str().unwrap()).unwrap();
        assert_eq!(whole, serde_json::json!({"sku": "A-1", "qty": 2}));
        assert_eq!(render_item(r#"{"a":"{{item}}"}"#, r#""plain""#), r#"{"a":"plain"}"#);
        assert_eq!(render_item(r#"{"a":1}"#, "2"), r#"{"a":1}"#, "untouched without placeholders");
        assert_eq!(render_item(r#"{"a":"{{item"}"#, "2"), r#"{"a":"{{item"}"#, "an unclosed one is text");
    }
}

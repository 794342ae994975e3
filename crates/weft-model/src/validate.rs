//! Validation: a spec becomes a [`ProcessPlan`] or a list of violations, each naming
//! the field path (`workflows[1].tasks[0].depends_on[2]`) and the problem.
use crate::builtin;
use crate::dag;
use crate::limits::*;
use crate::plan::{ProcessPlan, TaskPlan, WorkflowPlan};
use crate::spec::{ProcessSpec, RetrySpec};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field, e.g. `workflows[0].tasks[3].kind`.
    pub field: String,
    pub message: String,
}

/// Every problem found in a request; nothing of it was applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub violations: Vec<Violation>,
}

impl ValidationError {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError { violations: vec![Violation { field: field.into(), message: message.into() }] }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.message)?;
        }
        Ok(())
    }
}

/// Checks a name of a process, workflow, task, queue or kind: 1 to 128 of `[A-Za-z0-9_.-]`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("is {} bytes long, at most {MAX_NAME_LEN} allowed", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("`{name}` contains {c:?}; use letters, digits, `_`, `-` and `.`"));
    }
    Ok(())
}

/// Checks a JSON text (run input, a result) against a size bound.
pub fn check_json(text: &str, max: usize) -> Result<serde_json::Value, String> {
    if text.len() > max {
        return Err(format!("is {} bytes, at most {max} allowed", text.len()));
    }
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))
}

/// Shares one `Arc<str>` among equal strings.
#[derive(Default)]
struct Interner(HashMap<String, Arc<str>>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(s.to_string(), a.clone());
        a
    }
}

struct Checker {
    violations: Vec<Violation>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation { field: field.into(), message: message.into() });
    }

    fn name(&mut self, field: String, name: &str) {
        if let Err(e) = check_name(name) {
            self.fail(field, e);
        }
    }

    fn retry(&mut self, field: &str, r: &RetrySpec) {
        if let Some(n) = r.max_attempts
            && !(1..=MAX_ATTEMPTS).contains(&n)
        {
            self.fail(format!("{field}.max_attempts"), format!("is {n}, must be 1 to {MAX_ATTEMPTS}"));
        }
        for (name, v) in [("initial_backoff", r.initial_backoff), ("max_backoff", r.max_backoff)] {
            if let Some(ms) = v
                && ms > MAX_BACKOFF_MS
            {
                self.fail(format!("{field}.{name}"), format!("is {ms} ms, at most {MAX_BACKOFF_MS} ms allowed"));
            }
        }
        if let (Some(i), Some(m)) = (r.initial_backoff, r.max_backoff)
            && i > m
        {
            self.fail(format!("{field}.max_backoff"), format!("{m} ms is less than initial_backoff {i} ms"));
        }
        if let Some(m) = r.multiplier
            && !(m.is_finite() && (1.0..=MAX_MULTIPLIER).contains(&m))
        {
            self.fail(format!("{field}.multiplier"), format!("is {m}, must be 1 to {MAX_MULTIPLIER}"));
        }
        if let Some(j) = r.jitter
            && !(0.0..=1.0).contains(&j)
        {
            self.fail(format!("{field}.jitter"), format!("is {j}, must be 0 to 1"));
        }
    }

    fn kind(&mut self, field: String, kind: &str, is_known_kind: &dyn Fn(&str) -> bool) {
        if let Err(e) = check_name(kind) {
            self.fail(field, e);
        } else if !(builtin::KINDS.contains(&kind) || is_known_kind(kind)) {
            self.fail(field, format!("unknown kind `{kind}`: no built-in executor or connected worker serves it"));
        }
    }

    fn params(&mut self, field: String, kind: &str, params: &serde_json::Value) -> String {
        if !params.is_object() {
            self.fail(field.clone(), "must be a JSON object");
        } else if let Err(e) = builtin::check_params(kind, params) {
            self.fail(field.clone(), format!("bad parameters for kind `{kind}`: {e}"));
        }
        let json = params.to_string();
        if json.len() > MAX_PARAMS_BYTES {
            self.fail(field, format!("is {} bytes, at most {MAX_PARAMS_BYTES} allowed", json.len()));
        }
        json
    }

    fn timeout(&mut self, field: String, ms: Option<u64>) {
        if let Some(ms) = ms
            && !(1..=MAX_TIMEOUT_MS).contains(&ms)
        {
            self.fail(field, format!("is {ms} ms, must be 1 ms to {MAX_TIMEOUT_MS} ms"));
        }
    }
}

/// Validates a process. `is_known_kind` says whether some executor serves a kind;
/// built-in kinds are always known and have their parameters checked too.
pub fn validate_process(
    spec: &ProcessSpec,
    is_known_kind: &dyn Fn(&str) -> bool,
) -> Result<ProcessPlan, ValidationError> {
    let mut c = Checker { violations: Vec::new() };
    c.name("name".into(), &spec.name);
    if let Some(r) = &spec.default_retry {
        c.retry("default_retry", r);
    }
    c.timeout("deadline".into(), spec.deadline);
    if spec.workflows.is_empty() {
        c.fail("workflows", "a process needs at least one workflow");
    }
    if spec.workflows.len() > MAX_WORKFLOWS {
        c.fail("workflows", format!("has {} workflows, at most {MAX_WORKFLOWS} allowed", spec.workflows.len()));
    }
    let total: usize = spec.workflows.iter().map(|w| w.tasks.len()).sum();
    if total > MAX_TASKS {
        c.fail("workflows", format!("has {total} tasks in all, at most {MAX_TASKS} allowed"));
    }
    if !c.violations.is_empty() {
        return Err(ValidationError { violations: c.violations });
    }

    let default_retry = spec.default_retry.clone().unwrap_or_default();
    let mut spec_bytes = 0usize;
    let mut workflow_names: HashMap<&str, usize> = HashMap::new();
    let mut workflows = Vec::with_capacity(spec.workflows.len());
    let mut tasks: Vec<TaskPlan> = Vec::with_capacity(total);

    // Kinds, queues and parameters repeat across tasks: one allocation each per plan.
    let mut interned = Interner::default();
    for (wi, w) in spec.workflows.iter().enumerate() {
        let wf = format!("workflows[{wi}]");
        c.name(format!("{wf}.name"), &w.name);
        if let Some(r) = &w.default_retry {
            c.retry(&format!("{wf}.default_retry"), r);
        }
        let workflow_retry = w.default_retry.clone().unwrap_or_default().or(&default_retry);
        if let Some(prev) = workflow_names.insert(&w.name, wi) {
            c.fail(format!("{wf}.name"), format!("`{}` is also the name of workflows[{prev}]", w.name));
        }
        if w.tasks.is_empty() {
            c.fail(format!("{wf}.tasks"), format!("workflow `{}` has no tasks", w.name));
        }
        let base = tasks.len() as u32;
        let mut names: HashMap<&str, u32> = HashMap::new();
        for (ti, t) in w.tasks.iter().enumerate() {
            let tf = format!("{wf}.tasks[{ti}]");
            c.name(format!("{tf}.name"), &t.name);
            if let Some(prev) = names.insert(&t.name, ti as u32) {
                c.fail(
                    format!("{tf}.name"),
                    format!("`{}` is also the name of tasks[{prev}] of workflow `{}`", t.name, w.name),
                );
            }
        }
        let mut local_deps: Vec<Vec<u32>> = Vec::with_capacity(w.tasks.len());
        for (ti, t) in w.tasks.iter().enumerate() {
            let tf = format!("{wf}.tasks[{ti}]");
            c.kind(format!("{tf}.kind"), &t.kind, is_known_kind);
            c.name(format!("{tf}.queue"), &t.queue);
            let params_json = c.params(format!("{tf}.params"), &t.kind, &t.params);
            spec_bytes += params_json.len() + t.name.len() + t.kind.len() + t.queue.len();
            if t.priority.abs() > MAX_PRIORITY {
                c.fail(
                    format!("{tf}.priority"),
                    format!("is {}, must be -{MAX_PRIORITY} to {MAX_PRIORITY}", t.priority),
                );
            }
            if let Some(r) = &t.retry {
                c.retry(&format!("{tf}.retry"), r);
            }
            c.timeout(format!("{tf}.timeout"), t.timeout);
            c.timeout(format!("{tf}.queue_timeout"), t.queue_timeout);
            if let Some(comp) = &t.compensate {
                let cf = format!("{tf}.compensate");
                c.kind(format!("{cf}.kind"), &comp.kind, is_known_kind);
                spec_bytes += c.params(format!("{cf}.params"), &comp.kind, &comp.params).len();
                if let Some(q) = &comp.queue {
                    c.name(format!("{cf}.queue"), q);
                }
                if let Some(r) = &comp.retry {
                    c.retry(&format!("{cf}.retry"), r);
                }
                c.timeout(format!("{cf}.timeout"), comp.timeout);
            }
            if let Some(cost) = t.cost
                && !(cost.is_finite() && cost >= 0.0)
            {
                c.fail(format!("{tf}.cost"), format!("is {cost}, must be a finite number of seconds >= 0"));
            }
            if t.depends_on.len() > MAX_DEPENDENCIES {
                c.fail(
                    format!("{tf}.depends_on"),
                    format!("has {} entries, at most {MAX_DEPENDENCIES} allowed", t.depends_on.len()),
                );
            }
            let mut deps = Vec::with_capacity(t.depends_on.len() + 1);
            if w.chain {
                if !t.depends_on.is_empty() {
                    c.fail(
                        format!("{tf}.depends_on"),
                        "steps of a chain take their order from the list; remove depends_on or use `tasks`",
                    );
                }
                if ti > 0 {
                    deps.push(ti as u32 - 1);
                }
            }
            for (di, d) in t.depends_on.iter().enumerate() {
                let df = format!("{tf}.depends_on[{di}]");
                match names.get(d.as_str()) {
                    None => c.fail(df, format!("unknown task `{d}` in workflow `{}`", w.name)),
                    Some(&j) if j as usize == ti => c.fail(df, format!("task `{d}` depends on itself")),
                    Some(&j) if deps.contains(&j) => c.fail(df, format!("`{d}` is listed twice")),
                    Some(&j) => deps.push(j),
                }
            }
            local_deps.push(deps);
        }
        if let Err(cycle) = dag::topo_order(&local_deps)
            && !local_deps.iter().enumerate().any(|(i, d)| d.contains(&(i as u32)))
        {
            let path: Vec<&str> = cycle.iter().map(|&i| w.tasks[i as usize].name.as_str()).collect();
            c.fail(format!("{wf}.tasks"), format!("dependency cycle: {}", path.join(" -> ")));
        }
        for (ti, (t, deps)) in w.tasks.iter().zip(local_deps).enumerate() {
            let retry = t.retry.clone().unwrap_or_default().or(&workflow_retry).resolve();
            if retry.initial_backoff_ms > retry.max_backoff_ms {
                c.fail(
                    format!("{wf}.tasks[{ti}].retry"),
                    "initial_backoff exceeds max_backoff after applying defaults",
                );
            }
            tasks.push(TaskPlan {
                workflow: wi as u32,
                name: Arc::from(t.name.as_str()),
                kind: interned.get(&t.kind),
                params_json: interned.get(&t.params.to_string()),
                priority: t.priority,
                queue: interned.get(&t.queue),
                deps: deps.into_iter().map(|d| d + base).collect(),
                dependents: Vec::new(),
                retry,
                timeout_ms: t.timeout,
                cost_seconds: t.cost,
                queue_timeout_ms: t.queue_timeout,
                compensation: None,
                compensates: None,
            });
        }
        let range = base..tasks.len() as u32;
        let by_name = range.clone().map(|i| (tasks[i as usize].name.clone(), i)).collect();
        workflows.push(WorkflowPlan { name: Arc::from(w.name.as_str()), tasks: range, by_name });
    }
    // Compensation tasks go after every workflow's own tasks, so the workflows' ranges stay whole.
    for (wi, w) in spec.workflows.iter().enumerate() {
        for (ti, t) in w.tasks.iter().enumerate() {
            let Some(comp) = &t.compensate else { continue };
            let original = workflows[wi].tasks.start + ti as u32;
            let index = tasks.len() as u32;
            let name: Arc<str> = Arc::from(crate::plan::compensation_name(&t.name).as_str());
            let retry = comp.retry.clone().unwrap_or_default().or(&default_retry).resolve();
            let queue = comp.queue.as_deref().unwrap_or(&t.queue);
            tasks.push(TaskPlan {
                workflow: wi as u32,
                name: name.clone(),
                kind: interned.get(&comp.kind),
                params_json: interned.get(&comp.params.to_string()),
                priority: t.priority,
                queue: interned.get(queue),
                deps: Vec::new(),
                dependents: Vec::new(),
                retry,
                timeout_ms: comp.timeout,
                cost_seconds: None,
                queue_timeout_ms: None,
                compensation: None,
                compensates: Some(original),
            });
            tasks[original as usize].compensation = Some(index);
            workflows[wi].by_name.insert(name, index);
        }
    }
    if spec_bytes > MAX_SPEC_BYTES {
        c.fail("workflows", format!("spec is {spec_bytes} bytes, at most {MAX_SPEC_BYTES} allowed"));
    }
    if !c.violations.is_empty() {
        return Err(ValidationError { violations: c.violations });
    }
    let deps: Vec<Vec<u32>> = tasks.iter().map(|t| t.deps.clone()).collect();
    for (i, ds) in dag::dependents(&deps).into_iter().enumerate() {
        tasks[i].dependents = ds;
    }
    Ok(ProcessPlan {
        name: Arc::from(spec.name.as_str()),
        failure_policy: spec.failure_policy,
        spec_json: Arc::from(serde_json::to_string(spec).expect("a spec always serializes")),
        workflows,
        tasks,
        deadline_ms: spec.deadline,
    })
}

#[cfg(test)]
mod tests;

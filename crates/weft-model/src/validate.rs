//! Validation: a spec becomes a [`ProcessPlan`] or a list of violations, each naming
//! the field path (`workflows[1].tasks[0].depends_on[2]`) and the problem.
use crate::builtin;
use crate::dag;
use crate::gates::{LimitSpec, parse_key};
use crate::limits::*;
use crate::plan::{Fan, KeyPlan, LimitPlan, ListSource, ProcessPlan, TaskPlan, WorkflowPlan};
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
///
/// Made by [`ValidationError::new`] it is small whatever the request: at most
/// [`MAX_VIOLATIONS`] violations and [`MAX_VIOLATIONS_BYTES`] of text are listed, each
/// message cut at [`MAX_VIOLATION_MESSAGE_CHARS`]; a last entry with an empty field says how
/// many more were found (see [`ValidationError::omitted`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub violations: Vec<Violation>,
}

impl ValidationError {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError::new(vec![Violation { field: field.into(), message: message.into() }])
    }

    /// Keeps the first violations within the bounds and adds one entry saying how many
    /// were left out. Applying it again changes nothing.
    pub fn new(violations: Vec<Violation>) -> Self {
        Self::with_omitted(violations, 0)
    }

    /// As [`ValidationError::new`], for a caller that already dropped `omitted` violations.
    pub fn with_omitted(violations: Vec<Violation>, mut omitted: usize) -> Self {
        let mut kept = Vec::with_capacity(violations.len().min(MAX_VIOLATIONS + 1));
        let mut bytes = 0;
        for v in violations {
            if let Some(n) = omitted_count(&v) {
                omitted += n;
                continue;
            }
            let v = Violation {
                field: cut(&v.field, MAX_VIOLATION_MESSAGE_CHARS),
                message: cut(&v.message, MAX_VIOLATION_MESSAGE_CHARS),
            };
            let size = v.field.len() + v.message.len();
            if kept.len() >= MAX_VIOLATIONS || (!kept.is_empty() && bytes + size > MAX_VIOLATIONS_BYTES) {
                omitted += 1;
                continue;
            }
            bytes += size;
            kept.push(v);
        }
        if omitted > 0 {
            kept.push(Violation { field: String::new(), message: format!("{MORE_PREFIX}{omitted}{MORE_SUFFIX}") });
        }
        ValidationError { violations: kept }
    }

    /// The same violations with `prefix.` before each field (`spec.workflows[0].name`).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for v in &mut self.violations {
            if omitted_count(v).is_none() {
                v.field = if v.field.is_empty() { prefix.to_string() } else { format!("{prefix}.{}", v.field) };
            }
        }
        self
    }

    /// How many violations were found but not listed.
    pub fn omitted(&self) -> usize {
        self.violations.iter().filter_map(omitted_count).sum()
    }
}

const MORE_PREFIX: &str = "and ";
const MORE_SUFFIX: &str = " more problems not listed";

/// The count of a "how many more" entry made by [`ValidationError::with_omitted`].
fn omitted_count(v: &Violation) -> Option<usize> {
    if !v.field.is_empty() {
        return None;
    }
    v.message.strip_prefix(MORE_PREFIX)?.strip_suffix(MORE_SUFFIX)?.parse().ok()
}

/// `text` cut to `max` characters, ending with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A user's value as quoted back in an error: at most [`MAX_ECHO_CHARS`] characters.
pub fn echo(value: &str) -> String {
    cut(value, MAX_ECHO_CHARS)
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if v.field.is_empty() {
                f.write_str(&v.message)?;
            } else {
                write!(f, "{}: {}", v.field, v.message)?;
            }
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
        return Err(format!("`{}` contains {c:?}; use letters, digits, `_`, `-` and `.`", echo(name)));
    }
    Ok(())
}

/// Checks a JSON text (run input, a result) against a size bound and the depth bound,
/// without building a value. Empty text means null.
pub fn check_json(text: &str, max: usize) -> Result<(), String> {
    crate::json::check_text(text, max)
}

/// Shares one `Arc<str>` among equal strings, and one `Arc<RetryPolicy>` among equal
/// policies (most tasks of a process share theirs).
#[derive(Default)]
struct Interner {
    strings: HashMap<String, Arc<str>>,
    /// The distinct policies seen, up to [`Interner::MAX_RETRIES`]; past that each new one
    /// gets its own allocation (looking it up is linear: policies hold floats, not hashed).
    retries: Vec<Arc<crate::spec::RetryPolicy>>,
}

impl Interner {
    const MAX_RETRIES: usize = 16;

    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(s.to_string(), a.clone());
        a
    }

    fn retry(&mut self, policy: crate::spec::RetryPolicy) -> Arc<crate::spec::RetryPolicy> {
        if let Some(shared) = self.retries.iter().find(|p| ***p == policy) {
            return shared.clone();
        }
        let shared = Arc::new(policy);
        if self.retries.len() < Self::MAX_RETRIES {
            self.retries.push(shared.clone());
        }
        shared
    }
}

struct Checker {
    violations: Vec<Violation>,
    /// Found past [`MAX_VIOLATIONS`]: counted, not kept.
    omitted: usize,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        if self.violations.len() >= MAX_VIOLATIONS {
            self.omitted += 1;
        } else {
            self.violations.push(Violation { field: field.into(), message: message.into() });
        }
    }

    fn failed(&self) -> bool {
        !self.violations.is_empty()
    }

    fn error(self) -> ValidationError {
        ValidationError::with_omitted(self.violations, self.omitted)
    }

    fn name(&mut self, field: impl FnOnce() -> String, name: &str) {
        if let Err(e) = check_name(name) {
            self.fail(field(), e);
        }
    }

    /// The process's limits, in name order, and each name's index.
    fn limits(
        &mut self,
        limits: &std::collections::BTreeMap<String, LimitSpec>,
    ) -> (Vec<LimitPlan>, HashMap<String, u32>) {
        if limits.len() > MAX_LIMITS {
            self.fail("limits", format!("has {} limits, at most {MAX_LIMITS} allowed", limits.len()));
        }
        let mut plans = Vec::new();
        let mut index = HashMap::new();
        for (name, l) in limits.iter().take(MAX_LIMITS) {
            let field = format!("limits.{}", echo(name));
            self.name(|| field.clone(), name);
            if l.concurrency.is_none() && l.rate.is_none() {
                self.fail(field.clone(), "give `concurrency`, `rate` or both");
            }
            if let Some(n) = l.concurrency
                && !(1..=MAX_LIMIT_COUNT).contains(&n)
            {
                self.fail(format!("{field}.concurrency"), format!("is {n}, must be 1 to {MAX_LIMIT_COUNT}"));
            }
            if let Some(r) = l.rate {
                if !(1..=MAX_LIMIT_COUNT).contains(&r.count) {
                    self.fail(format!("{field}.rate"), format!("counts {}, must be 1 to {MAX_LIMIT_COUNT}", r.count));
                }
                if !(MIN_RATE_WINDOW_MS..=MAX_RATE_WINDOW_MS).contains(&r.per_ms) {
                    self.fail(
                        format!("{field}.rate"),
                        format!(
                            "a window of {} ms, must be {MIN_RATE_WINDOW_MS} ms to {MAX_RATE_WINDOW_MS} ms",
                            r.per_ms
                        ),
                    );
                }
            }
            index.insert(name.clone(), plans.len() as u32);
            plans.push(LimitPlan {
                name: Arc::from(name.as_str()),
                concurrency: l.concurrency,
                rate: l.rate,
                cluster: false,
            });
        }
        (plans, index)
    }

    /// A task's `uses`: each once; a limit the process does not declare is the cluster's
    /// of that name (set through the API; the coordinator checks it exists at submission).
    fn uses(
        &mut self,
        field: &str,
        uses: &[String],
        (plans, index): (&mut Vec<LimitPlan>, &mut HashMap<String, u32>),
    ) -> Box<[u32]> {
        if uses.len() > MAX_USES {
            self.fail(format!("{field}.uses"), format!("names {} limits, at most {MAX_USES} allowed", uses.len()));
        }
        let mut out: Vec<u32> = Vec::new();
        for (i, name) in uses.iter().enumerate().take(MAX_USES) {
            let l = match index.get(name) {
                Some(&l) => l,
                None => {
                    if let Err(e) = check_name(name) {
                        self.fail(format!("{field}.uses[{i}]"), e);
                        continue;
                    }
                    let l = plans.len() as u32;
                    plans.push(LimitPlan {
                        name: Arc::from(name.as_str()),
                        concurrency: None,
                        rate: None,
                        cluster: true,
                    });
                    index.insert(name.clone(), l);
                    l
                }
            };
            if out.contains(&l) {
                self.fail(format!("{field}.uses[{i}]"), format!("`{}` is listed twice", echo(name)));
            } else {
                out.push(l);
            }
        }
        out.into_boxed_slice()
    }

    /// A task's `concurrency_key` and `max_per_key`.
    fn concurrency_key(&mut self, field: &str, key: Option<&str>, max_per_key: Option<u32>) -> Option<Arc<KeyPlan>> {
        if let Some(n) = max_per_key
            && !(1..=MAX_LIMIT_COUNT).contains(&n)
        {
            self.fail(format!("{field}.max_per_key"), format!("is {n}, must be 1 to {MAX_LIMIT_COUNT}"));
        }
        let Some(key) = key else {
            if max_per_key.is_some() {
                self.fail(format!("{field}.max_per_key"), "needs a `concurrency_key`");
            }
            return None;
        };
        if key.len() > MAX_CONCURRENCY_KEY_BYTES {
            let n = key.len();
            self.fail(
                format!("{field}.concurrency_key"),
                format!("is {n} bytes, at most {MAX_CONCURRENCY_KEY_BYTES} allowed"),
            );
            return None;
        }
        match parse_key(key) {
            Ok(template) => Some(Arc::new(KeyPlan { template, max_per_key: max_per_key.unwrap_or(1) })),
            Err(e) => {
                self.fail(format!("{field}.concurrency_key"), e);
                None
            }
        }
    }

    /// A task's `for_each` (with `max_items`, `max_parallel`): where its list is, by the
    /// name of a task it depends on (global index `base + local`) or `input`.
    fn for_each(
        &mut self,
        field: &str,
        t: &crate::spec::TaskSpec,
        names: &HashMap<&str, u32>,
        deps: &[u32],
        base: u32,
    ) -> Option<Box<Fan>> {
        let Some(text) = t.for_each.as_deref() else {
            for (name, set) in [("max_items", t.max_items.is_some()), ("max_parallel", t.max_parallel.is_some())] {
                if set {
                    self.fail(format!("{field}.{name}"), "needs a `for_each`");
                }
            }
            return None;
        };
        let f = format!("{field}.for_each");
        if text.len() > MAX_CONCURRENCY_KEY_BYTES {
            self.fail(f, format!("is {} bytes, at most {MAX_CONCURRENCY_KEY_BYTES} allowed", text.len()));
            return None;
        }
        let mut parts = text.split('.');
        let head = parts.next().unwrap_or("");
        let path: Vec<String> = parts.map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            self.fail(f.clone(), format!("`{}`: an empty field name", echo(text)));
        }
        let source = match (head, names.get(head)) {
            ("input", _) => Some(ListSource::Input(path)),
            (_, Some(&j)) if deps.contains(&j) => Some(ListSource::Task { task: base + j, path }),
            (_, Some(_)) => {
                self.fail(f.clone(), format!("`{}` is read before it runs: add it to depends_on", echo(head)));
                None
            }
            (_, None) => {
                let message = format!("`{}`: write `input.PATH` or `TASK.PATH` with a task it depends on", echo(text));
                self.fail(f.clone(), message);
                None
            }
        };
        let max_items = t.max_items.unwrap_or(DEFAULT_MAX_ITEMS);
        if !(1..=MAX_TASKS as u32).contains(&max_items) {
            self.fail(format!("{field}.max_items"), format!("is {max_items}, must be 1 to {MAX_TASKS}"));
        }
        if let Some(n) = t.max_parallel
            && !(1..=MAX_LIMIT_COUNT).contains(&n)
        {
            self.fail(format!("{field}.max_parallel"), format!("is {n}, must be 1 to {MAX_LIMIT_COUNT}"));
        }
        if t.compensate.is_some() {
            self.fail(format!("{field}.compensate"), "a `for_each` task cannot have a compensation (yet)");
        }
        source.map(|source| Box::new(Fan::Map { source, max_items, max_parallel: t.max_parallel, expanded: None }))
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

    fn kind(&mut self, field: impl FnOnce() -> String, kind: &str, is_known_kind: &dyn Fn(&str) -> bool) {
        if let Err(e) = check_name(kind) {
            self.fail(field(), e);
        } else if !(builtin::KINDS.contains(&kind) || kind == builtin::PROCESS || is_known_kind(kind)) {
            self.fail(
                field(),
                format!("unknown kind `{}`: no built-in executor or connected worker serves it", echo(kind)),
            );
        }
    }

    /// Checks a task's parameters and returns them as JSON text (what the plan keeps).
    fn params(&mut self, field: impl Fn() -> String, kind: &str, params: &serde_json::Value) -> String {
        if !params.is_object() {
            self.fail(field(), "must be a JSON object");
        } else if let Err(e) = crate::json::check_value_depth(params) {
            self.fail(field(), e);
        } else if let bad @ [_, ..] = &crate::secret::check_references(params)[..] {
            let field = field();
            for (path, problem) in bad {
                self.fail(format!("{field}{path}"), problem.clone());
            }
        } else if let Err(e) = builtin::check_params(kind, params) {
            self.fail(field(), format!("bad parameters for kind `{}`: {e}", echo(kind)));
        }
        let json = params.to_string();
        if json.len() > MAX_PARAMS_BYTES {
            self.fail(field(), format!("is {} bytes, at most {MAX_PARAMS_BYTES} allowed", json.len()));
        }
        json
    }

    fn timeout(&mut self, field: impl FnOnce() -> String, ms: Option<u64>) {
        if let Some(ms) = ms
            && !(1..=MAX_TIMEOUT_MS).contains(&ms)
        {
            self.fail(field(), format!("is {ms} ms, must be 1 ms to {MAX_TIMEOUT_MS} ms"));
        }
    }
}

/// The kinds check alone, on a plan validated earlier with every kind taken as known
/// (the coordinator validates specs off its driver, where it cannot ask which kinds its
/// workers serve): each unknown kind is named at its field, as [`validate_process`] would.
pub fn check_plan_kinds(plan: &ProcessPlan, is_known_kind: &dyn Fn(&str) -> bool) -> Result<(), ValidationError> {
    let mut c = Checker { violations: Vec::new(), omitted: 0 };
    for (i, t) in plan.tasks.iter().enumerate() {
        let known = builtin::KINDS.contains(&&*t.kind) || &*t.kind == builtin::PROCESS || is_known_kind(&t.kind);
        if known {
            continue;
        }
        let field = match t.compensates {
            Some(original) => format!("{}.compensate.kind", task_field(plan, original)),
            None => format!("{}.kind", task_field(plan, i as u32)),
        };
        c.kind(|| field, &t.kind, is_known_kind);
    }
    if c.violations.is_empty() && c.omitted == 0 {
        Ok(())
    } else {
        Err(ValidationError::with_omitted(c.violations, c.omitted))
    }
}

/// Checks one cluster-wide limit (set through the API), naming each bad field.
pub fn validate_limit(name: &str, limit: &LimitSpec) -> Result<(), ValidationError> {
    let mut c = Checker { violations: Vec::new(), omitted: 0 };
    let one = std::collections::BTreeMap::from([(name.to_string(), limit.clone())]);
    c.limits(&one);
    if c.failed() { Err(c.error()) } else { Ok(()) }
}

/// `workflows[w].tasks[i]` of a task of the plan (not a compensation).
fn task_field(plan: &ProcessPlan, task: u32) -> String {
    let w = plan.tasks[task as usize].workflow;
    let start = plan.workflows[w as usize].tasks.start;
    format!("workflows[{w}].tasks[{}]", task - start)
}

/// Validates a process. `is_known_kind` says whether some executor serves a kind;
/// built-in kinds are always known and have their parameters checked too.
pub fn validate_process(
    spec: &ProcessSpec,
    is_known_kind: &dyn Fn(&str) -> bool,
) -> Result<ProcessPlan, ValidationError> {
    let mut c = Checker { violations: Vec::new(), omitted: 0 };
    c.name(|| "name".into(), &spec.name);
    if let Some(r) = &spec.default_retry {
        c.retry("default_retry", r);
    }
    c.timeout(|| "deadline".into(), spec.deadline);
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
    let edges: usize = spec.workflows.iter().flat_map(|w| &w.tasks).map(|t| t.depends_on.len()).sum();
    if edges > MAX_DEPENDENCY_EDGES {
        c.fail("workflows", format!("has {edges} depends_on entries in all, at most {MAX_DEPENDENCY_EDGES} allowed"));
    }
    if c.failed() {
        return Err(c.error());
    }
    let (mut limits, mut limit_index) = c.limits(&spec.limits);

    let default_retry = spec.default_retry.clone().unwrap_or_default();
    let mut spec_bytes = 0usize;
    let mut workflow_names: HashMap<&str, usize> = HashMap::new();
    let mut workflows = Vec::with_capacity(spec.workflows.len());
    let mut tasks: Vec<TaskPlan> = Vec::with_capacity(total);

    // Kinds, queues and parameters repeat across tasks: one allocation each per plan.
    let mut interned = Interner::default();
    for (wi, w) in spec.workflows.iter().enumerate() {
        let wf = format!("workflows[{wi}]");
        c.name(|| format!("{wf}.name"), &w.name);
        if let Some(r) = &w.default_retry {
            c.retry(&format!("{wf}.default_retry"), r);
        }
        let workflow_retry = w.default_retry.clone().unwrap_or_default().or(&default_retry);
        if let Some(prev) = workflow_names.insert(&w.name, wi) {
            c.fail(format!("{wf}.name"), format!("`{}` is also the name of workflows[{prev}]", echo(&w.name)));
        }
        if w.tasks.is_empty() {
            c.fail(format!("{wf}.tasks"), format!("workflow `{}` has no tasks", echo(&w.name)));
        }
        let base = tasks.len() as u32;
        let mut names: HashMap<&str, u32> = HashMap::new();
        for (ti, t) in w.tasks.iter().enumerate() {
            // Field names are made only for a failing check: building them for every task
            // cost more than the checks (and a restart re-checks every stored run).
            let tf = || format!("{wf}.tasks[{ti}]");
            c.name(|| format!("{}.name", tf()), &t.name);
            if let Some(prev) = names.insert(&t.name, ti as u32) {
                c.fail(
                    format!("{}.name", tf()),
                    format!("`{}` is also the name of tasks[{prev}] of workflow `{}`", echo(&t.name), echo(&w.name)),
                );
            }
        }
        let mut local_deps: Vec<Vec<u32>> = Vec::with_capacity(w.tasks.len());
        // Each task's parameters as the JSON text the plan keeps, encoded once.
        let mut local_params: Vec<String> = Vec::with_capacity(w.tasks.len());
        // `listed[j] == ti` once task ti lists j: finds repeats in one pass, however long the list.
        let mut listed: Vec<u32> = vec![u32::MAX; w.tasks.len()];
        for (ti, t) in w.tasks.iter().enumerate() {
            let tf = || format!("{wf}.tasks[{ti}]");
            c.kind(|| format!("{}.kind", tf()), &t.kind, is_known_kind);
            c.name(|| format!("{}.queue", tf()), &t.queue);
            let params_json = c.params(|| format!("{}.params", tf()), &t.kind, &t.params);
            spec_bytes += params_json.len() + t.name.len() + t.kind.len() + t.queue.len();
            local_params.push(params_json);
            // A range check, not `abs()`: i32::MIN has no absolute value.
            if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&t.priority) {
                c.fail(
                    format!("{}.priority", tf()),
                    format!("is {}, must be -{MAX_PRIORITY} to {MAX_PRIORITY}", t.priority),
                );
            }
            if let Some(r) = &t.retry {
                c.retry(&format!("{}.retry", tf()), r);
            }
            c.timeout(|| format!("{}.timeout", tf()), t.timeout);
            c.timeout(|| format!("{}.queue_timeout", tf()), t.queue_timeout);
            if let Some(comp) = &t.compensate {
                let cf = || format!("{}.compensate", tf());
                c.kind(|| format!("{}.kind", cf()), &comp.kind, is_known_kind);
                spec_bytes += c.params(|| format!("{}.params", cf()), &comp.kind, &comp.params).len();
                if let Some(q) = &comp.queue {
                    c.name(|| format!("{}.queue", cf()), q);
                }
                if let Some(r) = &comp.retry {
                    c.retry(&format!("{}.retry", cf()), r);
                }
                c.timeout(|| format!("{}.timeout", cf()), comp.timeout);
            }
            if let Some(cost) = t.cost
                && !(cost.is_finite() && cost >= 0.0)
            {
                c.fail(format!("{}.cost", tf()), format!("is {cost}, must be a finite number of seconds >= 0"));
            }
            if t.depends_on.len() > MAX_DEPENDENCIES {
                c.fail(
                    format!("{}.depends_on", tf()),
                    format!("has {} entries, at most {MAX_DEPENDENCIES} allowed", t.depends_on.len()),
                );
            }
            // Exactly the room needed: the plan keeps this vector, and a task with no
            // dependency should hold no allocation (a million queued tasks, 32 MB).
            let mut deps = Vec::with_capacity(t.depends_on.len() + usize::from(w.chain && ti > 0));
            if w.chain {
                if !t.depends_on.is_empty() {
                    c.fail(
                        format!("{}.depends_on", tf()),
                        "steps of a chain take their order from the list; remove depends_on or use `tasks`",
                    );
                }
                if ti > 0 {
                    deps.push(ti as u32 - 1);
                }
            }
            for (di, d) in t.depends_on.iter().enumerate() {
                let df = || format!("{}.depends_on[{di}]", tf());
                match names.get(d.as_str()) {
                    None => c.fail(df(), format!("unknown task `{}` in workflow `{}`", echo(d), echo(&w.name))),
                    Some(&j) if j as usize == ti => c.fail(df(), format!("task `{}` depends on itself", echo(d))),
                    Some(&j) if listed[j as usize] == ti as u32 => {
                        c.fail(df(), format!("`{}` is listed twice", echo(d)))
                    }
                    Some(&j) => {
                        listed[j as usize] = ti as u32;
                        deps.push(j);
                    }
                }
            }
            local_deps.push(deps);
        }
        if let Err(cycle) = dag::topo_order(&local_deps)
            && !local_deps.iter().enumerate().any(|(i, d)| d.contains(&(i as u32)))
        {
            // A cycle may run through every task: name its first few (the message is cut anyway).
            let path: Vec<String> = cycle.iter().take(10).map(|&i| echo(&w.tasks[i as usize].name)).collect();
            let more = if cycle.len() > path.len() { " -> …" } else { "" };
            c.fail(format!("{wf}.tasks"), format!("dependency cycle: {}{more}", path.join(" -> ")));
        }
        for (ti, ((t, deps), params_json)) in w.tasks.iter().zip(local_deps).zip(local_params).enumerate() {
            let retry = t.retry.clone().unwrap_or_default().or(&workflow_retry).resolve();
            if retry.initial_backoff_ms > retry.max_backoff_ms {
                c.fail(
                    format!("{wf}.tasks[{ti}].retry"),
                    "initial_backoff exceeds max_backoff after applying defaults",
                );
            }
            let tf = format!("{wf}.tasks[{ti}]");
            let uses = c.uses(&tf, &t.uses, (&mut limits, &mut limit_index));
            let concurrency_key = c.concurrency_key(&tf, t.concurrency_key.as_deref(), t.max_per_key);
            let fan = c.for_each(&tf, t, &names, &deps, base);
            let hint = crate::builtin::duration_hint(&t.kind, &t.params);
            let at_most_ms = match (t.timeout, hint.at_most_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tasks.push(TaskPlan {
                workflow: wi as u32,
                name: Arc::from(t.name.as_str()),
                kind: interned.get(&t.kind),
                params_json: interned.get(&params_json),
                priority: t.priority,
                queue: interned.get(&t.queue),
                deps: deps.into_iter().map(|d| d + base).collect(),
                dependents: Vec::new(),
                retry: interned.retry(retry),
                timeout_ms: t.timeout,
                cost_seconds: t.cost,
                hint_ms: hint.exact_ms,
                at_most_ms,
                queue_timeout_ms: t.queue_timeout,
                compensation: None,
                compensates: None,
                uses,
                concurrency_key,
                fan,
            });
        }
        let range = base..tasks.len() as u32;
        let by_name = range.clone().map(|i| (tasks[i as usize].name.clone(), i)).collect();
        workflows.push(WorkflowPlan { name: Arc::from(w.name.as_str()), tasks: range, by_name, items: Vec::new() });
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
                retry: interned.retry(retry),
                timeout_ms: comp.timeout,
                cost_seconds: None,
                hint_ms: None,
                at_most_ms: comp.timeout,
                queue_timeout_ms: None,
                compensation: None,
                compensates: Some(original),
                // An undo runs however busy the thing it undoes against is.
                uses: Box::default(),
                concurrency_key: None,
                fan: None,
            });
            tasks[original as usize].compensation = Some(index);
            workflows[wi].by_name.insert(name, index);
        }
    }
    if spec_bytes > MAX_SPEC_BYTES {
        c.fail("workflows", format!("spec is {spec_bytes} bytes, at most {MAX_SPEC_BYTES} allowed"));
    }
    let spec_json = match serde_json::to_string(spec) {
        Ok(json) => json,
        Err(e) => {
            c.fail("workflows", format!("the spec cannot be encoded as JSON: {e}"));
            String::new()
        }
    };
    if c.failed() {
        return Err(c.error());
    }
    let deps: Vec<Vec<u32>> = tasks.iter().map(|t| t.deps.clone()).collect();
    for (i, ds) in dag::dependents(&deps).into_iter().enumerate() {
        tasks[i].dependents = ds;
    }
    Ok(ProcessPlan {
        name: Arc::from(spec.name.as_str()),
        failure_policy: spec.failure_policy,
        spec_json: Arc::from(spec_json),
        workflows,
        tasks,
        deadline_ms: spec.deadline,
        limits,
    })
}

#[cfg(test)]
mod tests;

//! Conversions between wire messages and model types. Decoding a request never panics:
//! a bad field becomes a [`ValidationError`] naming it (`spec.workflows[0].tasks[2].params_json`).
//!
//! A wire spec is checked against the counts and sizes of [`weft_model::limits`] before
//! anything is built from it: a spec past them costs one pass over the decoded message and
//! no allocation in proportion to it.
use crate::pb;
use prost::Message;
use weft_model::gates::{LimitSpec, Rate};
use weft_model::limits::*;
use weft_model::spec::{CompensationSpec, FailurePolicy};
use weft_model::{ProcessSpec, RetrySpec, RunStatus, TaskSpec, TaskState, ValidationError, Violation, WorkflowSpec};

/// Violations found on a wire message, at most [`MAX_VIOLATIONS`] kept.
#[derive(Default)]
struct Found {
    violations: Vec<Violation>,
    omitted: usize,
}

impl Found {
    fn add(&mut self, field: impl FnOnce() -> String, message: impl FnOnce() -> String) {
        if self.violations.len() >= MAX_VIOLATIONS {
            self.omitted += 1;
        } else {
            self.violations.push(Violation { field: field(), message: message() });
        }
    }

    fn is_empty(&self) -> bool {
        self.violations.is_empty() && self.omitted == 0
    }

    fn into_result(self) -> Result<(), ValidationError> {
        if self.is_empty() { Ok(()) } else { Err(ValidationError::with_omitted(self.violations, self.omitted)) }
    }
}

/// How many workflows, tasks and `depends_on` entries a spec has in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecCounts {
    pub workflows: usize,
    pub tasks: usize,
    pub dependency_edges: usize,
}

impl SpecCounts {
    pub fn of(p: &pb::ProcessSpec) -> SpecCounts {
        SpecCounts {
            workflows: p.workflows.len(),
            tasks: p.workflows.iter().map(|w| w.tasks.len()).sum(),
            dependency_edges: p.workflows.iter().flat_map(|w| &w.tasks).map(|t| t.depends_on.len()).sum(),
        }
    }

    /// The whole-spec count limits. Dependency edges are only checked once the task and
    /// workflow counts are within theirs (past those, the edges say nothing more).
    pub fn check(&self, prefix: &str) -> Result<(), ValidationError> {
        let mut found = Found::default();
        self.check_into(prefix, &mut found);
        found.into_result()
    }

    fn check_into(&self, prefix: &str, found: &mut Found) {
        let SpecCounts { workflows, tasks, dependency_edges: edges } = *self;
        if workflows > MAX_WORKFLOWS {
            found.add(
                || format!("{prefix}.workflows"),
                || format!("has {workflows} workflows, at most {MAX_WORKFLOWS} allowed"),
            );
        }
        if tasks > MAX_TASKS {
            found.add(
                || format!("{prefix}.workflows"),
                || format!("has {tasks} tasks in all, at most {MAX_TASKS} allowed"),
            );
        }
        if found.is_empty() && edges > MAX_DEPENDENCY_EDGES {
            found.add(
                || format!("{prefix}.workflows"),
                || format!("has {edges} depends_on entries in all, at most {MAX_DEPENDENCY_EDGES} allowed"),
            );
        }
    }
}

/// The counts and sizes of a wire spec, checked before anything is built from it. Whole-spec
/// counts first (a few additions per workflow), then each name and list, without copying any.
/// The codec has already checked the same counts on the encoded bytes
/// ([`crate::wire_scan`]); they are checked again here for specs that did not come through it.
pub fn check_wire_bounds(p: &pb::ProcessSpec, prefix: &str) -> Result<(), ValidationError> {
    let mut found = Found::default();
    let counts = SpecCounts::of(p);
    counts.check_into(prefix, &mut found);
    if counts.workflows <= MAX_WORKFLOWS && counts.tasks <= MAX_TASKS {
        let bytes = p.encoded_len();
        if bytes > MAX_SPEC_BYTES {
            found.add(|| prefix.to_string(), || format!("is {bytes} bytes encoded, at most {MAX_SPEC_BYTES} allowed"));
        }
    }
    if !found.is_empty() {
        return found.into_result();
    }
    let mut name = |field: &dyn Fn() -> String, value: &str| {
        if value.len() > MAX_NAME_LEN {
            found.add(field, || format!("is {} bytes long, at most {MAX_NAME_LEN} allowed", value.len()));
        }
    };
    name(&|| format!("{prefix}.name"), &p.name);
    for (wi, w) in p.workflows.iter().enumerate() {
        let wf = || format!("{prefix}.workflows[{wi}]");
        name(&|| format!("{}.name", wf()), &w.name);
        for (ti, t) in w.tasks.iter().enumerate() {
            let tf = || format!("{}.tasks[{ti}]", wf());
            name(&|| format!("{}.name", tf()), &t.name);
            name(&|| format!("{}.kind", tf()), &t.kind);
            name(&|| format!("{}.queue", tf()), &t.queue);
            for (di, d) in t.depends_on.iter().enumerate() {
                name(&|| format!("{}.depends_on[{di}]", tf()), d);
            }
            if let Some(c) = &t.compensate {
                name(&|| format!("{}.compensate.kind", tf()), &c.kind);
                name(&|| format!("{}.compensate.queue", tf()), &c.queue);
            }
        }
    }
    for (wi, w) in p.workflows.iter().enumerate() {
        for (ti, t) in w.tasks.iter().enumerate() {
            let tf = || format!("{prefix}.workflows[{wi}].tasks[{ti}]");
            if t.depends_on.len() > MAX_DEPENDENCIES {
                let n = t.depends_on.len();
                found.add(
                    || format!("{}.depends_on", tf()),
                    || format!("has {n} entries, at most {MAX_DEPENDENCIES} allowed"),
                );
            }
            let params = [
                (&t.params_json, "params_json"),
                (t.compensate.as_ref().map_or(&EMPTY, |c| &c.params_json), "compensate.params_json"),
            ];
            for (text, field) in params {
                if text.len() > MAX_PARAMS_BYTES {
                    let n = text.len();
                    found.add(
                        || format!("{}.{field}", tf()),
                        || format!("is {n} bytes, at most {MAX_PARAMS_BYTES} allowed"),
                    );
                }
            }
        }
    }
    found.into_result()
}

static EMPTY: String = String::new();

/// Decodes a wire spec. `prefix` is the path of the spec field in its request ("spec").
/// Counts and sizes are checked first ([`check_wire_bounds`]).
pub fn process_from_pb(p: &pb::ProcessSpec, prefix: &str) -> Result<ProcessSpec, ValidationError> {
    check_wire_bounds(p, prefix)?;
    let mut violations = Vec::new();
    let mut workflows = Vec::with_capacity(p.workflows.len());
    for (wi, w) in p.workflows.iter().enumerate() {
        let mut tasks = Vec::with_capacity(w.tasks.len());
        for (ti, t) in w.tasks.iter().enumerate() {
            let field = format!("{prefix}.workflows[{wi}].tasks[{ti}].params_json");
            let params = match parse_params(&t.params_json, field) {
                Ok(params) => params,
                Err(v) => {
                    violations.push(v);
                    continue;
                }
            };
            tasks.push(TaskSpec {
                name: t.name.clone(),
                kind: t.kind.clone(),
                params,
                priority: t.priority,
                queue: if t.queue.is_empty() { "default".into() } else { t.queue.clone() },
                depends_on: t.depends_on.clone(),
                retry: t.retry.as_ref().map(retry_from_pb),
                // Set means what it says (0 is refused by validation), unset means none.
                timeout: t.timeout_ms,
                cost: t.cost_seconds,
                queue_timeout: t.queue_timeout_ms,
                uses: t.uses.clone(),
                concurrency_key: t.concurrency_key.clone(),
                max_per_key: t.max_per_key,
                for_each: t.for_each.clone(),
                max_items: t.max_items,
                max_parallel: t.max_parallel,
                compensate: match &t.compensate {
                    None => None,
                    Some(c) => {
                        let field = format!("{prefix}.workflows[{wi}].tasks[{ti}].compensate.params_json");
                        match parse_params(&c.params_json, field) {
                            Ok(params) => Some(CompensationSpec {
                                kind: c.kind.clone(),
                                params,
                                queue: (!c.queue.is_empty()).then(|| c.queue.clone()),
                                retry: c.retry.as_ref().map(retry_from_pb),
                                timeout: c.timeout_ms,
                            }),
                            Err(v) => {
                                violations.push(v);
                                continue;
                            }
                        }
                    }
                },
            });
        }
        workflows.push(WorkflowSpec {
            name: w.name.clone(),
            tasks,
            chain: w.chain,
            default_retry: w.default_retry.as_ref().map(retry_from_pb),
        });
    }
    let failure_policy = match pb::FailurePolicy::try_from(p.failure_policy) {
        Ok(pb::FailurePolicy::Unspecified | pb::FailurePolicy::FailFast) => FailurePolicy::FailFast,
        Ok(pb::FailurePolicy::LetSiblingsFinish) => FailurePolicy::LetSiblingsFinish,
        Err(_) => {
            violations.push(weft_model::Violation {
                field: format!("{prefix}.failure_policy"),
                message: format!("unknown value {}", p.failure_policy),
            });
            FailurePolicy::FailFast
        }
    };
    let limits = limits_from_pb(&p.limits, prefix, &mut violations);
    if !violations.is_empty() {
        return Err(ValidationError::new(violations));
    }
    Ok(ProcessSpec {
        name: p.name.clone(),
        workflows,
        failure_policy,
        default_retry: p.default_retry.as_ref().map(retry_from_pb),
        deadline: p.deadline_ms,
        limits,
    })
}

/// The wire's limits, their rates parsed; too many is refused here, before any is read
/// (the model checks the rest).
fn limits_from_pb(
    limits: &std::collections::HashMap<String, pb::Limit>,
    prefix: &str,
    violations: &mut Vec<Violation>,
) -> std::collections::BTreeMap<String, LimitSpec> {
    if limits.len() > MAX_LIMITS {
        violations.push(Violation {
            field: format!("{prefix}.limits"),
            message: format!("has {} limits, at most {} allowed", limits.len(), MAX_LIMITS),
        });
        return Default::default();
    }
    let mut out = std::collections::BTreeMap::new();
    for (name, l) in limits {
        let rate = match l.rate.trim() {
            "" => None,
            text => match Rate::parse(text) {
                Ok(rate) => Some(rate),
                Err(message) => {
                    let field = format!("{prefix}.limits.{}.rate", weft_model::validate::echo(name));
                    violations.push(Violation { field, message });
                    continue;
                }
            },
        };
        out.insert(name.clone(), LimitSpec { concurrency: l.concurrency, rate });
    }
    out
}

/// Parses a `params_json` field: empty means {}, anything else must be JSON within the size
/// and depth bounds (the depth is checked on the text, before parsing).
fn parse_params(text: &str, field: String) -> Result<serde_json::Value, Violation> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    weft_model::json::parse_text(text, MAX_PARAMS_BYTES).map_err(|message| Violation { field, message })
}

fn params_to_pb(v: &serde_json::Value) -> String {
    if v.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { v.to_string() }
}

/// Unset fields fall back to defaults; a field set to 0 is kept, to mean what it says or be
/// refused by validation, never to become a default.
fn retry_from_pb(r: &pb::RetryPolicy) -> RetrySpec {
    RetrySpec {
        max_attempts: r.max_attempts,
        initial_backoff: r.initial_backoff_ms,
        max_backoff: r.max_backoff_ms,
        multiplier: r.multiplier,
        jitter: r.jitter,
    }
}

fn retry_to_pb(r: &RetrySpec) -> pb::RetryPolicy {
    pb::RetryPolicy {
        max_attempts: r.max_attempts,
        initial_backoff_ms: r.initial_backoff,
        max_backoff_ms: r.max_backoff,
        multiplier: r.multiplier,
        jitter: r.jitter,
    }
}

/// Encodes a model spec for the wire.
pub fn process_to_pb(p: &ProcessSpec) -> pb::ProcessSpec {
    pb::ProcessSpec {
        name: p.name.clone(),
        workflows: p
            .workflows
            .iter()
            .map(|w| pb::WorkflowSpec {
                name: w.name.clone(),
                chain: w.chain,
                default_retry: w.default_retry.as_ref().map(retry_to_pb),
                tasks: w
                    .tasks
                    .iter()
                    .map(|t| pb::TaskSpec {
                        name: t.name.clone(),
                        kind: t.kind.clone(),
                        params_json: params_to_pb(&t.params),
                        priority: t.priority,
                        queue: t.queue.clone(),
                        depends_on: t.depends_on.clone(),
                        retry: t.retry.as_ref().map(retry_to_pb),
                        timeout_ms: t.timeout,
                        cost_seconds: t.cost,
                        queue_timeout_ms: t.queue_timeout,
                        uses: t.uses.clone(),
                        concurrency_key: t.concurrency_key.clone(),
                        max_per_key: t.max_per_key,
                        for_each: t.for_each.clone(),
                        max_items: t.max_items,
                        max_parallel: t.max_parallel,
                        compensate: t.compensate.as_ref().map(|c| pb::Compensation {
                            kind: c.kind.clone(),
                            params_json: params_to_pb(&c.params),
                            queue: c.queue.clone().unwrap_or_default(),
                            retry: c.retry.as_ref().map(retry_to_pb),
                            timeout_ms: c.timeout,
                        }),
                    })
                    .collect(),
            })
            .collect(),
        failure_policy: match p.failure_policy {
            FailurePolicy::FailFast => pb::FailurePolicy::FailFast,
            FailurePolicy::LetSiblingsFinish => pb::FailurePolicy::LetSiblingsFinish,
        } as i32,
        default_retry: p.default_retry.as_ref().map(retry_to_pb),
        deadline_ms: p.deadline,
        limits: p
            .limits
            .iter()
            .map(|(name, l)| {
                let rate = l.rate.map(|r| r.to_string()).unwrap_or_default();
                (name.clone(), pb::Limit { concurrency: l.concurrency, rate })
            })
            .collect(),
    }
}

pub fn task_state_to_pb(s: TaskState) -> pb::TaskState {
    match s {
        TaskState::Pending => pb::TaskState::Pending,
        TaskState::Ready => pb::TaskState::Ready,
        TaskState::Assigned => pb::TaskState::Assigned,
        TaskState::Running => pb::TaskState::Running,
        TaskState::Succeeded => pb::TaskState::Succeeded,
        TaskState::Failed => pb::TaskState::Failed,
        TaskState::Cancelled => pb::TaskState::Cancelled,
    }
}

pub fn run_status_to_pb(s: RunStatus) -> pb::RunStatus {
    match s {
        RunStatus::Running => pb::RunStatus::Running,
        RunStatus::Succeeded => pb::RunStatus::Succeeded,
        RunStatus::Failed => pb::RunStatus::Failed,
        RunStatus::Cancelled => pb::RunStatus::Cancelled,
    }
}

/// `None` for UNSPECIFIED (meaning "any" in filters) and unknown values.
pub fn run_status_from_pb(v: i32) -> Option<RunStatus> {
    match pb::RunStatus::try_from(v).ok()? {
        pb::RunStatus::Unspecified => None,
        pb::RunStatus::Running => Some(RunStatus::Running),
        pb::RunStatus::Succeeded => Some(RunStatus::Succeeded),
        pb::RunStatus::Failed => Some(RunStatus::Failed),
        pb::RunStatus::Cancelled => Some(RunStatus::Cancelled),
    }
}

impl pb::AttemptRef {
    /// "<run_id>/<workflow>/<task>/<attempt>": the idempotency key handed to executors.
    pub fn key(&self) -> String {
        format!("{}/{}/{}/{}", self.run_id, self.workflow, self.task, self.attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_the_wire_form() {
        let text = r#"{"name":"p","failure_policy":"let_siblings_finish","default_retry":{"max_attempts":4,"jitter":0.2},
            "deadline":"1h","workflows":[{"name":"w","default_retry":{"multiplier":3},
            "steps":[{"name":"a","kind":"noop","params":{"result":1},"timeout":"2s","priority":3,"queue_timeout":"9s",
            "compensate":{"kind":"shell","params":{"argv":["undo"]},"queue":"q2","timeout":"1s"}},
            {"name":"b","kind":"noop","queue":"q","cost":1.5}]}]}"#;
        let spec: ProcessSpec = serde_json::from_str(text).unwrap();
        let back = process_from_pb(&process_to_pb(&spec), "spec").unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn bad_params_json_names_the_field() {
        let mut p =
            process_to_pb(&serde_json::from_str(r#"{"name":"p","tasks":[{"name":"a","kind":"noop"}]}"#).unwrap());
        p.workflows[0].tasks[0].params_json = "{not json".into();
        let err = process_from_pb(&p, "spec").unwrap_err();
        assert_eq!(err.violations[0].field, "spec.workflows[0].tasks[0].params_json");
    }
}

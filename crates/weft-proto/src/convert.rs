//! Conversions between wire messages and model types. Decoding a request never panics:
//! a bad field becomes a [`ValidationError`] naming it (`spec.workflows[0].tasks[2].params_json`).
use crate::pb;
use weft_model::spec::{CompensationSpec, FailurePolicy};
use weft_model::{ProcessSpec, RetrySpec, RunStatus, TaskSpec, TaskState, ValidationError, WorkflowSpec};

/// Decodes a wire spec. `prefix` is the path of the spec field in its request ("spec").
pub fn process_from_pb(p: &pb::ProcessSpec, prefix: &str) -> Result<ProcessSpec, ValidationError> {
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
                timeout: nonzero(t.timeout_ms),
                cost: (t.cost_seconds != 0.0).then_some(t.cost_seconds),
                queue_timeout: nonzero(t.queue_timeout_ms),
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
                                timeout: nonzero(c.timeout_ms),
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
    if !violations.is_empty() {
        return Err(ValidationError { violations });
    }
    Ok(ProcessSpec {
        name: p.name.clone(),
        workflows,
        failure_policy,
        default_retry: p.default_retry.as_ref().map(retry_from_pb),
        deadline: nonzero(p.deadline_ms),
    })
}

/// Parses a `params_json` field: empty means {}, anything else must be JSON within bounds.
fn parse_params(text: &str, field: String) -> Result<serde_json::Value, weft_model::Violation> {
    let max = weft_model::limits::MAX_PARAMS_BYTES;
    if text.trim().is_empty() {
        Ok(serde_json::Value::Object(Default::default()))
    } else if text.len() > max {
        Err(weft_model::Violation { field, message: format!("is {} bytes, at most {max} allowed", text.len()) })
    } else {
        serde_json::from_str(text)
            .map_err(|e| weft_model::Violation { field, message: format!("is not valid JSON: {e}") })
    }
}

fn params_to_pb(v: &serde_json::Value) -> String {
    if v.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { v.to_string() }
}

fn nonzero(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

fn retry_from_pb(r: &pb::RetryPolicy) -> RetrySpec {
    RetrySpec {
        max_attempts: (r.max_attempts != 0).then_some(r.max_attempts),
        initial_backoff: nonzero(r.initial_backoff_ms),
        max_backoff: nonzero(r.max_backoff_ms),
        multiplier: (r.multiplier != 0.0).then_some(r.multiplier),
        jitter: r.jitter,
    }
}

fn retry_to_pb(r: &RetrySpec) -> pb::RetryPolicy {
    pb::RetryPolicy {
        max_attempts: r.max_attempts.unwrap_or(0),
        initial_backoff_ms: r.initial_backoff.unwrap_or(0),
        max_backoff_ms: r.max_backoff.unwrap_or(0),
        multiplier: r.multiplier.unwrap_or(0.0),
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
                        timeout_ms: t.timeout.unwrap_or(0),
                        cost_seconds: t.cost.unwrap_or(0.0),
                        queue_timeout_ms: t.queue_timeout.unwrap_or(0),
                        compensate: t.compensate.as_ref().map(|c| pb::Compensation {
                            kind: c.kind.clone(),
                            params_json: params_to_pb(&c.params),
                            queue: c.queue.clone().unwrap_or_default(),
                            retry: c.retry.as_ref().map(retry_to_pb),
                            timeout_ms: c.timeout.unwrap_or(0),
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
        deadline_ms: p.deadline.unwrap_or(0),
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

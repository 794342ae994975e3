//! What a user writes: a process of workflows of tasks.
//!
//! The serde form is the file format `weftctl submit` reads (YAML or JSON):
//!
//! ```yaml
//! name: order-fulfilment
//! failure_policy: fail_fast        # or let_siblings_finish
//! default_retry: { max_attempts: 3, initial_backoff: 200ms }
//! workflows:
//!   - name: shipping
//!     steps:                       # a chain: each step after the one before
//!       - { name: reserve, kind: noop }
//!       - { name: ship, kind: shell, params: { argv: [echo, shipped] } }
//!   - name: billing
//!     tasks:                       # a DAG: order comes from depends_on
//!       - { name: invoice, kind: noop }
//!       - { name: charge, kind: noop, depends_on: [invoice], priority: 5 }
//! ```
//!
//! A file holding a single workflow (`name` plus `steps` or `tasks`) is a process of one.
use serde::{Deserialize, Serialize};

/// Retry settings; an unset field falls back to the process default, then to
/// [`RetrySpec::ENGINE_DEFAULT`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, with = "duration_ms", skip_serializing_if = "Option::is_none")]
    pub initial_backoff: Option<u64>,
    #[serde(default, with = "duration_ms", skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    /// Fraction (0 to 1) by which each delay is randomly shortened, so that tasks failing
    /// together do not retry together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

/// A fully resolved retry policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub multiplier: f64,
    pub jitter: f64,
}

impl RetryPolicy {
    /// Three attempts, 100 ms then doubling up to 10 s, each delay shortened by up to 10 %.
    pub const ENGINE_DEFAULT: RetryPolicy =
        RetryPolicy { max_attempts: 3, initial_backoff_ms: 100, max_backoff_ms: 10_000, multiplier: 2.0, jitter: 0.1 };

    /// The delay before attempt `next_attempt` (2 for the first retry). `spread` in [0, 1]
    /// picks where in the jitter range the delay falls; callers derive it from the attempt's
    /// identity so the engine stays deterministic.
    pub fn backoff_ms(&self, next_attempt: u32, spread: f64) -> u64 {
        let exponent = next_attempt.saturating_sub(2).min(64) as i32;
        let delay = (self.initial_backoff_ms as f64 * self.multiplier.powi(exponent)).min(self.max_backoff_ms as f64);
        (delay * (1.0 - self.jitter * spread.clamp(0.0, 1.0))) as u64
    }
}

impl RetrySpec {
    /// Fills unset fields from `fallback`.
    pub fn or(&self, fallback: &RetrySpec) -> RetrySpec {
        RetrySpec {
            max_attempts: self.max_attempts.or(fallback.max_attempts),
            initial_backoff: self.initial_backoff.or(fallback.initial_backoff),
            max_backoff: self.max_backoff.or(fallback.max_backoff),
            multiplier: self.multiplier.or(fallback.multiplier),
            jitter: self.jitter.or(fallback.jitter),
        }
    }

    /// Resolves against the engine default.
    pub fn resolve(&self) -> RetryPolicy {
        let d = RetryPolicy::ENGINE_DEFAULT;
        let initial = self.initial_backoff.unwrap_or(d.initial_backoff_ms);
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(d.max_attempts),
            initial_backoff_ms: initial,
            max_backoff_ms: self.max_backoff.unwrap_or(d.max_backoff_ms.max(initial)),
            multiplier: self.multiplier.unwrap_or(d.multiplier),
            jitter: self.jitter.unwrap_or(d.jitter),
        }
    }
}

/// One business activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub name: String,
    pub kind: String,
    /// Executor parameters: a JSON object.
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    pub params: serde_json::Value,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    #[serde(default = "default_queue", skip_serializing_if = "is_default_queue")]
    pub queue: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Execution timeout of one attempt.
    #[serde(default, with = "duration_ms", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Declared cost in seconds, for the cost model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Longest time the task may wait in its queue for a slot; past it the task fails.
    #[serde(default, with = "duration_ms", skip_serializing_if = "Option::is_none")]
    pub queue_timeout: Option<u64>,
    /// What undoes this task if its workflow fails after it succeeded (a saga step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<CompensationSpec>,
    /// Limits of the process it takes a share of while it runs (see [`crate::gates`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
    /// At most `max_per_key` tasks of the process whose key renders the same run at once:
    /// `"{{input.customer_id}}"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_key: Option<u32>,
    /// Runs once per element of a list known only at run time: `input.orders` (a path into
    /// the run's input) or `split.items` (a task it depends on, then a path into its
    /// result). Each instance receives its element as the input `item`; the task's result
    /// is the instances' results, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// Most elements `for_each` takes (default 1,000); a longer list fails the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
    /// Most instances running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
}

/// A compensating action: runs with the original task's result as its input
/// (`inputs[<task name>]`) when the workflow fails after the task succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationSpec {
    pub kind: String,
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    pub params: serde_json::Value,
    /// Routing queue; the original task's queue when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    #[serde(default, with = "duration_ms", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl TaskSpec {
    /// A task of `kind` with every other field at its default.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        TaskSpec {
            name: name.into(),
            kind: kind.into(),
            params: empty_object(),
            priority: 0,
            queue: default_queue(),
            depends_on: Vec::new(),
            retry: None,
            timeout: None,
            cost: None,
            queue_timeout: None,
            compensate: None,
            uses: Vec::new(),
            concurrency_key: None,
            max_per_key: None,
            for_each: None,
            max_items: None,
            max_parallel: None,
        }
    }
}

/// A DAG of tasks. With `chain`, each task depends on the one before it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawWorkflow")]
pub struct WorkflowSpec {
    pub name: String,
    pub tasks: Vec<TaskSpec>,
    pub chain: bool,
    /// Retry policy for tasks of this workflow that set none (before the process default).
    pub default_retry: Option<RetrySpec>,
}

/// The file form of a workflow: exactly one of `steps` (a chain) or `tasks` (a DAG).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<TaskSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tasks: Option<Vec<TaskSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_retry: Option<RetrySpec>,
}

impl TryFrom<RawWorkflow> for WorkflowSpec {
    type Error = String;
    fn try_from(raw: RawWorkflow) -> Result<Self, String> {
        match (raw.steps, raw.tasks) {
            (Some(steps), None) => {
                Ok(WorkflowSpec { name: raw.name, tasks: steps, chain: true, default_retry: raw.default_retry })
            }
            (None, Some(tasks)) => {
                Ok(WorkflowSpec { name: raw.name, tasks, chain: false, default_retry: raw.default_retry })
            }
            (Some(_), Some(_)) => Err(format!("workflow `{}`: give `steps` or `tasks`, not both", raw.name)),
            (None, None) => Err(format!("workflow `{}`: missing `steps` or `tasks`", raw.name)),
        }
    }
}

/// What a workflow serializes as: [`RawWorkflow`]'s fields in its order, borrowed (see
/// [`RawProcessRef`]).
#[derive(Serialize)]
struct RawWorkflowRef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<&'a [TaskSpec]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<&'a [TaskSpec]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_retry: Option<&'a RetrySpec>,
}

impl Serialize for WorkflowSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tasks = Some(self.tasks.as_slice());
        let (steps, tasks) = if self.chain { (tasks, None) } else { (None, tasks) };
        RawWorkflowRef { name: &self.name, steps, tasks, default_retry: self.default_retry.as_ref() }
            .serialize(serializer)
    }
}

/// What a run does when one of its workflows fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Cancel the other workflows at once.
    #[default]
    FailFast,
    /// Let the other workflows finish, then fail the run.
    LetSiblingsFinish,
}

/// A business process: workflows that run in parallel and finish together.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "RawProcess")]
pub struct ProcessSpec {
    pub name: String,
    pub workflows: Vec<WorkflowSpec>,
    pub failure_policy: FailurePolicy,
    pub default_retry: Option<RetrySpec>,
    /// The whole run must end within this long of its start, or it fails.
    pub deadline: Option<u64>,
    /// Named limits its tasks can use, shared by every run of the process.
    pub limits: std::collections::BTreeMap<String, crate::gates::LimitSpec>,
}

impl ProcessSpec {
    /// A process of `workflows` with every other field at its default (fail fast, no
    /// default retry, no deadline, no limits).
    pub fn new(name: impl Into<String>, workflows: Vec<WorkflowSpec>) -> Self {
        ProcessSpec {
            name: name.into(),
            workflows,
            failure_policy: FailurePolicy::FailFast,
            default_retry: None,
            deadline: None,
            limits: Default::default(),
        }
    }
}

/// The file form of a process: `workflows`, or a single workflow's `steps` or `tasks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workflows: Option<Vec<WorkflowSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<TaskSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tasks: Option<Vec<TaskSpec>>,
    #[serde(default)]
    failure_policy: FailurePolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_retry: Option<RetrySpec>,
    #[serde(default, with = "duration_ms", skip_serializing_if = "Option::is_none")]
    deadline: Option<u64>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    limits: std::collections::BTreeMap<String, crate::gates::LimitSpec>,
}

impl TryFrom<RawProcess> for ProcessSpec {
    type Error = String;
    fn try_from(raw: RawProcess) -> Result<Self, String> {
        let workflows = match (raw.workflows, raw.steps, raw.tasks) {
            (Some(w), None, None) => w,
            (None, steps, tasks) if steps.is_some() != tasks.is_some() => {
                vec![WorkflowSpec::try_from(RawWorkflow { name: raw.name.clone(), steps, tasks, default_retry: None })?]
            }
            _ => return Err("give exactly one of `workflows`, `steps` or `tasks`".into()),
        };
        Ok(ProcessSpec {
            name: raw.name,
            workflows,
            failure_policy: raw.failure_policy,
            default_retry: raw.default_retry,
            deadline: raw.deadline,
            limits: raw.limits,
        })
    }
}

/// What a spec serializes as: [`RawProcess`]'s fields in its order, borrowed, so that
/// encoding a spec (every accepted run's, and every restored one's) does not copy it first.
#[derive(Serialize)]
struct RawProcessRef<'a> {
    name: &'a str,
    workflows: &'a [WorkflowSpec],
    failure_policy: &'a FailurePolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_retry: Option<&'a RetrySpec>,
    #[serde(with = "duration_ms", skip_serializing_if = "Option::is_none")]
    deadline: Option<u64>,
    #[serde(skip_serializing_if = "no_limits")]
    limits: &'a std::collections::BTreeMap<String, crate::gates::LimitSpec>,
}

fn no_limits(limits: &&std::collections::BTreeMap<String, crate::gates::LimitSpec>) -> bool {
    limits.is_empty()
}

impl Serialize for ProcessSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawProcessRef {
            name: &self.name,
            workflows: &self.workflows,
            failure_policy: &self.failure_policy,
            default_retry: self.default_retry.as_ref(),
            deadline: self.deadline,
            limits: &self.limits,
        }
        .serialize(serializer)
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

fn is_empty_object(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

fn default_queue() -> String {
    "default".to_string()
}

/// The default queue is left out of a spec's JSON, which the coordinator keeps per run
/// (about 18 bytes a task).
fn is_default_queue(queue: &str) -> bool {
    queue == "default"
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

/// Durations in files: a human string ("250ms", "5s", "1m 30s") or a number of milliseconds.
pub mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }

    /// Parses "250ms", "5s" or a bare number of milliseconds.
    pub fn parse(text: &str) -> Result<u64, String> {
        if let Ok(ms) = text.trim().parse::<u64>() {
            return Ok(ms);
        }
        humantime::parse_duration(text)
            .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
            .map_err(|e| format!("invalid duration `{text}`: {e}"))
    }

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ms) => s.serialize_str(&humantime::format_duration(std::time::Duration::from_millis(*ms)).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Millis(ms)) => Ok(Some(ms)),
            Some(Raw::Text(t)) => parse(&t).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProcessSpec {
        let mut a = TaskSpec::new("a", "noop");
        a.queue = "fast".into();
        a.priority = 2;
        let mut b = TaskSpec::new("b", "noop");
        b.depends_on = vec!["a".into()];
        let dag = WorkflowSpec { name: "dag".into(), tasks: vec![a, b], chain: false, default_retry: None };
        let steps = vec![TaskSpec::new("one", "noop"), TaskSpec::new("two", "noop")];
        let retry = RetrySpec { max_attempts: Some(5), ..Default::default() };
        let chain =
            WorkflowSpec { name: "chain".into(), tasks: steps, chain: true, default_retry: Some(retry.clone()) };
        let mut p = ProcessSpec::new("p", vec![dag, chain]);
        p.failure_policy = FailurePolicy::LetSiblingsFinish;
        p.default_retry = Some(retry);
        p.deadline = Some(60_000);
        p
    }

    #[test]
    fn a_spec_encodes_in_its_file_form_and_reads_back_the_same() {
        let p = spec();
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ProcessSpec>(&text).unwrap(), p);
        // The file form: a DAG's `tasks`, a chain's `steps`; the default queue left out.
        assert!(text.starts_with(r#"{"name":"p","workflows":[{"name":"dag","tasks":[{"name":"a","kind":"noop","#));
        assert!(text.contains(r#"{"name":"b","kind":"noop","depends_on":["a"]}"#), "{text}");
        assert!(text.contains(r#"{"name":"chain","steps":[{"name":"one","kind":"noop"}"#), "{text}");
        assert!(text.contains(r#""failure_policy":"let_siblings_finish""#), "{text}");
        assert!(!text.contains("limits"), "no limits, no key: {text}");
        let bare = serde_json::to_string(&ProcessSpec::new("q", vec![])).unwrap();
        assert_eq!(bare, r#"{"name":"q","workflows":[],"failure_policy":"fail_fast"}"#);
    }
}

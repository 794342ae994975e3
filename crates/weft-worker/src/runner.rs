//! Running one attempt: from an `Assignment` to a [`Task`], through its executor under a
//! timeout and cancellation, to the result text the coordinator records.
use crate::task::{DynExecutor, Task, TaskError};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use weft_model::builtin::SHELL;
use weft_model::limits::MAX_RESULT_BYTES;
use weft_proto::pb;

/// After an attempt is told to stop, how long its handler has to return before it is
/// dropped. Longer than the shell executor's SIGTERM-to-SIGKILL grace, so a process
/// group is normally reaped by the executor itself.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

/// What an attempt ended with: the result as JSON text, or why it failed.
pub(crate) type Outcome = Result<String, TaskError>;

/// The executors a worker serves, by kind.
#[derive(Clone, Default)]
pub(crate) struct Executors {
    map: HashMap<String, Arc<dyn DynExecutor>>,
    /// Whether the operator allowed `shell`; decides the message a refused shell task gets.
    pub(crate) shell_allowed: bool,
}

impl Executors {
    pub(crate) fn new(shell_allowed: bool) -> Self {
        Executors { map: HashMap::new(), shell_allowed }
    }

    pub(crate) fn insert(&mut self, kind: String, executor: Arc<dyn DynExecutor>) -> bool {
        self.map.insert(kind, executor).is_none()
    }

    pub(crate) fn contains(&self, kind: &str) -> bool {
        self.map.contains_key(kind)
    }

    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.map.retain(|kind, _| keep(kind));
    }

    /// Kinds served, sorted so registrations are stable.
    pub(crate) fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.map.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    pub(crate) fn get(&self, kind: &str) -> Result<Arc<dyn DynExecutor>, TaskError> {
        if let Some(executor) = self.map.get(kind) {
            return Ok(executor.clone());
        }
        if kind == SHELL && !self.shell_allowed {
            return Err(TaskError::fatal("shell tasks are not allowed on this worker"));
        }
        Err(TaskError::fatal(format!("kind `{kind}` is not served by this worker")))
    }
}

/// Decodes an assignment. Malformed JSON fails the attempt for good: a retry would carry
/// the same text.
pub(crate) fn task_from_assignment(a: &pb::Assignment, cancel: CancellationToken) -> Result<Task, TaskError> {
    let params = match a.params_json.trim() {
        "" => Value::Object(Default::default()),
        text => parse(text, "params_json")?,
    };
    let mut inputs = BTreeMap::new();
    for (name, text) in &a.inputs {
        let value = if text.trim().is_empty() { Value::Null } else { parse(text, &format!("inputs[{name}]"))? };
        inputs.insert(name.clone(), value);
    }
    let run_input = match a.run_input_json.trim() {
        "" => Value::Null,
        text => parse(text, "run_input_json")?,
    };
    let attempt = a.attempt.clone().unwrap_or_default();
    let idempotency_key = if a.idempotency_key.is_empty() { attempt.key() } else { a.idempotency_key.clone() };
    Ok(Task {
        attempt,
        kind: a.kind.clone(),
        params,
        inputs,
        run_input,
        idempotency_key,
        timeout: (a.timeout_ms > 0).then(|| Duration::from_millis(a.timeout_ms)),
        cancel,
    })
}

fn parse(text: &str, field: &str) -> Result<Value, TaskError> {
    serde_json::from_str(text).map_err(|e| TaskError::fatal(format!("{field} is not valid JSON: {e}")))
}

/// Runs `task` on `executor` until it returns, its timeout passes or its token is
/// cancelled. A stopped handler gets [`STOP_GRACE`] to clean up, then is dropped. A
/// panicking handler fails the attempt (retryable) instead of taking the worker down.
pub(crate) async fn run_attempt(executor: Arc<dyn DynExecutor>, task: Task) -> Outcome {
    let timeout = task.timeout;
    let cancel = task.cancel.clone();
    let mut handle = tokio::spawn(executor.execute_boxed(task));
    let expired = async {
        match timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let stopped = tokio::select! {
        joined = &mut handle => {
            return match joined {
                Ok(result) => result.and_then(|value| encode_result(&value)),
                Err(e) if e.is_panic() => Err(TaskError::retryable("the executor panicked")),
                Err(_) => Err(TaskError::retryable("the executor was aborted")),
            };
        }
        _ = expired => {
            let limit = timeout.unwrap_or_default();
            TaskError::retryable(format!("timed out after {}", humantime::format_duration(limit)))
        }
        _ = cancel.cancelled() => TaskError::retryable("cancelled"),
    };
    cancel.cancel();
    if tokio::time::timeout(STOP_GRACE, &mut handle).await.is_err() {
        tracing::warn!(grace = ?STOP_GRACE, "executor ignored cancellation; dropping it");
        handle.abort();
    }
    Err(stopped)
}

/// Results past `MAX_RESULT_BYTES` are refused rather than cut: a cut JSON is not JSON.
pub(crate) fn encode_result(value: &Value) -> Outcome {
    let text = serde_json::to_string(value).map_err(|e| TaskError::fatal(format!("result is not encodable: {e}")))?;
    if text.len() > MAX_RESULT_BYTES {
        return Err(TaskError::fatal(format!("result is {} bytes, at most {MAX_RESULT_BYTES} allowed", text.len())));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executors::testing::{task, within};
    use crate::executors::{Shell, Sleep};
    use crate::task::FnExecutor;
    use serde_json::json;
    use std::time::Instant;

    fn exec<F, Fut>(f: F) -> Arc<dyn DynExecutor>
    where
        F: Fn(Task) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::TaskResult> + Send + 'static,
    {
        Arc::new(FnExecutor(f))
    }

    #[tokio::test]
    async fn oversize_result_is_refused_naming_the_size() {
        let big = exec(|_| async { Ok(json!("x".repeat(MAX_RESULT_BYTES))) });
        let err = within(5, run_attempt(big, task("big", json!({})))).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.message().contains(&format!("{} bytes", MAX_RESULT_BYTES + 2)), "{err}");
        let fine = exec(|_| async { Ok(json!({"ok": true})) });
        assert_eq!(within(5, run_attempt(fine, task("fine", json!({})))).await, Ok(r#"{"ok":true}"#.into()));
    }

    #[tokio::test]
    async fn timeout_stops_a_shell_and_fails_retryable() {
        let mut t = task("shell", json!({"argv": ["sh", "-c", "sleep 30 & wait"]}));
        t.timeout = Some(Duration::from_millis(200));
        let started = Instant::now();
        let err = within(10, run_attempt(Arc::new(Shell::default()), t)).await.unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.message(), "timed out after 200ms");
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn cancel_reaches_the_executor() {
        let t = task("sleep", json!({"duration": "1h"}));
        let cancel = t.cancel.clone();
        let run = tokio::spawn(run_attempt(Arc::new(Sleep), t));
        cancel.cancel();
        assert_eq!(within(5, run).await.unwrap().unwrap_err().message(), "cancelled");
    }

    #[tokio::test(start_paused = true)]
    async fn handler_that_ignores_cancel_is_dropped_after_the_grace() {
        let stubborn = exec(|_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Value::Null)
        });
        let mut t = task("stubborn", json!({}));
        t.timeout = Some(Duration::from_secs(1));
        let err = run_attempt(stubborn, t).await.unwrap_err();
        assert_eq!(err.message(), "timed out after 1s");
    }

    #[tokio::test]
    async fn panicking_handler_fails_retryable() {
        let panics = exec(|_| async { panic!("boom") });
        let err = within(5, run_attempt(panics, task("p", json!({})))).await.unwrap_err();
        assert!(err.is_retryable());
    }

    #[test]
    fn shell_refusal_and_unknown_kinds_are_fatal() {
        let none = Executors::default();
        let err = none.get(SHELL).err().unwrap();
        assert_eq!(err.message(), "shell tasks are not allowed on this worker");
        assert!(!err.is_retryable());
        assert!(none.get("charge").err().unwrap().message().contains("`charge`"));
        let allowed = Executors::new(true);
        assert!(allowed.get(SHELL).err().unwrap().message().contains("not served"));
    }

    #[test]
    fn assignments_decode_or_fail_naming_the_field() {
        let mut a = pb::Assignment {
            attempt: Some(pb::AttemptRef { run_id: "r".into(), workflow: "w".into(), task: "t".into(), attempt: 2 }),
            kind: "noop".into(),
            inputs: [("up".to_string(), r#"{"n":1}"#.to_string())].into(),
            run_input_json: "[1]".into(),
            timeout_ms: 1500,
            ..Default::default()
        };
        let t = task_from_assignment(&a, CancellationToken::new()).unwrap();
        assert_eq!(t.params, json!({}));
        assert_eq!(t.inputs["up"], json!({"n": 1}));
        assert_eq!(t.run_input, json!([1]));
        assert_eq!(t.idempotency_key, "r/w/t/2");
        assert_eq!(t.timeout, Some(Duration::from_millis(1500)));
        a.inputs.insert("bad".into(), "{".into());
        let err = task_from_assignment(&a, CancellationToken::new()).unwrap_err();
        assert!(err.message().starts_with("inputs[bad]"), "{err}");
        assert!(!err.is_retryable());
    }
}

//! What an executor sees ([`Task`]), what it returns ([`TaskResult`]), and the
//! [`Executor`] trait that built-in and custom task kinds implement.
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use weft_model::limits::MAX_ERROR_BYTES;
use weft_proto::pb::AttemptRef;

/// What an executor returns: the task's result (any JSON value) or why it failed.
pub type TaskResult = Result<Value, TaskError>;

/// One attempt of one task, as handed to an executor.
#[derive(Clone, Debug)]
pub struct Task {
    /// Which run, workflow, task and attempt number this is.
    pub attempt: AttemptRef,
    /// The task kind that selected the executor.
    pub kind: String,
    /// The task's parameters (a JSON object; `{}` when the task has none).
    pub params: Value,
    /// Results of the task's dependencies, by task name.
    pub inputs: BTreeMap<String, Value>,
    /// The run's input (null when the run has none).
    pub run_input: Value,
    /// `<run_id>/<workflow>/<task>/<attempt>`: stable across redeliveries of this attempt,
    /// so side effects can be made idempotent.
    pub idempotency_key: String,
    /// How long the attempt may run; the worker enforces it.
    pub timeout: Option<Duration>,
    /// Cancelled when the attempt must stop (cancel from the coordinator, timeout,
    /// shutdown). A handler that holds resources should watch it and return promptly;
    /// one that does not is dropped after a grace period.
    pub cancel: CancellationToken,
}

impl Task {
    /// Decodes the parameters into `T`; a mismatch is a non-retryable failure that names
    /// the problem.
    pub fn params_as<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        serde_json::from_value(self.params.clone())
            .map_err(|e| TaskError::fatal(format!("invalid params for kind `{}`: {e}", self.kind)))
    }
}

/// Why an attempt failed, and whether trying again could help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError {
    message: String,
    retryable: bool,
}

impl TaskError {
    /// A failure that retrying cannot fix (bad parameters, a 4xx answer): the task fails
    /// at once.
    pub fn fatal(message: impl Into<String>) -> Self {
        TaskError { message: bound_message(message.into()), retryable: false }
    }

    /// A failure that may pass (a timeout, a 5xx answer, a crashed process): the
    /// coordinator retries the task as its retry policy allows.
    pub fn retryable(message: impl Into<String>) -> Self {
        TaskError { message: bound_message(message.into()), retryable: true }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.retryable { "retryable" } else { "fatal" };
        write!(f, "{} ({kind})", self.message)
    }
}

impl std::error::Error for TaskError {}

/// Lets handlers use `?` on JSON decoding: malformed data will not improve on retry.
impl From<serde_json::Error> for TaskError {
    fn from(e: serde_json::Error) -> Self {
        TaskError::fatal(format!("invalid JSON: {e}"))
    }
}

/// Keeps an error message within what the coordinator records, cutting on a character
/// boundary and saying so.
pub(crate) fn bound_message(mut message: String) -> String {
    const MARK: &str = " …[truncated]";
    if message.len() <= MAX_ERROR_BYTES {
        return message;
    }
    let mut cut = MAX_ERROR_BYTES - MARK.len();
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
    message.push_str(MARK);
    message
}

/// Runs the tasks of one kind. Implement it on a struct when the executor has state
/// (a client, a pool); closures go through [`crate::WorkerBuilder::executor`].
///
/// The future must be `Send`: attempts run on the multi-threaded runtime.
pub trait Executor: Send + Sync + 'static {
    fn execute(&self, task: Task) -> impl Future<Output = TaskResult> + Send;
}

/// A boxed future that owns everything it needs, so it can be spawned.
pub(crate) type BoxTaskFuture = Pin<Box<dyn Future<Output = TaskResult> + Send + 'static>>;

/// Object-safe form of [`Executor`], so executors of different types share one map.
pub(crate) trait DynExecutor: Send + Sync + 'static {
    fn execute_boxed(self: Arc<Self>, task: Task) -> BoxTaskFuture;
}

impl<E: Executor> DynExecutor for E {
    fn execute_boxed(self: Arc<Self>, task: Task) -> BoxTaskFuture {
        Box::pin(async move { self.execute(task).await })
    }
}

/// Adapts a closure `Fn(Task) -> impl Future<Output = TaskResult>` to [`Executor`].
pub(crate) struct FnExecutor<F>(pub(crate) F);

impl<F, Fut> Executor for FnExecutor<F>
where
    F: Fn(Task) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TaskResult> + Send + 'static,
{
    fn execute(&self, task: Task) -> impl Future<Output = TaskResult> + Send {
        (self.0)(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_bounded_on_a_char_boundary() {
        let e = TaskError::retryable("é".repeat(MAX_ERROR_BYTES));
        assert!(e.message().len() <= MAX_ERROR_BYTES);
        assert!(e.message().ends_with("[truncated]"));
        assert!(e.is_retryable());
        let short = TaskError::fatal("nope");
        assert_eq!(short.message(), "nope");
        assert!(!short.is_retryable());
    }
}

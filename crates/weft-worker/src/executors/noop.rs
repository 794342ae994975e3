use crate::{Executor, Task, TaskResult};
use weft_model::builtin::NoopParams;

/// `noop`: succeeds at once; its result is `params.result`, or null.
#[derive(Clone, Copy, Debug, Default)]
pub struct Noop;

impl Executor for Noop {
    async fn execute(&self, task: Task) -> TaskResult {
        let params: NoopParams = task.params_as()?;
        Ok(params.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executors::testing::task;
    use serde_json::json;

    #[tokio::test]
    async fn returns_the_given_result_or_null() {
        assert_eq!(Noop.execute(task("noop", json!({"result": {"a": 1}}))).await, Ok(json!({"a": 1})));
        assert_eq!(Noop.execute(task("noop", json!({}))).await, Ok(json!(null)));
        let err = Noop.execute(task("noop", json!({"bogus": 1}))).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.message().contains("bogus"), "{err}");
    }
}

use crate::{Executor, Task, TaskError, TaskResult};
use std::time::Duration;
use weft_model::builtin::SleepParams;

/// `sleep`: waits `duration`, then succeeds with null. Stops at once when cancelled.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sleep;

impl Executor for Sleep {
    async fn execute(&self, task: Task) -> TaskResult {
        let params: SleepParams = task.params_as()?;
        let ms =
            params.duration.ok_or_else(|| TaskError::fatal("invalid params for kind `sleep`: missing `duration`"))?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(serde_json::Value::Null),
            _ = task.cancel.cancelled() => Err(TaskError::retryable("cancelled")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executors::testing::{task, within};
    use serde_json::json;

    #[tokio::test]
    async fn sleeps_then_returns_null() {
        let out = within(5, Sleep.execute(task("sleep", json!({"duration": "20ms"})))).await;
        assert_eq!(out, Ok(json!(null)));
    }

    #[tokio::test]
    async fn cancel_stops_it_promptly() {
        let t = task("sleep", json!({"duration": "1h"}));
        let cancel = t.cancel.clone();
        let run = tokio::spawn(async move { Sleep.execute(t).await });
        cancel.cancel();
        let out = within(5, run).await.unwrap();
        assert!(out.unwrap_err().is_retryable());
    }

    #[tokio::test]
    async fn missing_duration_is_fatal() {
        let err = Sleep.execute(task("sleep", json!({"duration": null}))).await.unwrap_err();
        assert!(!err.is_retryable());
    }
}

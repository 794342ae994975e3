//! [`Worker`] and its builder: which executors serve which kinds, then [`Worker::run`].
use crate::driver::Driver;
use crate::executors::secrets::{Secrets, WithSecrets};
use crate::executors::{Http, Noop, Shell, Sleep};
use crate::runner::Executors;
use crate::task::{DynExecutor, FnExecutor};
use crate::{Error, Executor, Task, TaskResult, WorkerConfig};
use std::future::Future;
use std::sync::Arc;
use weft_model::WorkerId;
use weft_model::builtin::{HTTP, NOOP, SHELL, SLEEP};
use weft_model::validate::check_name;

/// A worker ready to run. Build one with [`Worker::builder`].
pub struct Worker {
    pub(crate) config: WorkerConfig,
    pub(crate) executors: Executors,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("config", &self.config).field("kinds", &self.executors.kinds()).finish()
    }
}

impl Worker {
    /// Starts a builder. The built-in kinds `noop`, `sleep` and `http` are always there,
    /// `shell` when `config.allow_shell` is set.
    pub fn builder(config: WorkerConfig) -> WorkerBuilder {
        WorkerBuilder { config, custom: Vec::new() }
    }

    /// The id this worker registers with, for its whole life.
    pub fn id(&self) -> WorkerId {
        self.config.worker_id
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The kinds this worker advertises, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.executors.kinds()
    }

    /// Connects (and reconnects) to the coordinator and runs what it assigns until
    /// `shutdown` completes; then drains: announces it, takes nothing new, waits up to
    /// `drain_grace` for running attempts (then stops them), reports, and returns.
    ///
    /// Returns an error only when the coordinator refuses the worker for good (protocol
    /// mismatch, bad registration); an unreachable coordinator is retried forever.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        Driver::new(self.config, self.executors).run(shutdown).await
    }
}

/// Collects executors for custom kinds; see [`Worker::builder`].
#[must_use]
pub struct WorkerBuilder {
    config: WorkerConfig,
    custom: Vec<(String, Arc<dyn DynExecutor>)>,
}

impl WorkerBuilder {
    /// Serves `kind` with an async closure:
    ///
    /// ```no_run
    /// # let config = weft_worker::WorkerConfig::default();
    /// let builder = weft_worker::Worker::builder(config)
    ///     .executor("charge", |task: weft_worker::Task| async move {
    ///         Ok(serde_json::json!({ "charged": task.params["amount"] }))
    ///     });
    /// ```
    ///
    /// A custom kind named like a built-in one replaces it.
    pub fn executor<F, Fut>(self, kind: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Task) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TaskResult> + Send + 'static,
    {
        self.executor_impl(kind, FnExecutor(handler))
    }

    /// Serves `kind` with a struct implementing [`Executor`].
    pub fn executor_impl(mut self, kind: impl Into<String>, executor: impl Executor) -> Self {
        self.custom.push((kind.into(), Arc::new(executor)));
        self
    }

    /// Validates the configuration and the kinds.
    pub fn build(self) -> Result<Worker, Error> {
        let WorkerBuilder { mut config, custom } = self;
        config.validate()?;

        let options = &config.executors;
        // Every executor, custom ones too, gets its params' secret references resolved and
        // its results redacted.
        let secrets = Arc::new(Secrets::new(options.secrets_dir.clone()));
        let wrap = |inner: Arc<dyn DynExecutor>| -> Arc<dyn DynExecutor> {
            Arc::new(WithSecrets { inner, secrets: secrets.clone() })
        };
        let mut executors = Executors::new(config.allow_shell);
        executors.insert(NOOP.into(), wrap(Arc::new(Noop)));
        executors.insert(SLEEP.into(), wrap(Arc::new(Sleep)));
        executors.insert(HTTP.into(), wrap(Arc::new(Http::with_allow(&options.http_allow, &config.coordinators)?)));
        if config.allow_shell {
            let shell = Shell::new(&options.shell_env_allow, options.shell_user.as_deref())?;
            executors.insert(SHELL.into(), wrap(Arc::new(shell)));
            // Shell tasks run as this user unless told otherwise; a process that is not
            // dumpable cannot be read by them through /proc (its environment, which may
            // hold WEFT_SECRET_* variables, or its memory) nor traced.
            if let Err(e) = nix::sys::prctl::set_dumpable(false) {
                tracing::warn!(error = %e, "cannot make the worker non-dumpable; shell tasks may read its environment");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (kind, executor) in custom {
            check_name(&kind).map_err(|reason| Error::config(format!("executor kind `{kind}`"), reason))?;
            if !seen.insert(kind.clone()) {
                return Err(Error::DuplicateKind(kind));
            }
            executors.insert(kind, wrap(executor));
        }

        if let Some(kinds) = &config.kinds {
            for kind in kinds {
                if !executors.contains(kind) {
                    let hint = if kind == SHELL { " (shell tasks need allow_shell)" } else { "" };
                    return Err(Error::UnknownKind { kind: kind.clone(), hint });
                }
            }
            executors.retain(|kind| kinds.iter().any(|k| k == kind));
        }
        Ok(Worker { config, executors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Charge;

    impl Executor for Charge {
        async fn execute(&self, task: Task) -> TaskResult {
            Ok(task.params)
        }
    }

    #[test]
    fn kinds_follow_allow_shell_custom_executors_and_the_filter() {
        let worker = Worker::builder(WorkerConfig::default()).build().unwrap();
        assert_eq!(worker.kinds(), ["http", "noop", "sleep"]);

        let config = WorkerConfig { allow_shell: true, ..Default::default() };
        let worker = Worker::builder(config)
            .executor("charge", |task: Task| async move { Ok(task.params) })
            .executor_impl("refund", Charge)
            .build()
            .unwrap();
        assert_eq!(worker.kinds(), ["charge", "http", "noop", "refund", "shell", "sleep"]);

        let config = WorkerConfig { kinds: Some(vec!["noop".into(), "charge".into()]), ..Default::default() };
        let worker = Worker::builder(config).executor_impl("charge", Charge).build().unwrap();
        assert_eq!(worker.kinds(), ["charge", "noop"]);
    }

    #[test]
    fn bad_kinds_are_refused() {
        let config = WorkerConfig { kinds: Some(vec!["shell".into()]), ..Default::default() };
        let err = Worker::builder(config).build().unwrap_err();
        assert!(err.to_string().contains("allow_shell"), "{err}");
        let err =
            Worker::builder(WorkerConfig::default()).executor_impl("a", Charge).executor_impl("a", Charge).build();
        assert!(matches!(err, Err(Error::DuplicateKind(k)) if k == "a"));
        let err = Worker::builder(WorkerConfig::default()).executor_impl("no spaces", Charge).build();
        assert!(matches!(err, Err(Error::Config { .. })));
    }
}

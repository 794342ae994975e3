//! Secret references (`{"secret": "bank-token"}` anywhere in a task's params, see
//! [`weft_model::secret`]) resolved on the worker just before a task runs, and their values
//! redacted from what the task reports.
//!
//! Sources, in order: a file named like the secret in the operator's secrets directory
//! (one trailing newline dropped), then the variable `WEFT_SECRET_<NAME>` of the worker's
//! environment. A secret found in neither fails the attempt for good, naming the secret.
//!
//! Every executor (built-in or custom) is wrapped in [`WithSecrets`]: the executor sees
//! the values; the coordinator only ever sees the references, and results and error
//! messages with every resolved value replaced by [`MASK`]. Redaction finds a value as
//! written or JSON-escaped; a value transformed by the task (encoded, cut by an output
//! bound, split across lines) is not recognised.
use crate::task::{BoxTaskFuture, DynExecutor};
use crate::{Task, TaskError, TaskResult};
use serde_json::Value;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_model::secret;

/// What replaces a secret's value in results and errors.
pub const MASK: &str = "***";

/// Largest secret file read.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Where a worker finds secrets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Secrets {
    dir: Option<PathBuf>,
}

impl Secrets {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        Secrets { dir }
    }

    /// Replaces every reference in `params` with its value; the values used go into the
    /// returned [`Redactor`]. Files are read on a blocking thread.
    pub(crate) async fn resolve(&self, params: &mut Value) -> Result<Redactor, TaskError> {
        if !secret::has_references(params) {
            return Ok(Redactor::default());
        }
        let dir = self.dir.clone();
        let mut owned = std::mem::take(params);
        let resolved = tokio::task::spawn_blocking(move || {
            let mut redactor = Redactor::default();
            let outcome = secret::resolve_references::<TaskError>(&mut owned, &mut |name| {
                let value = lookup(dir.as_deref(), name, &|var| std::env::var_os(var))?;
                redactor.add(&value);
                Ok(value)
            });
            outcome.map(|()| (owned, redactor))
        })
        .await
        .map_err(|_| TaskError::retryable("resolving secrets failed: the worker's thread stopped"))?;
        let (value, redactor) = resolved?;
        *params = value;
        Ok(redactor)
    }
}

/// Finds one secret: the file `dir/name`, else the variable [`secret::env_var`]`(name)`
/// (read through `env`, so tests need not touch the process environment).
fn lookup(
    dir: Option<&Path>,
    name: &str,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<String, TaskError> {
    // The coordinator checked the name; a worker checks again, since it becomes a path.
    secret::check_secret_name(name)
        .map_err(|e| TaskError::fatal(format!("secret reference `{}`: name {e}", weft_model::validate::echo(name))))?;
    if let Some(dir) = dir {
        match std::fs::File::open(dir.join(name)) {
            Ok(file) => return read_secret_file(file, name),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(TaskError::fatal(format!("secret `{name}`: cannot read its file: {e}"))),
        }
    }
    let var = secret::env_var(name);
    match env(&var) {
        Some(value) => {
            value.into_string().map_err(|_| TaskError::fatal(format!("secret `{name}`: variable {var} is not UTF-8")))
        }
        None => {
            let file = if dir.is_some() { "no file of that name in its secrets directory, " } else { "" };
            Err(TaskError::fatal(format!("secret `{name}` is not set on this worker ({file}no variable {var})")))
        }
    }
}

fn read_secret_file(file: std::fs::File, name: &str) -> Result<String, TaskError> {
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TaskError::fatal(format!("secret `{name}`: cannot read its file: {e}")))?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(TaskError::fatal(format!("secret `{name}`: its file is over {MAX_SECRET_BYTES} bytes")));
    }
    let mut text =
        String::from_utf8(bytes).map_err(|_| TaskError::fatal(format!("secret `{name}`: its file is not UTF-8")))?;
    // `echo token > file` and most editors end a file with a newline that is not the secret.
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Replaces known secret values in what a task reports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    /// Longest first, so a value that contains another is masked whole.
    values: Vec<String>,
}

impl Redactor {
    fn add(&mut self, value: &str) {
        // An empty value is in every text; there is nothing to hide.
        if value.is_empty() {
            return;
        }
        // As written, and as it reads inside a JSON string (a body that is JSON text).
        let escaped = serde_json::to_string(value).unwrap_or_default();
        let escaped = escaped.get(1..escaped.len().saturating_sub(1)).unwrap_or_default().to_string();
        for form in [value.to_string(), escaped] {
            if !form.is_empty() && !self.values.contains(&form) {
                self.values.push(form);
            }
        }
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub(crate) fn text(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for value in &self.values {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(value.as_str()) {
                out = Some(current.replace(value.as_str(), MASK));
            }
        }
        out
    }

    /// Masks values in every string and object key of `value`.
    pub(crate) fn value(&self, value: &mut Value) {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => {
                    if let Some(masked) = self.text(s) {
                        *s = masked;
                    }
                }
                Value::Array(a) => stack.extend(a.iter_mut()),
                Value::Object(o) => {
                    if o.keys().any(|k| self.text(k).is_some()) {
                        *o = std::mem::take(o).into_iter().map(|(k, v)| (self.text(&k).unwrap_or(k), v)).collect();
                    }
                    stack.extend(o.values_mut());
                }
                _ => {}
            }
        }
    }

    pub(crate) fn result(&self, result: TaskResult) -> TaskResult {
        if self.is_empty() {
            return result;
        }
        match result {
            Ok(mut value) => {
                self.value(&mut value);
                Ok(value)
            }
            Err(error) => match self.text(error.message()) {
                None => Err(error),
                Some(masked) if error.is_retryable() => Err(TaskError::retryable(masked)),
                Some(masked) => Err(TaskError::fatal(masked)),
            },
        }
    }
}

/// An executor whose tasks get their secret references resolved and whose results and
/// errors are redacted.
pub(crate) struct WithSecrets {
    pub(crate) inner: Arc<dyn DynExecutor>,
    pub(crate) secrets: Arc<Secrets>,
}

impl DynExecutor for WithSecrets {
    fn execute_boxed(self: Arc<Self>, mut task: Task) -> BoxTaskFuture {
        Box::pin(async move {
            let redactor = self.secrets.resolve(&mut task.params).await?;
            let result = self.inner.clone().execute_boxed(task).await;
            redactor.result(result)
        })
    }
}

#[cfg(test)]
mod tests;

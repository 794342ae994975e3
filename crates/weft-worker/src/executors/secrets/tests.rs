use super::*;
use crate::executors::testing::{task, within};
use crate::task::FnExecutor;
use serde_json::json;
use std::ffi::OsString;

fn no_env(_: &str) -> Option<OsString> {
    None
}

#[test]
fn a_secret_comes_from_its_file_first_then_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bank-token"), "from-file\n").unwrap();
    std::fs::write(dir.path().join("crlf"), "windows\r\n").unwrap();
    std::fs::write(dir.path().join("two-lines"), "a\nb\n\n").unwrap();
    let env = |var: &str| (var == "WEFT_SECRET_BANK_TOKEN" || var == "WEFT_SECRET_ONLY_ENV").then(|| "from-env".into());
    assert_eq!(lookup(Some(dir.path()), "bank-token", &env).unwrap(), "from-file");
    assert_eq!(lookup(Some(dir.path()), "only-env", &env).unwrap(), "from-env");
    assert_eq!(lookup(None, "bank-token", &env).unwrap(), "from-env");
    assert_eq!(lookup(Some(dir.path()), "crlf", &no_env).unwrap(), "windows");
    assert_eq!(lookup(Some(dir.path()), "two-lines", &no_env).unwrap(), "a\nb\n", "only one newline is dropped");
}

#[test]
fn a_missing_or_bad_secret_fails_for_good_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = lookup(Some(dir.path()), "bank-token", &no_env).unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.message().contains("secret `bank-token` is not set") && err.message().contains("WEFT_SECRET_BANK_TOKEN")
    );
    assert!(!err.message().contains(&dir.path().display().to_string()), "no worker paths: {err}");

    // Names are checked again on the worker: they become paths.
    std::fs::write(dir.path().join("outside"), "x").unwrap();
    let inner = dir.path().join("secrets");
    std::fs::create_dir(&inner).unwrap();
    let err = lookup(Some(&inner), "../outside", &no_env).unwrap_err();
    assert!(!err.is_retryable() && err.message().contains("must start with"), "{err}");

    std::fs::write(inner.join("huge"), vec![b'x'; MAX_SECRET_BYTES as usize + 1]).unwrap();
    assert!(lookup(Some(&inner), "huge", &no_env).unwrap_err().message().contains("over"));
    std::fs::write(inner.join("binary"), [0xff, 0xfe]).unwrap();
    assert!(lookup(Some(&inner), "binary", &no_env).unwrap_err().message().contains("UTF-8"));
}

#[test]
fn redaction_masks_values_in_strings_keys_and_errors() {
    let mut r = Redactor::default();
    r.add("s3cret");
    r.add("s3cret-longer");
    r.add("quo\"te");
    r.add("");
    let mut value = json!({
        "stdout": "token=s3cret-longer and s3cret\n",
        "s3cret": [1, {"deep": "xs3cretx"}],
        "body": "{\"k\":\"quo\\\"te\"}",
        "n": 5,
    });
    r.value(&mut value);
    assert_eq!(
        value,
        json!({"stdout": "token=*** and ***\n", "***": [1, {"deep": "x***x"}], "body": "{\"k\":\"***\"}", "n": 5})
    );
    let err = r.result(Err(TaskError::fatal("`curl` exited: bad token s3cret"))).unwrap_err();
    assert_eq!(err.message(), "`curl` exited: bad token ***");
    assert!(!err.is_retryable());
    let err = r.result(Err(TaskError::retryable("s3cret"))).unwrap_err();
    assert!(err.is_retryable() && err.message() == "***");
    assert_eq!(Redactor::default().result(Ok(json!("s3cret"))), Ok(json!("s3cret")));
}

#[tokio::test]
async fn the_executor_sees_the_value_and_reports_it_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bank-token"), "tok-123\n").unwrap();
    let echo: Arc<dyn DynExecutor> = Arc::new(FnExecutor(|task: Task| async move {
        assert_eq!(task.params["env"]["TOKEN"], "tok-123", "the executor gets the value");
        Ok(json!({"echo": task.params}))
    }));
    let wrapped = Arc::new(WithSecrets { inner: echo, secrets: Arc::new(Secrets::new(Some(dir.path().into()))) });
    let params = json!({"env": {"TOKEN": {"secret": "bank-token"}}, "plain": "tok"});
    let out = within(10, wrapped.clone().execute_boxed(task("echo", params))).await.unwrap();
    assert_eq!(out, json!({"echo": {"env": {"TOKEN": "***"}, "plain": "tok"}}));

    let missing = json!({"a": {"secret": "nope"}});
    let err = within(10, wrapped.execute_boxed(task("echo", missing))).await.unwrap_err();
    assert!(!err.is_retryable() && err.message().contains("secret `nope` is not set"), "{err}");
}

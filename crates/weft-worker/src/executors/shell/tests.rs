use super::*;
use crate::executors::testing::{task, within};
use serde_json::{Value, json};
use std::time::Instant;

async fn shell(params: Value) -> TaskResult {
    within(20, Shell::default().execute(task("shell", params))).await
}

/// Alive means present in /proc and not a zombie (a zombie has exited; in a container
/// nobody may reap it).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn captures_exit_code_stdout_and_stderr() {
    let out = shell(json!({"argv": ["sh", "-c", "echo out; echo err >&2"]})).await.unwrap();
    assert_eq!(out, json!({"exit_code": 0, "stdout": "out\n", "stderr": "err\n"}));
}

#[tokio::test]
async fn output_is_bounded_and_marked_truncated() {
    let script = "head -c 100000 /dev/zero | tr '\\0' a; echo e >&2";
    let out = shell(json!({"argv": ["sh", "-c", script], "max_output_bytes": 10})).await.unwrap();
    assert_eq!(out["stdout"], "aaaaaaaaaa");
    assert_eq!(out["stdout_truncated"], true);
    assert_eq!(out["stderr"], "e\n");
    assert!(out.get("stderr_truncated").is_none());
}

#[tokio::test]
async fn passes_env_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(json!({
        "argv": ["sh", "-c", "printf '%s ' \"$WEFT_TEST_VALUE\"; pwd"],
        "env": {"WEFT_TEST_VALUE": "hello"},
        "cwd": dir.path(),
    }))
    .await
    .unwrap();
    let expected = format!("hello {}\n", dir.path().canonicalize().unwrap().display());
    assert_eq!(out["stdout"], expected.as_str());
}

#[tokio::test]
async fn non_zero_exit_is_retryable_with_code_and_stderr_tail() {
    let err = shell(json!({"argv": ["sh", "-c", "echo first >&2; echo boom >&2; exit 3"]})).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(err.message().contains("code 3"), "{err}");
    assert!(err.message().contains("boom"), "{err}");
}

#[tokio::test]
async fn stderr_tail_in_the_message_stays_bounded() {
    let script = "head -c 1000000 /dev/zero | tr '\\0' x >&2; exit 1";
    let err = shell(json!({"argv": ["sh", "-c", script]})).await.unwrap_err();
    assert!(err.message().len() < 3 * 1024, "{} bytes", err.message().len());
}

#[tokio::test]
async fn missing_program_or_cwd_is_fatal() {
    let err = shell(json!({"argv": ["/nonexistent/weft-test-program"]})).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.message().contains("weft-test-program"), "{err}");
    let err = shell(json!({"argv": ["true"], "cwd": "/nonexistent/weft-dir"})).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.message().contains("/nonexistent/weft-dir"), "{err}");
    let err = shell(json!({"argv": []})).await.unwrap_err();
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    let t = task("shell", json!({"argv": ["sh", "-c", script]}));
    let cancel = t.cancel.clone();
    let run = tokio::spawn(async move { Shell::default().execute(t).await });

    // Wait for the grandchild to exist before cancelling: polling the file is the only
    // signal a plain `sh` gives us.
    let pid: i32 = within(10, async {
        loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok()) {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(alive(pid));

    let started = Instant::now();
    cancel.cancel();
    let out = within(10, run).await.unwrap();
    assert!(out.unwrap_err().is_retryable());
    // SIGTERM reaches `sleep` directly, so this does not wait for the SIGKILL grace.
    assert!(started.elapsed() < KILL_GRACE, "took {:?}", started.elapsed());
    within(5, async {
        while alive(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn group_that_ignores_sigterm_is_killed_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    // An ignored SIGTERM is inherited by `sleep` too: only SIGKILL ends this group.
    let script = format!("trap '' TERM; touch {}; sleep 30", ready.display());
    let t = task("shell", json!({"argv": ["sh", "-c", script]}));
    let cancel = t.cancel.clone();
    let run = tokio::spawn(async move { Shell::default().execute(t).await });
    within(10, async {
        while !ready.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let started = Instant::now();
    cancel.cancel();
    let out = within(10, run).await.unwrap();
    assert!(out.unwrap_err().is_retryable());
    let took = started.elapsed();
    assert!(took >= KILL_GRACE && took < KILL_GRACE + Duration::from_secs(3), "took {took:?}");
}

/// Reads the pid a script wrote to `path`.
fn pid_in(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

async fn until_gone(pid: i32) {
    within(5, async {
        while alive(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn what_the_program_leaves_in_the_background_ends_with_the_task() {
    for (code, succeeds) in [(0, true), (3, false)] {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The background child holds no pipe, so nothing but the kill ends it.
        let script = format!("sleep 30 >/dev/null 2>&1 & echo $! > {}; exit {code}", pid_file.display());
        let started = Instant::now();
        let out = shell(json!({"argv": ["sh", "-c", script]})).await;
        assert_eq!(out.is_ok(), succeeds, "exit {code}: {out:?}");
        assert!(started.elapsed() < PIPE_GRACE, "took {:?}", started.elapsed());
        until_gone(pid_in(&pid_file)).await;
    }
}

#[tokio::test]
async fn a_background_child_that_ignores_sigterm_and_holds_the_pipe_is_killed_after_the_pipe_grace() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The child ignores SIGTERM (and so does the `sleep` it becomes) before the task's
    // program exits, and keeps the task's stdout open.
    let pid = pid_file.display();
    let script = format!(
        "sh -c 'trap \"\" TERM; echo $$ > {pid}; exec sleep 30' & while [ ! -s {pid} ]; do sleep 0.01; done; echo done"
    );
    let started = Instant::now();
    let out = shell(json!({"argv": ["sh", "-c", script]})).await.unwrap();
    assert_eq!(out["stdout"], "done\n");
    let took = started.elapsed();
    assert!(took >= PIPE_GRACE && took < PIPE_GRACE + Duration::from_secs(2), "took {took:?}");
    until_gone(pid_in(&pid_file)).await;
}

#[tokio::test]
async fn a_task_sees_only_the_inherited_variables_and_its_own_env() {
    let worker_env = [
        ("PATH".into(), std::env::var_os("PATH").unwrap_or_else(|| env::SAFE_PATH.into())),
        ("LANG".into(), "C.UTF-8".into()),
        ("WEFT_TEST_WORKER_ONLY".into(), "hidden".into()),
        ("WEFT_SECRET_X".into(), "hidden".into()),
    ];
    let allowing = Shell { inherited: env::inherited(&["PATH".into(), "LANG".into()], worker_env), user: None };
    let t = task("shell", json!({"argv": ["env"], "env": {"MINE": "1"}}));
    let out = within(20, allowing.execute(t)).await.unwrap();
    let mut names: Vec<&str> =
        out["stdout"].as_str().unwrap().lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k).collect();
    names.sort();
    assert_eq!(names, ["LANG", "MINE", "PATH"], "{out}");

    // The real worker environment of this test process: nothing of it but PATH.
    let out = shell(json!({"argv": ["env"]})).await.unwrap();
    let lines: Vec<&str> = out["stdout"].as_str().unwrap().lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("PATH="), "{lines:?}");
}

#[tokio::test]
async fn a_task_runs_as_the_configured_user() {
    let nobody = nix::unistd::User::from_name("nobody").unwrap().expect("a `nobody` user");
    if !nix::unistd::geteuid().is_root() {
        let err = Shell::new(&[], Some("nobody")).unwrap_err().to_string();
        assert!(err.contains("root"), "{err}");
        return;
    }
    let as_nobody = Shell::new(&["PATH".into()], Some("nobody")).unwrap();
    let out = within(20, as_nobody.execute(task("shell", json!({"argv": ["id", "-u"]})))).await.unwrap();
    assert_eq!(out["stdout"].as_str().unwrap().lines().next(), Some(nobody.uid.to_string().as_str()), "{out}");
    let groups = within(20, as_nobody.execute(task("shell", json!({"argv": ["id", "-G"]})))).await.unwrap();
    assert_eq!(groups["stdout"], format!("{}\n", nobody.gid), "no supplementary groups are kept");

    let err = Shell::new(&[], Some("weft-no-such-user")).unwrap_err().to_string();
    assert!(err.contains("weft-no-such-user"), "{err}");
}

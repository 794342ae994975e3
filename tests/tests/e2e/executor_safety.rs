//! Executors safe by default (issue 11): a `shell` task sees nothing of its worker's
//! environment beyond the operator's allow-list, an `http` task cannot reach loopback (or
//! the coordinator) unless the operator allows it, and a secret referenced by a task's
//! params reaches the task while its value appears nowhere at the coordinator: not in its
//! store, its log, `GetRun`, the history, nor the task's reported result.
use crate::support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use weft_client::{Client, RunId, RunSource, StartOptions, pb};
use weft_e2e::{Cluster, WorkerSpec};

/// The one task of a one-task run.
fn only_task(run: &pb::Run) -> pb::TaskRun {
    let all: Vec<pb::TaskRun> = tasks(run).into_values().collect();
    assert_eq!(all.len(), 1, "{run:?}");
    all.into_iter().next().unwrap()
}

fn result(task: &pb::TaskRun) -> serde_json::Value {
    serde_json::from_str(&task.result_json).unwrap_or_else(|e| panic!("result of {task:?}: {e}"))
}

fn error(task: &pb::TaskRun) -> &pb::TaskError {
    task.error.as_ref().unwrap_or_else(|| panic!("no error: {task:?}"))
}

/// Names of the variables an `env` run printed.
fn env_names(stdout: &str) -> Vec<String> {
    let mut names: Vec<String> = stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k.to_string()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_task_sees_none_of_the_worker_environment_beyond_the_allow_list() {
    let mut cluster = Cluster::start(&[]).await;
    let worker_env = [
        ("FAKE_CLOUD_KEY", "fake-cloud-key-5f3a"),
        ("WEFT_SECRET_FAKE", "fake-weft-secret-9c1e"),
        ("WEFT_TEST_VISIBLE", "shown"),
    ];
    cluster.add_worker_with_env(WorkerSpec { extra: &["--allow-shell"], ..Default::default() }, &worker_env).await;
    let allowing = ["--allow-shell", "--shell-env-allow", "PATH,LANG,WEFT_*"];
    cluster
        .add_worker_with_env(WorkerSpec { queues: "wider", extra: &allowing, ..Default::default() }, &worker_env)
        .await;
    let client = cluster.client().await;

    // The default allow-list: PATH, and the task's own env.
    let run = run_to_end(
        &client,
        &spec("name: env\nsteps:\n  - { name: env, kind: shell, params: { argv: [env], env: { MINE: '1' } } }\n"),
    )
    .await;
    assert_succeeded(&run);
    let out = result(&only_task(&run));
    let stdout = out["stdout"].as_str().unwrap();
    assert_eq!(env_names(stdout), ["MINE", "PATH"], "{stdout}");
    assert!(!stdout.contains("fake-"), "{stdout}");

    // A wider list, even one that matches WEFT_*, never passes WEFT_SECRET_* variables on.
    let run = run_to_end(
        &client,
        &spec("name: env\nsteps:\n  - { name: env, kind: shell, queue: wider, params: { argv: [env] } }\n"),
    )
    .await;
    assert_succeeded(&run);
    let out = result(&only_task(&run));
    let stdout = out["stdout"].as_str().unwrap();
    let names = env_names(stdout);
    assert!(names.contains(&"WEFT_TEST_VISIBLE".to_string()) && names.contains(&"PATH".to_string()), "{stdout}");
    assert!(!names.iter().any(|n| n.starts_with("WEFT_SECRET_") || n == "FAKE_CLOUD_KEY"), "{stdout}");
    assert!(!stdout.contains("fake-"), "{stdout}");
}

/// Serves `body` with 200 to every connection on a loopback port; returns the address.
async fn loopback_server(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_task_to_loopback_is_refused_by_default_and_reaches_it_when_allowed() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec::default()).await;
    cluster
        .add_worker(WorkerSpec { queues: "inside", extra: &["--http-allow", "127.0.0.1/32"], ..Default::default() })
        .await;
    let client = cluster.client().await;
    let internal = loopback_server("internal admin page").await;

    // Refused for good on the first attempt, naming why; the body never comes back.
    let metrics = cluster.metrics.clone().expect("the coordinator serves /metrics");
    for url in [
        format!("http://{internal}/admin"),
        format!("http://localhost:{}/admin", port(&internal)),
        format!("http://{metrics}/metrics"),
    ] {
        let run = run_to_end(
            &client,
            &spec(&format!("name: probe\nsteps:\n  - {{ name: get, kind: http, params: {{ url: '{url}' }} }}\n")),
        )
        .await;
        assert_eq!(run.status, pb::RunStatus::Failed as i32, "{url}: {run:?}");
        let task = only_task(&run);
        assert_eq!(task.attempt, 1, "not retried: {task:?}");
        let error = error(&task);
        assert!(!error.retryable, "{error:?}");
        assert!(error.message.contains("loopback") && error.message.contains("--http-allow"), "{url}: {error:?}");
        assert!(task.result_json.is_empty(), "{task:?}");
    }

    // The operator allows it on the `inside` worker.
    let run = run_to_end(&client, &spec(&format!(
        "name: probe\nsteps:\n  - {{ name: get, kind: http, queue: inside, params: {{ url: 'http://{internal}/admin' }} }}\n"
    )))
    .await;
    assert_succeeded(&run);
    assert_eq!(result(&only_task(&run)), serde_json::json!({"status": 200, "body": "internal admin page"}));
}

fn port(addr: &str) -> &str {
    addr.rsplit_once(':').unwrap().1
}

/// Everything the coordinator holds or says about a run, as text: `GetRun` and the whole
/// history.
async fn coordinator_view(client: &Client, run_id: RunId) -> String {
    let run = client.get_run(run_id).await.expect("get run");
    let history = client.run_history_all(run_id, 0).await.expect("history");
    format!("{run:?}\n{history:?}")
}

/// Every byte of every file under `dir` (the store is `weft.db` with its WAL beside it).
fn files_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(files_bytes(&path));
        } else if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reference_reaches_the_task_and_its_value_appears_nowhere_at_the_coordinator() {
    let mut cluster = Cluster::start(&[]).await;
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let token = format!("tok{unique}bank");
    let key = format!("key{unique}api");
    let secrets = cluster.dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("bank-token"), format!("{token}\n")).unwrap();
    let secrets_dir = secrets.to_string_lossy().into_owned();
    let extra = ["--allow-shell", "--secrets-dir", secrets_dir.as_str()];
    cluster
        .add_worker_with_env(WorkerSpec { extra: &extra, ..Default::default() }, &[("WEFT_SECRET_API_KEY", &key)])
        .await;
    let client = cluster.client().await;

    // The task gets both values (from the file and from the worker's variable); it prints
    // them as they are, which the worker masks, and the token spelled out with dashes,
    // which proves what it got.
    let used = spec(
        r#"
name: secrets
steps:
  - name: use
    kind: shell
    params:
      argv: [sh, -c, 'printf "%s %s\n" "$TOKEN" "$KEY"; printf "%s" "$TOKEN" | sed "s/./&-/g"']
      env: { TOKEN: { secret: bank-token }, KEY: { secret: api-key } }
  - name: echo
    kind: noop
    params: { result: { token: { secret: bank-token } } }
"#,
    );
    let started = client.start_run(RunSource::Inline(&used), StartOptions::default()).await.unwrap();
    let run = wait(&client, started.run_id).await;
    assert_succeeded(&run);
    let by_name = tasks(&run);
    let out = result(&by_name["secrets/use"]);
    let dashed: String = token.chars().map(|c| format!("{c}-")).collect();
    assert_eq!(out["stdout"], format!("*** ***\n{dashed}"), "the task saw the values; the report masks them");
    assert_eq!(result(&by_name["secrets/echo"]), serde_json::json!({"token": "***"}));

    // A failing task whose error would carry the value.
    let failing = spec(
        r#"
name: leaky
steps:
  - name: fail
    kind: shell
    retry: { max_attempts: 1 }
    params:
      argv: [sh, -c, 'echo "bad token $TOKEN" >&2; exit 3']
      env: { TOKEN: { secret: bank-token } }
"#,
    );
    let failed = client.start_run(RunSource::Inline(&failing), StartOptions::default()).await.unwrap();
    let run = wait(&client, failed.run_id).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    let message = error(&only_task(&run)).message.clone();
    assert!(message.contains("bad token ***"), "{message}");

    // A secret the worker does not have fails at once, naming it.
    let missing =
        spec("name: missing\nsteps:\n  - { name: m, kind: noop, params: { result: { secret: no-such-secret } } }\n");
    let missing = client.start_run(RunSource::Inline(&missing), StartOptions::default()).await.unwrap();
    let run = wait(&client, missing.run_id).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    let task = only_task(&run);
    let err = error(&task);
    assert!(!err.retryable && task.attempt == 1, "{task:?}");
    assert!(err.message.contains("secret `no-such-secret` is not set"), "{err:?}");

    // Nowhere at the coordinator: its API, its store (read as bytes, WAL included), its log.
    for run_id in [started.run_id, failed.run_id, missing.run_id] {
        let view = coordinator_view(&client, run_id).await;
        assert!(!view.contains(&token) && !view.contains(&key), "run {run_id}: {view}");
    }
    let store = files_bytes(&cluster.data_dir());
    assert!(holds(&store, "bank-token"), "the store holds the reference (sanity check of what is read)");
    assert!(!holds(&store, &token) && !holds(&store, &key), "a secret value is in the store");
    let log = std::fs::read(&cluster.coordinator.log).unwrap();
    assert!(!holds(&log, &token) && !holds(&log, &key), "a secret value is in the coordinator's log");
    // Nor in the worker's log.
    let log = std::fs::read(&cluster.workers[0].log).unwrap();
    assert!(!holds(&log, &token) && !holds(&log, &key), "a secret value is in the worker's log");
}

//! Bearer tokens with roles, and worker identity bound to its session (issue 11): a
//! coordinator started with `--tokens` refuses calls without a valid token (UNAUTHENTICATED)
//! or without the method's role (PERMISSION_DENIED); a worker needs the `worker` role; a
//! report or a registration under another live worker's id changes nothing. Tokens are made
//! by `weftctl admin token new`, as an operator would.
use crate::support::Tokens;
use tonic::Code;
use weft_client::{Client, ConnectOptions, RunSource, StartOptions, pb};
use weft_e2e::{Cluster, WorkerSpec, binary, metric_value, repo_root};

async fn weftctl(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(binary("weftctl"));
    cmd.args(args).env_remove("WEFT_TOKEN").env_remove("WEFT_TOKEN_FILE").envs(env.iter().copied());
    tokio::time::timeout(weft_e2e::WAIT, cmd.kill_on_drop(true).output()).await.expect("weftctl in time").unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn client_with(cluster: &Cluster, token: Option<&str>) -> Client {
    let options = ConnectOptions { token: token.map(String::from), ..Default::default() };
    Client::connect_with(&cluster.grpc, &options).await.expect("connect")
}

fn code(result: Result<impl std::fmt::Debug, weft_client::Error>) -> Code {
    match result {
        Err(weft_client::Error::Rpc { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn spec(yaml: &str) -> weft_client::ProcessSpec {
    weft_client::parse_spec(yaml, weft_client::SpecFormat::Yaml, "test.yaml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_needs_a_valid_token_with_its_role() {
    let tokens = Tokens::make(&[("submitter", "submit"), ("reader", "read"), ("ops", "admin"), ("w", "worker")]).await;
    let cluster = Cluster::start(&["--tokens", &tokens.file, "--log-format", "json"]).await;
    let one = spec("name: one\nsteps:\n  - { name: a, kind: noop }\n");
    let start = |c: Client| {
        let one = one.clone();
        async move { c.start_run(RunSource::Inline(&one), StartOptions::default()).await }
    };

    // No token, or one that is not in the file: UNAUTHENTICATED, whatever the method.
    let anonymous = cluster.client().await;
    assert_eq!(code(anonymous.list_runs(&Default::default()).await), Code::Unauthenticated);
    assert_eq!(code(start(anonymous.clone()).await), Code::Unauthenticated);
    let forged = client_with(&cluster, Some(&format!("weft_{}", "0".repeat(64)))).await;
    assert_eq!(code(forged.cluster_status().await), Code::Unauthenticated);

    // A valid token without the role: PERMISSION_DENIED.
    let reader = client_with(&cluster, Some(tokens.of("reader"))).await;
    let submitter = client_with(&cluster, Some(tokens.of("submitter"))).await;
    let ops = client_with(&cluster, Some(tokens.of("ops"))).await;
    let worker = client_with(&cluster, Some(tokens.of("w"))).await;
    assert_eq!(code(start(reader.clone()).await), Code::PermissionDenied);
    assert_eq!(code(submitter.list_runs(&Default::default()).await), Code::PermissionDenied);
    assert_eq!(code(worker.list_runs(&Default::default()).await), Code::PermissionDenied);
    assert_eq!(code(reader.list_quarantined().await), Code::PermissionDenied);

    // With the role: served. Admin implies submit and read.
    let run = start(submitter.clone()).await.expect("submit starts a run").run_id;
    assert_eq!(reader.get_run(run).await.expect("read reads it").run_id, run.to_string());
    assert_eq!(code(reader.cancel_run(run, "no").await), Code::PermissionDenied);
    assert_eq!(code(submitter.cancel_run(run, "no").await), Code::PermissionDenied);
    ops.cancel_run(run, "admin cancels").await.expect("admin cancels any run");
    ops.list_quarantined().await.expect("admin lists the quarantine");
    start(ops.clone()).await.expect("admin submits");
    assert!(!ops.list_runs(&Default::default()).await.unwrap().runs.is_empty(), "admin reads");

    // Health and reflection stay open, for load balancers and tools.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.grpc)).unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.connect().await.unwrap());
    let served = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(served.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    // Refusals are counted by reason, and logged by token name, never with the token.
    let metrics = cluster.metrics_text().await;
    let failures = |reason: &str| metric_value(&metrics, &format!("weft_auth_failures_total{{reason=\"{reason}\"}}"));
    assert_eq!(failures("missing_token"), Some(2.0), "{metrics}");
    assert_eq!(failures("bad_token"), Some(1.0), "{metrics}");
    assert_eq!(failures("missing_role"), Some(6.0), "{metrics}");
    let log = std::fs::read_to_string(&cluster.coordinator.log).unwrap();
    let refusal = log.lines().find(|l| l.contains("request refused") && l.contains(r#""token":"reader""#));
    assert!(refusal.is_some_and(|l| l.contains(r#""reason":"missing_role""#)), "{log}");
    assert!(log.contains(r#""reason":"missing_token""#) && log.contains(r#""token":"unknown""#), "{log}");
    for (name, token) in &tokens.token {
        assert!(!log.contains(token.trim_start_matches("weft_")), "the log shows the token of {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weftctl_takes_its_token_from_weft_token_or_a_file() {
    let tokens = Tokens::make(&[("reader", "read"), ("ops", "admin")]).await;
    let cluster = Cluster::start(&["--tokens", &tokens.file, "--log-format", "json"]).await;
    let at = ["--coordinator", cluster.grpc.as_str()];

    let out = weftctl(&[&at[..], &["runs"]].concat(), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Unauthenticated") && text(&out.stderr).contains("WEFT_TOKEN"));

    let out = weftctl(&[&at[..], &["-o", "json", "runs"]].concat(), &[("WEFT_TOKEN", tokens.of("reader"))]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let reader_file = tokens.file_of("reader");
    let out = weftctl(&[&at[..], &["--token-file", &reader_file, "admin", "quarantine"]].concat(), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("PermissionDenied") && text(&out.stderr).contains("`admin` role"));

    // The file wins over the variable.
    let ops_file = tokens.file_of("ops");
    let env = [("WEFT_TOKEN", tokens.of("reader"))];
    let out = weftctl(&[&at[..], &["--token-file", &ops_file, "admin", "quarantine"]].concat(), &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_removed_from_the_file_is_refused_after_a_reload_and_a_broken_file_changes_nothing() {
    let first = Tokens::make(&[("old", "read")]).await;
    let cluster = Cluster::start(&["--tokens", &first.file, "--log-format", "json"]).await;
    let mut log = cluster.coordinator.subscribe();
    let old = client_with(&cluster, Some(first.of("old"))).await;
    assert!(old.cluster_status().await.is_ok());

    // The operator revokes `old` and adds `new`: the file is replaced, then SIGHUP.
    let second = Tokens::make(&[("new", "read")]).await;
    std::fs::copy(&second.file, &first.file).unwrap();
    cluster.coordinator.signal(nix::sys::signal::Signal::SIGHUP);
    weft_e2e::await_line(&mut log, &["tokens reloaded", r#""tokens":1"#]).await;
    assert_eq!(code(old.cluster_status().await), Code::Unauthenticated, "a revoked token is refused at once");
    let new = client_with(&cluster, Some(second.of("new"))).await;
    assert!(new.cluster_status().await.is_ok());

    // A broken file (half-written, a typo) keeps the tokens in force.
    std::fs::write(&first.file, "not a tokens line\n").unwrap();
    cluster.coordinator.signal(nix::sys::signal::Signal::SIGHUP);
    weft_e2e::await_line(&mut log, &["tokens not reloaded", "line 1"]).await;
    assert!(new.cluster_status().await.is_ok(), "the previous tokens stay");
    assert_eq!(code(old.cluster_status().await), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weftctl_health_needs_no_token_and_exits_by_the_serving_status() {
    let tokens = Tokens::make(&[("reader", "read")]).await;
    let mut cluster = Cluster::start(&["--tokens", &tokens.file]).await;
    let at = ["--coordinator", cluster.grpc.as_str()];
    let out = weftctl(&[&at[..], &["health"]].concat(), &[]).await;
    assert_eq!((out.status.code(), text(&out.stdout).as_str()), (Some(0), "SERVING\n"), "{}", text(&out.stderr));
    let out =
        weftctl(&[&at[..], &["-o", "json", "health", "--service", "weft.v1.WorkflowService"]].concat(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(r#""status": "SERVING""#), "{}", text(&out.stdout));
    let out = weftctl(&[&at[..], &["health", "--service", "no.such.Service"]].concat(), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // Stopped: unreachable is not healthy either.
    let grpc = cluster.grpc.clone();
    cluster.stop_coordinator().await;
    let out = weftctl(&["--coordinator", &grpc, "health"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_needs_a_token_with_the_worker_role() {
    let tokens = Tokens::make(&[("client", "submit,read"), ("w", "worker")]).await;
    let mut cluster = Cluster::start(&["--tokens", &tokens.file, "--log-format", "json"]).await;

    // Without a token, or with one lacking the role, it cannot open a session: it stops
    // with an error naming the refusal instead of retrying forever.
    let reader_file = tokens.file_of("client");
    for (extra, expected) in
        [(vec![], "Unauthenticated"), (vec!["--token-file", reader_file.as_str()], "PermissionDenied")]
    {
        let mut cmd = tokio::process::Command::new(binary("weft-worker"));
        cmd.args(["--coordinator", &format!("http://{}", cluster.grpc)]).args(&extra).env_remove("WEFT_WORKER_TOKEN");
        let out = tokio::time::timeout(weft_e2e::WAIT, cmd.kill_on_drop(true).output()).await.unwrap().unwrap();
        assert_ne!(out.status.code(), Some(0));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected) && stderr.contains("refused the registration"), "{stderr}");
        assert!(out.stdout.is_empty(), "never registered: {}", text(&out.stdout));
    }

    // With the worker role (here from WEFT_WORKER_TOKEN) it registers and runs work.
    cluster.add_worker_with_env(WorkerSpec::default(), &[("WEFT_WORKER_TOKEN", tokens.of("w"))]).await;
    let client = client_with(&cluster, Some(tokens.of("client"))).await;
    let one = spec("name: one\nsteps:\n  - { name: a, kind: noop, params: { result: 42 } }\n");
    let run = client.start_run(RunSource::Inline(&one), StartOptions::default()).await.unwrap().run_id;
    let run = client.wait_run(run).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Succeeded as i32);
    let log = std::fs::read_to_string(&cluster.coordinator.log).unwrap();
    let opened = log.lines().find(|l| l.contains("worker session opened")).expect("a session opened");
    assert!(opened.contains(r#""token":"w""#), "{opened}");
}

/// A session opened by hand on its own connection, as an attacker holding a valid worker
/// token would open it.
async fn open_session(
    cluster: &Cluster,
    token: &str,
    worker_id: &str,
    previous_session_secret: &str,
) -> Result<(pb::Registered, tokio::sync::mpsc::Sender<pb::WorkerMessage>), tonic::Status> {
    let mut service =
        pb::worker_service_client::WorkerServiceClient::connect(format!("http://{}", cluster.grpc)).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let register = pb::Register {
        protocol_version: pb::ProtocolVersion::ProtocolVersion1 as u32,
        worker_id: worker_id.to_string(),
        name: "impostor".into(),
        queues: vec!["default".into()],
        kinds: vec!["shell".into()],
        slots: 8,
        speed: 100.0,
        version: "evil".into(),
        holding: vec![],
        previous_session_secret: previous_session_secret.to_string(),
    };
    tx.send(pb::WorkerMessage { message: Some(pb::worker_message::Message::Register(register)) }).await.unwrap();
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut incoming = service.session(request).await?.into_inner();
    match incoming.message().await? {
        Some(pb::CoordinatorMessage { message: Some(pb::coordinator_message::Message::Registered(r)) }) => Ok((r, tx)),
        other => panic!("expected `registered`, got {other:?}"),
    }
}

/// Sends one report on a new connection, with `secret` as the stream's session secret (or
/// none), and returns what the coordinator answered: an ack, or the status ending the stream.
async fn forge_report(
    cluster: &Cluster,
    token: &str,
    secret: Option<&str>,
    report: pb::WorkerReport,
) -> Result<pb::ReportAck, tonic::Status> {
    let mut service =
        pb::monitor_service_client::MonitorServiceClient::connect(format!("http://{}", cluster.grpc)).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(report).await.unwrap();
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(secret) = secret {
        request.metadata_mut().insert("weft-session-secret", secret.parse().unwrap());
    }
    let mut acks = service.report(request).await?.into_inner();
    let answer = tokio::time::timeout(weft_e2e::WAIT, acks.message()).await.expect("an answer in time");
    drop(tx);
    answer?.ok_or_else(|| tonic::Status::unknown("the stream ended without an answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_registrations_under_another_live_workers_id_are_refused_and_change_nothing() {
    let tokens = Tokens::make(&[("client", "submit,read"), ("w", "worker")]).await;
    let mut cluster = Cluster::start(&["--tokens", &tokens.file, "--log-format", "json"]).await;
    let env = [("WEFT_WORKER_TOKEN", tokens.of("w"))];
    cluster.add_worker_with_env(WorkerSpec { extra: &["--allow-shell"], ..Default::default() }, &env).await;
    let victim = cluster.worker_id(0);
    let client = client_with(&cluster, Some(tokens.of("client"))).await;
    let s = spec(
        "name: pay\nsteps:\n  - { name: charge, kind: shell, retry: { max_attempts: 1 }, \
         params: { argv: [sh, -c, 'sleep 2; echo real'] } }\n",
    );
    let run = client.start_run(RunSource::Inline(&s), StartOptions::default()).await.unwrap().run_id;
    // Wait until the victim runs the attempt; the attacker learns its reference from the API.
    let attempt = loop {
        let view = client.get_run(run).await.unwrap();
        let task = &view.workflows[0].tasks[0];
        if task.state == pb::TaskState::Running as i32 {
            assert_eq!(task.worker_id, victim);
            break pb::AttemptRef {
                run_id: run.to_string(),
                workflow: "pay".into(),
                task: "charge".into(),
                attempt: task.attempt,
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let forged = |worker_id: &str| pb::WorkerReport {
        worker_id: worker_id.to_string(),
        report: Some(pb::worker_report::Report::Status(pb::TaskStatus {
            attempt: Some(attempt.clone()),
            state: pb::TaskState::Succeeded as i32,
            result_json: "\"forged\"".into(),
            ..Default::default()
        })),
    };
    let w = tokens.of("w");

    // A second registration of the victim's id, from a holder of a valid worker token:
    // refused without the secret of the victim's session, whatever it sends instead.
    let (own, _own_session) = open_session(&cluster, w, &weft_client::WorkerId::new_v7().to_string(), "")
        .await
        .expect("the attacker's own session opens");
    for proof in ["", "ab".repeat(32).as_str(), own.session_secret.as_str()] {
        let refused = open_session(&cluster, w, &victim, proof).await.expect_err("the victim's id is live");
        assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    }

    // Reports under the victim's id on other connections: without a session secret, with a
    // made-up one, and with the attacker's own (valid, but for another worker's session).
    let no_secret = forge_report(&cluster, w, None, forged(&victim)).await.expect_err("refused");
    assert_eq!(no_secret.code(), Code::PermissionDenied, "{no_secret:?}");
    for secret in ["cd".repeat(32), own.session_secret.clone()] {
        let refused = forge_report(&cluster, w, Some(&secret), forged(&victim)).await.expect_err("refused");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    // A heartbeat claiming the victim's id on the attacker's session is refused too.
    let heartbeat = pb::WorkerReport {
        worker_id: victim.clone(),
        report: Some(pb::worker_report::Report::Heartbeat(pb::Heartbeat {
            worker_id: victim.clone(),
            ..Default::default()
        })),
    };
    let refused = forge_report(&cluster, w, Some(&own.session_secret), heartbeat).await.expect_err("refused");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The run is untouched: the victim's real result, on attempt 1, from the victim.
    let done = client.wait_run(run).await.unwrap();
    assert_eq!(done.status, pb::RunStatus::Succeeded as i32, "{}", done.reason);
    let task = &done.workflows[0].tasks[0];
    assert_eq!((task.attempt, task.worker_id.as_str()), (1, victim.as_str()));
    assert!(task.result_json.contains("real") && !task.result_json.contains("forged"), "{}", task.result_json);
    let status = client.cluster_status().await.unwrap();
    let listed = status.workers.iter().find(|s| s.worker_id == victim).expect("the victim is listed");
    assert_eq!(listed.liveness, pb::WorkerLiveness::Live as i32, "{listed:?}");
    assert_ne!(listed.name, "impostor");

    let metrics = cluster.metrics_text().await;
    let failures = |reason: &str| metric_value(&metrics, &format!("weft_auth_failures_total{{reason=\"{reason}\"}}"));
    assert_eq!(failures("worker_id_in_use"), Some(3.0), "{metrics}");
    assert!(failures("bad_session").is_some_and(|n| n >= 4.0), "{metrics}");
    let log = std::fs::read_to_string(&cluster.coordinator.log).unwrap();
    assert!(log.contains("worker registration refused") && log.contains("report refused"), "{log}");
    assert!(!log.contains(&own.session_secret), "session secrets are never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_reconnects_to_a_restarted_coordinator_and_its_held_attempt_completes() {
    let tokens = Tokens::make(&[("client", "submit,read"), ("w", "worker")]).await;
    let mut cluster = Cluster::start(&["--tokens", &tokens.file, "--log-format", "json"]).await;
    let token_file = tokens.file_of("w");
    let extra = ["--allow-shell", "--token-file", token_file.as_str(), "--log-format", "json"];
    cluster.add_worker(WorkerSpec { extra: &extra, ..Default::default() }).await;
    let client = client_with(&cluster, Some(tokens.of("client"))).await;
    let s = spec(
        "name: hold\nsteps:\n  - { name: slow, kind: shell, retry: { max_attempts: 1 }, \
         params: { argv: [sh, -c, 'sleep 2; echo held'] } }\n",
    );
    let run = client.start_run(RunSource::Inline(&s), StartOptions::default()).await.unwrap().run_id;
    let mut worker_log = cluster.workers[0].subscribe();
    loop {
        let view = client.get_run(run).await.unwrap();
        if view.workflows[0].tasks[0].state == pb::TaskState::Running as i32 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cluster.crash_and_restart_coordinator(&["--tokens", &tokens.file, "--log-format", "json"]).await;
    // The worker comes back with its token and the attempt it holds, which it finishes.
    weft_e2e::await_line(&mut worker_log, &[r#""message":"registered""#, r#""running":1"#]).await;
    let client = client_with(&cluster, Some(tokens.of("client"))).await;
    let done = client.wait_run(run).await.unwrap();
    assert_eq!(done.status, pb::RunStatus::Succeeded as i32, "{}", done.reason);
    let task = &done.workflows[0].tasks[0];
    assert_eq!(task.attempt, 1, "kept across the restart, not run again");
    assert!(task.result_json.contains("held"), "{}", task.result_json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_sends_its_token() {
    let tokens = Tokens::make(&[("py", "submit,read"), ("w", "worker")]).await;
    let mut cluster = Cluster::start(&["--tokens", &tokens.file, "--log-format", "json"]).await;
    cluster.add_worker_with_env(WorkerSpec::default(), &[("WEFT_WORKER_TOKEN", tokens.of("w"))]).await;
    let python = weft_e2e::python_with_grpc();
    let run = |token: Option<String>| {
        let mut cmd = tokio::process::Command::new(python);
        cmd.arg(repo_root().join("examples/python/submit_process.py"))
            .args(["--coordinator", &cluster.grpc, "--noop-only"])
            .env_remove("WEFT_TOKEN")
            .kill_on_drop(true);
        if let Some(token) = token {
            cmd.args(["--token", &token]);
        }
        async move { tokio::time::timeout(weft_e2e::WAIT * 2, cmd.output()).await.expect("in time").unwrap() }
    };
    let refused = run(None).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("UNAUTHENTICATED"), "{}", text(&refused.stderr));
    let out = run(Some(tokens.of("py").to_string())).await;
    assert!(out.status.success(), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("succeeded"), "{}", text(&out.stdout));
}

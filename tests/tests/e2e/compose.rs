//! The operators' docker-compose.yml, run for real (issue 12): the coordinator and its
//! workers each in their own container on a Docker network, each worker reaching the
//! coordinator only by its service name, over mutual TLS with tokens. The images are built
//! here without a registry (`deploy/build-local-image.sh`, from the binaries under test).
//!
//! One test, in phases on one cluster, each printing its figure:
//! - a business process submitted from the host completes; heartbeat lines are in
//!   `docker-compose logs`; Prometheus scrapes the coordinator and answers a weft metric;
//! - 50 ms each way between one worker and the coordinator (a delay proxy on its path):
//!   the S2 round trip rises by about the added 100 ms, not more;
//! - a worker added with `--scale` takes work;
//! - a worker cut off (`docker network disconnect`) while it runs an attempt: the attempt
//!   moves after the lease; reconnected, its late report is refused as stale and it takes
//!   new work; a frozen worker (`docker pause`) past its lease: the same, and it is told to
//!   stop the attempt it still runs;
//! - `docker kill` of the coordinator and `up -d` again on its volume: no acknowledged run
//!   lost;
//! - the coordinator cut off from every worker for longer than the lease, then healed:
//!   every run finishes, each task's result recorded once.
//!
//! Everything the test made (containers, the network, volumes) is removed when it ends,
//! failed or not. Needs a Docker engine with docker-compose, busybox-static and (for the
//! Prometheus image) Debian's prometheus package: `.ci/run` installs them.
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weft_client::{Client, ClientTls, ConnectOptions, RunId, RunSource, StartOptions, load_spec_file, pb};
use weft_e2e::repo_root;

use crate::support::spec;

/// The whole test, however it goes.
const WHOLE_TEST: Duration = Duration::from_secs(600);
/// One docker or docker-compose command.
const COMMAND: Duration = Duration::from_secs(180);
/// The coordinator's lease timeout in docker-compose.yml (`WEFT_LEASE_TIMEOUT`).
const LEASE: Duration = Duration::from_secs(5);
/// Added each way on the slow worker's path.
const DELAY: Duration = Duration::from_millis(50);

/// A compose project of its own name, taken down with its volumes when dropped.
struct Compose {
    project: String,
    env: Vec<(String, String)>,
}

impl Compose {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("docker-compose");
        cmd.current_dir(repo_root())
            .args(["-p", &self.project, "-f", "docker-compose.yml", "-f", "tests/compose/latency.yml"])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true);
        cmd
    }

    /// Runs `docker-compose ARGS`; panics with its output unless it succeeds.
    async fn ok(&self, args: &[&str]) -> String {
        checked(&format!("docker-compose {}", args.join(" ")), self.command(args)).await
    }

    /// The ids of the containers of `service`, stopped ones included.
    async fn containers(&self, service: &str) -> Vec<String> {
        self.ok(&["ps", "-a", "-q", service]).await.lines().map(String::from).collect()
    }

    async fn container(&self, service: &str) -> String {
        self.containers(service).await.into_iter().next().unwrap_or_else(|| panic!("no {service} container"))
    }

    fn network(&self) -> String {
        format!("{}_default", self.project)
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let down = std::process::Command::new("docker-compose")
            .current_dir(repo_root())
            .args(["-p", &self.project, "-f", "docker-compose.yml", "-f", "tests/compose/latency.yml"])
            .args(["down", "--volumes", "--remove-orphans", "--timeout", "1"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output();
        match down {
            Ok(out) if out.status.success() => {}
            other => eprintln!("docker-compose down for {} failed: {other:?}", self.project),
        }
    }
}

async fn checked(what: &str, mut cmd: tokio::process::Command) -> String {
    let out: Output = tokio::time::timeout(COMMAND, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`{what}` took longer than {COMMAND:?}"))
        .unwrap_or_else(|e| panic!("`{what}` could not run: {e}"));
    assert!(
        out.status.success(),
        "`{what}` failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn docker(args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(args).kill_on_drop(true);
    checked(&format!("docker {}", args.join(" ")), cmd).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `check` every 100 ms until it gives a value, for at most `within`.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy that holds every chunk `delay` in each direction before passing it on.
async fn delay_proxy(listener: TcpListener, to: SocketAddr, delay: Duration) {
    while let Ok((inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(to).await else { return };
            let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::join!(delayed_copy(in_read, out_write, delay), delayed_copy(out_read, in_write, delay));
        });
    }
}

async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx.send((tokio::time::Instant::now() + delay, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
}

/// Client credentials copied out of the `certs` service's volume.
async fn client_options(compose: &Compose, dir: &Path) -> ConnectOptions {
    let certs = compose.container("certs").await;
    for file in ["ca.crt", "weftctl.crt", "weftctl.key", "weftctl.token"] {
        docker(&["cp", &format!("{certs}:/pki/{file}"), &dir.join(file).to_string_lossy()]).await;
    }
    let token = std::fs::read_to_string(dir.join("weftctl.token")).expect("token").trim().to_string();
    ConnectOptions {
        tls: Some(ClientTls {
            ca: dir.join("ca.crt"),
            cert: Some(dir.join("weftctl.crt")),
            key: Some(dir.join("weftctl.key")),
        }),
        token: Some(token),
    }
}

async fn live_workers(client: &Client) -> Vec<pb::WorkerStatus> {
    let status = client.cluster_status().await.map(|s| s.workers).unwrap_or_default();
    status.into_iter().filter(|w| w.liveness == pb::WorkerLiveness::Live as i32).collect()
}

/// The container a worker runs in: its default name is `<hostname>-<pid>`, and a
/// container's hostname is the start of its id.
fn container_of<'a>(worker: &pb::WorkerStatus, containers: &'a [String]) -> &'a str {
    let host = worker.name.rsplit_once('-').map_or(worker.name.as_str(), |(host, _)| host);
    containers.iter().find(|c| c.starts_with(host)).unwrap_or_else(|| panic!("no container for {worker:?}"))
}

fn one_task(name: &str, kind: &str, params: &str, queue: &str) -> weft_client::ProcessSpec {
    spec(&format!(
        "name: {name}\nworkflows:\n  - name: w\n    steps:\n      - {{ name: t, kind: {kind}, queue: {queue}, params: {params} }}\n"
    ))
}

fn many_tasks(name: &str, n: usize, sleep: &str) -> weft_client::ProcessSpec {
    let steps: String =
        (0..n).map(|i| format!("      - {{ name: t{i}, kind: sleep, params: {{ duration: {sleep} }} }}\n")).collect();
    spec(&format!("name: {name}\nworkflows:\n  - name: w\n    steps:\n{steps}"))
}

async fn start(client: &Client, spec: &weft_client::ProcessSpec) -> RunId {
    client.start_run(RunSource::Inline(spec), StartOptions::default()).await.expect("start").run_id
}

async fn succeeded(client: &Client, run: RunId) -> pb::Run {
    let run = tokio::time::timeout(Duration::from_secs(120), client.wait_run(run))
        .await
        .expect("the run ends in time")
        .expect("wait");
    assert_eq!(run.status, pb::RunStatus::Succeeded as i32, "{run:?}");
    run
}

fn task_workers(run: &pb::Run) -> HashSet<String> {
    run.workflows.iter().flat_map(|w| &w.tasks).map(|t| t.worker_id.clone()).collect()
}

/// The one task of a run once it runs: (worker id, attempt).
async fn running_task(client: &Client, run: RunId) -> (String, u32) {
    until("the task to run", Duration::from_secs(60), || async {
        let run = client.get_run(run).await.ok()?;
        let task = run.workflows.first()?.tasks.first()?.clone();
        (task.state == pb::TaskState::Running as i32).then_some((task.worker_id, task.attempt))
    })
    .await
}

/// Median round trip of `n` one-task runs on `queue`, each started and waited for in turn.
async fn round_trip(client: &Client, queue: &str, n: usize) -> Duration {
    let spec = one_task(&format!("rtt-{queue}"), "noop", "{}", queue);
    let mut times = Vec::new();
    for _ in 0..n {
        let began = Instant::now();
        let run = start(client, &spec).await;
        succeeded(client, run).await;
        times.push(began.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// A weft metric read back through Prometheus's HTTP API.
async fn prometheus_query(port: u16, query: &str) -> Option<String> {
    let body = prometheus_get(port, &format!("/api/v1/query?query={query}")).await?;
    (body.contains(r#""status":"success""#) && body.contains(r#""value":["#)).then_some(body)
}

/// The body of a GET to Prometheus (HTTP/1.0, no client library).
async fn prometheus_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    Some(answer.split_once("\r\n\r\n")?.1.to_string())
}

/// The files operators deploy with are valid as their tools read them: the compose file
/// (alone, and with the test's overlay), Prometheus's configuration and the alert rules.
#[tokio::test]
async fn the_deployment_files_pass_their_tools_checks() {
    let compose = |files: &[&str]| {
        let mut cmd = tokio::process::Command::new("docker-compose");
        cmd.current_dir(repo_root());
        for f in files {
            cmd.args(["-f", f]);
        }
        cmd.args(["config", "-q"]).kill_on_drop(true);
        cmd
    };
    checked("docker-compose config -q", compose(&["docker-compose.yml"])).await;
    let mut ha = compose(&["docker-compose.yml"]);
    ha.args(["--profile", "ha"]);
    checked("docker-compose --profile ha config -q", ha).await;
    let mut grafana = compose(&["docker-compose.yml"]);
    grafana.args(["--profile", "grafana"]);
    checked("docker-compose --profile grafana config -q", grafana).await;
    checked(
        "docker-compose config -q (with the overlay)",
        compose(&["docker-compose.yml", "tests/compose/latency.yml"]),
    )
    .await;
    for args in [["check", "config", "deploy/prometheus.yml"], ["check", "rules", "deploy/alerts.yml"]] {
        let mut cmd = tokio::process::Command::new("promtool");
        cmd.args(args).current_dir(repo_root()).kill_on_drop(true);
        checked(&format!("promtool {}", args.join(" ")), cmd).await;
    }
}

/// Every `WEFT_*` variable the compose file gives a weft binary is read by it (a misspelt
/// one would be ignored without a word): each service's binary is run with exactly that
/// environment and `--print-config`, which says where each value came from; a variable it
/// does not read must be weftctl's (run in the same container). The weftctl
/// command lines of the health check, the image's HEALTHCHECK and the `certs` step parse.
#[tokio::test]
async fn every_flag_and_variable_the_deployment_uses_is_accepted_by_its_binary() {
    let mut cmd = tokio::process::Command::new("docker-compose");
    cmd.current_dir(repo_root())
        .args(["-f", "docker-compose.yml", "-f", "tests/compose/latency.yml", "--profile", "ha", "config"])
        .kill_on_drop(true);
    let resolved = checked("docker-compose --profile ha config", cmd).await;
    let config: serde_json::Value = serde_saphyr::from_str(&resolved).expect("docker-compose config is YAML");
    let bin = weft_e2e::ensure_built();
    let help = std::process::Command::new(bin.join("weftctl")).arg("--help").output().expect("weftctl --help");
    let weftctl_help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut checked_services = 0;
    for (service, def) in config["services"].as_object().expect("services") {
        let entrypoint = def["entrypoint"].as_array().and_then(|e| e.first()).and_then(|e| e.as_str());
        let Some(binary @ ("weft-coordinator" | "weft-worker")) = entrypoint else { continue };
        let env: Vec<(String, String)> = def["environment"]
            .as_object()
            .map(|e| {
                e.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from))).collect()
            })
            .unwrap_or_default();
        let out = std::process::Command::new(bin.join(binary))
            .arg("--print-config")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run the binary");
        assert!(out.status.success(), "{service}: {}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--print-config is JSON");
        for (name, value) in env.iter().filter(|(k, _)| k.starts_with("WEFT_")) {
            let from = format!("env {name}");
            let used = report.as_object().unwrap().iter().find(|(_, v)| v["from"] == from.as_str());
            let Some((flag, given)) = used else {
                // Not the service's: then for weftctl run in its container (the health
                // check, `docker compose exec`), which must know it.
                assert!(
                    weftctl_help.contains(&format!("[env: {name}=")),
                    "{service}: neither {binary} nor weftctl reads {name} (--print-config: {report})"
                );
                continue;
            };
            let seen = match &given["value"] {
                serde_json::Value::Array(list) => list.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","),
                other => other.as_str().unwrap_or_default().to_string(),
            };
            assert_eq!(&seen, value, "{service}: --{flag} from {name}");
        }
        checked_services += 1;
    }
    assert_eq!(
        checked_services, 8,
        "the coordinator and four workers (with the test overlay), and the HA profile's two coordinators and worker"
    );
    // The HA profile: two coordinators on one PostgreSQL, each advertising itself, and a
    // worker given both.
    let services = &config["services"];
    let env =
        |service: &str, name: &str| services[service]["environment"][name].as_str().unwrap_or_default().to_string();
    for service in ["coordinator-ha-1", "coordinator-ha-2"] {
        assert!(env(service, "WEFT_STORE").starts_with("postgres://weft:"), "{service}");
        assert!(env(service, "WEFT_STORE").ends_with("@postgres:5432/weft"), "{service}");
        assert_eq!(env(service, "WEFT_ADVERTISE"), format!("{service}:7070"));
        assert_eq!(services[service]["profiles"][0], "ha", "{service} only with --profile ha");
        assert!(env("certs", "WEFT_CERT_HOSTS").contains(service), "{service} is in the coordinator's certificate");
    }
    assert_eq!(env("worker-ha", "WEFT_COORDINATOR"), "https://coordinator-ha-1:7070,https://coordinator-ha-2:7070");
    assert_eq!(services["postgres"]["profiles"][0], "ha");

    // weftctl's command lines: each parses (clap stops at --help only once the flags before
    // it are known). The certs step's lines are those of docker-compose.yml's `certs`.
    let healthcheck: Vec<String> = config["services"]["coordinator"]["healthcheck"]["test"]
        .as_array()
        .expect("the coordinator's health check")
        .iter()
        .skip(1)
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let certs_step = ["admin", "init-certs", "/pki", "--if-missing", "--hosts", "h", "--clients", "worker,weftctl"];
    let token_step = ["admin", "token", "new", "worker", "--roles", "worker"];
    let image_healthcheck = ["health"];
    for line in [
        &healthcheck[1..],
        &certs_step.map(String::from)[..],
        &token_step.map(String::from)[..],
        &image_healthcheck.map(String::from)[..],
    ] {
        let out = std::process::Command::new(bin.join("weftctl")).args(line).arg("--help").output().unwrap();
        assert!(out.status.success(), "weftctl {line:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let compose_text = std::fs::read_to_string(repo_root().join("docker-compose.yml")).unwrap();
    assert!(
        compose_text.contains(
            "weftctl admin init-certs /pki --if-missing --hosts \"$$WEFT_CERT_HOSTS\" --clients worker,weftctl"
        )
    );
    assert!(compose_text.contains("weftctl admin token new \"$$name\" --roles \"$$roles\""));
    let dockerfile = std::fs::read_to_string(repo_root().join("deploy/Dockerfile")).unwrap();
    assert!(dockerfile.contains(r#"HEALTHCHECK --interval=5s --timeout=3s --retries=10 CMD ["weftctl", "health"]"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_deployment_runs_across_containers_through_cuts_pauses_kills_and_partitions() {
    tokio::time::timeout(WHOLE_TEST, compose_deployment()).await.expect("the compose test ends in time");
}

async fn compose_deployment() {
    let bin = weft_e2e::ensure_built();
    let mut build = tokio::process::Command::new(repo_root().join("deploy/build-local-image.sh"));
    build.arg(bin).arg("weft:latest").current_dir(repo_root()).kill_on_drop(true);
    checked("deploy/build-local-image.sh", build).await;

    let proxy = TcpListener::bind("0.0.0.0:0").await.expect("proxy port");
    let (grpc_port, prometheus_port, delay_port) = (free_port(), free_port(), proxy.local_addr().unwrap().port());
    let compose = Compose {
        project: format!("weft-e2e-{}", std::process::id()),
        env: vec![
            ("WEFT_GRPC_PORT".into(), grpc_port.to_string()),
            ("WEFT_PROMETHEUS_PORT".into(), prometheus_port.to_string()),
            ("WEFT_PROMETHEUS_IMAGE".into(), "weft-prometheus:local".into()),
            ("WEFT_DELAY_PORT".into(), delay_port.to_string()),
            ("WEFT_CERT_HOSTS".into(), "localhost,127.0.0.1,coordinator,weft-delay".into()),
        ],
    };
    tokio::spawn(delay_proxy(proxy, ([127, 0, 0, 1], grpc_port).into(), DELAY));
    let began = Instant::now();
    compose.ok(&["up", "-d"]).await;
    eprintln!("compose up (certs, coordinator healthy, 4 workers, prometheus): {:?}", began.elapsed());

    let dir = tempfile::tempdir().unwrap();
    let options = client_options(&compose, dir.path()).await;
    let address = format!("https://localhost:{grpc_port}");
    let client = Client::connect_with(&address, &options).await.expect("connect over mutual TLS");
    let workers = until("four live workers", Duration::from_secs(60), || async {
        let live = live_workers(&client).await;
        (live.len() == 4).then_some(live)
    })
    .await;

    // A business process from the host completes.
    let order = load_spec_file(repo_root().join("examples/order-fulfilment.yaml")).expect("example");
    succeeded(&client, start(&client, &order).await).await;

    // Heartbeat lines in the logs of the coordinator's container.
    let logs = compose.ok(&["logs", "--no-color", "coordinator"]).await;
    let heartbeats = logs.lines().filter(|l| l.contains("weft::heartbeat")).count();
    assert!(heartbeats > 0, "no heartbeat lines in `docker-compose logs coordinator`:\n{logs}");

    // Prometheus (its own container) scrapes the coordinator: a weft metric read back.
    let body = until("Prometheus to have scraped weft_runs_started_total", Duration::from_secs(60), || {
        prometheus_query(prometheus_port, "weft_runs_started_total")
    })
    .await;
    eprintln!("prometheus answers: {body}");
    // And loaded the example alert rules (evaluated once a minute: loaded is what is checked).
    until("Prometheus to have loaded deploy/alerts.yml", Duration::from_secs(30), || async {
        let body = prometheus_get(prometheus_port, "/api/v1/rules").await?;
        (body.contains("WeftCoordinatorDown") && body.contains("WeftAuthFailures")).then_some(())
    })
    .await;

    // Latency: the worker behind the delay proxy serves queue `slow`.
    let direct = round_trip(&client, "default", 9).await;
    let delayed = round_trip(&client, "slow", 9).await;
    let added = delayed.saturating_sub(direct);
    eprintln!("S2 round trip: direct {direct:?}, with {DELAY:?} each way {delayed:?} (+{added:?})");
    assert!(
        added >= DELAY * 2 - Duration::from_millis(20) && added <= DELAY * 2 + Duration::from_millis(100),
        "the round trip rose by {added:?} for {:?} added",
        DELAY * 2
    );

    // A worker added with --scale takes work.
    let known: HashSet<String> = workers.iter().map(|w| w.worker_id.clone()).collect();
    compose.ok(&["up", "-d", "--no-recreate", "--scale", "worker=2"]).await;
    let added_worker = until("the scaled worker to be live", Duration::from_secs(60), || async {
        live_workers(&client).await.into_iter().find(|w| !known.contains(&w.worker_id))
    })
    .await;
    let spread = succeeded(&client, start(&client, &many_tasks("spread", 40, "300ms")).await).await;
    assert!(task_workers(&spread).contains(&added_worker.worker_id), "the added worker took no task");

    cut_and_pause(&compose, &client).await;
    coordinator_kill(&compose, &address, &options).await;
    let client = Client::connect_with(&address, &options).await.expect("connect");
    partition(&compose, &client).await;
}

/// A worker cut off, then one frozen, while each runs an attempt.
async fn cut_and_pause(compose: &Compose, client: &Client) {
    let containers: Vec<String> =
        [compose.containers("worker").await, compose.containers("worker-batch").await].concat();
    for how in ["disconnect", "pause"] {
        // Long enough to outlive the lease: a cut worker finishes it unseen and reports late;
        // a frozen one still runs it when it thaws.
        let sleep = if how == "disconnect" { "7s" } else { "30s" };
        let run =
            start(client, &one_task(&format!("held-{how}"), "sleep", &format!("{{ duration: {sleep} }}"), "default"))
                .await;
        let (holder, _) = running_task(client, run).await;
        // The attempt started no later than now, so a 7 s one has ended by then.
        let attempt_over = tokio::time::Instant::now() + Duration::from_secs(7);
        let status = client.cluster_status().await.expect("status");
        let worker = status.workers.iter().find(|w| w.worker_id == holder).expect("holder").clone();
        let container = container_of(&worker, &containers).to_string();
        let network = compose.network();
        let began = Instant::now();
        match how {
            "disconnect" => docker(&["network", "disconnect", &network, &container]).await,
            _ => docker(&["pause", &container]).await,
        };
        let (moved_to, attempt) = until("the attempt to move", LEASE * 4, || async {
            let run = client.get_run(run).await.ok()?;
            let task = run.workflows.first()?.tasks.first()?.clone();
            (task.attempt >= 2 && task.worker_id != holder && !task.worker_id.is_empty())
                .then_some((task.worker_id, task.attempt))
        })
        .await;
        let moved_after = began.elapsed();
        eprintln!(
            "{how}: the attempt moved to another worker {moved_after:?} after (lease {LEASE:?}), attempt {attempt}"
        );
        // The lease counts from the last heartbeat (every second), which may be up to a
        // second before the cut.
        assert!(moved_after >= LEASE - Duration::from_millis(1500), "moved before the lease ran out: {moved_after:?}");
        assert_ne!(moved_to, holder);
        if how == "disconnect" {
            // Heal the cut once the cut worker has finished its attempt unseen (it cannot be
            // observed: the worker is cut off), so that it reconnects with a late report.
            tokio::time::sleep_until(attempt_over + Duration::from_millis(500)).await;
            docker(&["network", "connect", &network, &container]).await;
        } else {
            docker(&["unpause", &container]).await;
        }
        // Cut: the attempt ended unseen and its late report is refused. Frozen: its
        // heartbeats resume on the same session and the coordinator tells it to stop the
        // attempt it still runs (the worker logs the cancel with this reason).
        let expected = if how == "disconnect" { "stale report refused" } else { "stale attempt: it was re-assigned" };
        let source = if how == "disconnect" { compose.container("coordinator").await } else { container.clone() };
        until(&format!("`{expected}` in the logs"), Duration::from_secs(60), || async {
            let logs = docker_logs(&source).await;
            logs.contains(expected).then_some(())
        })
        .await;
        let back = until("the worker to be live again", Duration::from_secs(60), || async {
            live_workers(client).await.into_iter().find(|w| container_of_opt(w, &container))
        })
        .await;
        eprintln!("{how}: healed, the worker is live again after {:?}", began.elapsed());
        // It takes new work: a spread run reaches it.
        let spread = succeeded(client, start(client, &many_tasks(&format!("after-{how}"), 40, "300ms")).await).await;
        assert!(task_workers(&spread).contains(&back.worker_id), "the healed worker took no task");
        let run = succeeded(client, run).await;
        let history = client.run_history_all(run_id_of(&run), 1000).await.expect("history");
        let results = history.iter().filter(|e| e.kind == pb::EventKind::TaskSucceeded as i32).count();
        assert_eq!(results, 1, "one result recorded: {history:?}");
    }
}

fn container_of_opt(worker: &pb::WorkerStatus, container: &str) -> bool {
    let host = worker.name.rsplit_once('-').map_or(worker.name.as_str(), |(host, _)| host);
    container.starts_with(host)
}

fn run_id_of(run: &pb::Run) -> RunId {
    run.run_id.parse().expect("run id")
}

async fn docker_logs(container: &str) -> String {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["logs", container]).kill_on_drop(true);
    let out = tokio::time::timeout(COMMAND, cmd.output()).await.expect("docker logs in time").expect("docker logs");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `docker kill` of the coordinator with acknowledged runs, then `up -d` on its volume.
async fn coordinator_kill(compose: &Compose, address: &str, options: &ConnectOptions) {
    let client = Client::connect_with(address, options).await.expect("connect");
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        acknowledged.push(start(&client, &many_tasks(&format!("acked-{i}"), 3, "500ms")).await);
    }
    let coordinator = compose.container("coordinator").await;
    let began = Instant::now();
    docker(&["kill", &coordinator]).await;
    compose.ok(&["up", "-d", "coordinator"]).await;
    let client = until("the coordinator to serve again", Duration::from_secs(60), || async {
        let client = Client::connect_with(address, options).await.ok()?;
        (client.health("").await.ok()? == weft_client::ServingStatus::Serving).then_some(client)
    })
    .await;
    eprintln!("coordinator container killed and up again, serving after {:?}", began.elapsed());
    for run in acknowledged {
        succeeded(&client, run).await;
    }
}

/// The coordinator cut off from every worker for longer than the lease, then healed.
async fn partition(compose: &Compose, client: &Client) {
    let mut runs = Vec::new();
    for i in 0..10 {
        runs.push(start(client, &many_tasks(&format!("partitioned-{i}"), 4, "2s")).await);
    }
    running_task_any(client, &runs).await;
    let coordinator = compose.container("coordinator").await;
    let network = compose.network();
    let began = Instant::now();
    docker(&["network", "disconnect", &network, &coordinator]).await;
    // The fault itself: a partition that outlasts the lease.
    tokio::time::sleep(LEASE + Duration::from_secs(3)).await;
    docker(&["network", "connect", "--alias", "coordinator", &network, &coordinator]).await;
    for run in &runs {
        let ended = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                if let Ok(r) = client.wait_run(*run).await {
                    return r;
                }
                // Reconnecting to the healed coordinator: nothing to await but a retry.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .expect("the run ends after the partition heals");
        assert_eq!(ended.status, pb::RunStatus::Succeeded as i32, "{ended:?}");
        let history = client.run_history_all(*run, 1000).await.expect("history");
        let mut results: HashMap<String, usize> = HashMap::new();
        for e in history.iter().filter(|e| e.kind == pb::EventKind::TaskSucceeded as i32) {
            *results.entry(e.task.clone()).or_default() += 1;
        }
        assert!(results.len() == 4 && results.values().all(|&n| n == 1), "each result once: {results:?}");
    }
    eprintln!(
        "partition of {:?} healed: all {} runs finished {:?} after it began",
        LEASE + Duration::from_secs(3),
        runs.len(),
        began.elapsed()
    );
}

async fn running_task_any(client: &Client, runs: &[RunId]) {
    until("a task of the partitioned runs to run", Duration::from_secs(60), || async {
        for run in runs {
            let run = client.get_run(*run).await.ok()?;
            if run.workflows.iter().flat_map(|w| &w.tasks).any(|t| t.state == pb::TaskState::Running as i32) {
                return Some(());
            }
        }
        None
    })
    .await
}

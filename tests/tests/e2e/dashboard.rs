//! The web dashboard in a real browser: Debian's Chromium, headless, driven through its
//! chromedriver over WebDriver, against a real cluster. Nothing is reloaded after the first
//! visit of a page: what changes must arrive through the page's live event stream.
//! Screenshots go to `target/dashboard/` (overview, a run, a worker).
use crate::support::{Tokens, spec};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;
use tokio::io::AsyncBufReadExt;
use weft_client::{RunSource, StartOptions};
use weft_e2e::{Cluster, WAIT, WorkerSpec, repo_root};

/// chromedriver on a free port, killed (by pid, through tokio) when dropped.
struct Driver {
    _child: tokio::process::Child,
    url: String,
}

async fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let program = std::env::var("WEFT_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let mut child = tokio::process::Command::new(&program)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program} (apt-get install chromium chromium-driver): {e}"));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("chromedriver's output") {
            if line.contains("started successfully") {
                return;
            }
        }
        panic!("chromedriver exited before it was ready");
    })
    .await
    .expect("chromedriver ready in time");
    Driver { _child: child, url: format!("http://127.0.0.1:{port}") }
}

/// Starts `yaml` as an inline run and opens its page in the browser; returns its id.
async fn start_and_open(client: &weft_client::Client, page: &WebDriver, http: &str, yaml: &str) -> weft_client::RunId {
    let started = client.start_run(RunSource::Inline(&spec(yaml)), StartOptions::default()).await.expect("start");
    page.goto(&format!("{http}/#/runs/{}", started.run_id)).await.expect("open the run");
    started.run_id
}

async fn browser(driver: &Driver) -> WebDriver {
    // The WebDriver client's reqwest may have been built without a provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = DesiredCapabilities::chrome();
    if let Ok(binary) = std::env::var("WEFT_CHROMIUM") {
        caps.set_binary(&binary).unwrap();
    } else if std::path::Path::new("/usr/bin/chromium").exists() {
        caps.set_binary("/usr/bin/chromium").unwrap();
    }
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
    {
        caps.add_arg(arg).unwrap();
    }
    WebDriver::new(&driver.url, caps).await.expect("a browser session")
}

/// Polls `check` in the page (a script returning a value) until it returns true.
async fn until(page: &WebDriver, what: &str, script: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = page.execute(script, vec![]).await.expect("script runs").json().clone();
        if value == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?} (last: {value})");
        // The page updates on its own; look again shortly.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn artifacts() -> PathBuf {
    let dir = repo_root().join("target/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_workers_a_live_dag_errors_and_a_dead_worker_in_a_real_browser() {
    let mut cluster = Cluster::start(&["--heartbeat-interval", "200ms", "--lease-timeout", "1s"]).await;
    cluster.add_worker(WorkerSpec { slots: 2, extra: &["--allow-shell"], ..Default::default() }).await;
    cluster.add_worker(WorkerSpec { slots: 2, ..Default::default() }).await;
    let http = format!("http://{}", cluster.metrics.clone().expect("the HTTP port"));
    let driver = chromedriver().await;
    let page = browser(&driver).await;
    let shots = artifacts();

    // Overview: both workers, live.
    page.goto(&format!("{http}/")).await.expect("open the overview");
    until(
        &page,
        "two live workers listed",
        "return document.querySelectorAll('tr.worker[data-liveness=live]').length === 2",
    )
    .await;
    page.screenshot(&shots.join("overview.png")).await.expect("screenshot");

    // A process whose DAG appears, then turns succeeded without a reload. Its first step
    // sleeps 3 s so that the page, opened on a busy machine, still finds it running.
    let client = cluster.client().await;
    let yaml = "name: dashboard-demo\nworkflows:\n  - name: shipping\n    steps:\n      - { name: reserve, kind: sleep, params: { duration: 3s } }\n      - { name: pack, kind: sleep, params: { duration: 300ms } }\n      - { name: ship, kind: noop }\n  - name: billing\n    tasks:\n      - { name: invoice, kind: sleep, params: { duration: 600ms } }\n      - { name: charge, kind: noop, depends_on: [invoice] }\n      - { name: receipt, kind: noop, depends_on: [invoice] }\n";
    let started = start_and_open(&client, &page, &http, yaml).await;
    until(&page, "the DAG's six nodes", "return document.querySelectorAll('#dag .node').length === 6").await;
    let first: serde_json::Value = page
        .execute("return [...document.querySelectorAll('#dag .node')].map(n => n.dataset.state)", vec![])
        .await
        .unwrap()
        .json()
        .clone();
    assert!(
        first.as_array().unwrap().iter().any(|s| s != "succeeded"),
        "the run was still going when its page opened: {first}"
    );
    let edges: serde_json::Value =
        page.execute("return document.querySelectorAll('#dag .edge').length", vec![]).await.unwrap().json().clone();
    assert_eq!(edges, 4, "chain shipping (2 edges) and billing's two depends_on");
    until(
        &page,
        "every node succeeded without a reload",
        "return [...document.querySelectorAll('#dag .node')].every(n => n.dataset.state === 'succeeded') \
         && document.getElementById('run-status').dataset.status === 'succeeded'",
    )
    .await;
    page.screenshot(&shots.join("run.png")).await.expect("screenshot");
    let history: serde_json::Value =
        page.execute("return document.querySelectorAll('#history tr').length", vec![]).await.unwrap().json().clone();
    assert!(history.as_u64().unwrap() > 10, "the history is listed: {history}");

    // A failed task shows its error.
    let yaml = "name: dashboard-fails\nsteps:\n  - name: boom\n    kind: shell\n    retry: { max_attempts: 1 }\n    params: { argv: [sh, -c, 'echo the warehouse is on fire >&2; exit 3'] }\n";
    start_and_open(&client, &page, &http, yaml).await;
    until(
        &page,
        "the failed task's error",
        "const e = document.querySelector('tr.task[data-task=\"dashboard-fails/boom\"] .task-error'); \
         return !!e && e.textContent.includes('the warehouse is on fire')",
    )
    .await;
    let state: serde_json::Value =
        page.execute("return document.querySelector('#dag .node').dataset.state", vec![]).await.unwrap().json().clone();
    assert_eq!(state, "failed");

    // Unservable work is said out loud; cancelling it from the page works.
    let yaml = "name: dashboard-stuck\nsteps:\n  - { name: upload, kind: http, queue: nowhere, params: { url: 'http://127.0.0.1:9/' } }\n";
    start_and_open(&client, &page, &http, yaml).await;
    until(
        &page,
        "the unservable note",
        "const n = document.getElementById('unservable'); \
         return !!n && n.textContent.includes('no live worker serves kind http on queue nowhere')",
    )
    .await;
    page.find(By::Id("cancel")).await.expect("a cancel button").click().await.expect("click");
    page.accept_alert().await.expect("confirm the cancel");
    until(&page, "the run cancelled", "return document.getElementById('run-status').dataset.status === 'cancelled'")
        .await;

    // A run predicted to miss its deadline says so under its deadline (20 s of sleep, 10 s
    // to do it in).
    let hurried = start_and_open(
        &client,
        &page,
        &http,
        "name: dashboard-hurried\ndeadline: 10s\nsteps:\n  - { name: nap, kind: sleep, params: { duration: 20s } }\n",
    )
    .await;
    until(
        &page,
        "the deadline at risk",
        "const d = document.getElementById('deadline'); return !!d && /at risk: predicted \\d/.test(d.textContent)",
    )
    .await;
    client.cancel_run(hurried, "done looking").await.expect("cancel");

    // Tasks waiting at a full limit say so in their rows, and the overview lists the limit.
    let yaml = "name: dashboard-limited\nlimits: { one-at-a-time: { concurrency: 1 } }\ntasks:\n  - { name: first, kind: sleep, uses: [one-at-a-time], params: { duration: 1h } }\n  - { name: second, kind: sleep, uses: [one-at-a-time], params: { duration: 1h } }\n";
    let limited = start_and_open(&client, &page, &http, yaml).await;
    until(
        &page,
        "a task waiting at the limit",
        "return [...document.querySelectorAll('.task-error')].some(e => e.textContent.includes('waiting: limit one-at-a-time 1/1'))",
    )
    .await;
    page.goto(&format!("{http}/")).await.expect("open the overview");
    until(
        &page,
        "the limit on the overview",
        "return [...document.querySelectorAll('.at-limit')].some(e => e.textContent.includes('1 task(s) of dashboard-limited at limit one-at-a-time 1/1'))",
    )
    .await;
    client.cancel_run(limited, "done looking").await.expect("cancel");

    // A worker's page: its heartbeats charted.
    let worker_id = cluster.worker_id(1);
    page.goto(&format!("{http}/#/workers/{worker_id}")).await.expect("open a worker");
    until(&page, "the heartbeat chart", "return document.querySelectorAll('svg.chart polyline').length === 3").await;
    page.screenshot(&shots.join("worker.png")).await.expect("screenshot");

    // A SIGKILLed worker turns dead on the open overview, without a reload.
    page.goto(&format!("{http}/")).await.expect("open the overview");
    until(&page, "two live workers", "return document.querySelectorAll('tr.worker[data-liveness=live]').length === 2")
        .await;
    cluster.workers[1].signal(Signal::SIGKILL);
    until(
        &page,
        "the killed worker shown dead",
        "const w = document.querySelector('tr.worker[data-worker=\"worker-1\"]'); return !!w && w.dataset.liveness === 'dead'",
    )
    .await;
    let recent: serde_json::Value =
        page.execute("return document.getElementById('recent').textContent", vec![]).await.unwrap().json().clone();
    assert!(recent.as_str().unwrap().contains("worker worker-1 dead"), "the liveness change is listed: {recent}");
    page.screenshot(&shots.join("overview-dead-worker.png")).await.expect("screenshot");

    // A phone-sized screen: the page fits its width (wide tables scroll inside their box).
    page.set_window_rect(0, 0, 390, 844).await.expect("resize");
    page.goto(&format!("{http}/#/runs/{}", started)).await.expect("open the run");
    until(&page, "the run on a small screen", "return document.querySelectorAll('#dag .node').length === 6").await;
    until(&page, "no sideways scrolling", "return document.documentElement.scrollWidth <= window.innerWidth + 1").await;
    page.screenshot(&shots.join("run-phone.png")).await.expect("screenshot");
    page.quit().await.expect("close the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_the_api_wants_one_and_shows_actions_by_role() {
    let tokens = Tokens::make(&[("viewer", "read"), ("operator", "admin"), ("w", "worker")]).await;
    let (read, admin) = (tokens.of("viewer").to_string(), tokens.of("operator").to_string());
    let mut cluster = Cluster::start(&["--tokens", &tokens.file]).await;
    let http = format!("http://{}", cluster.metrics.clone().expect("the HTTP port"));
    let get = |path: &str, token: Option<&str>| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("{http}{path}")]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        String::from_utf8(cmd.output().expect("curl").stdout).unwrap()
    };
    assert_eq!(get("/api/cluster", None), "401", "no token");
    assert_eq!(get("/api/cluster", Some("not-a-token")), "401");
    assert_eq!(get("/api/cluster", Some(&read)), "200");
    assert_eq!(get("/", None), "200", "the page itself holds no data");
    assert_eq!(get("/metrics", None), "200", "as before");
    let post = |path: &str, token: &str| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("{http}{path}"))
            .output()
            .expect("curl");
        String::from_utf8(out.stdout).unwrap()
    };
    let run = "01a23590-18e7-7297-9c41-4aea1b881712";
    assert_eq!(post(&format!("/api/runs/{run}/cancel"), &read), "403", "read cannot cancel");
    assert_eq!(post(&format!("/api/runs/{run}/cancel"), &admin), "404", "admin may: there is no such run");

    // In the browser: a token is asked for, and actions follow the roles.
    let worker_token = tokens.file_of("w");
    cluster.add_worker(WorkerSpec { extra: &["--token-file", &worker_token], ..Default::default() }).await;
    let driver = chromedriver().await;
    let page = browser(&driver).await;
    page.goto(&format!("{http}/")).await.unwrap();
    until(&page, "the token form", "return !document.getElementById('login').hidden").await;
    page.find(By::Id("token")).await.unwrap().send_keys(&read).await.unwrap();
    page.find(By::Css("#login button")).await.unwrap().click().await.unwrap();
    until(&page, "the overview with the worker", "return document.querySelectorAll('tr.worker').length === 1").await;
    let who: serde_json::Value =
        page.execute("return document.getElementById('who').textContent", vec![]).await.unwrap().json().clone();
    assert!(who.as_str().unwrap().starts_with("viewer (read)"), "{who}");
    let worker_id = cluster.worker_id(0);
    page.goto(&format!("{http}/#/workers/{worker_id}")).await.unwrap();
    until(&page, "the worker page", "return !!document.getElementById('liveness')").await;
    let drain: serde_json::Value =
        page.execute("return !!document.getElementById('drain')", vec![]).await.unwrap().json().clone();
    assert_eq!(drain, false, "a read token sees no drain button");
    page.execute("localStorage.setItem('weft-token', arguments[0]); location.reload()", vec![serde_json::json!(admin)])
        .await
        .unwrap();
    until(&page, "the drain button for admin", "return !!document.getElementById('drain')").await;
    page.find(By::Id("drain")).await.unwrap().click().await.unwrap();
    page.accept_alert().await.expect("confirm the drain");
    until(&page, "the worker draining", "return document.getElementById('liveness').textContent.includes('draining')")
        .await;
    page.quit().await.unwrap();
}

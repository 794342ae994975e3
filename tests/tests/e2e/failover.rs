//! High availability on PostgreSQL with the real binaries: two coordinators on one database
//! (one leads, one stands by), workers and clients given both addresses. The leader is
//! killed with SIGKILL under load, paused past its lease with SIGSTOP, and PostgreSQL itself
//! is restarted in the middle of a run.
use crate::support::spec;
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use weft_client::{Client, RunId, RunSource, StartOptions, pb};
use weft_e2e::{Proc, WAIT, await_line, binary};
use weft_store_postgres::testing::TestPg;

/// Coordinators sharing one PostgreSQL database, and workers given all their addresses.
struct Ha {
    // Dropped in this order: workers and coordinators (killed by pid) before the database.
    workers: Vec<Proc>,
    coordinators: Vec<Option<Proc>>,
    pg: TestPg,
    url: String,
    dir: tempfile::TempDir,
    addrs: Vec<String>,
    starts: u32,
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

impl Ha {
    /// `n` coordinator addresses on `pg`; none started yet.
    fn new(pg: TestPg, n: usize) -> Ha {
        let url = pg.fresh_database().secret().to_string();
        let dir = tempfile::Builder::new().prefix("weft-ha-").tempdir().expect("temp dir");
        let addrs = (0..n).map(|_| free_addr()).collect();
        Ha { pg, url, dir, addrs, coordinators: (0..n).map(|_| None).collect(), workers: Vec::new(), starts: 0 }
    }

    /// Starts coordinator `i` and waits until it says whether it leads or stands by.
    async fn start(&mut self, i: usize, expect: &str) {
        self.starts += 1;
        let log_dir = self.dir.path().join(format!("c{i}-{}", self.starts));
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let mut args: Vec<String> =
            ["--listen", &self.addrs[i], "--metrics-listen", "off", "--store", &self.url, "--log", "info"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        // To measure takeover with another lease than the default (BENCHMARKS.md).
        if let Ok(lease) = std::env::var("WEFT_E2E_LEADER_LEASE")
            && !lease.is_empty()
        {
            args.extend(["--leader-lease".to_string(), lease]);
        }
        let proc = Proc::start(&format!("coordinator-{i}"), &binary("weft-coordinator"), &args, &log_dir).await;
        let mut lines = proc.subscribe();
        self.coordinators[i] = Some(proc);
        // The ready line comes before the election's outcome; wait for it.
        if !self.said(i, expect) {
            await_line(&mut lines, &[expect]).await;
        }
    }

    /// True once coordinator `i`'s log holds `needle`.
    fn said(&self, i: usize, needle: &str) -> bool {
        let proc = self.coordinators[i].as_ref().expect("started");
        std::fs::read_to_string(&proc.log).unwrap_or_default().contains(needle)
    }

    fn coordinator(&self, i: usize) -> &Proc {
        self.coordinators[i].as_ref().expect("started")
    }

    async fn add_worker(&mut self, slots: u32) {
        let n = self.workers.len();
        let args: Vec<String> = vec![
            "--coordinator".into(),
            self.addrs.join(","),
            "--name".into(),
            format!("worker-{n}"),
            "--slots".into(),
            slots.to_string(),
        ];
        let worker = Proc::start(&format!("worker-{n}"), &binary("weft-worker"), &args, self.dir.path()).await;
        self.workers.push(worker);
    }

    async fn client(&self) -> Client {
        Client::connect_leader(&self.addrs, &Default::default(), WAIT).await.expect("a leader")
    }
}

impl Drop for Ha {
    fn drop(&mut self) {
        if std::env::var_os("WEFT_KEEP_TEST_DIR").is_some() {
            let path = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir")).keep();
            eprintln!("kept test directory {}", path.display());
        }
    }
}

fn chain(name: &str, steps: usize, ms: u64) -> weft_client::ProcessSpec {
    let mut yaml = format!("name: {name}\nworkflows:\n  - name: w\n    steps:\n");
    for i in 0..steps {
        yaml.push_str(&format!("      - {{ name: t{i}, kind: sleep, params: {{ duration: {ms}ms }} }}\n"));
    }
    spec(&yaml)
}

/// Starts a run, retrying through a failover with the same idempotency key (and a fresh
/// connection to whoever leads): the run the key names, created once.
async fn start_through_failover(
    client: &mut Client,
    ha_addrs: &[String],
    spec: &weft_client::ProcessSpec,
    key: &str,
) -> RunId {
    let deadline = Instant::now() + WAIT;
    loop {
        let options = StartOptions { idempotency_key: Some(key.to_string()), input: None };
        match client.start_run(RunSource::Inline(spec), options).await {
            Ok(started) => return started.run_id,
            Err(e) if Instant::now() < deadline => {
                eprintln!("start {key}: {e}; finding the leader again");
                if let Ok(c) = Client::connect_leader(ha_addrs, &Default::default(), WAIT).await {
                    *client = c;
                }
            }
            Err(e) => panic!("start {key}: {e}"),
        }
    }
}

/// Every task of the run succeeded, each recorded as succeeded exactly once in its history.
async fn assert_each_result_recorded_once(client: &Client, run: &pb::Run) {
    assert_eq!(run.status, pb::RunStatus::Succeeded as i32, "run {} ended {}: {}", run.run_id, run.status, run.reason);
    let id: RunId = run.run_id.parse().expect("run id");
    let history = client.run_history_all(id, 1000).await.expect("history");
    let mut succeeded: HashMap<String, u32> = HashMap::new();
    for e in history.iter().filter(|e| e.kind == pb::EventKind::TaskSucceeded as i32) {
        *succeeded.entry(e.task.clone()).or_default() += 1;
    }
    for w in &run.workflows {
        for t in &w.tasks {
            assert_eq!(
                succeeded.get(&t.name),
                Some(&1),
                "run {}: task {} succeeded {:?} times",
                run.run_id,
                t.name,
                succeeded.get(&t.name)
            );
        }
    }
}

async fn wait_all(ha: &Ha, ids: &[RunId]) -> Vec<pb::Run> {
    let client = ha.client().await;
    let mut runs = Vec::new();
    for id in ids {
        let run = tokio::time::timeout(WAIT, client.wait_run(*id)).await.expect("run ends in time").expect("wait");
        runs.push(run);
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_load_hands_over_within_the_lease_and_loses_nothing() {
    let mut ha = Ha::new(TestPg::new(), 2);
    ha.start(0, "leading").await;
    ha.start(1, "standing by: the leader is at").await;
    ha.add_worker(4).await;
    ha.add_worker(4).await;
    let job = chain("ha-load", 3, 20);

    // Load: runs started one after another, each acknowledged run remembered.
    let (addrs, job_for_load) = (ha.addrs.clone(), job.clone());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // How many runs the load has had acknowledged so far.
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let mut client = ha.client().await;
    let load = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut n = 0;
        while !*stop_rx.borrow_and_update() {
            acknowledged.push(start_through_failover(&mut client, &addrs, &job_for_load, &format!("load-{n}")).await);
            n += 1;
            count_tx.send_replace(acknowledged.len());
            // A steady stream rather than a burst: about a hundred starts a second.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        acknowledged
    });
    // The leader is under load: a few dozen runs started and acknowledged.
    tokio::time::timeout(WAIT, count_rx.wait_for(|n| *n >= 30)).await.expect("load in time").expect("load runs");

    let mut standby_lines = ha.coordinator(1).subscribe();
    let killed_at = Instant::now();
    ha.coordinator(0).signal(Signal::SIGKILL);
    await_line(&mut standby_lines, &["leading", "epoch"]).await;
    let leading_after = killed_at.elapsed();
    // The first dispatch of the new leader: a task assigned to a worker.
    let client = ha.client().await;
    let probe = client.start_run(RunSource::Inline(&chain("ha-probe", 1, 1)), Default::default()).await.expect("probe");
    let probe_run = tokio::time::timeout(WAIT, client.wait_run(probe.run_id)).await.expect("probe ends").expect("wait");
    let dispatching_after = killed_at.elapsed();
    assert_each_result_recorded_once(&client, &probe_run).await;
    eprintln!(
        "takeover after SIGKILL of the leader: the standby led after {} ms; a new run had finished after {} ms",
        leading_after.as_millis(),
        dispatching_after.as_millis()
    );
    // Correctness, with room for a loaded machine: the standby took over (target 5 s).
    assert!(leading_after < WAIT, "the standby took {leading_after:?}");

    // And goes on through the new leader.
    let before = *count_rx.borrow();
    tokio::time::timeout(WAIT, count_rx.wait_for(|n| *n >= before + 20)).await.expect("load goes on").expect("load");
    stop_tx.send(true).expect("stop load");
    let acknowledged = load.await.expect("load task");
    assert!(acknowledged.len() >= 5, "load ran: {} runs", acknowledged.len());
    for run in wait_all(&ha, &acknowledged).await {
        assert_each_result_recorded_once(&client, &run).await;
    }
    // Nothing acknowledged was lost, and no key made two runs.
    let unique: std::collections::HashSet<_> = acknowledged.iter().collect();
    assert_eq!(unique.len(), acknowledged.len(), "every key named its own run");
    let listed =
        client.list_runs(&weft_client::RunQuery { page_size: Some(1000), ..Default::default() }).await.expect("list");
    let listed_ids: std::collections::HashSet<String> = listed.runs.iter().map(|r| r.run_id.clone()).collect();
    for id in &acknowledged {
        assert!(listed_ids.contains(&id.to_string()), "acknowledged run {id} is in the store");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_past_its_lease_is_fenced_and_steps_down_saying_why() {
    let mut ha = Ha::new(TestPg::new(), 2);
    ha.start(0, "leading").await;
    ha.start(1, "standing by: the leader is at").await;
    ha.add_worker(2).await;
    let client = ha.client().await;
    let before = client.start_run(RunSource::Inline(&chain("before", 2, 10)), Default::default()).await.expect("start");
    client.wait_run(before.run_id).await.expect("first run");

    let mut standby_lines = ha.coordinator(1).subscribe();
    let mut old_lines = ha.coordinator(0).subscribe();
    ha.coordinator(0).signal(Signal::SIGSTOP);
    await_line(&mut standby_lines, &["leading", "epoch=2"]).await;
    // The new leader serves while the old one sleeps.
    let client = ha.client().await;
    let during = client.start_run(RunSource::Inline(&chain("during", 2, 10)), Default::default()).await.expect("start");
    let during_run = client.wait_run(during.run_id).await.expect("run on the new leader");
    assert_each_result_recorded_once(&client, &during_run).await;

    ha.coordinator(0).signal(Signal::SIGCONT);
    let why = await_line(&mut old_lines, &["stepped down to standby"]).await;
    assert!(why.contains("epoch=1"), "{why}");
    assert!(
        why.contains("deposed") || why.contains("write refused") || why.contains("could not renew"),
        "the old leader says why: {why}"
    );
    // It is a standby now: NOT_SERVING, and a call is refused naming the new leader.
    let old = Client::connect(&ha.addrs[0]).await.expect("connect to the old leader");
    let health = old.health("weft.v1.WorkflowService").await.expect("health");
    assert_eq!(health, weft_client::ServingStatus::NotServing);
    match old.start_run(RunSource::Inline(&chain("refused", 1, 1)), Default::default()).await {
        Err(weft_client::Error::Unavailable { message }) => {
            assert!(message.contains(&format!("the leader is at {}", ha.addrs[1])), "{message}")
        }
        other => panic!("a deposed leader must refuse, got {other:?}"),
    }
    // What the new leader stored stands.
    let after = client.get_run(during.run_id).await.expect("get");
    assert_eq!(after.status, pb::RunStatus::Succeeded as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_run_acknowledges_nothing_unstored_and_the_run_finishes() {
    // A server of our own: this test stops and starts it.
    let mut ha = Ha::new(TestPg::own(), 1);
    ha.start(0, "leading").await;
    ha.add_worker(2).await;
    let client = ha.client().await;
    let run = client
        .start_run(RunSource::Inline(&chain("through-restart", 8, 250)), Default::default())
        .await
        .expect("start");
    let mut events = client.watch_run(run.run_id, 0).await.expect("watch");
    // Once the first task has finished, the database goes away for a moment.
    loop {
        let e = tokio::time::timeout(WAIT, events.next()).await.expect("event").expect("stream").expect("event");
        if e.kind == pb::EventKind::TaskSucceeded as i32 {
            break;
        }
    }
    let mut lines = ha.coordinator(0).subscribe();
    let server = ha.pg.server.as_mut().expect("our own server");
    server.stop_fast().expect("stop PostgreSQL");
    await_line(&mut lines, &["stepped down to standby"]).await;
    // While it is down nothing is acknowledged: a start is refused, not answered.
    let refused = client
        .start_run(
            RunSource::Inline(&chain("during-outage", 1, 1)),
            StartOptions { idempotency_key: Some("outage".into()), input: None },
        )
        .await;
    assert!(refused.is_err(), "a start while the store is down must not be acknowledged: {refused:?}");
    ha.pg.server.as_mut().expect("server").start_again().expect("start PostgreSQL again");
    await_line(&mut lines, &["leading", "epoch=2"]).await;

    let client = ha.client().await;
    let finished = tokio::time::timeout(WAIT, client.wait_run(run.run_id)).await.expect("run ends").expect("wait");
    assert_each_result_recorded_once(&client, &finished).await;
    // The refused start left nothing behind.
    let listed = client.list_runs(&Default::default()).await.expect("list");
    assert_eq!(
        listed.runs.len(),
        1,
        "only the acknowledged run: {:?}",
        listed.runs.iter().map(|r| &r.process_name).collect::<Vec<_>>()
    );
}

/// Runs the coordinator with `args` until it exits (it must, refusing to start); returns
/// its exit code and stderr.
async fn refused_start(args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(binary("weft-coordinator"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the coordinator exits in time")
    .expect("run the coordinator");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_an_unreachable_server_or_a_newer_schema_stop_the_coordinator_with_a_clear_error() {
    let (code, stderr) = refused_start(&["--store", "mysql://db/weft"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--store: must start with postgres://"), "{stderr}");

    let port = free_addr().rsplit_once(':').map(|(_, p)| p.to_string()).expect("port");
    let nowhere = format!("postgres://weft:hunter2@127.0.0.1:{port}/weft");
    let (code, stderr) = refused_start(&["--store", &nowhere]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect to PostgreSQL at postgres://weft@127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password is never printed: {stderr}");

    // A database a newer weft wrote: refused, and left as it was.
    let mut ha = Ha::new(TestPg::new(), 1);
    ha.start(0, "leading").await;
    drop(ha.coordinators[0].take());
    let url_text = ha.url.clone();
    let url = weft_store_postgres::PgUrl::parse(&url_text).expect("url");
    TestPg::execute(&url, "UPDATE weft_schema SET version = version + 1");
    let (code, stderr) = refused_start(&["--store", &url_text]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let newer = weft_store_postgres::SCHEMA_VERSION + 1;
    assert!(stderr.contains(&format!("has schema version {newer}")), "{stderr}");
    assert!(TestPg::query_one_text(&url, "SELECT version::text FROM weft_schema") == newer.to_string(), "not reset");
}

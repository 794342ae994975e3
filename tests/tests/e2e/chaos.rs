//! Chaos: workers die (SIGKILL) or hang (SIGSTOP) while runs progress. Lost attempts are
//! re-run elsewhere, every run still succeeds, every task's result is recorded exactly once,
//! no task starts before its dependencies, and a late report of a lost attempt is refused.
use crate::support::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use weft_client::pb;
use weft_client::{Client, RunId, RunSource, StartOptions, Subscription};
use weft_e2e::{Cluster, WorkerSpec, metric_value};

/// Fast failure detection: suspect after 200 ms of silence, dead (attempts re-queued) after
/// 500 ms. JSON logs, so that the tests read log fields exactly.
const COORDINATOR: &[&str] = &["--heartbeat-interval", "100ms", "--lease-timeout", "500ms", "--log-format", "json"];

/// Every lost attempt counts toward `max_attempts`: leave room for many kills.
const RETRY: &str = "default_retry: { max_attempts: 20, initial_backoff: 10ms }";

const STALE_REPORTS: &str = r#"weft_worker_reports_total{outcome="stale"}"#;

/// The seed used when `WEFT_CHAOS_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5eed_c4a0_5001;

/// xorshift64* seeded through splitmix64: small, and the same choices for the same seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn chaos_seed() -> u64 {
    let Ok(text) = std::env::var("WEFT_CHAOS_SEED") else { return DEFAULT_SEED };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("WEFT_CHAOS_SEED={text}: {e}"))
}

/// A task line for a YAML flow list: a no-op (one in three) or a 5–30 ms sleep.
fn task(rng: &mut Rng, name: &str, depends_on: &str) -> String {
    let deps = if depends_on.is_empty() { String::new() } else { format!(", depends_on: [{depends_on}]") };
    if rng.range(0, 2) == 0 {
        format!("      - {{ name: {name}, kind: noop{deps} }}\n")
    } else {
        let ms = rng.range(5, 30);
        format!("      - {{ name: {name}, kind: sleep, params: {{ duration: {ms}ms }}{deps} }}\n")
    }
}

/// One process: one or two chains of 10 steps beside a fan-out/fan-in of 8–24 parts.
fn chaos_spec(rng: &mut Rng, n: usize) -> String {
    let mut yaml = format!("name: chaos-{n}\n{RETRY}\nworkflows:\n");
    for c in 0..rng.range(1, 2) {
        yaml += &format!("  - name: chain-{c}\n    steps:\n");
        for s in 0..10 {
            yaml += &task(rng, &format!("s{s}"), "");
        }
    }
    let parts = rng.range(8, 24);
    yaml += "  - name: fan\n    tasks:\n";
    yaml += &task(rng, "split", "");
    for p in 0..parts {
        yaml += &task(rng, &format!("p{p}"), "split");
    }
    let all: Vec<String> = (0..parts).map(|p| format!("p{p}")).collect();
    yaml += &task(rng, "join", &all.join(", "));
    yaml
}

/// The sentinel: its 2 s sleep is surely still running when the driver
/// kills the worker that holds it right after seeing it start.
fn sentinel_spec() -> String {
    format!(
        "name: sentinel\n{RETRY}\nworkflows:\n  - name: hold\n    steps:\n      \
         - {{ name: long, kind: sleep, params: {{ duration: 2s }} }}\n      - {{ name: after, kind: noop }}\n"
    )
}

/// Reads `sub` until an event matches `pred`.
async fn next_event(
    sub: &mut Subscription<pb::RunEvent>,
    what: &str,
    pred: impl Fn(&pb::RunEvent) -> bool,
) -> pb::RunEvent {
    let found = tokio::time::timeout(weft_e2e::WAIT, async {
        while let Some(e) = sub.next().await {
            let e = e.expect("event");
            if pred(&e) {
                return e;
            }
        }
        panic!("the event stream ended before {what}");
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} within {:?}", weft_e2e::WAIT))
}

fn is(e: &pb::RunEvent, task: &str, kind: pb::EventKind) -> bool {
    e.task == task && e.kind == kind as i32
}

/// What one finished run's history shows.
#[derive(Default)]
struct Checked {
    tasks: usize,
    assigned: usize,
    /// For each attempt lost with a dead worker, that worker's id.
    lost_on: Vec<String>,
}

/// Checks a run: it succeeded; every task has exactly one TASK_SUCCEEDED, of the attempt and
/// worker GetRun shows; no task was assigned (event order) or started (GetRun times) before
/// each of its dependencies finished; the history has no gaps.
async fn check_run(client: &Client, run_id: RunId) -> Checked {
    let run = wait(client, run_id).await;
    assert_succeeded(&run);
    let history = client.run_history_all(run_id, 0).await.expect("history");
    assert!(history.windows(2).all(|w| w[1].seq == w[0].seq + 1), "run {run_id}: history has gaps");
    let tasks = tasks(&run);
    let mut succeeded: HashMap<String, Vec<&pb::RunEvent>> = HashMap::new();
    let mut assigned: HashMap<String, Vec<&pb::RunEvent>> = HashMap::new();
    let mut lost_on = Vec::new();
    for e in &history {
        let key = format!("{}/{}", e.workflow, e.task);
        match pb::EventKind::try_from(e.kind) {
            Ok(pb::EventKind::TaskSucceeded) => succeeded.entry(key).or_default().push(e),
            Ok(pb::EventKind::TaskAssigned) => assigned.entry(key).or_default().push(e),
            Ok(pb::EventKind::TaskRetrying) if e.detail.contains("attempt lost") => {
                assert!(e.detail.contains(&e.worker_id), "run {run_id}: {key}: {e:?}");
                lost_on.push(e.worker_id.clone());
            }
            Ok(pb::EventKind::TaskFailed) => panic!("run {run_id}: {key} failed: {}", e.detail),
            _ => {}
        }
    }
    for (key, t) in &tasks {
        let done = succeeded.get(key).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(done.len(), 1, "run {run_id}: {key}'s result must be recorded exactly once: {done:?}");
        assert_eq!((done[0].attempt, &done[0].worker_id), (t.attempt, &t.worker_id), "run {run_id}: {key}");
        let tries = &assigned[key];
        assert_eq!(tries.last().map(|a| a.attempt), Some(t.attempt), "run {run_id}: {key}'s last assignment");
        for dep in &t.depends_on {
            let dep_key = format!("{}/{dep}", t.workflow);
            let d = &tasks[&dep_key];
            assert!(t.started_at_ms >= d.finished_at_ms, "run {run_id}: {key} started before {dep} finished");
            let dep_done = succeeded[&dep_key][0].seq;
            assert!(tries.iter().all(|a| a.seq > dep_done), "run {run_id}: {key} was assigned before {dep} finished");
        }
    }
    let assigned = assigned.values().map(Vec::len).sum();
    Checked { tasks: tasks.len(), assigned, lost_on }
}

/// What the coordinator's log has said so far about workers.
#[derive(Clone, Default)]
struct Deaths {
    /// Ids of the workers it declared dead.
    dead: HashSet<String>,
    /// Log lines the follower missed (it fell behind): then `dead` may be incomplete.
    missed: u64,
}

/// Follows the coordinator's JSON log for "worker liveness" lines that declare a worker dead.
fn follow_deaths(mut log: broadcast::Receiver<String>) -> watch::Receiver<Deaths> {
    let (tx, rx) = watch::channel(Deaths::default());
    tokio::spawn(async move {
        loop {
            match log.recv().await {
                Ok(line) => {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                    if v["message"] == "worker liveness" && v["liveness"] == "Dead" {
                        let id = v["worker_id"].as_str().unwrap_or_default().to_string();
                        tx.send_modify(|d| {
                            d.dead.insert(id);
                        });
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => tx.send_modify(|d| d.missed += n),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_at_random_while_runs_progress_every_run_finishes_once() {
    const UP_FRONT: usize = 32;
    const KILLS: usize = 12;
    const RUNS_PER_KILL: usize = 4;
    let seed = chaos_seed();
    eprintln!("chaos seed {seed:#x} (WEFT_CHAOS_SEED={seed:#x} makes the same choices)");
    let mut rng = Rng::new(seed);
    let mut cluster = Cluster::start(COORDINATOR).await;
    let mut deaths = follow_deaths(cluster.coordinator.subscribe());
    let mut live = Vec::new();
    for _ in 0..3 {
        let slots = rng.range(2, 4) as u32;
        live.push(cluster.add_worker(WorkerSpec { slots, ..Default::default() }).await);
    }
    let client = cluster.client().await;
    let began = Instant::now();
    let start = |yaml: String| {
        let client = client.clone();
        async move {
            let spec = spec(&yaml);
            client.start_run(RunSource::Inline(&spec), StartOptions::default()).await.expect("start run").run_id
        }
    };

    // A backlog up front, then more runs before each kill, so that kills land on busy workers.
    let sentinel = start(sentinel_spec()).await;
    let mut sentinel_events = client.watch_run(sentinel, 0).await.expect("watch the sentinel");
    let mut runs = vec![sentinel];
    for _ in 0..UP_FRONT {
        let n = runs.len();
        runs.push(start(chaos_spec(&mut rng, n)).await);
    }
    let mut killed = Vec::new();
    for kill in 0..KILLS {
        for _ in 0..RUNS_PER_KILL {
            let n = runs.len();
            runs.push(start(chaos_spec(&mut rng, n)).await);
        }
        let victim = if kill == 0 {
            // The first kill is aimed: at the worker holding the sentinel's 2 s attempt, as
            // soon as it runs, so that at least one kill surely hits a running attempt.
            let holder = next_event(&mut sentinel_events, "the sentinel's assignment", |e| {
                is(e, "long", pb::EventKind::TaskAssigned)
            })
            .await
            .worker_id;
            next_event(&mut sentinel_events, "the sentinel running", |e| is(e, "long", pb::EventKind::TaskRunning))
                .await;
            live.iter().position(|&i| cluster.worker_id(i) == holder).expect("the sentinel's worker is live")
        } else {
            // The chaos itself: a random pause, then a random worker.
            tokio::time::sleep(Duration::from_millis(rng.range(150, 500))).await;
            rng.range(0, live.len() as u64 - 1) as usize
        };
        let index = live[victim];
        killed.push(cluster.worker_id(index));
        cluster.kill_worker(index).await;
        let slots = rng.range(2, 4) as u32;
        live[victim] = cluster.add_worker(WorkerSpec { slots, ..Default::default() }).await;
    }
    let kills_done = began.elapsed();

    let mut total = Checked::default();
    let mut lost_on: HashMap<String, usize> = HashMap::new();
    for &run_id in &runs {
        let c = check_run(&client, run_id).await;
        total.tasks += c.tasks;
        total.assigned += c.assigned;
        for worker in c.lost_on {
            *lost_on.entry(worker).or_default() += 1;
        }
    }
    let lost: usize = killed.iter().filter_map(|id| lost_on.get(id)).sum();
    let kills_that_hit = killed.iter().filter(|id| lost_on.contains_key(*id)).count();
    // Only a starved machine (a live worker silent for the whole lease) loses attempts elsewhere.
    let lost_elsewhere: usize = lost_on.iter().filter(|(id, _)| !killed.contains(id)).map(|(_, n)| n).sum();
    let re_executions = total.assigned - total.tasks;
    let stale = metric_value(&cluster.metrics_text().await, STALE_REPORTS).unwrap_or(0.0);
    eprintln!(
        "chaos seed {seed:#x}: {} kills ({kills_that_hit} of them lost attempts), {} runs, {} tasks, \
         {re_executions} re-executions ({lost} attempts lost with killed workers, {lost_elsewhere} with others), {stale} stale reports refused; \
         kills done after {kills_done:.1?}, everything checked after {:.1?}",
        killed.len(),
        runs.len(),
        total.tasks,
        began.elapsed()
    );
    let sentinel_tries = client
        .run_history_all(sentinel, 0)
        .await
        .expect("sentinel history")
        .into_iter()
        .filter(|e| is(e, "long", pb::EventKind::TaskAssigned))
        .count();
    assert!(sentinel_tries >= 2, "the sentinel's attempt on the killed worker was re-run ({sentinel_tries} tries)");
    assert!(lost_on.contains_key(&killed[0]), "the aimed kill lost the sentinel's attempt: {lost_on:?}");
    assert!(re_executions >= 1, "at least the sentinel's attempt was re-executed");
    // Every killed worker was declared dead.
    let declared = deaths.wait_for(|d| d.missed > 0 || killed.iter().all(|id| d.dead.contains(id)));
    let d = tokio::time::timeout(weft_e2e::WAIT, declared).await.ok().map(|d| d.expect("log follower").clone());
    let d = d.unwrap_or_else(|| deaths.borrow().clone());
    assert_eq!(d.missed, 0, "the test fell behind the coordinator's log");
    let undeclared: Vec<_> = killed.iter().filter(|id| !d.dead.contains(*id)).collect();
    assert!(undeclared.is_empty(), "killed workers never declared dead: {undeclared:?}");
}

const HUNG: &str = r#"
name: hung
steps:
  - { name: slow, kind: sleep, params: { duration: 1500ms } }
  - { name: after, kind: noop }
"#;

/// A predicate on one JSON log line.
type LinePred<'a> = &'a dyn Fn(&Value) -> bool;

/// Waits until, for each `(description, predicate)`, a JSON log line matching it arrives on
/// `rx`, in any order. Returns the lines in the order of `wanted`.
async fn await_json_lines(rx: &mut broadcast::Receiver<String>, wanted: &[(&str, LinePred<'_>)]) -> Vec<Value> {
    let mut found: Vec<Option<Value>> = vec![None; wanted.len()];
    let all = tokio::time::timeout(weft_e2e::WAIT, async {
        while found.iter().any(Option::is_none) {
            let line = match rx.recv().await {
                Ok(line) => line,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("log stream ended: {e}"),
            };
            let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
            for (slot, (_, pred)) in found.iter_mut().zip(wanted) {
                if slot.is_none() && pred(&v) {
                    *slot = Some(v.clone());
                }
            }
        }
    })
    .await;
    if all.is_err() {
        let missing: Vec<_> = wanted.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(w, _)| w.0).collect();
        panic!("no log line for {missing:?} within {:?}", weft_e2e::WAIT);
    }
    found.into_iter().map(Option::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_worker_loses_its_attempt_and_its_late_report_is_refused() {
    let mut cluster = Cluster::start(COORDINATOR).await;
    let mut coordinator_log = cluster.coordinator.subscribe();
    // A alone first, so that the slow task lands on it; its debug log shows the answers to
    // its reports.
    let debug_json: &[&str] = &["--log", "info,weft_worker=debug", "--log-format", "json"];
    let a = cluster.add_worker(WorkerSpec { slots: 1, extra: debug_json, ..Default::default() }).await;
    let a_id = cluster.worker_id(a);
    let client = cluster.client().await;
    let run_id = client.start_run(RunSource::Inline(&spec(HUNG)), StartOptions::default()).await.unwrap().run_id;
    let mut events = client.watch_run(run_id, 0).await.unwrap();
    let first = next_event(&mut events, "slow assigned", |e| is(e, "slow", pb::EventKind::TaskAssigned)).await;
    assert_eq!((first.attempt, first.worker_id.as_str()), (1, a_id.as_str()));
    next_event(&mut events, "slow running", |e| is(e, "slow", pb::EventKind::TaskRunning)).await;
    let b = cluster.add_worker(WorkerSpec { slots: 1, ..Default::default() }).await;
    let b_id = cluster.worker_id(b);
    let mut a_log = cluster.workers[a].subscribe();

    // A hangs mid-attempt: the coordinator declares it dead and re-runs the attempt on B.
    cluster.stop_worker(a);
    let second = next_event(&mut events, "slow re-assigned", |e| is(e, "slow", pb::EventKind::TaskAssigned)).await;
    assert_eq!((second.attempt, second.worker_id.as_str()), (2, b_id.as_str()), "attempt 2 runs on B");
    let run = wait(&client, run_id).await;
    assert_succeeded(&run);
    let history = client.run_history_all(run_id, 0).await.unwrap();
    let done: Vec<_> = history.iter().filter(|e| is(e, "slow", pb::EventKind::TaskSucceeded)).collect();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!((done[0].attempt, done[0].worker_id.as_str()), (2, b_id.as_str()));
    let lost = history.iter().find(|e| is(e, "slow", pb::EventKind::TaskRetrying)).expect("attempt 1 was lost");
    assert!(lost.detail.contains("attempt lost") && lost.detail.contains(&a_id), "{lost:?}");
    assert_eq!((lost.attempt, lost.worker_id.as_str()), (1, a_id.as_str()), "{lost:?}");
    let status = client.cluster_status().await.unwrap();
    let a_status = status.workers.iter().find(|w| w.worker_id == a_id).expect("A is listed");
    assert_eq!(a_status.liveness, pb::WorkerLiveness::Dead as i32, "A was declared dead");

    // A wakes up. The sleep of its attempt 1 ended while it was frozen (B needed the lease
    // plus 1.5 s for attempt 2), so A at once reports it SUCCEEDED and heartbeats. The
    // coordinator refuses the late report as stale, and the heartbeat makes A live again.
    cluster.continue_worker(a);
    let run = run_id.to_string();
    let refused = |v: &Value| {
        v["message"] == "stale report refused"
            && v["worker_id"] == a_id.as_str()
            && v["run_id"] == run.as_str()
            && v["task"] == "slow"
            && v["attempt"] == 1
    };
    let back = |v: &Value| {
        v["message"] == "worker liveness"
            && v["worker_id"] == a_id.as_str()
            && v["liveness"] == "Live"
            && v["detail"] == "back after being declared dead"
    };
    await_json_lines(&mut coordinator_log, &[("stale report refused", &refused), ("A back", &back)]).await;
    // A's side: the heartbeat still listed attempt 1 (its report unanswered), so the
    // coordinator also tells A to cancel it. Whichever of the STALE answer (outcome 3) and
    // the cancel reaches A first drops the report from its outbox; both are seen in runs.
    let attempt_key = format!("{run}/hung/slow/1");
    let dropped = |v: &Value| {
        v["attempt"] == attempt_key.as_str()
            && (v["message"] == "final status acknowledged" && v["outcome"] == 3
                || v["message"]
                    == "cancelled after it finished; forgetting its final status (the coordinator no longer wants it)")
    };
    let a_saw = await_json_lines(&mut a_log, &[("A drops its report of attempt 1", &dropped)]).await;
    let status = client.cluster_status().await.unwrap();
    let a_status = status.workers.iter().find(|w| w.worker_id == a_id).expect("A is listed");
    assert_eq!(a_status.liveness, pb::WorkerLiveness::Live as i32, "A is live again: {a_status:?}");
    assert_eq!((a_status.running, a_status.attempts.len()), (0, 0), "A holds nothing: {a_status:?}");
    // The coordinator's one driver task counted the stale report right after logging it,
    // before it answered GetClusterStatus above: the counter shows it now.
    let stale = metric_value(&cluster.metrics_text().await, STALE_REPORTS);
    assert!(stale.is_some_and(|n| n >= 1.0), "{STALE_REPORTS} counts the refused report: {stale:?}");
    let after = client.run_history_all(run_id, 0).await.unwrap();
    assert_eq!(after.len(), history.len(), "the refused report changed nothing in the run");
    let run = client.get_run(run_id).await.unwrap();
    assert_eq!(tasks(&run)["hung/slow"].worker_id, b_id, "the result recorded is B's");
    eprintln!(
        "hung worker: attempt 1 lost on A, re-run as attempt 2 on B; {} stale report(s) refused; A: {}",
        stale.unwrap_or_default(),
        a_saw[0]["message"]
    );
}

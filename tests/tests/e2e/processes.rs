//! Processes as businesses write them: limits on something outside the cluster, and
//! concurrency keys, with real binaries.
use crate::support::{assert_succeeded, wait, weftctl_at};
use weft_client::{RunSource, StartOptions, load_spec_file, pb};
use weft_e2e::{Cluster, WorkerSpec, repo_root};

/// Most of a run's tasks named `prefix*` holding a slot at any one time, and most started
/// within any `window_ms`, from their recorded start and finish.
fn overlap(run: &pb::Run, prefix: &str) -> usize {
    let spans: Vec<(i64, i64)> = run
        .workflows
        .iter()
        .flat_map(|w| &w.tasks)
        .filter(|t| t.name.starts_with(prefix))
        .map(|t| (t.started_at_ms, t.finished_at_ms))
        .collect();
    spans.iter().map(|(s, _)| spans.iter().filter(|(a, b)| a <= s && s < b).count()).max().unwrap_or(0)
}

/// The most hand-outs (TASK_ASSIGNED) of tasks named `prefix…` within any `window_ms`, on the
/// coordinator's clock: what a rate limit bounds. (A task's start, reported by its worker,
/// comes a few milliseconds later by an amount that varies, so starts one window apart can
/// land inside one window.)
async fn assignment_burst(
    client: &weft_client::Client,
    run_id: weft_client::RunId,
    prefix: &str,
    window_ms: i64,
) -> usize {
    let history = client.run_history_all(run_id, 1_000).await.unwrap();
    let at: Vec<i64> = history
        .iter()
        .filter(|e| e.kind == pb::EventKind::TaskAssigned as i32 && e.task.starts_with(prefix))
        .map(|e| e.at_ms)
        .collect();
    at.iter().map(|s| at.iter().filter(|a| **a >= *s && **a < s + window_ms).count()).max().unwrap_or(0)
}

/// examples/bank-charges.yaml on two workers of four slots: however many slots are free, two
/// charges at most run at once and four at most start in a second; while they wait, the
/// ready ones say why (GetRun, `weftctl run`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_of_two_concurrent_charges_holds_on_the_workers_and_the_waiting_say_why() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 4, ..Default::default() }).await;
    cluster.add_worker(WorkerSpec { slots: 4, ..Default::default() }).await;
    let client = cluster.client().await;
    let example = load_spec_file(repo_root().join("examples/bank-charges.yaml")).unwrap();
    let options = StartOptions { input: Some(serde_json::json!({"customer": "c-42"})), ..Default::default() };
    let run = client.start_run(RunSource::Inline(&example), options).await.unwrap();
    // Six charges ready at once, two handed out: the others wait at the limit.
    let id = run.run_id.to_string();
    let waiting = tokio::time::timeout(weft_e2e::WAIT, async {
        loop {
            let now = client.get_run(run.run_id).await.unwrap();
            let reasons: Vec<String> = now
                .workflows
                .iter()
                .flat_map(|w| &w.tasks)
                .map(|t| t.waiting.clone())
                .filter(|w| !w.is_empty())
                .collect();
            if !reasons.is_empty() {
                return reasons;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a charge waits at the limit");
    assert!(waiting.iter().all(|w| w == "limit bank-api 2/2" || w == "limit bank-api rate 4/s"), "{waiting:?}");
    // The cluster's status says it too (what `top` and the dashboard show).
    let status = client.cluster_status().await.unwrap();
    let at = status.at_limits.iter().find(|l| l.process == "bank-charges");
    assert!(at.is_some_and(|l| l.reason.starts_with("limit bank-api") && l.waiting >= 1), "{:?}", status.at_limits);
    let shown = weftctl_at(&cluster.grpc, &["run", &id]).await;
    let out = String::from_utf8_lossy(&shown.stdout);
    assert!(out.contains("waiting: limit bank-api"), "{out}");

    let done = wait(&client, run.run_id).await;
    assert_succeeded(&done);
    assert_eq!(overlap(&done, "charge-"), 2, "two charges at once, never more, with eight free slots");
    let burst = assignment_burst(&client, run.run_id, "charge-", 1_000).await;
    assert_eq!(burst, 4, "four hand-outs a second, never more");
}

/// The example runs from `weftctl dev`, as its header says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_charges_example_runs_from_weftctl_dev() {
    let out = crate::clients::weftctl(&[
        "-o",
        "json",
        "dev",
        "examples/bank-charges.yaml",
        "--workers",
        "2",
        "--slots",
        "4",
        "--input",
        r#"{"customer": "c-42"}"#,
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON run");
    assert_eq!(run["status"], "succeeded");
    let starts: Vec<i64> = run["workflows"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("charge-"))
        .map(|t| chrono_ms(t["started_at"].as_str().unwrap()))
        .collect();
    // The last two wait for the rate's next second.
    let (first, last) = (starts.iter().min().unwrap(), starts.iter().max().unwrap());
    assert!(last - first >= 1_000, "{starts:?}");
}

/// Milliseconds of an RFC 3339 time as weftctl prints it (`2026-12-02T10:00:00.123Z`).
fn chrono_ms(text: &str) -> i64 {
    let t = humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A concurrency key: two runs for the same customer take turns at `ledger`; a third for
/// another customer goes alongside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_key_keeps_one_ledger_update_per_customer_across_runs() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 8, ..Default::default() }).await;
    let client = cluster.client().await;
    let spec = crate::support::spec(
        "name: ledgers\ntasks:\n  - { name: ledger, kind: sleep, params: { duration: 400ms }, concurrency_key: \"customer-{{input.customer}}\" }\n",
    );
    let start = |customer: &'static str| {
        let client = client.clone();
        let spec = spec.clone();
        async move {
            let options =
                StartOptions { input: Some(serde_json::json!({ "customer": customer })), ..Default::default() };
            client.start_run(RunSource::Inline(&spec), options).await.unwrap().run_id
        }
    };
    let (a1, a2, b) = (start("a").await, start("a").await, start("b").await);
    let mut spans = Vec::new();
    for id in [a1, a2, b] {
        let run = wait(&client, id).await;
        assert_succeeded(&run);
        let t = &run.workflows[0].tasks[0];
        spans.push((t.started_at_ms, t.finished_at_ms));
    }
    let overlaps = |x: (i64, i64), y: (i64, i64)| x.0 < y.1 && y.0 < x.1;
    assert!(!overlaps(spans[0], spans[1]), "customer a's updates take turns: {spans:?}");
    assert!(overlaps(spans[0], spans[2]) || overlaps(spans[1], spans[2]), "customer b's goes alongside: {spans:?}");
}

/// Runs of `process` that a schedule started: their slots (from the idempotency keys
/// `schedule:NAME:SLOT_MS`), in order, and how many runs there are.
async fn scheduled_slots(client: &weft_client::Client, process: &str) -> (Vec<i64>, usize) {
    let query = weft_client::client::RunQuery {
        process_name: Some(process.into()),
        page_size: Some(1000),
        ..Default::default()
    };
    let runs = client.list_runs(&query).await.unwrap().runs;
    let mut slots: Vec<i64> =
        runs.iter().filter_map(|r| r.idempotency_key.strip_prefix("schedule:tick:")?.parse().ok()).collect();
    slots.sort();
    (slots, runs.len())
}

/// Waits for `n` more runs of the cluster to succeed, from its event stream.
async fn runs_succeed(events: &mut weft_client::Subscription<pb::ClusterEvent>, n: usize) {
    let mut seen = 0;
    tokio::time::timeout(weft_e2e::WAIT, async {
        while seen < n {
            let event = events.next().await.expect("the stream stays open").expect("an event");
            if let Some(pb::cluster_event::Event::Run(e)) = event.event
                && e.kind == pb::EventKind::RunSucceeded as i32
            {
                seen += 1;
            }
        }
    })
    .await
    .expect("scheduled runs succeed in time");
}

/// A schedule firing every second, with real binaries: each slot starts one run (keyed by
/// its slot), and after the coordinator is killed and restarted the slots missed meanwhile
/// are caught up (catch-up all) and none starts twice: every second from the first slot to
/// the last, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_every_second_fires_each_slot_once_across_a_coordinator_crash() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    let billing = load_spec_file(repo_root().join("examples/nightly-billing.yaml")).unwrap();
    client.register_definition(&billing).await.unwrap();
    let added = weftctl_at(
        &cluster.grpc,
        &[
            "schedule",
            "add",
            "tick",
            "nightly-billing",
            "--cron",
            "* * * * * *",
            "--input",
            r#"{"night": true}"#,
            "--catch-up",
            "all",
            "--catch-up-window",
            "1m",
        ],
    )
    .await;
    let said = String::from_utf8_lossy(&added.stdout);
    assert_eq!(added.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&added.stderr));
    assert!(said.contains("nightly-billing (latest)") && said.contains("next "), "{said}");

    let mut events = client.watch_events(None).await.unwrap();
    runs_succeed(&mut events, 3).await;
    cluster.crash_and_restart_coordinator(&[]).await;
    let client = cluster.client().await;
    let mut events = client.watch_events(None).await.unwrap();
    runs_succeed(&mut events, 3).await;
    // Stop it, then look: nothing more starts while we count.
    client.set_schedule_paused("tick", true).await.unwrap();

    let (slots, runs) = scheduled_slots(&client, "nightly-billing").await;
    assert_eq!(runs, slots.len(), "every run is a slot's: {slots:?}");
    let every_second: Vec<i64> =
        (0..).map(|i| slots[0] + i * 1_000).take_while(|s| s <= slots.last().unwrap()).collect();
    assert_eq!(slots, every_second, "each second once, the ones missed while down caught up");
    let listed = client.list_schedules().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].fired as usize, listed[0].skipped), (runs, 0), "{:?}", listed[0]);
    assert!(listed[0].paused && listed[0].next_fire_ms.is_empty());
    let run = client.get_run(listed[0].last_run_id.parse().unwrap()).await.unwrap();
    assert_eq!(run.input_json, r#"{"night": true}"#.replace(' ', ""), "{run:?}");

    // Refused naming the field; deleted, gone.
    let bad = weftctl_at(&cluster.grpc, &["schedule", "add", "x", "nightly-billing", "--cron", "61 * * * *"]).await;
    assert_eq!(bad.status.code(), Some(1), "refused by the coordinator: {}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("spec.cron"), "{}", String::from_utf8_lossy(&bad.stderr));
    let unknown = weftctl_at(&cluster.grpc, &["schedule", "add", "x", "nobody", "--cron", "0 2 * * *"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("nobody"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    client.delete_schedule("tick").await.unwrap();
    assert!(client.list_schedules().await.unwrap().is_empty());

    // The scheduled process also runs from `weftctl dev`, once.
    let out = crate::clients::weftctl(&["-o", "json", "dev", "examples/nightly-billing.yaml"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON run");
    assert_eq!(run["status"], "succeeded");
}

/// examples/ship-order.yaml on real workers: an order of 25 items shipped by a fan-out with
/// max_parallel 4: 25 instances, never more than four at once (four while the list lasts),
/// each shipping its own item, and `invoice` gets the 25 results in the items' order. It
/// also runs from `weftctl dev`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_of_25_items_ships_by_a_fan_out_four_at_a_time_and_results_come_in_order() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 8, extra: &["--allow-shell"], ..Default::default() }).await;
    let client = cluster.client().await;
    let example = load_spec_file(repo_root().join("examples/ship-order.yaml")).unwrap();
    let run = client.start_run(RunSource::Inline(&example), StartOptions::default()).await.unwrap();
    let done = wait(&client, run.run_id).await;
    assert_succeeded(&done);
    let tasks: Vec<&pb::TaskRun> = done.workflows.iter().flat_map(|w| &w.tasks).collect();
    let instances: Vec<&&pb::TaskRun> = tasks.iter().filter(|t| t.name.starts_with("ship[")).collect();
    assert_eq!(instances.len(), 25);
    assert_eq!(overlap(&done, "ship["), 4, "four at a time, with eight free slots");
    let invoice = tasks.iter().find(|t| t.name == "invoice").unwrap();
    assert_eq!(invoice.state, pb::TaskState::Succeeded as i32);
    let ship = tasks.iter().find(|t| t.name == "ship").unwrap();
    let results: Vec<serde_json::Value> = serde_json::from_str(&ship.result_json).unwrap();
    let said: Vec<&str> = results.iter().map(|r| r["stdout"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=25).map(|i| format!("shipped A-{i}\n")).collect();
    assert_eq!(said, expected, "each its own item, in order");
    let history = client.run_history_all(run.run_id, 1000).await.unwrap();
    let expanded =
        history.iter().find(|e| e.kind == pb::EventKind::TaskExpanded as i32).expect("the expansion is in the history");
    assert_eq!((expanded.task.as_str(), expanded.detail.as_str()), ("ship", "25 items"));

    let out =
        crate::clients::weftctl(&["-o", "json", "dev", "examples/ship-order.yaml", "--workers", "2", "--slots", "4"])
            .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON run");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["workflows"][0]["tasks"].as_array().unwrap().len(), 3 + 25);
}

/// examples/checkout.yaml: its `pay` task starts the registered `payment` as a child run
/// and succeeds with it; the histories name each other; cancelling a parent cancels its
/// child. The example runs from `weftctl dev --register`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_task_runs_a_child_run_linked_both_ways_and_cancelled_with_its_parent() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 4, ..Default::default() }).await;
    let client = cluster.client().await;
    let payment = load_spec_file(repo_root().join("examples/payment.yaml")).unwrap();
    client.register_definition(&payment).await.unwrap();
    let checkout = load_spec_file(repo_root().join("examples/checkout.yaml")).unwrap();
    let run = client.start_run(RunSource::Inline(&checkout), StartOptions::default()).await.unwrap();
    let done = wait(&client, run.run_id).await;
    assert_succeeded(&done);
    let pay = done.workflows[0].tasks.iter().find(|t| t.name == "pay").unwrap();
    assert!(pay.worker_id.is_empty(), "no worker ran it: {pay:?}");
    let result: serde_json::Value = serde_json::from_str(&pay.result_json).unwrap();
    assert_eq!(result["results"]["payment/receipt"]["receipt"], "R-1", "{result}");
    let child_id: weft_client::RunId = result["run_id"].as_str().unwrap().parse().unwrap();
    let child = client.get_run(child_id).await.unwrap();
    assert_succeeded(&child);
    assert_eq!(child.input_json, r#"{"cart":{"total":42}}"#);
    assert_eq!(child.idempotency_key, format!("child:{}:1:1", run.run_id));
    let child_history = client.run_history_all(child_id, 100).await.unwrap();
    assert_eq!(child_history[0].detail, format!("child of run {} (task checkout/pay)", run.run_id));
    let parent_history = client.run_history_all(run.run_id, 100).await.unwrap();
    assert!(parent_history.iter().any(|e| e.detail == format!("child run {child_id}")), "{parent_history:?}");

    // A child that takes an hour, its parent cancelled: the child is cancelled with it.
    let slow =
        crate::support::spec("name: slow-pay\nsteps:\n  - { name: wait, kind: sleep, params: { duration: 1h } }\n");
    client.register_definition(&slow).await.unwrap();
    let parent = crate::support::spec(
        "name: waits\nsteps:\n  - { name: pay, kind: process, params: { definition: slow-pay } }\n",
    );
    let started = client.start_run(RunSource::Inline(&parent), StartOptions::default()).await.unwrap();
    let key = format!("child:{}:0:1", started.run_id);
    let query = weft_client::RunQuery { idempotency_key: Some(key), ..Default::default() };
    let child = client.list_runs(&query).await.unwrap().runs.pop().expect("the child started with its parent");
    client.cancel_run(started.run_id, "changed my mind").await.unwrap();
    let child = wait(&client, child.run_id.parse().unwrap()).await;
    assert_eq!(child.status, pb::RunStatus::Cancelled as i32, "{child:?}");

    let out = crate::clients::weftctl(&[
        "-o",
        "json",
        "dev",
        "examples/checkout.yaml",
        "--register",
        "examples/payment.yaml",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON run");
    assert_eq!(run["status"], "succeeded");
}

/// A limit set for the whole cluster with `weftctl limit set`: two processes that use it
/// share it (one at a time between them), it outlives a coordinator restart, and a process
/// using a limit nobody set is refused naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_limit_is_shared_across_processes_and_outlives_a_restart() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 8, ..Default::default() }).await;
    let set = weftctl_at(&cluster.grpc, &["limit", "set", "partner-api", "--concurrency", "1"]).await;
    assert_eq!(set.status.code(), Some(0), "{}", String::from_utf8_lossy(&set.stderr));
    cluster.crash_and_restart_coordinator(&[]).await;
    let listed = weftctl_at(&cluster.grpc, &["limit", "list"]).await;
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("partner-api  1"),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let client = cluster.client().await;
    let spec = |name: &str| {
        crate::support::spec(&format!(
            "name: {name}\ntasks:\n  - {{ name: call, kind: sleep, uses: [partner-api], params: {{ duration: 300ms }} }}\n  - {{ name: again, kind: sleep, uses: [partner-api], params: {{ duration: 300ms }} }}\n"
        ))
    };
    let a = client.start_run(RunSource::Inline(&spec("a")), StartOptions::default()).await.unwrap();
    let b = client.start_run(RunSource::Inline(&spec("b")), StartOptions::default()).await.unwrap();
    let mut spans = Vec::new();
    for id in [a.run_id, b.run_id] {
        let run = wait(&client, id).await;
        assert_succeeded(&run);
        spans.extend(run.workflows[0].tasks.iter().map(|t| (t.started_at_ms, t.finished_at_ms)));
    }
    let overlap = spans.iter().map(|(s, _)| spans.iter().filter(|(x, y)| x <= s && s < y).count()).max().unwrap();
    assert_eq!(overlap, 1, "one at a time across both processes: {spans:?}");

    let unknown = crate::support::spec("name: c\nsteps:\n  - { name: call, kind: noop, uses: [nobody-set-this] }\n");
    let e = client.start_run(RunSource::Inline(&unknown), StartOptions::default()).await.unwrap_err().to_string();
    assert!(e.contains("spec.workflows[0].tasks[0].uses") && e.contains("nobody-set-this"), "{e}");
}

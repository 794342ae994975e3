//! `weftctl bench` end to end: every scenario at the small size on clusters it starts
//! itself, checked for one JSON object each with sane numbers; and the store each report
//! names, durable only when the coordinator says every commit is fsync'd.
use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;
use weft_e2e::{binary, ensure_built, repo_root};

/// The whole small benchmark takes ~15 s in a debug build; this leaves room for a busy machine.
const LIMIT: Duration = Duration::from_secs(150);

/// Runs weftctl to the end within `LIMIT`. On timeout it is interrupted (SIGINT makes it
/// kill the clusters it started, by pid), given a few seconds to do so, then killed. The
/// clusters' directories go under cargo's target dir, on disk even where /tmp is tmpfs (a
/// store there is not durable, and the report would rightly say so).
async fn weftctl(args: &[&str]) -> std::process::Output {
    use tokio::io::AsyncReadExt;
    let mut child = tokio::process::Command::new(binary("weftctl"))
        .args(args)
        .current_dir(repo_root())
        .env("TMPDIR", env!("CARGO_TARGET_TMPDIR"))
        .env_remove("WEFT_COORDINATOR")
        .env_remove("WEFT_DURABILITY")
        .env_remove("WEFT_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("weftctl runs");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let finished = tokio::time::timeout(LIMIT, async {
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a.and(b).expect("reading weftctl's output");
        child.wait().await.expect("weftctl exits")
    })
    .await;
    match finished {
        Ok(status) => std::process::Output { status, stdout: out, stderr: err },
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT);
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
            panic!("weftctl bench did not finish within {LIMIT:?}; stderr so far:\n{}", String::from_utf8_lossy(&err));
        }
    }
}

/// Runs `weftctl ARGS` (with `-o json`), requires exit 0, and returns its reports by scenario
/// id, with its stderr for messages.
async fn json_reports(args: &[&str]) -> (HashMap<String, serde_json::Value>, String) {
    let out = weftctl(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let scenarios = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("each line is one JSON object"))
        .map(|s| (s["scenario"].as_str().expect("scenario id").to_string(), s))
        .collect();
    (scenarios, stderr)
}

fn median(scenario: &serde_json::Value, metric: &str) -> f64 {
    scenario["summary"][metric]["median"]
        .as_f64()
        .unwrap_or_else(|| panic!("{} has no {metric}: {scenario}", scenario["scenario"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_small_runs_every_scenario_and_reports_sane_numbers() {
    let bin_dir = ensure_built().to_str().expect("utf-8 path").to_string();
    let args = ["bench", "--start-cluster", "--size", "small", "--repeat", "1", "-o", "json", "--bin-dir", &bin_dir];
    let (scenarios, stderr) = json_reports(&args).await;
    for id in ["s1", "s1-runs", "s2", "s3", "s4", "s5", "memory", "restart", "estimate", "fan-out"] {
        let s = scenarios.get(id).unwrap_or_else(|| panic!("no JSON object for {id}; stderr:\n{stderr}"));
        assert!(s["skipped"].is_null() && s["errors"].as_array().unwrap().is_empty(), "{s}");
        assert_eq!(s["repeats"].as_array().unwrap().len(), 1, "{s}");
    }
    let s = |id: &str| &scenarios[id];

    assert!(median(s("s1"), "tasks_per_s") > 0.0);
    assert!(median(s("s1"), "submit_s") <= median(s("s1"), "wall_s"));
    assert!(median(s("s1"), "coordinator_peak_rss_mib") > 1.0 && median(s("s1"), "worker_peak_rss_mib") > 1.0);
    assert_eq!(s("s1")["params"]["tasks"], 500);
    // s1-runs: the same tasks as one-task runs, each watched to its end.
    assert_eq!((&s("s1-runs")["params"]["runs"], &s("s1-runs")["params"]["tasks_per_run"]), (&500.into(), &1.into()));
    assert!(median(s("s1-runs"), "tasks_per_s") > 0.0);
    assert!(s("s1-runs")["summary"]["coordinator_bytes_per_run"].is_object(), "{}", s("s1-runs"));

    let (p50, p99, max) = (median(s("s2"), "p50_ms"), median(s("s2"), "p99_ms"), median(s("s2"), "max_ms"));
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{}", s("s2"));
    assert!(median(s("s3"), "tasks_per_s") > 0.0 && median(s("s4"), "wall_s") > 0.0);
    assert!(median(s("fan-out"), "declared_wall_s") > 0.0 && median(s("fan-out"), "dynamic_wall_s") > 0.0);
    assert_eq!(s("fan-out")["params"]["width"], 100);

    let s5 = &s("s5")["repeats"][0];
    assert_eq!(s5["outcome"], "succeeded", "{s5}");
    assert_eq!(s5["attempts"], 2, "{s5}");
    assert_eq!(s5["rerun_on_the_other_worker"], true, "{s5}");
    // Re-run within the lease (5 s) plus one heartbeat interval (1 s) of the kill, with slack.
    let rerun = median(s("s5"), "kill_to_rerun_s");
    assert!(rerun > 0.0 && rerun < 8.0, "{s5}");
    assert!(median(s("s5"), "kill_to_result_s") > rerun);

    assert!(median(s("memory"), "bytes_per_task") > 0.0 && median(s("memory"), "rss_mib") > 1.0);
    assert_eq!(s("memory")["repeats"][0]["queued"], 20_000);

    let restart = &s("restart")["repeats"][0];
    assert!(median(s("restart"), "spawn_to_ready_s") > 0.0, "{restart}");
    assert!(median(s("restart"), "spawn_to_first_rpc_s") >= median(s("restart"), "spawn_to_ready_s"));
    assert_eq!(restart["tasks_reloaded"], 2_000, "{restart}");
    assert!(median(s("restart"), "spawn_to_first_dispatch_s") >= median(s("restart"), "spawn_to_first_rpc_s"));

    // estimate: the cold run's error at its start and the warm run's at half way, in percent.
    assert_eq!(s("estimate")["repeats"][0]["runs"], 2);
    for metric in ["cold_err_start_pct", "warm_err_start_pct", "warm_err_50_pct"] {
        let e = median(s("estimate"), metric);
        assert!((0.0..1000.0).contains(&e), "{metric}: {}", s("estimate"));
    }

    // Every scenario says it ran on the coordinator's default store, durable, as reported
    // by the coordinator (the restarted one too).
    for (id, scenario) in &scenarios {
        let (env, store) = (&scenario["env"], &scenario["env"]["store"]);
        assert_eq!(env["durable"], true, "{id}: {env}");
        assert_eq!((&store["backend"], &store["durability"]), (&"sqlite".into(), &"full".into()), "{id}: {store}");
        assert_eq!(store["setting"], "synchronous=FULL", "{id}: {store}");
        assert!(!store["filesystem"].as_str().unwrap().is_empty(), "{id}: the data dir's filesystem: {store}");
        let label = store["label"].as_str().unwrap();
        assert!(
            label.starts_with("store: sqlite synchronous=FULL (full) on ") && label.ends_with(": durable"),
            "{label}"
        );
        assert_eq!(scenario["repeats"][0]["store"]["durable"], true, "{id}");
    }
}

/// The scale-* scenarios at the small size: every point of every axis measured on its own
/// cluster, the history restart counting every finished run, and one PNG chart per axis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_scaling_measures_every_point_and_draws_a_chart_per_axis() {
    let bin_dir = ensure_built().to_str().expect("utf-8 path").to_string();
    let charts = tempfile::Builder::new().prefix("weft-charts-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let charts_dir = charts.path().to_str().unwrap().to_string();
    let args = [
        "bench",
        "--start-cluster",
        "--size",
        "small",
        "--repeat",
        "1",
        "--scenarios",
        "scaling",
        "-o",
        "json",
        "--bin-dir",
        &bin_dir,
        "--charts",
        &charts_dir,
    ];
    let (scenarios, stderr) = json_reports(&args).await;
    let mut ids: Vec<&str> = scenarios.keys().map(String::as_str).collect();
    ids.sort();
    assert_eq!(ids, ["scale-history", "scale-runs", "scale-tasks", "scale-workers"], "{stderr}");
    for (id, s) in &scenarios {
        assert!(s["errors"].as_array().unwrap().is_empty() && s["skipped"].is_null(), "{s}");
        assert_eq!(s["env"]["durable"], true, "{id}");
    }
    let s = |id: &str| &scenarios[id];
    for (id, axis, points) in [
        ("scale-tasks", "tasks", [100, 500]),
        ("scale-runs", "runs", [50, 200]),
        ("scale-workers", "workers", [1, 4]),
        ("scale-history", "finished_tasks", [500, 2_000]),
    ] {
        assert_eq!(s(id)["params"][axis], serde_json::json!(points), "{}", s(id));
        for x in points {
            let metrics: &[&str] = match id {
                "scale-history" => {
                    &["store_mib", "restart_to_ready_s", "restart_to_first_rpc_s", "coordinator_rss_mib"]
                }
                _ => &["tasks_per_s", "coordinator_cpu_us_per_task", "coordinator_peak_rss_mib"],
            };
            for metric in metrics {
                assert!(median(s(id), &format!("{metric}@{x}")) > 0.0, "{id} {metric}@{x}: {}", s(id));
            }
        }
        let png = std::fs::read(charts.path().join(format!("{id}.png"))).unwrap_or_else(|e| panic!("{id}.png: {e}"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{id}.png is a PNG");
    }
    // Workers run 10 ms sleeps: four slots do more than one, and none beats its ideal.
    assert!(median(s("scale-workers"), "tasks_per_s@4") > median(s("scale-workers"), "tasks_per_s@1"));
    for x in [1, 4] {
        let share = median(s("scale-workers"), &format!("of_ideal_pct@{x}"));
        assert!(share > 0.0 && share <= 100.0, "{share}");
    }
    // More finished history is more store on disk, and restarting still ends in a run.
    assert!(median(s("scale-history"), "store_mib@2000") > median(s("scale-history"), "store_mib@500"));
    for x in [500, 2_000] {
        let (rpc, run) = (format!("restart_to_first_rpc_s@{x}"), format!("restart_to_first_run_done_s@{x}"));
        assert!(median(s("scale-history"), &run) >= median(s("scale-history"), &rpc));
    }
}

/// The lines of a text report that speak of the store.
fn store_lines(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout).lines().filter(|l| l.contains("store: ")).map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_labels_a_run_durable_only_on_a_store_with_full_durability() {
    let bin_dir = ensure_built().to_str().expect("utf-8 path").to_string();
    let small = ["bench", "--start-cluster", "--size", "small", "--repeat", "1", "--bin-dir", &bin_dir];

    // The default store: the text report says durable, above the table.
    let out = weftctl(&[&small[..], &["--scenarios", "s2"]].concat()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines = store_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("store: sqlite synchronous=FULL (full) on ") && lines[0].ends_with(": durable"));

    // --durability relaxed: NOT durable, saying why; restart refuses to measure it.
    let relaxed = [&small[..], &["--scenarios", "s2,restart", "--coordinator-arg=--durability=relaxed"]].concat();
    let out = weftctl(&relaxed).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "restart fails on a relaxed store; stdout:\n{stdout}\nstderr:\n{stderr}");
    let lines = store_lines(&out.stdout);
    assert!(lines[0].starts_with("store: sqlite synchronous=NORMAL (relaxed) on "), "{lines:?}");
    assert!(lines[0].contains(": NOT durable (commits are fsync'd only at checkpoints"), "{lines:?}");
    assert!(!stdout.contains(": durable"), "{stdout}");
    let refused = stdout.lines().find(|l| l.starts_with("restart: repeat 1: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(refused.contains("the restart scenario needs a durable store (durability full)"), "{refused}");
    assert!(refused.contains("synchronous=NORMAL (relaxed)"), "{refused}");

    // --data-dir memory, as JSON: a memory store, not durable.
    let memory = [&small[..], &["--scenarios", "s2", "-o", "json", "--coordinator-arg=--data-dir=memory"]].concat();
    let out = weftctl(&memory).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s2: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let store = &s2["env"]["store"];
    assert_eq!(s2["env"]["durable"], false, "{s2}");
    assert_eq!((&store["backend"], &store["durability"]), (&"memory".into(), &"none".into()), "{store}");
    assert!(store["label"].as_str().unwrap().starts_with("store: memory (none): NOT durable ("), "{store}");
    assert_eq!(s2["repeats"][0]["store"]["durable"], false, "{s2}");
}

/// The regression guard: a run saved as a baseline passes against itself within a wide
/// margin; against a baseline whose s3 was ten times faster it is flagged, and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_compared_with_a_saved_baseline_and_regressions_are_flagged() {
    let bin_dir = ensure_built().to_str().expect("utf-8 path").to_string();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("baseline.json");
    let small =
        ["bench", "--start-cluster", "--size", "small", "--repeat", "1", "--scenarios", "s3", "--bin-dir", &bin_dir];
    let out = weftctl(&[&small[..], &["--save-baseline", saved.to_str().unwrap()]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut baseline: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let wall = baseline["scenarios"]["s3"]["metrics"]["wall_s"]["median"].as_f64().expect("s3's wall time saved");
    assert!(wall > 0.0);

    // Against itself, with room for this machine's noise: nothing flagged.
    let out = weftctl(&[&small[..], &["--baseline", saved.to_str().unwrap(), "--margin", "400"]].concat()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no metric is worse than the margin"), "{stdout}");

    // A baseline ten times faster: the wall time is flagged, and the exit code says so.
    baseline["scenarios"]["s3"]["metrics"]["wall_s"]["median"] = (wall / 10.0).into();
    let faster = dir.path().join("faster.json");
    std::fs::write(&faster, baseline.to_string()).unwrap();
    let out = weftctl(&[&small[..], &["--baseline", faster.to_str().unwrap(), "-o", "json"]].concat()).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).expect("a JSON line");
    let flagged: Vec<&str> =
        last["regressions"].as_array().unwrap().iter().map(|r| r["metric"].as_str().unwrap()).collect();
    assert!(flagged.contains(&"wall_s"), "{last}");

    // A file that is not a baseline: a clear error naming the flag.
    std::fs::write(&faster, "{\"format\": 7}").unwrap();
    let out = weftctl(&[&small[..], &["--baseline", faster.to_str().unwrap()]].concat()).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--baseline: "), "{}", String::from_utf8_lossy(&out.stderr));
}

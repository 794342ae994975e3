//! `weftctl bench`: BENCH.md's scenarios, timed on the client's clock with `Instant`.
//!
//! - [`throughput`] S1, [`latency`] S2, [`dags`] S3 and S4, [`failover`] S5,
//!   [`memory`], [`restart`] and [`estimate`]: one function per scenario returning one
//!   [`report::Trial`].
//! - [`workload`]: the specs they submit and how runs are followed to their end.
//! - [`cluster`]: BENCH.md's topology started from the binaries (for `--start-cluster`).
//! - [`report`]: medians and spreads over repeats, the table and the JSON lines.
//! - [`store`]: the store each trial ran on, as the coordinator reports it, and whether
//!   that is durable.
//! - [`baseline`]: `--save-baseline` and `--baseline`, the regression guard.
//! - [`scaling`]: how cost grows with work (the scale-* scenarios), drawn by [`chart`].
//!
//! With `--start-cluster` every repeat gets a fresh cluster, so repeats do not see each
//! other's leftovers and peak memory belongs to one repeat; start-up is reported, not timed.
//! Without it s1–s4 run on the cluster at `--coordinator`, and the scenarios that must
//! kill or restart processes are skipped with a note. Either way every trial first asks the
//! coordinator for its store; the report calls the numbers durable only if it said
//! `durability: full` (on a filesystem that is not in memory), and `restart` fails otherwise.
mod baseline;
mod chart;
mod cluster;
mod dags;
mod estimate;
mod failover;
mod latency;
mod memory;
mod report;
mod restart;
mod scaling;
mod store;
mod throughput;
mod workload;

use crate::cli::{BenchArgs, BenchScenario, BenchSize};
use crate::commands::Context;
use crate::exit;
use crate::follow::interrupted;
use crate::output::{OutputFormat, out, print_json_line};
use crate::procs::Binaries;
use anyhow::Context as _;
use cluster::{Cluster, Launcher};
use report::{ScenarioReport, Trial};
use serde_json::json;
use std::time::Duration;
use store::Store;
use weft_client::Client;

const MIB: f64 = 1024.0 * 1024.0;
/// Warm-up round trips before S2's timed ones (reported in its parameters).
const S2_WARMUP: usize = 10;
/// Tasks per run when filling a coordinator for `memory` and `restart`.
const BULK_RUN_SIZE: usize = 10_000;

/// The sizes of every scenario.
#[derive(Clone, Debug)]
struct Sizes {
    s1_tasks: usize,
    s2_trips: usize,
    s3_chains: usize,
    s3_len: usize,
    s4_width: usize,
    /// `fan-out`: tasks in the fan, declared and dynamic.
    fan_out_width: usize,
    s5_sleep: Duration,
    s5_kill_after: Duration,
    memory_tasks: usize,
    restart_tasks: usize,
    /// `estimate`: runs of the mixed process per repeat, and the scale of its sleeps.
    estimate_runs: usize,
    estimate_scale: f64,
    /// The points of the scale-* scenarios.
    scaling: scaling::Points,
    /// Longest any one repeat may take.
    trial_limit: Duration,
}

impl Sizes {
    fn of(size: BenchSize) -> Sizes {
        match size {
            BenchSize::Full => Sizes {
                s1_tasks: 20_000,
                s2_trips: 1_000,
                s3_chains: 200,
                s3_len: 10,
                s4_width: 1_000,
                fan_out_width: 10_000,
                s5_sleep: Duration::from_secs(5),
                s5_kill_after: Duration::from_secs(1),
                memory_tasks: 1_000_000,
                restart_tasks: 100_000,
                estimate_runs: 6,
                estimate_scale: 1.0,
                scaling: scaling::Points {
                    tasks: vec![2_000, 20_000, 200_000],
                    runs: vec![1_000, 10_000, 100_000],
                    workers: vec![2, 8, 32],
                    tasks_per_worker: 200,
                    history: vec![10_000, 100_000, 1_000_000],
                },
                trial_limit: Duration::from_secs(15 * 60),
            },
            BenchSize::Small => Sizes {
                s1_tasks: 500,
                s2_trips: 50,
                s3_chains: 20,
                s3_len: 10,
                s4_width: 100,
                fan_out_width: 100,
                s5_sleep: Duration::from_secs(2),
                s5_kill_after: Duration::from_millis(500),
                memory_tasks: 20_000,
                restart_tasks: 2_000,
                estimate_runs: 2,
                estimate_scale: 0.2,
                scaling: scaling::Points {
                    tasks: vec![100, 500],
                    runs: vec![50, 200],
                    workers: vec![1, 4],
                    tasks_per_worker: 20,
                    history: vec![500, 2_000],
                },
                trial_limit: Duration::from_secs(120),
            },
        }
    }
}

/// The scenarios to run, in order, each once.
fn selected(asked: &[BenchScenario]) -> Vec<BenchScenario> {
    use BenchScenario::*;
    let mut out = Vec::new();
    for s in asked {
        let expanded: &[BenchScenario] = match s {
            All => &[S1, S1Runs, S2, S3, S4, S5, Memory, Restart, Estimate, FanOut],
            Scaling => &[ScaleTasks, ScaleRuns, ScaleWorkers, ScaleHistory],
            _ => std::slice::from_ref(s),
        };
        for s in expanded {
            if !out.contains(s) {
                out.push(*s);
            }
        }
    }
    out
}

/// Where a repeat of s1–s4 runs.
enum Site<'a> {
    Running(&'a Context),
    Start(&'a Launcher),
}

/// A client on the site, and the cluster if this repeat started one.
pub(super) struct Session {
    client: Client,
    cluster: Option<Cluster>,
    /// The store the coordinator reported when the session opened.
    store: Store,
    /// CPU seconds used before the trial: (weftctl, coordinator, workers).
    cpu_before: (Option<f64>, Option<f64>, f64),
}

impl Session {
    async fn open(site: &Site<'_>) -> anyhow::Result<Session> {
        match site {
            Site::Running(ctx) => Session::on(ctx.connect().await?, None).await,
            Site::Start(launcher) => Session::start(launcher, 2).await,
        }
    }

    /// A fresh cluster of `workers` one-slot workers.
    pub(super) async fn start(launcher: &Launcher, workers: u32) -> anyhow::Result<Session> {
        let cluster = launcher.start(workers).await?;
        Session::on(cluster.client().await?, Some(cluster)).await
    }

    async fn on(client: Client, mut cluster: Option<Cluster>) -> anyhow::Result<Session> {
        let store = store::read(&client).await?;
        let (coordinator, workers) = cluster.as_mut().map_or((None, 0.0), Cluster::cpu);
        let cpu_before = (cluster::cpu_seconds(std::process::id()), coordinator, workers);
        Ok(Session { client, cluster, store, cpu_before })
    }

    pub(super) fn client(&self) -> Client {
        self.client.clone()
    }

    /// The coordinator's resident memory now, if this session started it.
    pub(super) fn coordinator_rss(&mut self) -> Option<u64> {
        self.cluster.as_mut()?.coordinator_rss()
    }

    /// Adds what the processes say: CPU used during the trial, the cluster's start-up and
    /// (`with_memory`) peak memory. Then stops the cluster.
    async fn close(self, trial: &mut Trial, with_memory: bool) {
        trial.store = Some(self.store);
        let (client_before, coordinator_before, workers_before) = self.cpu_before;
        if let (Some(before), Some(now)) = (client_before, cluster::cpu_seconds(std::process::id())) {
            trial.metric("weftctl_cpu_s", now - before, "s");
        }
        let Some(mut cluster) = self.cluster else { return };
        let (coordinator, workers) = cluster.cpu();
        if let (Some(before), Some(now)) = (coordinator_before, coordinator) {
            trial.metric("coordinator_cpu_s", now - before, "s");
        }
        trial.metric("workers_cpu_s", workers - workers_before, "s");
        trial.metric("cluster_start_s", cluster.startup().as_secs_f64(), "s");
        if with_memory {
            if let Some(m) = cluster.coordinator_memory() {
                trial.metric("coordinator_peak_rss_mib", m.peak as f64 / MIB, "MiB");
            }
            let workers = cluster.worker_memory();
            if let Some(peak) = workers.iter().map(|(_, m)| m.peak).max() {
                trial.metric("worker_peak_rss_mib", peak as f64 / MIB, "MiB");
            }
        }
        cluster.stop().await;
    }

    /// Closes the session after a trial's work (see [`Session::close`]), whether the work
    /// succeeded or not.
    pub(super) async fn finish(self, work: anyhow::Result<Trial>, with_memory: bool) -> anyhow::Result<Trial> {
        match work {
            Ok(mut trial) => {
                self.close(&mut trial, with_memory).await;
                Ok(trial)
            }
            Err(e) => {
                self.close(&mut Trial::default(), false).await;
                Err(e)
            }
        }
    }
}

pub async fn run(args: BenchArgs, ctx: &Context) -> anyhow::Result<u8> {
    let mut sizes = Sizes::of(args.size);
    if let Some(n) = args.restart_tasks {
        sizes.restart_tasks = n as usize;
    }
    let launcher = match args.start_cluster {
        true => {
            let binaries = Binaries::locate(args.bin_dir.as_deref())?;
            Some(Launcher::new(binaries, args.coordinator_args.clone(), args.keep).with_tls(args.tls))
        }
        false => {
            // Fail early, with the usual hint, when nothing listens there; say at once
            // what its store promises (each trial asks again).
            let client = ctx.connect().await?;
            eprintln!("{}", store::read(&client).await?.label().text);
            None
        }
    };
    let site = match &launcher {
        Some(launcher) => Site::Start(launcher),
        None => Site::Running(ctx),
    };
    let mut reports = Vec::new();
    for scenario in selected(&args.scenarios) {
        let report = tokio::select! {
            report = run_scenario(scenario, &args, &sizes, &site, launcher.as_ref()) => report,
            () = interrupted() => {
                // Dropping the scenario's future kills the clusters it started.
                eprintln!("\ninterrupted");
                return Ok(exit::INTERRUPTED);
            }
        };
        if ctx.output == OutputFormat::Json {
            print_json_line(&report.to_json())?;
        }
        match chart::draw_report(&report, &args.charts) {
            Ok(Some(path)) => eprintln!("{}: chart drawn to {}", report.id, path.display()),
            Ok(None) => {}
            Err(e) => eprintln!("{}: no chart: {e:#}", report.id),
        }
        reports.push(report);
    }
    if ctx.output == OutputFormat::Table {
        let mut text: String = report::store_lines(&reports).into_iter().map(|l| l + "\n").collect();
        text.push_str(&report::table(&reports).render());
        for r in &reports {
            for note in r.notes.iter().chain(&r.errors) {
                text.push_str(&format!("{}: {note}\n", r.id));
            }
        }
        out(&text)?;
    }
    if let Some(path) = &args.save_baseline {
        let command: Vec<String> = std::env::args().collect();
        let saved = baseline::to_json(&reports, &command.join(" "));
        std::fs::write(path, serde_json::to_string_pretty(&saved)? + "\n")
            .with_context(|| format!("--save-baseline: writing {}", path.display()))?;
        eprintln!("baseline saved to {}", path.display());
    }
    let mut regressed = false;
    if let Some(path) = &args.baseline {
        let text = std::fs::read_to_string(path).with_context(|| format!("--baseline: reading {}", path.display()))?;
        let saved: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("--baseline: {} is not JSON", path.display()))?;
        let margin = args.margin / 100.0;
        let comparison = baseline::compare(&saved, &reports, margin)
            .map_err(|e| anyhow::anyhow!("--baseline: {}: {e}", path.display()))?;
        regressed = comparison.regressions().next().is_some();
        if ctx.output == OutputFormat::Json {
            let flagged: Vec<serde_json::Value> = comparison
                .regressions()
                .map(|c| json!({ "scenario": c.scenario, "metric": c.metric, "baseline": c.baseline, "now": c.now, "worse_by": c.worse_by }))
                .collect();
            print_json_line(
                &json!({ "baseline": path.display().to_string(), "margin": margin, "regressions": flagged, "not_compared": comparison.not_compared }),
            )?;
        } else {
            let mut text = format!("\nAGAINST THE BASELINE {} (margin {} %)\n", path.display(), args.margin);
            text.push_str(&comparison.table(margin).render());
            for note in &comparison.not_compared {
                text.push_str(&format!("not compared: {note}\n"));
            }
            let n = comparison.regressions().count();
            text.push_str(&if n == 0 {
                "no metric is worse than the margin\n".to_string()
            } else {
                format!("{n} metrics worse than the margin\n")
            });
            out(&text)?;
        }
    }
    let failed = reports.iter().any(|r| !r.errors.is_empty());
    Ok(if failed || regressed { exit::FAILED } else { exit::OK })
}

async fn run_scenario(
    scenario: BenchScenario,
    args: &BenchArgs,
    sizes: &Sizes,
    site: &Site<'_>,
    launcher: Option<&Launcher>,
) -> ScenarioReport {
    let (id, title, params) = describe(scenario, args, sizes);
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut report = ScenarioReport::new(id, title, params, serde_json::Value::Null);
    let needs_cluster = matches!(
        scenario,
        BenchScenario::S5
            | BenchScenario::Memory
            | BenchScenario::Restart
            | BenchScenario::Estimate
            | BenchScenario::ScaleTasks
            | BenchScenario::ScaleRuns
            | BenchScenario::ScaleWorkers
            | BenchScenario::ScaleHistory
    );
    if needs_cluster && launcher.is_none() {
        report.skipped = Some("needs --start-cluster: it kills or restarts processes it started".into());
        eprintln!("{id}: skipped (needs --start-cluster)");
    } else {
        for i in 1..=args.repeat {
            eprintln!("{id} {i}/{}: {title}", args.repeat);
            let trial = tokio::time::timeout(sizes.trial_limit, trial(scenario, args, sizes, site, launcher)).await;
            match trial {
                Ok(Ok(trial)) => {
                    eprintln!("{id} {i}/{}: {}", args.repeat, trial.summary());
                    if let Some(store) = &trial.store
                        && !report.stores().iter().any(|s| s.label() == store.label())
                    {
                        eprintln!("{id} {i}/{}: {}", args.repeat, store.label().text);
                    }
                    report.trials.push(trial);
                }
                Ok(Err(e)) => {
                    eprintln!("{id} {i}/{}: failed: {e:#}", args.repeat);
                    report.errors.push(format!("repeat {i}: {e:#}"));
                }
                Err(_) => {
                    let e = format!("repeat {i}: did not finish within {}s", sizes.trial_limit.as_secs());
                    eprintln!("{id} {i}/{}: {e}", args.repeat);
                    report.errors.push(e);
                }
            }
        }
    }
    if launcher.is_none() && matches!(scenario, BenchScenario::S1 | BenchScenario::S1Runs) {
        report.note("peak RSS needs --start-cluster (the bench reads /proc/PID/status of processes it started)");
    }
    if scenario == BenchScenario::S5 && report.skipped.is_none() {
        report.note(format!(
            "coordinator defaults: --lease-timeout {} --heartbeat-interval {}",
            failover::LEASE_TIMEOUT,
            failover::HEARTBEAT_INTERVAL
        ));
    }
    report.env = json!({
        "cluster": match site {
            Site::Running(ctx) => format!("running at {}", ctx.coordinator),
            Site::Start(_) => match scenario {
                BenchScenario::Memory => "started per repeat on 127.0.0.1: 1 coordinator, no worker",
                BenchScenario::Restart => {
                    "started per repeat on 127.0.0.1: 1 coordinator, no worker; after its restart 1 worker x 1 slot"
                }
                BenchScenario::Estimate => "started per repeat on 127.0.0.1: 1 coordinator + a 2-slot and a 1-slot worker",
                BenchScenario::ScaleWorkers => "started per point on 127.0.0.1: 1 coordinator + N workers x 1 slot",
                BenchScenario::ScaleHistory => {
                    "started per point on 127.0.0.1: 1 coordinator + 2 workers x 1 slot; after its restart 1 new worker"
                }
                BenchScenario::ScaleTasks | BenchScenario::ScaleRuns => {
                    "started per point on 127.0.0.1: 1 coordinator + 2 workers x 1 slot"
                }
                _ => "started per repeat on 127.0.0.1: 1 coordinator + 2 workers x 1 slot",
            }
            .to_string(),
        },
        "durable": report.durable(),
        "tls": match site {
            Site::Running(ctx) if ctx.connect.tls.is_some() => "TLS to the coordinator (--tls-ca)",
            Site::Running(_) => "plaintext to the coordinator",
            Site::Start(_) if args.tls => "mutual TLS between every node and to the bench client (--tls)",
            Site::Start(_) => "plaintext (no --tls)",
        },
        "store": match report.stores().as_slice() {
            [] => serde_json::Value::Null,
            [one] => one.to_json(),
            several => several.iter().map(|s| s.to_json()).collect(),
        },
        "weftctl_build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "loadavg_at_start": loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    });
    report
}

/// The scenario's id, title and parameters.
fn describe(scenario: BenchScenario, args: &BenchArgs, s: &Sizes) -> (&'static str, &'static str, serde_json::Value) {
    match scenario {
        BenchScenario::S1 => (
            "s1",
            "independent no-op tasks, submitted at once, until every result",
            json!({"tasks": s.s1_tasks, "tasks_per_run": (args.s1_run_size as usize).min(s.s1_tasks),
                   "batching": "runs of tasks_per_run independent tasks, every StartRun issued at once, each run watched"}),
        ),
        BenchScenario::S1Runs => (
            "s1-runs",
            "one-task runs, submitted at once, each watched to its end",
            json!({"runs": s.s1_tasks, "tasks_per_run": 1,
                   "batching": "every StartRun issued at once over one connection, each run watched with WatchRun"}),
        ),
        BenchScenario::S2 => (
            "s2",
            "sequential round trips of a one-task run (StartRun, WatchRun to the end)",
            json!({"trips": s.s2_trips, "warmup_trips": S2_WARMUP}),
        ),
        BenchScenario::S3 => (
            "s3",
            "chains of no-op tasks, all started at once",
            json!({"chains": s.s3_chains, "chain_length": s.s3_len, "submitted_as": "one run per chain"}),
        ),
        BenchScenario::S4 => {
            ("s4", "one workflow: 1 task, then parallel tasks, then 1 join", json!({"width": s.s4_width}))
        }
        BenchScenario::S5 => (
            "s5",
            "SIGKILL the worker running a sleep task; the other worker is alive",
            json!({"sleep_s": s.s5_sleep.as_secs_f64(), "kill_after_running_s": s.s5_kill_after.as_secs_f64(),
                   "lease_timeout": failover::LEASE_TIMEOUT, "heartbeat_interval": failover::HEARTBEAT_INTERVAL}),
        ),
        BenchScenario::Memory => (
            "memory",
            "coordinator memory with queued tasks and no worker",
            json!({"tasks": s.memory_tasks, "tasks_per_run": BULK_RUN_SIZE.min(s.memory_tasks)}),
        ),
        BenchScenario::Restart => (
            "restart",
            "restart a coordinator whose store holds unfinished tasks",
            json!({"tasks": s.restart_tasks, "tasks_per_run": BULK_RUN_SIZE.min(s.restart_tasks)}),
        ),
        BenchScenario::FanOut => (
            "fan-out",
            "one wide fan-out and join, declared in the spec, then as the instances of one for_each task",
            json!({"width": s.fan_out_width}),
        ),
        BenchScenario::Estimate => (
            "estimate",
            "predicted finish against actual: a mixed process run again and again, cold then warm",
            json!({"runs": s.estimate_runs, "sleep_scale": s.estimate_scale, "workers_slots": [2, 1],
                   "tasks_per_run": 16, "checkpoints_pct": [0, 25, 50, 75]}),
        ),
        BenchScenario::ScaleTasks => (
            "scale-tasks",
            "S1 as the tasks grow, a fresh cluster per point",
            json!({"tasks": s.scaling.tasks, "tasks_per_run": args.s1_run_size}),
        ),
        BenchScenario::ScaleRuns => (
            "scale-runs",
            "s1-runs as the one-task runs grow, a fresh cluster per point",
            json!({"runs": s.scaling.runs, "tasks_per_run": 1}),
        ),
        BenchScenario::ScaleWorkers => (
            "scale-workers",
            "sleep tasks on more and more one-slot workers, a fresh cluster per point",
            json!({"workers": s.scaling.workers, "tasks_per_worker": s.scaling.tasks_per_worker,
                   "sleep_ms": scaling::SLEEP_MS}),
        ),
        BenchScenario::ScaleHistory => (
            "scale-history",
            "store size and restart time as the finished history held grows",
            json!({"finished_tasks": s.scaling.history, "tasks_per_run": 10_000, "retention": "the default (7d)"}),
        ),
        BenchScenario::Scaling => ("scaling", "every scale-* scenario", serde_json::Value::Null),
        BenchScenario::All => ("all", "every scenario", serde_json::Value::Null),
    }
}

/// One repeat of one scenario.
async fn trial(
    scenario: BenchScenario,
    args: &BenchArgs,
    s: &Sizes,
    site: &Site<'_>,
    launcher: Option<&Launcher>,
) -> anyhow::Result<Trial> {
    let launcher = || launcher.ok_or_else(|| anyhow::anyhow!("this scenario needs --start-cluster"));
    let mut session = match scenario {
        BenchScenario::S5 => return failover::s5(launcher()?, s.s5_sleep, s.s5_kill_after).await,
        BenchScenario::Memory => return memory::memory(launcher()?, s.memory_tasks, BULK_RUN_SIZE).await,
        BenchScenario::Restart => return restart::restart(launcher()?, s.restart_tasks, BULK_RUN_SIZE).await,
        BenchScenario::Estimate => return estimate::estimate(launcher()?, s.estimate_runs, s.estimate_scale).await,
        BenchScenario::ScaleTasks => {
            return scaling::tasks(launcher()?, &s.scaling.tasks, args.s1_run_size as usize).await;
        }
        BenchScenario::ScaleRuns => return scaling::runs(launcher()?, &s.scaling.runs).await,
        BenchScenario::ScaleWorkers => {
            return scaling::workers(launcher()?, &s.scaling.workers, s.scaling.tasks_per_worker).await;
        }
        BenchScenario::ScaleHistory => return scaling::history(launcher()?, &s.scaling.history).await,
        _ => Session::open(site).await?,
    };
    let client = session.client.clone();
    let rss_before = session.coordinator_rss();
    let result = match scenario {
        BenchScenario::S1 => throughput::s1(&client, s.s1_tasks, args.s1_run_size as usize).await,
        BenchScenario::S1Runs => throughput::s1(&client, s.s1_tasks, 1).await.map(|mut trial| {
            // What the finished runs, held until retention removes them, cost the coordinator.
            if let (Some(before), Some(after)) = (rss_before, session.coordinator_rss()) {
                let per_run = after.saturating_sub(before) as f64 / s.s1_tasks as f64;
                trial.metric("coordinator_bytes_per_run", per_run, "B");
            }
            trial
        }),
        BenchScenario::S2 => latency::s2(&client, s.s2_trips, S2_WARMUP).await,
        BenchScenario::S3 => dags::s3(&client, s.s3_chains, s.s3_len).await,
        BenchScenario::S4 => dags::s4(&client, s.s4_width).await,
        BenchScenario::FanOut => dags::dynamic_fan_out(&client, s.fan_out_width).await,
        _ => unreachable!("handled above"),
    };
    session.finish(result, matches!(scenario, BenchScenario::S1 | BenchScenario::S1Runs)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use BenchScenario::*;

    #[test]
    fn all_expands_in_order_without_repeats() {
        assert_eq!(selected(&[All]), [S1, S1Runs, S2, S3, S4, S5, Memory, Restart, Estimate, FanOut]);
        assert_eq!(selected(&[S2, All, S2]), [S2, S1, S1Runs, S3, S4, S5, Memory, Restart, Estimate, FanOut]);
        assert_eq!(selected(&[Restart, S1]), [Restart, S1]);
        assert_eq!(selected(&[Scaling, ScaleRuns]), [ScaleTasks, ScaleRuns, ScaleWorkers, ScaleHistory]);
    }

    #[test]
    fn small_is_smaller_everywhere() {
        let (full, small) = (Sizes::of(BenchSize::Full), Sizes::of(BenchSize::Small));
        assert_eq!(
            (full.s1_tasks, full.s2_trips, full.s3_chains * full.s3_len, full.s4_width),
            (20_000, 1_000, 2_000, 1_000)
        );
        assert_eq!((full.memory_tasks, full.restart_tasks), (1_000_000, 100_000));
        assert!(small.s1_tasks < full.s1_tasks && small.s2_trips < full.s2_trips && small.s4_width < full.s4_width);
        assert!(small.memory_tasks < full.memory_tasks && small.restart_tasks < full.restart_tasks);
        assert!(small.s5_sleep < full.s5_sleep);
    }
}

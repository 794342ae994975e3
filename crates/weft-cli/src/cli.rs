//! The command line: global flags and one subcommand per action. clap checks types and
//! ranges, so a bad flag fails with exit code 2 and a message naming it.
use crate::output::OutputFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use weft_model::{RunId, RunStatus, WorkerId};

#[derive(Debug, Parser)]
#[command(name = "weftctl", version, about = "Drive a weft cluster: submit processes, follow runs, watch workers.")]
pub struct Cli {
    /// Coordinator address: host:port, http://host:port, or https://host:port (TLS). For
    /// coordinators sharing a store, all of them comma-separated: the leader is found.
    #[arg(long, global = true, env = "WEFT_COORDINATOR", default_value = "127.0.0.1:7070")]
    pub coordinator: String,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// File holding the bearer token to send, for a coordinator started with --tokens.
    /// Without it the token is taken from the WEFT_TOKEN environment variable, if set.
    #[arg(long, global = true, env = "WEFT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// How to print results: aligned tables, or JSON for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// TLS to the coordinator.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Connect over TLS, verifying the coordinator's certificate with this CA (PEM). The
    /// address is then dialled as https://.
    #[arg(long, global = true, env = "WEFT_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a coordinator that requires one (mutual TLS). Needs
    /// --tls-ca and --tls-key.
    #[arg(long, global = true, env = "WEFT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, global = true, env = "WEFT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The client's TLS settings; `None` for plaintext. The flags' dependencies are checked
    /// here rather than by clap: clap's `requires` on global flags that also come from the
    /// environment refuses a complete command line when the variable is set too (a
    /// coordinator's container has WEFT_TLS_CERT for the coordinator's own certificate, and
    /// its health check runs weftctl with flags).
    pub fn client_tls(&self) -> Result<Option<weft_client::ClientTls>, weft_client::Error> {
        let err = |flag: &str, needs: &str| {
            Err(weft_client::Error::Tls {
                message: format!("--{flag} (or WEFT_{}) needs {needs}", flag.replace('-', "_").to_uppercase()),
            })
        };
        match (&self.tls_ca, &self.tls_cert, &self.tls_key) {
            (None, Some(_), _) => err("tls-cert", "--tls-ca"),
            (_, Some(_), None) => err("tls-cert", "--tls-key"),
            (_, None, Some(_)) => err("tls-key", "--tls-cert"),
            (None, None, None) => Ok(None),
            (Some(ca), cert, key) => {
                Ok(Some(weft_client::ClientTls { ca: ca.clone(), cert: cert.clone(), key: key.clone() }))
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a run of a process file (YAML or JSON) without registering it.
    Submit(SubmitArgs),
    /// Check a process file locally: that it parses and is a valid process.
    Validate {
        /// Process file (.yaml, .yml or .json).
        file: PathBuf,
    },
    /// Register a process file as the next version of a named definition.
    Register {
        /// Process file (.yaml, .yml or .json).
        file: PathBuf,
    },
    /// Start a run of a registered definition.
    Start(StartArgs),
    /// List registered definitions.
    Definitions {
        /// Only definitions whose name starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// List runs, newest first.
    Runs(RunsArgs),
    /// Show one run with the state of every task.
    Run {
        /// Run id (a UUID).
        #[arg(value_parser = parse_run_id)]
        id: RunId,
    },
    /// Show a run's recorded history: every event in order (seq, time, event, task,
    /// attempt, worker, detail), for running and finished runs alike.
    History {
        /// Run id (a UUID).
        #[arg(value_parser = parse_run_id)]
        id: RunId,
    },
    /// Cancel a running run.
    Cancel {
        /// Run id (a UUID).
        #[arg(value_parser = parse_run_id)]
        id: RunId,
        /// Recorded as the run's reason.
        #[arg(long, default_value = "cancelled with weftctl")]
        reason: String,
    },
    /// Show workers (liveness, load, slots, heartbeat lag, failure rate, penalties) and
    /// queues (depth by priority, free slots).
    Workers,
    /// Ask the coordinator's gRPC health service whether it serves: prints the status and
    /// exits 0 when SERVING, 1 otherwise (NOT_SERVING: a stopping coordinator, or for a weft
    /// service, a standby; or unreachable). For container health checks and scripts.
    Health {
        /// A service to ask about (`weft.v1.WorkflowService`, ...); empty means the
        /// coordinator as a whole.
        #[arg(long, default_value = "")]
        service: String,
    },
    /// A live view of the cluster until Ctrl-C: workers, queues, run counts and the latest
    /// anomalies and liveness changes, refreshed every --interval. Redraws in place on a
    /// terminal; otherwise prints one snapshot per interval, separated by a blank line.
    Top(TopArgs),
    /// Stream heartbeats or events as they happen, one line each, until Ctrl-C.
    Watch {
        #[command(subcommand)]
        what: WatchCommand,
    },
    /// Run a whole local cluster (a coordinator and workers), submit a process file to it,
    /// follow the run, then stop everything.
    Dev(DevArgs),
    /// Measure the cluster with BENCH.md's scenarios: throughput (s1), round-trip latency
    /// (s2), chains (s3), fan-out (s4), worker loss (s5), memory with queued tasks, restart.
    Bench(BenchArgs),
    /// Limits for the whole cluster: tasks of any process that `uses` a name it does not
    /// declare take a share of the cluster's limit of that name.
    Limit {
        #[command(subcommand)]
        what: LimitCommand,
    },
    /// Schedules: start runs of a registered definition on a cron pattern.
    Schedule {
        #[command(subcommand)]
        what: ScheduleCommand,
    },
    /// Operators' commands.
    Admin {
        #[command(subcommand)]
        what: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List the stored records the coordinator could not restore at start (a spec that no
    /// longer validates, a row that cannot be decoded): kept in the store's quarantine and
    /// skipped. `-o json` includes each record as stored.
    Quarantine,
    /// Copy the running coordinator's store to FILE (a new file), consistent as of the call:
    /// every change acknowledged before it is in the copy. To restore, stop the
    /// coordinator, put the copy in an empty data directory as `weft.db`, and start it
    /// there: every unfinished run resumes.
    Backup {
        /// Where to write the copy; must not exist.
        file: PathBuf,
    },
    /// Make a private CA and the certificates for mutual TLS in DIR: the coordinator's
    /// (`coordinator.crt`, for --hosts) and a client certificate per --clients name
    /// (`NAME.crt`), with `ca.crt` to verify them. Private keys are written 0600; nothing
    /// is ever overwritten. Keep `ca.key` offline once the certificates are made.
    InitCerts(InitCertsArgs),
    /// Bearer tokens for a coordinator started with --tokens.
    Token {
        #[command(subcommand)]
        what: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new random token: prints it once (weft keeps only its hash) and the line to
    /// add to the coordinator's tokens file, which takes effect when the coordinator
    /// restarts. Roles: submit (start runs, register definitions), read (runs, history,
    /// definitions, workers, watches), admin (cancel runs, admin commands; implies submit
    /// and read), worker (a worker's session and reports).
    New {
        /// The token's name: shown in the coordinator's log when it is refused, never the token.
        #[arg(value_parser = parse_token_name)]
        name: String,
        /// Roles, comma-separated.
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_role)]
        roles: Vec<weft_net::auth::Role>,
    },
}

fn parse_token_name(text: &str) -> Result<String, String> {
    weft_net::auth::check_token_name(text).map(|()| text.to_string())
}

fn parse_role(text: &str) -> Result<weft_net::auth::Role, String> {
    text.trim().parse()
}

#[derive(Debug, Args)]
pub struct InitCertsArgs {
    /// Directory for the files, created if missing.
    pub dir: PathBuf,
    /// DNS names and IP addresses clients reach the coordinator by.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1,coordinator")]
    pub hosts: Vec<String>,
    /// One client certificate per name (workers, weftctl, other clients).
    #[arg(long, value_delimiter = ',', default_value = "worker,weftctl")]
    pub clients: Vec<String>,
    /// Days the coordinator's and clients' certificates are valid (the CA: 10 years).
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// If DIR already holds a CA (`ca.crt`), do nothing and succeed, instead of refusing:
    /// for an init step that runs at every start.
    #[arg(long)]
    pub if_missing: bool,
}

#[derive(Debug, Args)]
pub struct RunOptions {
    /// Idempotency key: submitting again with the same key returns the first run.
    #[arg(long = "key", value_name = "IDEMPOTENCY_KEY")]
    pub key: Option<String>,
    /// Run input, a JSON value handed to every task (e.g. '{"order": 42}').
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub input: Option<serde_json::Value>,
    /// Follow the run with live progress until it ends, then print its summary; exit
    /// non-zero if it failed or was cancelled.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Process file (.yaml, .yml or .json).
    pub file: PathBuf,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Definition name.
    pub name: String,
    /// Definition version; the latest when left out.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub version: Option<u32>,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only runs of this process name.
    #[arg(long)]
    pub process: Option<String>,
    /// Only the run started with this idempotency key.
    #[arg(long)]
    pub key: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<StatusArg> for RunStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Running => RunStatus::Running,
            StatusArg::Succeeded => RunStatus::Succeeded,
            StatusArg::Failed => RunStatus::Failed,
            StatusArg::Cancelled => RunStatus::Cancelled,
        }
    }
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// How often to refresh, from 100ms to 60s (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Print one snapshot and exit; with `-o json`, the cluster status as JSON.
    #[arg(long)]
    pub once: bool,
}

/// The shortest and longest `top --interval`.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_INTERVAL: Duration = Duration::from_secs(60);

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text.trim())
        .map_err(|e| format!("not a duration ({e}): expected something like 500ms or 2s"))?;
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err("must be between 100ms and 60s".to_string());
    }
    Ok(interval)
}

#[derive(Debug, Subcommand)]
pub enum LimitCommand {
    /// Set (or change) a limit: at most --concurrency tasks holding a slot at once, at most
    /// --rate starting per window ("100/min", "5/s", "3/10s").
    Set {
        name: String,
        #[arg(long)]
        concurrency: Option<u32>,
        #[arg(long, default_value = "")]
        rate: String,
    },
    /// List the cluster's limits.
    List,
    /// Delete a limit: tasks using it then run without it.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule, or replace the one of that name (what it has done is kept: a slot it
    /// handled is not handled again). Each slot starts one run, with the idempotency key
    /// `schedule:NAME:SLOT_MS`, across restarts and failovers.
    Add(ScheduleAddArgs),
    /// List schedules with their next fire times, what they fired and skipped, and why.
    List,
    /// Stop starting runs (slots passed while paused are not caught up).
    Pause { name: String },
    /// Start runs again from the next slot.
    Resume { name: String },
    /// Delete a schedule; the runs it started stay.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct ScheduleAddArgs {
    /// The schedule's name.
    pub name: String,
    /// The registered definition it starts.
    pub definition: String,
    /// Cron pattern: five fields (minute hour day-of-month month day-of-week) or six
    /// (seconds first): "0 2 * * *" is every day at 02:00.
    #[arg(long)]
    pub cron: String,
    /// IANA time zone the pattern's times are in.
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// Definition version; the latest when a slot fires if left out.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub version: Option<u32>,
    /// Run input, a JSON value handed to every task.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub input: Option<serde_json::Value>,
    /// While its previous run still runs, a slot is skipped, queued (one at a time), or
    /// started anyway.
    #[arg(long, value_enum, default_value_t = OverlapArg::Skip)]
    pub overlap: OverlapArg,
    /// Slots missed while no coordinator led: none (only the latest, if at most a minute
    /// late), the latest once, or all within --catch-up-window.
    #[arg(long, value_enum, default_value_t = CatchUpArg::Latest)]
    pub catch_up: CatchUpArg,
    /// With --catch-up all: how far back (1s to 30 days).
    #[arg(long, value_parser = parse_window, default_value = "1h")]
    pub catch_up_window: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OverlapArg {
    Skip,
    QueueOne,
    Allow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CatchUpArg {
    None,
    Latest,
    All,
}

fn parse_window(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("not a duration ({e}): expected something like 10m or 1h"))
}

#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Heartbeats as the coordinator receives them.
    Heartbeats {
        /// Only this worker (its id, a UUID; see `weftctl workers`).
        #[arg(long, value_parser = parse_worker_id)]
        worker: Option<WorkerId>,
    },
    /// Run events and worker liveness changes.
    Events {
        /// Only the events of this run (its id, a UUID).
        #[arg(long, value_parser = parse_run_id)]
        run: Option<RunId>,
    },
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Process file to submit; defaults to examples/order-fulfilment.yaml (or a built-in
    /// copy of it when that file is not in the current directory).
    pub file: Option<PathBuf>,
    /// Number of workers to start.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// Slots of each worker; the worker's default when left out.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub slots: Option<u32>,
    /// Keep the temporary directory (logs, data) instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// After the run, keep the cluster up until Ctrl-C (for other clients, `watch`, the
    /// Python example).
    #[arg(long)]
    pub stay: bool,
    /// Directory holding weft-coordinator and weft-worker; defaults to weftctl's own.
    #[arg(long, env = "WEFT_BIN_DIR", value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Run input, a JSON value handed to every task.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub input: Option<serde_json::Value>,
    /// Process files to register as definitions before the run (repeatable): the ones its
    /// `process` tasks start as child runs.
    #[arg(long, value_name = "FILE")]
    pub register: Vec<PathBuf>,
    /// Where the coordinators keep state: `sqlite`, one coordinator with its store in the
    /// temporary directory; or `postgres`, a throwaway PostgreSQL server (its server
    /// programs must be installed) shared by two coordinators, one leading and one standing
    /// by, to try failover: kill the leader and watch the standby take over.
    #[arg(long, value_enum, default_value_t = DevStore::Sqlite)]
    pub store: DevStore,
}

/// `weftctl dev --store`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DevStore {
    Sqlite,
    Postgres,
}

fn parse_margin(text: &str) -> Result<f64, String> {
    let v: f64 = text.parse().map_err(|e| format!("`{text}` is not a number: {e}"))?;
    if !(0.0..=1000.0).contains(&v) {
        return Err(format!("{v} is not a percentage between 0 and 1000"));
    }
    Ok(v)
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Scenarios to run, comma-separated, in the order given; `all` is every one.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub scenarios: Vec<BenchScenario>,
    /// Repeats of each scenario; the table shows the median and the min–max.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// BENCH.md's sizes (full), or much smaller ones that check the benchmark works (small).
    #[arg(long, value_enum, default_value_t = BenchSize::Full)]
    pub size: BenchSize,
    /// Start BENCH.md's topology for each repeat (a coordinator with its --data-dir in a
    /// fresh directory under $TMPDIR, and two one-slot workers, on 127.0.0.1) from the
    /// binaries next to weftctl, instead of using the cluster at --coordinator. s5, memory
    /// and restart need it. Either way the report shows the store the coordinator reports
    /// and calls the numbers durable only if every commit is fsync'd (durability full) to a
    /// filesystem that is not in memory (tmpfs is not).
    #[arg(long)]
    pub start_cluster: bool,
    /// With --start-cluster: one more argument for every coordinator started; repeat it for
    /// several, e.g. `--coordinator-arg=--durability=relaxed` (the report then says NOT
    /// durable, and restart fails). A --data-dir given here replaces the bench's own, so
    /// repeats share it; so does `--store=postgres://…` (PostgreSQL; each coordinator is
    /// measured once it leads).
    #[arg(long = "coordinator-arg", value_name = "ARG", allow_hyphen_values = true, requires = "start_cluster")]
    pub coordinator_args: Vec<String>,
    /// With --start-cluster: directory holding weft-coordinator and weft-worker; defaults
    /// to weftctl's own.
    #[arg(long, env = "WEFT_BIN_DIR", value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// s1: tasks per run. The tasks go in as runs of this many independent tasks, all
    /// submitted at once.
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub s1_run_size: u32,
    /// restart: unfinished tasks in the store when the coordinator is restarted (BENCH.md's
    /// size is 100,000; its target is stated for 1,000,000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub restart_tasks: Option<u32>,
    /// Keep each started cluster's directory (logs, data).
    #[arg(long, requires = "start_cluster")]
    pub keep: bool,
    /// With --start-cluster: run each cluster with mutual TLS (a CA and certificates made
    /// in its directory; workers and the bench's client present client certificates), to
    /// compare with plaintext.
    #[arg(long, requires = "start_cluster")]
    pub tls: bool,
    /// Compare this run with a saved one (`--save-baseline`): every metric more than
    /// --margin worse than the baseline's median is flagged and the command exits 1.
    /// Scenarios that ran with other sizes or on a store of other durability are listed,
    /// not judged.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write this run's medians (and the sizes they ran with) to FILE, for --baseline.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    /// With --baseline: how much worse a median may be, in percent, before it is flagged
    /// (these machines are shared and noisy: runs minutes apart differ by up to 15 %).
    #[arg(long, value_name = "PERCENT", default_value_t = 25.0, value_parser = parse_margin)]
    pub margin: f64,
    /// Where the scale-* scenarios draw their charts (SCENARIO.png, one per scenario).
    #[arg(long, value_name = "DIR", default_value = "target/bench/charts")]
    pub charts: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchScenario {
    S1,
    /// S1's tasks as one-task runs, each watched to its end (BENCH.md's "s1-runs").
    #[value(name = "s1-runs")]
    S1Runs,
    S2,
    S3,
    S4,
    S5,
    Memory,
    Restart,
    /// The cost model against reality: a mixed process run several times on two workers of
    /// different sizes; the error of its predictions at the start and at 25/50/75 %, cold
    /// (the first run) and warm (the others).
    Estimate,
    /// S4's fan-out declared in the spec beside the same tasks as a `for_each`'s instances.
    #[value(name = "fan-out")]
    FanOut,
    /// How cost grows as tasks grow (S1 at several sizes).
    #[value(name = "scale-tasks")]
    ScaleTasks,
    /// How cost grows as one-task runs grow (s1-runs at several sizes).
    #[value(name = "scale-runs")]
    ScaleRuns,
    /// How dispatch keeps up as one-slot workers grow (10 ms sleep tasks).
    #[value(name = "scale-workers")]
    ScaleWorkers,
    /// Store size and restart time as the finished history retention holds grows.
    #[value(name = "scale-history")]
    ScaleHistory,
    /// The four scale-* scenarios (not part of `all`: at the full size they take minutes).
    Scaling,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchSize {
    Full,
    Small,
}

fn parse_run_id(text: &str) -> Result<RunId, String> {
    text.trim()
        .parse()
        .map_err(|_| "not a run id: expected a UUID like 0190b7e4-1c2d-7a3b-8c4d-5e6f7a8b9c0d".to_string())
}

fn parse_worker_id(text: &str) -> Result<WorkerId, String> {
    text.trim().parse().map_err(|_| "not a worker id: expected a UUID (see `weftctl workers`)".to_string())
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("weftctl").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_client_certificate_needs_the_ca_and_its_key() {
        let tls = |ca: Option<&str>, cert: Option<&str>, key: Option<&str>| {
            TlsArgs {
                tls_ca: ca.map(PathBuf::from),
                tls_cert: cert.map(PathBuf::from),
                tls_key: key.map(PathBuf::from),
            }
            .client_tls()
            .map_err(|e| e.to_string())
        };
        assert!(tls(None, None, None).unwrap().is_none());
        assert!(tls(Some("ca"), None, None).unwrap().is_some());
        assert!(tls(Some("ca"), Some("c"), Some("k")).unwrap().is_some_and(|t| t.key.is_some()));
        assert_eq!(tls(None, Some("c"), Some("k")).unwrap_err(), "TLS: --tls-cert (or WEFT_TLS_CERT) needs --tls-ca");
        assert_eq!(tls(Some("ca"), Some("c"), None).unwrap_err(), "TLS: --tls-cert (or WEFT_TLS_CERT) needs --tls-key");
        assert_eq!(tls(Some("ca"), None, Some("k")).unwrap_err(), "TLS: --tls-key (or WEFT_TLS_KEY) needs --tls-cert");
        // Checked after parsing (exit 2 through weft_client::Error::is_local_input), because
        // clap's own check refused a complete command line when WEFT_TLS_CERT was set too.
        assert!(weft_client::Error::Tls { message: String::new() }.is_local_input());
    }

    #[test]
    fn submit_flags_parse() {
        let cli =
            parse(&["submit", "f.yaml", "--key", "k1", "--input", r#"{"order": 42}"#, "--wait", "-o", "json"]).unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        let Command::Submit(args) = cli.command else { panic!("expected submit") };
        assert_eq!(args.run.key.as_deref(), Some("k1"));
        assert_eq!(args.run.input, Some(serde_json::json!({"order": 42})));
        assert!(args.run.wait);
    }

    #[test]
    fn top_interval_defaults_to_a_second_and_accepts_100ms_to_60s() {
        let Command::Top(args) = parse(&["top"]).unwrap().command else { panic!("expected top") };
        assert_eq!(args.interval, Duration::from_secs(1));
        assert!(!args.once);
        for (text, expected) in [("100ms", 100), ("2s", 2_000), ("1m", 60_000), (" 750ms ", 750)] {
            let Command::Top(args) = parse(&["top", "--interval", text, "--once"]).unwrap().command else {
                panic!("expected top")
            };
            assert_eq!(args.interval, Duration::from_millis(expected), "{text}");
            assert!(args.once);
        }
        let err = parse(&["top", "--interval", "50ms"]).unwrap_err().to_string();
        assert!(err.contains("must be between 100ms and 60s"), "{err}");
    }

    #[test]
    fn bench_passes_coordinator_args_through_one_per_flag() {
        let args = [
            "bench",
            "--start-cluster",
            "--coordinator-arg",
            "--durability",
            "--coordinator-arg=relaxed",
            "--repeat",
            "1",
        ];
        let Command::Bench(bench) = parse(&args).unwrap().command else { panic!("expected bench") };
        assert_eq!(bench.coordinator_args, ["--durability", "relaxed"]);
        assert_eq!(bench.repeat, 1);
        let Command::Bench(bench) = parse(&["bench"]).unwrap().command else { panic!("expected bench") };
        assert!(bench.coordinator_args.is_empty());
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_flag() {
        for (args, flag) in [
            (&["submit", "f.yaml", "--input", "{nope"][..], "--input"),
            (&["run", "not-a-uuid"][..], "<ID>"),
            (&["history", "not-a-uuid"][..], "<ID>"),
            (&["runs", "--status", "sleeping"][..], "--status"),
            (&["runs", "--limit", "0"][..], "--limit"),
            (&["start", "orders", "--version", "0"][..], "--version"),
            (&["dev", "--workers", "0"][..], "--workers"),
            (&["bench", "--scenarios", "s9"][..], "--scenarios"),
            (&["bench", "--repeat", "0"][..], "--repeat"),
            (&["bench", "--size", "huge"][..], "--size"),
            (&["bench", "--s1-run-size", "0"][..], "--s1-run-size"),
            (&["bench", "--keep"][..], "--start-cluster"),
            (&["bench", "--tls"][..], "--start-cluster"),
            (&["bench", "--coordinator-arg=--durability=relaxed"][..], "--start-cluster"),
            (&["top", "--interval", "50ms"][..], "--interval"),
            (&["top", "--interval", "61s"][..], "--interval"),
            (&["top", "--interval", "0s"][..], "--interval"),
            (&["top", "--interval", "soon"][..], "--interval"),
            (&["top", "--interval", "5"][..], "--interval"),
            (&["admin", "init-certs", "d", "--days", "0"][..], "--days"),
            (&["admin", "token", "new", "ci"][..], "--roles"),
            (&["admin", "token", "new", "ci", "--roles", "submit,owner"][..], "--roles"),
            (&["admin", "token", "new", "c i", "--roles", "read"][..], "<NAME>"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }
}

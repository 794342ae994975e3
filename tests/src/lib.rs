//! A harness that starts the real `weft-coordinator`, `weft-worker` and `weftctl`
//! binaries as child processes on free loopback ports, each with its own log file in a
//! temporary directory, and stops them (by pid) when dropped.
//!
//! - Readiness is awaited, never slept for: each binary prints one JSON line on stdout
//!   when it is ready, and the harness reads it.
//! - Log lines can be awaited too: stderr is copied to a file and to a broadcast channel.
//! - `WEFT_KEEP_TEST_DIR=1` keeps the temporary directory (its path is printed).
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast;
use weft_client::Client;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// Directory holding the workspace's binaries (next to the test executable's `deps/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Builds the binaries once per test process, so `cargo test` alone is enough.
/// `WEFT_E2E_BIN_DIR` points the tests at binaries built elsewhere instead (a release
/// build, say: `WEFT_E2E_BIN_DIR=target/release`), and nothing is built.
pub fn ensure_built() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        if let Some(dir) = std::env::var_os("WEFT_E2E_BIN_DIR") {
            return std::fs::canonicalize(&dir).unwrap_or_else(|e| panic!("WEFT_E2E_BIN_DIR {dir:?}: {e}"));
        }
        let dir = bin_dir();
        let release = dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--bins", "-p", "weft-coordinator", "-p", "weft-worker", "-p", "weft-cli"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build for the e2e binaries");
        assert!(status.success(), "cargo build of the weft binaries failed");
        dir
    })
}

/// The path of a workspace binary.
pub fn binary(name: &str) -> PathBuf {
    ensure_built().join(name)
}

/// The repository root (for examples/ and proto/).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// A child process that is killed by pid when dropped (`weft-procs`'s harness, shared with
/// `weftctl dev` and `bench`, with every stderr line also broadcast for [`await_line`]).
pub struct Proc {
    pub name: String,
    child: weft_procs::Child,
    pub log: PathBuf,
    /// The JSON line the process printed when ready.
    pub ready: serde_json::Value,
}

impl Proc {
    /// Starts `program` with `args`, its stderr copied to `dir/<name>.log`, and waits for its
    /// ready line on stdout.
    pub async fn start(name: &str, program: &Path, args: &[String], dir: &Path) -> Proc {
        Proc::start_with_env(name, program, args, &[], dir).await
    }

    /// [`Proc::start`] with `env` added to the test's environment.
    pub async fn start_with_env(name: &str, program: &Path, args: &[String], env: &[(&str, &str)], dir: &Path) -> Proc {
        let spec = weft_procs::ChildSpec {
            env,
            ready_timeout: WAIT,
            stderr_lines: true,
            ..weft_procs::ChildSpec::new(name, program, args, dir)
        };
        let (child, started) = weft_procs::Child::start(&spec).await.unwrap_or_else(|e| panic!("{e}"));
        let log = child.log().to_path_buf();
        Proc { name: name.to_string(), child, log, ready: started.ready }
    }

    pub fn pid(&self) -> i32 {
        self.child.pid().expect("running child has a pid") as i32
    }

    /// Subscribes to stderr lines from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.child.subscribe().expect("started with stderr lines")
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        assert!(self.child.signal(sig), "{}: signal {sig} not delivered (already reaped?)", self.name);
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(WAIT, self.child.wait()).await.expect("process exit in time").ok()?;
        status.code()
    }
}

/// Waits until a line containing every one of `needles` arrives on `rx`.
pub async fn await_line(rx: &mut broadcast::Receiver<String>, needles: &[&str]) -> String {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("stream ended before a line with {needles:?}"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no log line with {needles:?} within {WAIT:?}"))
}

/// A coordinator and its workers.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub coordinator: Proc,
    /// `127.0.0.1:PORT` of the gRPC server.
    pub grpc: String,
    pub metrics: Option<String>,
    pub workers: Vec<Proc>,
    restarts: u32,
}

/// Starts a coordinator listening on `listen`, its store in `dir/data`, its log in `log_dir`,
/// with the heartbeat log on.
async fn start_coordinator(dir: &Path, log_dir: &Path, listen: &str, extra: &[&str]) -> Proc {
    let data = dir.join("data").to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        "--listen".into(),
        listen.into(),
        "--metrics-listen".into(),
        "127.0.0.1:0".into(),
        "--log".into(),
        "info,weft::heartbeat=info".into(),
        "--data-dir".into(),
        data,
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Proc::start("coordinator", &binary("weft-coordinator"), &args, log_dir).await
}

/// Starts a coordinator on `listen` with its store in `data` (wherever that is: a tmpfs, a
/// FUSE mount), `/metrics` off, its log in `log_dir`, plus `extra` flags.
pub async fn coordinator_on(listen: &str, data: &Path, log_dir: &Path, extra: &[&str]) -> Proc {
    let mut args: Vec<String> = ["--listen", listen, "--metrics-listen", "off", "--data-dir"]
        .iter()
        .map(|s| s.to_string())
        .chain([data.to_string_lossy().into_owned()])
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    std::fs::create_dir_all(log_dir).expect("log dir");
    Proc::start("coordinator", &binary("weft-coordinator"), &args, log_dir).await
}

/// A worker as the harness started it.
pub struct WorkerSpec<'a> {
    pub slots: u32,
    pub queues: &'a str,
    pub kinds: Option<&'a str>,
    pub extra: &'a [&'a str],
}

impl Default for WorkerSpec<'_> {
    fn default() -> Self {
        WorkerSpec { slots: 2, queues: "default", kinds: None, extra: &[] }
    }
}

impl Cluster {
    /// Starts a coordinator with the given extra flags and no workers.
    pub async fn start(coordinator_args: &[&str]) -> Cluster {
        let dir = tempfile::Builder::new().prefix("weft-e2e-").tempdir().expect("temp dir");
        let coordinator = start_coordinator(dir.path(), dir.path(), "127.0.0.1:0", coordinator_args).await;
        let grpc = coordinator.ready["grpc"].as_str().expect("grpc address").to_string();
        let metrics = coordinator.ready["metrics"].as_str().map(String::from);
        Cluster { dir, coordinator, grpc, metrics, workers: Vec::new(), restarts: 0 }
    }

    /// Kills the coordinator with SIGKILL and starts a new one on the same data directory and
    /// gRPC port, so workers find it again. Its log goes to `restart-N/coordinator.log`.
    /// Returns how long the new one took from spawn to ready (store loaded, serving).
    pub async fn crash_and_restart_coordinator(&mut self, extra: &[&str]) -> Duration {
        self.coordinator.signal(nix::sys::signal::Signal::SIGKILL);
        self.coordinator.wait().await;
        self.start_coordinator_again(extra).await
    }

    /// Stops the coordinator with SIGTERM and waits until it has exited; its data directory
    /// (`data_dir`) is then free to change before [`Cluster::start_coordinator_again`].
    pub async fn stop_coordinator(&mut self) {
        self.coordinator.signal(nix::sys::signal::Signal::SIGTERM);
        self.coordinator.wait().await;
    }

    /// Starts a coordinator again on the same data directory and gRPC port, after the last
    /// one exited. Its log goes to `restart-N/coordinator.log`. Returns how long it took
    /// from spawn to ready.
    pub async fn start_coordinator_again(&mut self, extra: &[&str]) -> Duration {
        self.restarts += 1;
        let log_dir = self.dir.path().join(format!("restart-{}", self.restarts));
        std::fs::create_dir_all(&log_dir).expect("restart log dir");
        let started = std::time::Instant::now();
        self.coordinator = start_coordinator(self.dir.path(), &log_dir, &self.grpc, extra).await;
        started.elapsed()
    }

    /// The coordinator's data directory (its store is `weft.db` there).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts a worker and waits until it has registered. Returns its index.
    pub async fn add_worker(&mut self, spec: WorkerSpec<'_>) -> usize {
        self.add_worker_with_env(spec, &[]).await
    }

    /// [`Cluster::add_worker`] with `env` added to the worker's environment.
    pub async fn add_worker_with_env(&mut self, spec: WorkerSpec<'_>, env: &[(&str, &str)]) -> usize {
        let n = self.workers.len();
        let mut args: Vec<String> = vec![
            "--coordinator".into(),
            format!("http://{}", self.grpc),
            "--name".into(),
            format!("worker-{n}"),
            "--slots".into(),
            spec.slots.to_string(),
            "--queues".into(),
            spec.queues.into(),
        ];
        if let Some(kinds) = spec.kinds {
            args.extend(["--kinds".into(), kinds.into()]);
        }
        args.extend(spec.extra.iter().map(|s| s.to_string()));
        let worker =
            Proc::start_with_env(&format!("worker-{n}"), &binary("weft-worker"), &args, env, self.dir.path()).await;
        self.workers.push(worker);
        n
    }

    /// The worker id a worker printed when it registered.
    pub fn worker_id(&self, i: usize) -> String {
        self.workers[i].ready["worker_id"].as_str().expect("worker_id").to_string()
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.grpc).await.expect("connect to coordinator")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("WEFT_KEEP_TEST_DIR").is_some() {
            let path = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir")).keep();
            eprintln!("kept test directory {}", path.display());
        }
    }
}

/// A Python interpreter that can import `grpc`, `grpc_tools` and `prometheus_client`:
/// `$WEFT_PYTHON`, else `python3` if it already can, else a virtualenv made once under the
/// target directory with `tests/requirements.txt` installed.
pub fn python_with_grpc() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("WEFT_PYTHON") {
            return PathBuf::from(p);
        }
        let can_import = |python: &Path| {
            std::process::Command::new(python)
                .args(["-c", "import grpc, grpc_tools, prometheus_client"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let system = PathBuf::from("python3");
        if can_import(&system) {
            return system;
        }
        let venv = bin_dir().parent().expect("target dir").join("weft-python");
        let python = venv.join("bin/python");
        if !can_import(&python) {
            let run = |cmd: &mut std::process::Command| {
                let status = cmd.status().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
                assert!(status.success(), "{cmd:?} failed");
            };
            run(std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv));
            let requirements = repo_root().join("tests/requirements.txt");
            run(std::process::Command::new(&python).args(["-m", "pip", "install", "--quiet", "-r"]).arg(requirements));
        }
        python
    })
}

/// Fault injection on workers, for the chaos tests.
impl Cluster {
    /// Kills worker `i` with SIGKILL and waits until it has exited. Its entry stays in
    /// `workers` (so new workers get fresh names and indices), its log stays on disk.
    pub async fn kill_worker(&mut self, i: usize) {
        self.workers[i].signal(nix::sys::signal::Signal::SIGKILL);
        self.workers[i].wait().await;
    }

    /// Freezes worker `i` with SIGSTOP: it keeps its sockets open but sends nothing, like a
    /// hung process or a long GC pause.
    pub fn stop_worker(&self, i: usize) {
        self.workers[i].signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Resumes a worker frozen by [`Cluster::stop_worker`] with SIGCONT.
    pub fn continue_worker(&self, i: usize) {
        self.workers[i].signal(nix::sys::signal::Signal::SIGCONT);
    }

    /// The coordinator's Prometheus text from `/metrics`, fetched with a plain HTTP/1.0 GET.
    pub async fn metrics_text(&self) -> String {
        let addr = self.metrics.as_deref().expect("the coordinator serves /metrics");
        let fetch = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
            let mut response = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response).await?;
            std::io::Result::Ok(response)
        };
        let response =
            tokio::time::timeout(WAIT, fetch).await.expect("/metrics answers in time").expect("GET /metrics");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "GET /metrics: {head}");
        body.to_string()
    }
}

/// The value of one sample in Prometheus text, `name` written with its labels exactly as
/// exposed (`weft_worker_reports_total{outcome="stale"}`); `None` if absent.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.split_whitespace().next()?.parse().ok())
}

//! Power loss: the coordinator's data directory is on `weft-lazyfs` (tests/lazyfs), a FUSE
//! filesystem that keeps what was not fsync'd in memory and drops it on SIGUSR1, as Jepsen's
//! LazyFS does. SIGKILL alone keeps the kernel's page cache, so the SIGKILL tests in
//! `durability.rs` would pass with fsync off; these would not.
//!
//! The scenario: a definition is registered; runs are started from it with idempotency keys
//! and finish (their task results recorded); a run is cancelled; one is left running. Then
//! the coordinator is SIGKILLed, the power is cut, and a new coordinator on the same data
//! directory must show everything as it was acknowledged. With `--durability relaxed` the
//! same scenario must lose something, which shows that the test can fail.
//!
//! Needs `/dev/fuse` and the right to mount (root): without them the tests fail, never skip.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use weft_client::pb;
use weft_client::{Client, RunId, RunSource, StartOptions};
use weft_e2e::{Proc, WAIT, binary};

use crate::support::{assert_succeeded, spec, wait};

/// Builds `weft-lazyfs` once per test process, next to the other binaries (as
/// `weft_e2e::ensure_built` does for those).
fn lazyfs_binary() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = weft_e2e::ensure_built();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "weft-lazyfs"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build for weft-lazyfs");
        assert!(status.success(), "cargo build -p weft-lazyfs failed");
        dir.join("weft-lazyfs")
    })
}

/// A mounted `weft-lazyfs`, with a temporary directory holding the mount point and the logs.
/// Dropping it stops the process by pid (SIGTERM, then SIGKILL) and unmounts the path
/// (`umount -l`) if it is still mounted, also when the test failed.
struct LazyFs {
    pid: i32,
    mountpoint: PathBuf,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    exited: std::sync::mpsc::Receiver<()>,
    dir: Option<tempfile::TempDir>,
}

impl LazyFs {
    async fn mount() -> LazyFs {
        assert!(
            Path::new("/dev/fuse").exists(),
            "the power-loss tests need FUSE: /dev/fuse is missing (modprobe fuse, or run where FUSE is available)"
        );
        let dir = tempfile::Builder::new().prefix("weft-e2e-power-").tempdir().expect("temp dir");
        let mountpoint = dir.path().join("disk");
        std::fs::create_dir(&mountpoint).expect("mount point");
        let log_path = dir.path().join("lazyfs.log");
        let mut child = Command::new(lazyfs_binary())
            .arg(&mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).expect("lazyfs log"))
            .spawn()
            .expect("starting weft-lazyfs");
        let pid = child.id() as i32;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (exit_tx, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = child.wait();
            let _ = exit_tx.send(());
        });
        let mut fs = LazyFs { pid, mountpoint, lines, exited, dir: Some(dir) };
        let ready = tokio::time::timeout(WAIT, fs.lines.recv()).await;
        let Ok(Some(ready)) = ready else {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "weft-lazyfs could not mount FUSE at {}: {}\nThe power-loss tests need /dev/fuse and the right to \
                 mount (root, as in CI).",
                fs.mountpoint.display(),
                log.trim()
            );
        };
        assert!(ready.starts_with(r#"{"mounted":"#), "weft-lazyfs ready line: {ready}");
        fs
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("temp dir").path()
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig).expect("signal weft-lazyfs");
    }

    /// Cuts the power and returns what the cut dropped (`files`, `bytes_dropped`, ...).
    async fn power_cut(&mut self) -> serde_json::Value {
        self.signal(nix::sys::signal::Signal::SIGUSR1);
        let line = tokio::time::timeout(WAIT, self.lines.recv()).await.expect("power cut in time").expect("a line");
        let mut value: serde_json::Value = serde_json::from_str(&line).expect("power_cut line is JSON");
        value["power_cut"].take()
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        if matches!(self.exited.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty)) {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            if self.exited.recv_timeout(WAIT).is_err() {
                self.signal(nix::sys::signal::Signal::SIGKILL);
                let _ = self.exited.recv_timeout(WAIT);
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let path = self.mountpoint.to_string_lossy();
        if mounts.lines().any(|l| l.split(' ').nth(4) == Some(&*path)) {
            let _ = Command::new("umount").arg("-l").arg(&self.mountpoint).status();
        }
        if std::env::var_os("WEFT_KEEP_TEST_DIR").is_some() {
            let dir = self.dir.take().expect("temp dir");
            eprintln!("kept test directory {}", dir.keep().display());
        }
    }
}

/// Starts a coordinator on `listen` with its store in `data`, its log in `log_dir`.
async fn coordinator(listen: &str, data: &Path, durability: &str, log_dir: &Path) -> Proc {
    weft_e2e::coordinator_on(listen, data, log_dir, &["--durability", durability]).await
}

const ORDER: &str = r#"
name: power-order
workflows:
  - name: ship
    steps:
      - { name: pick, kind: noop, params: { result: { picked: true } } }
      - { name: pack, kind: noop, params: { result: "packed" } }
"#;

const LONG: &str = "name: power-long\nsteps:\n  - { name: wait, kind: sleep, params: { duration: 120s } }\n";

/// A run as it was acknowledged: its idempotency key, id, status, and what started it.
struct AckedRun {
    key: String,
    id: RunId,
    status: pb::RunStatus,
    from_definition: bool,
}

/// Everything the coordinator acknowledged before the power cut.
struct Acknowledged {
    definition: (String, u32),
    runs: Vec<AckedRun>,
}

/// Registers, starts, finishes and cancels, returning what was acknowledged.
async fn acknowledge(client: &Client) -> Acknowledged {
    let order = spec(ORDER);
    let registered = client.register_definition(&order).await.expect("register");
    let mut runs = Vec::new();
    let source = RunSource::Definition { name: &registered.name, version: Some(registered.version) };
    for i in 0..3 {
        let key = format!("order-{i}");
        let options = StartOptions { idempotency_key: Some(key.clone()), ..Default::default() };
        let started = client.start_run(source, options).await.expect("start run");
        assert!(started.created);
        // Its task results are acknowledged to the worker, and the run shown succeeded.
        let run = wait(client, started.run_id).await;
        assert_succeeded(&run);
        runs.push(AckedRun { key, id: started.run_id, status: pb::RunStatus::Succeeded, from_definition: true });
    }
    let long = spec(LONG);
    for key in ["cancelled", "running"] {
        let options = StartOptions { idempotency_key: Some(key.into()), ..Default::default() };
        let started = client.start_run(RunSource::Inline(&long), options).await.expect("start long run");
        let status = if key == "cancelled" {
            let run = client.cancel_run(started.run_id, "power-loss test").await.expect("cancel");
            assert_eq!(run.status, pb::RunStatus::Cancelled as i32, "the cancel's answer shows it cancelled");
            pb::RunStatus::Cancelled
        } else {
            let run = client.get_run(started.run_id).await.expect("get run");
            assert_eq!(run.status, pb::RunStatus::Running as i32);
            pb::RunStatus::Running
        };
        runs.push(AckedRun { key: key.into(), id: started.run_id, status, from_definition: false });
    }
    Acknowledged { definition: (registered.name, registered.version), runs }
}

/// What of `acked` the coordinator no longer shows as acknowledged; empty when nothing is lost.
async fn losses(client: &Client, acked: &Acknowledged) -> Vec<String> {
    let mut lost = Vec::new();
    let (name, version) = &acked.definition;
    if let Err(e) = client.get_definition(name, Some(*version)).await {
        lost.push(format!("definition {name} v{version}: {e}"));
    }
    for r in &acked.runs {
        match client.get_run(r.id).await {
            Ok(run) if run.status == r.status as i32 => {}
            Ok(run) => {
                lost.push(format!("run `{}` ({}) acknowledged {:?}, now status {}", r.key, r.id, r.status, run.status))
            }
            Err(e) => lost.push(format!("run `{}` ({}) acknowledged {:?}: {e}", r.key, r.id, r.status)),
        }
    }
    // Idempotency keys: the same start again gives the same run and creates nothing.
    let long = spec(LONG);
    for r in &acked.runs {
        let source = if r.from_definition {
            RunSource::Definition { name, version: Some(*version) }
        } else {
            RunSource::Inline(&long)
        };
        let options = StartOptions { idempotency_key: Some(r.key.clone()), ..Default::default() };
        match client.start_run(source, options).await {
            Ok(again) if (again.run_id, again.created) == (r.id, false) => {}
            Ok(again) => lost.push(format!(
                "idempotency key `{}` gave run {} (created: {}), not {}",
                r.key, again.run_id, again.created, r.id
            )),
            Err(e) => lost.push(format!("idempotency key `{}`: {e}", r.key)),
        }
    }
    lost
}

/// Runs the scenario with `--durability durability`; returns what was lost and the cut.
async fn acknowledge_then_cut_the_power(durability: &str) -> (Vec<String>, serde_json::Value) {
    let mut fs = LazyFs::mount().await;
    let data = fs.mountpoint.join("data");
    let log_dir = fs.dir().to_path_buf();
    let mut first = coordinator("127.0.0.1:0", &data, durability, &log_dir).await;
    let grpc = first.ready["grpc"].as_str().expect("grpc address").to_string();
    let worker_args: Vec<String> = ["--coordinator", &format!("http://{grpc}"), "--name", "worker-0", "--slots", "4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let _worker = Proc::start("worker-0", &binary("weft-worker"), &worker_args, &log_dir).await;
    let client = Client::connect(&grpc).await.expect("connect");
    let acked = acknowledge(&client).await;
    assert!(losses(&client, &acked).await.is_empty(), "everything is there before the cut");
    // A file nobody syncs: the cut must remove it, or no cut happened.
    let canary = fs.mountpoint.join("canary");
    std::fs::write(&canary, b"never synced").expect("canary");

    first.signal(nix::sys::signal::Signal::SIGKILL);
    first.wait().await;
    let cut = fs.power_cut().await;
    assert!(!canary.exists(), "the power cut dropped the unsynced canary file: {cut}");
    let restarted = coordinator(&grpc, &data, durability, &log_dir.join("after-cut")).await;
    let client = Client::connect(&grpc).await.expect("connect after the cut");
    let lost = losses(&client, &acked).await;
    drop(restarted);
    (lost, cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_power_cut_everything_acknowledged_is_there() {
    let (lost, cut) = acknowledge_then_cut_the_power("full").await;
    assert!(lost.is_empty(), "acknowledged but lost in a power cut ({cut}):\n{}", lost.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_relaxed_durability_a_power_cut_loses_acknowledged_changes() {
    let (lost, cut) = acknowledge_then_cut_the_power("relaxed").await;
    eprintln!("--durability relaxed, power cut {cut}, lost:\n{}", lost.join("\n"));
    assert!(!lost.is_empty(), "relaxed durability syncs only at checkpoints: a power cut must lose something ({cut})");
    assert!(cut["bytes_dropped"].as_u64().unwrap_or(0) > 0, "{cut}");
}

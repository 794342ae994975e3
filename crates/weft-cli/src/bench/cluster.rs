//! The clusters benchmarks run on: BENCH.md's topology started from the binaries next to
//! weftctl (one coordinator on 127.0.0.1:0 with a `--data-dir` in a fresh temporary
//! directory, two one-slot workers), or a cluster someone else runs. Process handling is
//! [`crate::procs`]. Whether the store is durable is what the coordinator reports
//! ([`Cluster::store`]), not what the bench asked for. With [`Launcher::with_tls`] every
//! cluster runs mutual TLS, on certificates made for it in its directory.
use super::store::{self, Store};
use crate::procs::{Binaries, CoordinatorReady, Procs, Started, WorkerReady};
use anyhow::{Context as _, bail};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weft_client::{Client, ClientTls, ConnectOptions};

/// How long a child may take to print its ready line. Generous: a coordinator may reload
/// a large store before it is ready, and debug builds start slowly.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long children get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// What clap says when the coordinator does not know a flag.
const UNKNOWN_DATA_DIR: &str = "unexpected argument '--data-dir'";

/// Starts clusters for trials. Knows whether the coordinator accepts `--data-dir`.
pub struct Launcher {
    binaries: Binaries,
    /// Whether coordinators accept the bench's `--data-dir`; `None` until the first start
    /// has found out.
    data_dir: Cell<Option<bool>>,
    /// More arguments for every coordinator (`--coordinator-arg`).
    coordinator_args: Vec<String>,
    keep: bool,
    /// Mutual TLS between every node and to the bench's client (`--tls`).
    tls: bool,
}

impl Launcher {
    pub fn new(binaries: Binaries, coordinator_args: Vec<String>, keep: bool) -> Self {
        Launcher { binaries, data_dir: Cell::new(None), coordinator_args, keep, tls: false }
    }

    /// Starts every cluster with mutual TLS: a CA and certificates made for it (by
    /// `admin init-certs`' code), the coordinator requiring client certificates, workers
    /// and the bench's client presenting theirs.
    pub fn with_tls(self, tls: bool) -> Self {
        Launcher { tls, ..self }
    }

    /// A coordinator and `workers` one-slot workers, each ready (a worker prints its ready
    /// line once registered, so the cluster can dispatch when this returns).
    pub async fn start(&self, workers: u32) -> anyhow::Result<Cluster> {
        self.start_sized(&vec![1; workers as usize]).await
    }

    /// A coordinator and one worker per entry of `slots`, with that many slots each.
    pub async fn start_sized(&self, slots: &[u32]) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("weft-bench-").tempdir().context("creating a temporary directory")?;
        let begun = Instant::now();
        let tls = match self.tls {
            true => {
                let plan = crate::certs::Plan {
                    hosts: vec!["127.0.0.1".into(), "localhost".into()],
                    clients: vec!["worker".into(), "bench".into()],
                    days: 1,
                };
                Some(crate::certs::make(&dir.path().join("certs"), &plan).context("making TLS certificates")?)
            }
            false => None,
        };
        let mut cluster = Cluster {
            dir,
            keep: self.keep,
            procs: Procs::default(),
            coordinator_name: String::new(),
            coordinator: None,
            workers: Vec::new(),
            started: 0,
            own_data_dir: false,
            coordinator_args: self.coordinator_args.clone(),
            coordinator_program: self.binaries.coordinator.clone(),
            worker_program: self.binaries.worker.clone(),
            startup: Duration::ZERO,
            tls,
        };
        self.start_coordinator(&mut cluster).await?;
        for &n in slots {
            cluster.add_worker_with_slots(n).await?;
        }
        cluster.startup = begun.elapsed();
        Ok(cluster)
    }

    async fn start_coordinator(&self, cluster: &mut Cluster) -> anyhow::Result<()> {
        if names_data_dir(&self.coordinator_args) {
            // The caller chose the store: pass theirs, not ours.
            self.data_dir.set(Some(false));
        }
        if self.data_dir.get() != Some(false) {
            match cluster.start_coordinator(true).await {
                Ok(()) => {
                    self.data_dir.set(Some(true));
                    return Ok(());
                }
                Err(e) if format!("{e:#}").contains(UNKNOWN_DATA_DIR) => {
                    eprintln!(
                        "warning: this weft-coordinator rejects --data-dir (it has no durable store yet): benchmarking \
                         its in-memory state instead; these are not durable numbers, and `restart` has nothing to reload"
                    );
                    self.data_dir.set(Some(false));
                    // The refused child has exited: start afresh under the same name.
                    cluster.procs = Procs::default();
                    cluster.started = 0;
                }
                Err(e) => return Err(e),
            }
        }
        cluster.start_coordinator(false).await
    }
}

/// A started cluster. Dropping it SIGKILLs every child; [`Cluster::stop`] stops them in order.
pub struct Cluster {
    dir: tempfile::TempDir,
    keep: bool,
    procs: Procs,
    coordinator_name: String,
    coordinator: Option<Started<CoordinatorReady>>,
    /// (child name, ready line) of every worker started, alive or not.
    workers: Vec<(String, Started<WorkerReady>)>,
    /// Coordinators started so far (names the next one).
    started: u32,
    /// Whether the coordinator got the bench's `--data-dir`.
    own_data_dir: bool,
    /// More arguments for every coordinator (`--coordinator-arg`).
    coordinator_args: Vec<String>,
    coordinator_program: PathBuf,
    worker_program: PathBuf,
    startup: Duration,
    /// The certificates of a mutual-TLS cluster.
    tls: Option<crate::certs::Made>,
}

/// Memory of one process, from /proc/PID/status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now.
    pub rss: u64,
    /// Peak resident set size (high water mark) since the process started.
    pub peak: u64,
}

impl Cluster {
    /// `127.0.0.1:PORT` of the current coordinator.
    pub fn address(&self) -> &str {
        self.coordinator.as_ref().map_or("", |c| c.ready.grpc.as_str())
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        let tls = self.tls.as_ref().map(|made| {
            let (_, cert, key) =
                made.clients.iter().find(|(name, _, _)| name == "bench").expect("the bench's certificate");
            ClientTls::new(&made.ca_cert).with_identity(cert, key)
        });
        Ok(Client::connect_with(self.address(), &ConnectOptions { tls, ..Default::default() }).await?)
    }

    /// From the first spawn to the last worker's ready line.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// The current coordinator's store, as it reports it (`GetClusterStatus`).
    pub async fn store(&self) -> anyhow::Result<Store> {
        store::read(&self.client().await?).await
    }

    /// When the current coordinator was spawned and when it printed its ready line.
    pub fn coordinator_times(&self) -> Option<(Instant, Instant)> {
        self.coordinator.as_ref().map(|c| (c.spawned_at, c.ready_at))
    }

    /// The worker's spawn-to-ready time, by worker id.
    pub fn worker_spawn_to_ready(&self, worker_id: &str) -> Option<Duration> {
        self.workers.iter().find(|(_, w)| w.ready.worker_id == worker_id).map(|(_, w)| w.spawn_to_ready())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts a coordinator with the bench's `--data-dir` (`own_data_dir`) and the extra
    /// arguments.
    async fn start_coordinator(&mut self, own_data_dir: bool) -> anyhow::Result<()> {
        self.started += 1;
        let name = if self.started == 1 { "coordinator".to_string() } else { format!("coordinator-{}", self.started) };
        let mut args: Vec<String> =
            ["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"].map(String::from).to_vec();
        if own_data_dir {
            args.extend(["--data-dir".to_string(), self.data_dir().display().to_string()]);
        }
        if let Some(made) = &self.tls {
            for (flag, path) in
                [("--tls-cert", &made.server_cert), ("--tls-key", &made.server_key), ("--tls-client-ca", &made.ca_cert)]
            {
                args.extend([flag.to_string(), path.display().to_string()]);
            }
        }
        args.extend(self.coordinator_args.iter().cloned());
        let program = self.coordinator_program.clone();
        let started =
            self.procs.launch(&crate::procs::spec(&name, &program, &args, self.dir.path(), READY_TIMEOUT)).await?;
        self.coordinator_name = name;
        self.coordinator = Some(started);
        self.own_data_dir = own_data_dir;
        if names_shared_store(&self.coordinator_args) && self.tls.is_none() {
            // Elected through PostgreSQL after its ready line: measure it once it leads.
            let client = weft_client::Client::connect(self.address()).await?;
            if !client.wait_leading(READY_TIMEOUT).await? {
                anyhow::bail!("the coordinator did not lead within {READY_TIMEOUT:?} of starting");
            }
        }
        Ok(())
    }

    /// Starts one more one-slot worker on the current coordinator; returns its worker id.
    pub async fn add_worker(&mut self) -> anyhow::Result<String> {
        self.add_worker_with_slots(1).await
    }

    /// Starts one more worker of `slots` slots on the current coordinator.
    pub async fn add_worker_with_slots(&mut self, slots: u32) -> anyhow::Result<String> {
        let name = format!("worker-{}", self.workers.len() + 1);
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut args: Vec<String> = vec![
            "--coordinator".into(),
            format!("{scheme}://{}", self.address()),
            "--name".into(),
            name.clone(),
            "--slots".into(),
            slots.to_string(),
        ];
        if let Some(made) = &self.tls {
            let (_, cert, key) = made.clients.iter().find(|(n, _, _)| n == "worker").expect("the workers' certificate");
            for (flag, path) in [("--tls-ca", &made.ca_cert), ("--tls-cert", cert), ("--tls-key", key)] {
                args.extend([flag.to_string(), path.display().to_string()]);
            }
        }
        let program = self.worker_program.clone();
        let started: Started<WorkerReady> =
            self.procs.launch(&crate::procs::spec(&name, &program, &args, self.dir.path(), READY_TIMEOUT)).await?;
        let id = started.ready.worker_id.clone();
        self.workers.push((name, started));
        Ok(id)
    }

    /// SIGKILLs the worker that printed `worker_id` in its ready line.
    pub async fn kill_worker(&mut self, worker_id: &str) -> anyhow::Result<()> {
        let Some((name, _)) = self.workers.iter().find(|(_, w)| w.ready.worker_id == worker_id) else {
            bail!("worker {worker_id} is not one this benchmark started");
        };
        let name = name.clone();
        Ok(self.procs.kill(&name).await?)
    }

    /// SIGKILLs the coordinator, then starts a new one with the same arguments (so on the
    /// same data directory); returns once it printed its ready line. Workers are left as
    /// they are (they would reconnect to the old address): start new ones.
    pub async fn restart_coordinator(&mut self) -> anyhow::Result<()> {
        let name = self.coordinator_name.clone();
        self.procs.kill(&name).await?;
        self.start_coordinator(self.own_data_dir).await
    }

    /// Memory of the current coordinator, if it runs.
    /// The coordinator's resident memory now.
    pub fn coordinator_rss(&mut self) -> Option<u64> {
        self.procs.pid(&self.coordinator_name).and_then(memory).map(|m| m.rss)
    }

    pub fn coordinator_memory(&mut self) -> Option<Memory> {
        let name = self.coordinator_name.clone();
        self.procs.pid(&name).and_then(memory)
    }

    /// Memory of every worker still running, by name.
    pub fn worker_memory(&mut self) -> Vec<(String, Memory)> {
        let names: Vec<String> = self.workers.iter().map(|(n, _)| n.clone()).collect();
        names.into_iter().filter_map(|n| self.procs.pid(&n).and_then(memory).map(|m| (n, m))).collect()
    }

    /// CPU seconds used so far by the coordinator and by all running workers together.
    pub fn cpu(&mut self) -> (Option<f64>, f64) {
        let name = self.coordinator_name.clone();
        let coordinator = self.procs.pid(&name).and_then(cpu_seconds);
        let names: Vec<String> = self.workers.iter().map(|(n, _)| n.clone()).collect();
        let workers = names.into_iter().filter_map(|n| self.procs.pid(&n).and_then(cpu_seconds)).sum();
        (coordinator, workers)
    }

    /// Stops the workers, then the coordinator; removes the directory unless asked to keep it.
    pub async fn stop(mut self) {
        self.procs.shutdown(STOP_GRACE).await;
        if self.keep {
            let path = std::mem::replace(&mut self.dir, tempfile::TempDir::new().expect("temp dir")).keep();
            eprintln!("kept {}", path.display());
        }
    }
}

/// VmRSS and VmHWM of a process; `None` if it is gone or /proc is not there.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

/// User plus system CPU seconds a process has used (all its threads), from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// /proc reports CPU times in USER_HZ ticks, 100 a second on Linux whatever the kernel's HZ.
const TICKS_PER_SECOND: f64 = 100.0;

fn parse_stat(stat: &str) -> Option<f64> {
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so count fields
    // after the last `)`. utime and stime are fields 14 and 15, i.e. the 12th and 13th here.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SECOND)
}

fn parse_status(status: &str) -> Option<Memory> {
    let field = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kib: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    };
    Some(Memory { rss: field("VmRSS:")?, peak: field("VmHWM:")? })
}

/// Whether coordinator arguments set the data directory themselves.
/// The caller chose the store (`--data-dir`, or PostgreSQL's `--store`): the bench's own
/// `--data-dir` is not passed.
fn names_data_dir(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--data-dir" || a.starts_with("--data-dir=") || names_shared_store(std::slice::from_ref(a)))
}

/// Coordinators on PostgreSQL (`--store`) are elected before they serve.
fn names_shared_store(args: &[String]) -> bool {
    args.iter().any(|a| a == "--store" || a.starts_with("--store="))
}

/// Bytes of the files under `path`, recursively (0 if it is missing).
pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with a fake weft-coordinator (a shell script running `body`) and worker.
    fn fake_binaries(body: &str) -> (tempfile::TempDir, Binaries) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (name, script) in [(crate::procs::COORDINATOR, body), (crate::procs::WORKER, "exit 1")] {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let binaries = Binaries::locate(Some(dir.path())).unwrap();
        (dir, binaries)
    }

    const READY: &str = r#"echo '{"grpc":"127.0.0.1:1","metrics":null,"pid":1}'; exec sleep 30"#;

    fn coordinator(on_data_dir: &str) -> String {
        format!(r#"for a in "$@"; do [ "$a" = --data-dir ] && {{ {on_data_dir}; }}; done; {READY}"#)
    }

    #[tokio::test]
    async fn a_coordinator_without_data_dir_is_used_in_memory_with_a_warning() {
        let refuses = coordinator(r#"echo "error: unexpected argument '--data-dir' found" >&2; exit 2"#);
        let (_bins, binaries) = fake_binaries(&refuses);
        let launcher = Launcher::new(binaries, Vec::new(), false);
        assert_eq!(launcher.data_dir.get(), None);
        for _ in 0..2 {
            let cluster = launcher.start(0).await.unwrap();
            assert!(!cluster.own_data_dir);
            assert_eq!(cluster.address(), "127.0.0.1:1");
            cluster.stop().await;
            assert_eq!(launcher.data_dir.get(), Some(false));
        }
    }

    #[tokio::test]
    async fn a_coordinator_gets_a_data_dir_and_its_other_errors_are_not_hidden() {
        let (_bins, binaries) = fake_binaries(&coordinator("true"));
        let launcher = Launcher::new(binaries, Vec::new(), false);
        let cluster = launcher.start(0).await.unwrap();
        assert!(cluster.own_data_dir && launcher.data_dir.get() == Some(true));
        cluster.stop().await;

        let broken = coordinator(r#"echo "weft-coordinator: --data-dir: store is corrupt" >&2; exit 1"#);
        let (_bins, binaries) = fake_binaries(&broken);
        let err = Launcher::new(binaries, Vec::new(), false).start(0).await.err().expect("a broken store is an error");
        assert!(format!("{err:#}").contains("store is corrupt"), "{err:#}");
    }

    #[tokio::test]
    async fn coordinator_args_are_passed_and_their_data_dir_replaces_the_benchs() {
        let out = tempfile::tempdir().unwrap();
        let args_file = out.path().join("args");
        let records = format!(r#"printf '%s\n' "$@" >> {}; {READY}"#, args_file.display());
        let (_bins, binaries) = fake_binaries(&records);
        let relaxed = vec!["--durability".to_string(), "relaxed".to_string()];
        let cluster = Launcher::new(binaries, relaxed, false).start(0).await.unwrap();
        cluster.stop().await;
        let args = std::fs::read_to_string(&args_file).unwrap();
        assert!(args.contains("--data-dir\n") && args.ends_with("--durability\nrelaxed\n"), "{args}");

        std::fs::remove_file(&args_file).unwrap();
        let (_bins, binaries) = fake_binaries(&records);
        let launcher = Launcher::new(binaries, vec!["--data-dir=memory".to_string()], false);
        let mut cluster = launcher.start(0).await.unwrap();
        cluster.restart_coordinator().await.unwrap();
        cluster.stop().await;
        let args = std::fs::read_to_string(&args_file).unwrap();
        assert_eq!(args.matches("--data-dir").count(), 2, "only theirs, at each start: {args}");
        assert_eq!(args.matches("--data-dir=memory").count(), 2, "{args}");
        assert_eq!(launcher.data_dir.get(), Some(false));
        assert!(names_data_dir(&["--data-dir".into(), "/x".into()]) && !names_data_dir(&["--data-dirt".into()]));
        assert!(names_data_dir(&["--store=postgres://h/d".into()]) && names_shared_store(&["--store".into()]));
    }

    #[test]
    fn proc_status_gives_rss_and_peak() {
        let status = "Name:\tweft-coordinator\nVmPeak:\t  200000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(parse_status(status), Some(Memory { rss: 40960 * 1024, peak: 51200 * 1024 }));
        assert_eq!(parse_status("Name: x\n"), None);
        let own = memory(std::process::id()).expect("our own /proc status");
        assert!(own.rss > 0 && own.peak >= own.rss);
    }

    #[test]
    fn proc_stat_gives_cpu_seconds() {
        let stat = "4242 (weft (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 125 0 0 20 0 5 0 100 0 0";
        assert_eq!(parse_stat(stat), Some(3.75));
        assert_eq!(parse_stat("garbage"), None);
        assert!(cpu_seconds(std::process::id()).is_some());
    }

    #[test]
    fn data_dir_size_adds_up_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 20]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 120);
        assert_eq!(dir_bytes(&dir.path().join("missing")), 0);
    }
}

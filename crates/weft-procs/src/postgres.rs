//! A throwaway PostgreSQL server on loopback, for the tests of the PostgreSQL store and of
//! failover, and for `weftctl dev --store postgres`: `initdb` into a directory of its own,
//! started on a free port with its socket in that directory, stopped by the pid in its
//! `postmaster.pid` (never by name), and SIGKILLed on drop if still running.
//!
//! PostgreSQL refuses to run as root: as root, every server program runs as the `postgres`
//! user (`runuser`), which then owns the directory.
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Why the server could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "no PostgreSQL server programs found (looked in $WEFT_PG_BIN and /usr/lib/postgresql/*/bin): \
         install them with `apt-get install -y postgresql`"
    )]
    NotInstalled,
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what} failed ({status}): {output}")]
    Failed { what: String, status: String, output: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let what = what.into();
    move |source| PgError::Io { what, source }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `$WEFT_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn bin_dir() -> Result<PathBuf, PgError> {
    if let Some(dir) = std::env::var_os("WEFT_PG_BIN") {
        return Ok(dir.into());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| PgError::NotInstalled)?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or(PgError::NotInstalled)
}

/// A running (or stopped) PostgreSQL server of our own.
pub struct PgServer {
    bin: PathBuf,
    /// Holds the cluster and the socket; removed on drop.
    dir: tempfile::TempDir,
    port: u16,
    /// The postmaster's pid while it runs.
    pid: Option<i32>,
    as_postgres: bool,
}

impl PgServer {
    /// Creates a cluster in a new temp directory and starts it on a free loopback port.
    /// Takes 2 to 3 s.
    pub fn start() -> Result<PgServer, PgError> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("weft-pg-").tempdir().map_err(io("creating a temp directory"))?;
        let as_postgres = nix::unistd::geteuid().is_root();
        if as_postgres {
            run("chown", Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir.path()))?;
        }
        let port = free_port()?;
        let mut server = PgServer { bin, dir, port, pid: None, as_postgres };
        let data = server.data_dir();
        let initdb = server.bin.join("initdb");
        // trust on loopback only: a throwaway server for this machine's tests.
        let mut cmd = server.command(&initdb);
        cmd.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        run("initdb", &mut cmd)?;
        server.start_again()?;
        Ok(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    /// Starts the server again (after [`PgServer::stop_fast`]) on the same port and data.
    pub fn start_again(&mut self) -> Result<(), PgError> {
        let data = self.data_dir();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200 -c logging_collector=off",
            self.port,
            self.dir.path().display()
        );
        let mut cmd = self.command(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(&data).arg("-o").arg(options).arg("-l").arg(self.dir.path().join("server.log"));
        cmd.args(["-w", "-t", "30", "start"]);
        run("pg_ctl start", &mut cmd)?;
        let pid_file = data.join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).map_err(io(format!("reading {}", pid_file.display())))?;
        self.pid = text.lines().next().and_then(|l| l.trim().parse().ok());
        Ok(())
    }

    /// A fast shutdown (clients are disconnected, open transactions rolled back), as an
    /// operator restarting the database would do; waits until the postmaster is gone.
    pub fn stop_fast(&mut self) -> Result<(), PgError> {
        let Some(pid) = self.pid.take() else { return Ok(()) };
        // SIGINT to the postmaster is PostgreSQL's "fast shutdown".
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        wait_gone(pid, Duration::from_secs(30))
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's pid, while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// Creates an empty database named `name` (letters, digits and `_`).
    pub fn create_database(&self, name: &str) -> Result<(), PgError> {
        let mut cmd = self.command(&self.bin.join("createdb"));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", name]);
        run("createdb", &mut cmd)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            // Immediate shutdown: nothing here is worth keeping.
            let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
            if wait_gone(pid, Duration::from_secs(10)).is_err() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = wait_gone(pid, Duration::from_secs(10));
            }
        }
    }
}

fn wait_gone(pid: i32, within: Duration) -> Result<(), PgError> {
    let deadline = Instant::now() + within;
    // The postmaster is not our child (pg_ctl started it): poll for it, briefly.
    while kill(Pid::from_raw(pid), None).is_ok() {
        if Instant::now() > deadline {
            return Err(PgError::Failed {
                what: format!("stopping PostgreSQL (pid {pid})"),
                status: "still running".into(),
                output: format!("not gone after {within:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn free_port() -> Result<u16, PgError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener.local_addr().map_err(io("finding a free port"))?.port())
}

fn run(what: &str, cmd: &mut Command) -> Result<(), PgError> {
    let out = cmd.output().map_err(io(format!("running {what}")))?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(PgError::Failed { what: what.to_string(), status: out.status.to_string(), output })
}

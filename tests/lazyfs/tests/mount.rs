//! Mounts the real filesystem and runs SQLite on it (through Python's `sqlite3`, from other
//! processes): shared mmap of `-shm` between processes, and a power cut that keeps what
//! `synchronous=FULL` committed and loses what `synchronous=OFF` did. Needs `/dev/fuse` and
//! the right to mount (root); fails, never skips, without them.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A running `weft-lazyfs`; unmounted and stopped (by pid) when dropped.
struct Mounted {
    child: Child,
    lines: mpsc::Receiver<String>,
    mountpoint: PathBuf,
}

impl Mounted {
    fn start(mountpoint: &Path) -> Mounted {
        assert!(Path::new("/dev/fuse").exists(), "this test needs /dev/fuse (FUSE) to mount weft-lazyfs");
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft-lazyfs"))
            .arg(mountpoint)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting weft-lazyfs");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut mounted = Mounted { child, lines, mountpoint: mountpoint.to_path_buf() };
        let ready = mounted.lines.recv_timeout(WAIT);
        let status = mounted.child.try_wait().ok().flatten();
        let ready =
            ready.unwrap_or_else(|_| panic!("weft-lazyfs did not mount (exit {status:?}); see its stderr above"));
        assert!(ready.starts_with("{\"mounted\":"), "ready line: {ready}");
        mounted
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal weft-lazyfs");
    }

    fn power_cut(&self) -> String {
        self.signal(nix::sys::signal::Signal::SIGUSR1);
        self.lines.recv_timeout(WAIT).expect("a power_cut line")
    }
}

fn is_mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let path = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&*path))
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            let (tx, rx) = mpsc::channel();
            let pid = self.child.id();
            std::thread::spawn(move || {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
                let _ = tx.send(());
            });
            if rx.recv_timeout(WAIT).is_err() {
                let _ = self.child.kill();
            }
        }
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount").arg("-l").arg(&self.mountpoint).status();
        }
    }
}

/// Runs a Python snippet in `dir`; returns its stdout.
fn python(dir: &Path, code: &str) -> String {
    let out = Command::new("python3").arg("-c").arg(code).current_dir(dir).output().expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "python failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

const MMAP: &str = r#"
import mmap, os
fd = os.open('m', os.O_RDWR | os.O_CREAT, 0o644); os.ftruncate(fd, 8192)
mm = mmap.mmap(fd, 8192, mmap.MAP_SHARED)
mm[100:105] = b'hello'; mm.flush()
other = os.open('m', os.O_RDONLY)
assert os.pread(other, 5, 100) == b'hello', 'a read sees what the mapping wrote'
os.pwrite(fd, b'world', 200)
assert mm[200:205] == b'world', 'the mapping sees what a write wrote'
print('mmap ok')
"#;

/// Two processes share one WAL database, so both use its `-shm` through mmap.
const SHARED_WAL: &str = r#"
import sqlite3, subprocess, sys
c = sqlite3.connect('shared.db', isolation_level=None)
assert c.execute('pragma journal_mode=wal').fetchone() == ('wal',)
c.execute('create table t(x)'); c.execute('insert into t values (1)')
other = "import sqlite3; c = sqlite3.connect('shared.db', isolation_level=None); " \
        "assert c.execute('select count(*) from t').fetchone() == (1,); c.execute('insert into t values (2)')"
subprocess.run([sys.executable, '-c', other], check=True)
assert c.execute('select count(*) from t').fetchone() == (2,)
import os; assert os.path.getsize('shared.db-shm') > 0
print('shared wal ok')
"#;

/// Commits three rows with the given `synchronous`, then dies by SIGKILL (no clean close).
const COMMIT_AND_DIE: &str = r#"
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('pragma journal_mode=wal'); c.execute('pragma synchronous=' + sys.argv[2])
c.execute('create table t(x)')
for i in range(3): c.execute('insert into t values (?)', (i,))
os.kill(os.getpid(), 9)
"#;

const COUNT: &str = r#"
import sqlite3, sys
for name in ['full.db', 'off.db']:
    try: print(name, sqlite3.connect(name).execute('select count(*) from t').fetchone()[0])
    except sqlite3.OperationalError as e: print(name, e)
"#;

#[test]
fn sqlite_runs_on_it_and_a_power_cut_keeps_only_what_was_synced() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let fs = Mounted::start(&mnt);
    assert_eq!(python(&mnt, MMAP).trim(), "mmap ok");
    assert_eq!(python(&mnt, SHARED_WAL).trim(), "shared wal ok");
    for (db, sync) in [("full.db", "FULL"), ("off.db", "OFF")] {
        let status = Command::new("python3").args(["-c", COMMIT_AND_DIE, db, sync]).current_dir(&mnt).status().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{db}: the writer died by SIGKILL");
    }
    std::fs::write(mnt.join("scratch"), b"never synced").unwrap();
    let cut: serde_json::Value = serde_json::from_str(&fs.power_cut()).unwrap();
    let cut = &cut["power_cut"];
    assert!(cut["bytes_dropped"].as_u64().unwrap() > 0, "{cut}");
    assert!(!mnt.join("scratch").exists(), "a file never synced is gone: {cut}");
    assert_eq!(std::fs::read(mnt.join("m")).unwrap()[100..105], *b"hello", "msync synced the mapping");
    assert_eq!(python(&mnt, COUNT), "full.db 3\noff.db no such table: t\n");
    drop(fs);
    assert!(!is_mounted(&mnt), "unmounted on SIGTERM");
}

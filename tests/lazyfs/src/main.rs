//! `weft-lazyfs MOUNTPOINT`: an in-memory FUSE filesystem that loses what was not synced,
//! for power-loss tests (after Jepsen's LazyFS). SIGKILL of a process keeps the kernel's page
//! cache, so a crash test by SIGKILL passes even when nothing is ever fsync'd; a power cut
//! here does not.
//!
//! - Prints `{"mounted":"/abs/path"}` on stdout once mounted.
//! - SIGUSR1 cuts the power: every file goes back to what was last synced, names never synced
//!   disappear (see [`model`] for exactly what survives), and it prints
//!   `{"power_cut":{"files":N,"files_reverted":R,"files_removed":D,"bytes_dropped":M}}`
//!   once the cut is applied and the kernel's caches are invalidated. The filesystem stays
//!   mounted: a process started afterwards sees what a machine would after rebooting.
//! - SIGTERM or SIGINT unmounts (lazily if a process still holds a file) and exits.
//!
//! Everything lives in memory and is gone when the process exits.
mod fs;
mod model;

use fuser::{Config, INodeNo, MountOption, Notifier, Session};
use model::Model;
use nix::sys::signal::{SigSet, Signal};
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let [mountpoint] = args.as_slice() else {
        eprintln!("usage: weft-lazyfs MOUNTPOINT");
        return ExitCode::from(2);
    };
    let mountpoint = Path::new(mountpoint);
    // Signals are taken by this thread with sigwait; block them before any other thread
    // starts, so that every thread inherits the mask and none runs a default handler.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGUSR1, Signal::SIGTERM, Signal::SIGINT] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        eprintln!("weft-lazyfs: cannot block signals: {e}");
        return ExitCode::FAILURE;
    }
    let model = Arc::new(Mutex::new(Model::new(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())));
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("weft-lazyfs".into()),
        MountOption::Subtype("lazyfs".into()),
        MountOption::DefaultPermissions,
    ];
    let session = match Session::new(fs::LazyFs::new(model.clone()), mountpoint, &config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "weft-lazyfs: cannot mount a FUSE filesystem at {}: {e} (needs /dev/fuse and the right to mount: \
                 root, or fusermount3 from the fuse3 package)",
                mountpoint.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let notifier = session.notifier();
    let background = match session.spawn() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("weft-lazyfs: cannot start the session thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = mountpoint.canonicalize().unwrap_or_else(|_| mountpoint.to_path_buf());
    say(serde_json::json!({ "mounted": shown }));
    loop {
        match signals.wait() {
            Ok(Signal::SIGUSR1) => power_cut(&model, &notifier),
            Ok(_) => break,
            Err(e) => {
                eprintln!("weft-lazyfs: waiting for signals: {e}");
                break;
            }
        }
    }
    match background.umount_and_join() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => {
                eprintln!("weft-lazyfs: unmount: {e}; detached it lazily instead");
                ExitCode::SUCCESS
            }
            Err(e2) => {
                eprintln!("weft-lazyfs: unmount: {e}; lazy unmount: {e2}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Applies a power cut. Dirty pages of shared mappings (SQLite's `-shm`) are written back
/// into the model first, as the kernel would have done had it had time; then the model
/// reverts, and the kernel is told to forget whatever it cached of the old state.
fn power_cut(model: &Mutex<Model>, notifier: &Notifier) {
    let lock = || model.lock().unwrap_or_else(|e| e.into_inner());
    let before = lock().inodes();
    // Errors only mean the kernel holds nothing of that inode or entry.
    for ino in before {
        let _ = notifier.inval_inode(INodeNo(ino), 0, 0);
    }
    let cut = lock().power_cut();
    for ino in &cut.inodes {
        let _ = notifier.inval_inode(INodeNo(*ino), 0, 0);
    }
    for (parent, name) in &cut.entries {
        let _ = notifier.inval_entry(INodeNo(*parent), name);
    }
    say(serde_json::json!({ "power_cut": {
        "files": cut.files,
        "files_reverted": cut.files_reverted,
        "files_removed": cut.files_removed,
        "bytes_dropped": cut.bytes_dropped,
    }}));
}

fn say(line: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

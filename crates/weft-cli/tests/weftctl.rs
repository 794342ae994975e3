//! weftctl as a user runs it: exit codes, where messages go, and `dev` end to end.
//!
//! The `dev` tests need weft-coordinator and weft-worker next to weftctl, which a
//! workspace build (`cargo test --workspace`, as CI runs) puts there. Under
//! `cargo test -p weft-cli` alone they may be missing; those tests then say so and pass.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn weftctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weftctl"))
        .args(args)
        .env_remove("WEFT_COORDINATOR")
        .env_remove("WEFT_BIN_DIR")
        .current_dir(repo())
        .output()
        .expect("weftctl runs")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let out = weftctl(&["runs", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--limit"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_file_exits_2_with_its_line_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "name: p\nsteps:\n  - name: a\n    kind: noop\n    priority: high\n").unwrap();
    // No coordinator listens on port 1: the file must be rejected before dialling.
    let out = weftctl(&["--coordinator", "127.0.0.1:1", "submit", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.yaml:5:15: steps[0].priority: invalid i32"), "{stderr}");
}

#[test]
fn an_unreachable_coordinator_exits_1_with_a_hint() {
    let address = format!("127.0.0.1:{}", free_port());
    let out = weftctl(&["--coordinator", &address, "workers"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("coordinator unreachable at http://{address}")), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn validate_checks_locally() {
    let out = weftctl(&["validate", "examples/order-fulfilment.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok: process `order-fulfilment`, 2 workflow(s), 7 task(s)"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dup.yaml");
    std::fs::write(&file, "name: p\nsteps:\n  - {name: a, kind: noop}\n  - {name: a, kind: noop}\n").unwrap();
    let out = weftctl(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("workflows[0].tasks[1].name"), "{}", text(&out.stderr));
}

#[test]
fn dev_names_missing_binaries() {
    let dir = tempfile::tempdir().unwrap();
    let out = weftctl(&["dev", "--bin-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("weft-coordinator not found") && stderr.contains("cargo build --release"), "{stderr}");
}

/// The directory holding weftctl, if the cluster binaries are there too.
fn cluster_binaries() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_BIN_EXE_weftctl")).parent()?.to_path_buf();
    if dir.join("weft-coordinator").is_file() && dir.join("weft-worker").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: weft-coordinator/weft-worker are not built next to weftctl (build the workspace)");
        None
    }
}

/// The temporary directory `dev` announced on stderr.
fn announced_dir(stderr: &str) -> PathBuf {
    let line = stderr.lines().find(|l| l.starts_with("logs and data in ")).expect("dev names its directory");
    PathBuf::from(line.trim_start_matches("logs and data in "))
}

#[test]
fn dev_runs_the_default_example_and_cleans_up() {
    let Some(bin_dir) = cluster_binaries() else { return };
    let out = weftctl(&["-o", "json", "dev", "--bin-dir", bin_dir.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON run");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["process_name"], "order-fulfilment");
    let ship = &run["workflows"][0]["tasks"][3];
    assert_eq!(ship["name"], "ship");
    assert_eq!(ship["result"]["stdout"], "shipped order A-1042 with parcel-post\n");
    // Plain progress lines, since stderr is not a terminal here.
    assert!(stderr.contains("shipping: 4/4 done"), "{stderr}");
    assert!(!announced_dir(&stderr).exists(), "the temp dir is removed without --keep");
}

#[test]
fn dev_exits_1_when_the_run_fails_and_keep_keeps_the_logs() {
    let Some(bin_dir) = cluster_binaries() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fails.yaml");
    let spec = "name: fails\nsteps:\n  - name: boom\n    kind: shell\n    retry: { max_attempts: 1 }\n    \
                params: { argv: [sh, -c, 'echo broken >&2; exit 3'] }\n  - { name: never, kind: noop }\n";
    std::fs::write(&file, spec).unwrap();
    let out =
        weftctl(&["dev", file.to_str().unwrap(), "--workers", "1", "--keep", "--bin-dir", bin_dir.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("status    failed"), "{stdout}");
    assert!(stderr.contains("fails/boom failed on attempt 1"), "{stderr}");
    let kept = announced_dir(&stderr);
    assert!(kept.join("coordinator.log").is_file() && kept.join("worker-1.log").is_file());
    std::fs::remove_dir_all(kept).unwrap();
}

//! weftctl as a user runs it: exit codes, where messages go, and `dev` end to end.
//!
//! The `dev` tests need weft-coordinator and weft-worker next to weftctl, which a
//! workspace build (`cargo test --workspace`, as CI runs) puts there. Under
//! `cargo test -p weft-cli` alone they may be missing; those tests then say so and pass.
use std::path::PathBuf;
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
fn top_names_a_bad_interval_and_exits_1_when_no_coordinator_answers() {
    let out = weftctl(&["top", "--interval", "10ms"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--interval") && stderr.contains("between 100ms and 60s"), "{stderr}");
    let address = format!("127.0.0.1:{}", free_port());
    let out = weftctl(&["--coordinator", &address, "top", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("coordinator unreachable at http://{address}")));
    assert!(out.stdout.is_empty());
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

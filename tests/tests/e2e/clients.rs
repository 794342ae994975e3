//! The clients users run: weftctl dev and the Python example.
use weft_e2e::{Cluster, WorkerSpec, binary, repo_root};

/// Runs weftctl with the workspace's freshly built binaries.
pub(crate) async fn weftctl(args: &[&str]) -> std::process::Output {
    let bin_dir = weft_e2e::ensure_built().to_str().expect("utf-8 path").to_string();
    let mut cmd = tokio::process::Command::new(binary("weftctl"));
    cmd.args(args).args(["--bin-dir", &bin_dir]).current_dir(repo_root()).kill_on_drop(true);
    tokio::time::timeout(weft_e2e::WAIT * 2, cmd.output())
        .await
        .expect("weftctl finishes in time")
        .expect("weftctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The temporary directory `dev` announced on stderr.
fn announced_dir(stderr: &str) -> std::path::PathBuf {
    let line = stderr.lines().find(|l| l.starts_with("logs and data in ")).expect("dev names its directory");
    std::path::PathBuf::from(line.trim_start_matches("logs and data in "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weftctl_dev_runs_the_order_fulfilment_example_and_cleans_up() {
    let out = weftctl(&["-o", "json", "dev", "examples/order-fulfilment.yaml"]).await;
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
    assert!(stderr.contains(", dashboard http://127.0.0.1:"), "dev prints the dashboard's URL: {stderr}");
    assert!(!announced_dir(&stderr).exists(), "the temp dir is removed without --keep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weftctl_dev_on_postgres_runs_two_coordinators_one_leading_and_cleans_up() {
    let out = weftctl(&["dev", "--store", "postgres", "examples/order-fulfilment.yaml"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(text(&out.stdout).contains("status    succeeded"), "{}", text(&out.stdout));
    assert!(stderr.contains("coordinator-2 listening on"), "{stderr}");
    let says = stderr.lines().find(|l| l.contains(" leads; the others stand by")).expect("dev says who leads");
    assert!(says.contains("kill -9 "), "{says}");
    // Its PostgreSQL server is gone with the rest.
    let pid: i32 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PostgreSQL (pid ")?.split(')').next()?.parse().ok())
        .expect("dev names its PostgreSQL pid");
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(), "PostgreSQL {pid} was stopped");
    assert!(!announced_dir(&stderr).exists(), "the temp dir is removed without --keep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weftctl_dev_exits_1_when_the_run_fails_and_keep_keeps_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fails.yaml");
    let spec = "name: fails\nsteps:\n  - name: boom\n    kind: shell\n    retry: { max_attempts: 1 }\n    \
                params: { argv: [sh, -c, 'echo broken >&2; exit 3'] }\n  - { name: never, kind: noop }\n";
    std::fs::write(&file, spec).unwrap();
    let out = weftctl(&["dev", file.to_str().unwrap(), "--workers", "1", "--keep"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("status    failed"), "{stdout}");
    assert!(stderr.contains("fails/boom failed on attempt 1"), "{stderr}");
    let kept = announced_dir(&stderr);
    assert!(kept.join("coordinator.log").is_file() && kept.join("worker-1.log").is_file());
    std::fs::remove_dir_all(kept).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_submits_a_process_and_gets_its_result() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { extra: &["--allow-shell"], ..Default::default() }).await;
    let python = weft_e2e::python_with_grpc();
    let out = tokio::time::timeout(
        weft_e2e::WAIT * 2,
        tokio::process::Command::new(python)
            .arg(repo_root().join("examples/python/submit_process.py"))
            .args(["--coordinator", &cluster.grpc])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python client finishes in time")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed (install examples/python/requirements.txt)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let runs = cluster.client().await.list_runs(&Default::default()).await.unwrap();
    assert_eq!(runs.runs.len(), 1);
    assert_eq!(runs.runs[0].status, weft_client::pb::RunStatus::Succeeded as i32);
}

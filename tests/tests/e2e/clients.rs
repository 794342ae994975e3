//! The clients users run: weftctl dev and the Python example.
use weft_e2e::{Cluster, WorkerSpec, binary, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weftctl_dev_runs_the_order_fulfilment_example() {
    let out = tokio::time::timeout(
        weft_e2e::WAIT * 2,
        tokio::process::Command::new(binary("weftctl"))
            .arg("dev")
            .arg(repo_root().join("examples/order-fulfilment.yaml"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("weftctl dev finishes in time")
    .expect("weftctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "weftctl dev failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.to_lowercase().contains("succeeded"), "{stdout}");
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

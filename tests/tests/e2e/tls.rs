//! TLS and mutual TLS with the real binaries: certificates are made in each test with
//! rcgen (or by `weftctl admin init-certs`), never committed. The coordinator requires
//! client certificates signed by its CA; workers, weftctl, `weft-client` and the Python
//! example connect with theirs, and whoever lacks one is refused.
use crate::support::{assert_succeeded, run_to_end, spec};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use weft_client::{Client, ClientTls, ConnectOptions};
use weft_e2e::{Cluster, Proc, WAIT, await_line, binary, repo_root};

/// A CA made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { issuer: Issuer::new(params, key), pem }
    }

    /// Writes `NAME.crt` and `NAME.key` into `dir`: a server certificate for 127.0.0.1 and
    /// localhost, or a client certificate named `name`.
    fn issue(&self, dir: &Path, name: &str, server: bool) -> (PathBuf, PathBuf) {
        let sans: Vec<String> = if server { vec!["127.0.0.1".into(), "localhost".into()] } else { vec![] };
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.extended_key_usages =
            vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        // Written whole under another name, then renamed: a coordinator polling its files
        // never reads one half-written.
        for (path, text) in [(&cert_path, cert.pem()), (&key_path, key.serialize_pem())] {
            let partial = path.with_extension("partial");
            std::fs::write(&partial, text).unwrap();
            std::fs::rename(&partial, path).unwrap();
        }
        (cert_path, key_path)
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// A cluster's certificates: a CA, the coordinator's, a worker's and a client's.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    worker: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
}

impl Pki {
    fn new() -> (Pki, Ca) {
        let dir = tempfile::Builder::new().prefix("weft-e2e-pki-").tempdir().unwrap();
        let ca = Ca::new("weft e2e CA");
        let pki = Pki {
            ca: ca.write(dir.path(), "ca.crt"),
            server: ca.issue(dir.path(), "coordinator", true),
            worker: ca.issue(dir.path(), "worker", false),
            client: ca.issue(dir.path(), "client", false),
            dir,
        };
        (pki, ca)
    }

    /// The coordinator's flags for mutual TLS.
    fn coordinator_args(&self) -> Vec<String> {
        [("--tls-cert", &self.server.0), ("--tls-key", &self.server.1), ("--tls-client-ca", &self.ca)]
            .into_iter()
            .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
            .collect()
    }

    /// A client's TLS settings with this CA and the client certificate.
    fn client_tls(&self) -> ClientTls {
        ClientTls::new(&self.ca).with_identity(&self.client.0, &self.client.1)
    }
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

async fn start_mtls(pki: &Pki) -> Cluster {
    let args = pki.coordinator_args();
    Cluster::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// Connects to the cluster over TLS as `tls` says (plaintext for `None`).
async fn connect(cluster: &Cluster, tls: Option<ClientTls>) -> Result<Client, weft_client::Error> {
    let options = match tls {
        Some(tls) => ConnectOptions::default().with_tls(tls),
        None => ConnectOptions::default(),
    };
    Client::connect_with(&cluster.grpc, &options).await
}

/// Starts a worker with these TLS flags and waits until it has registered.
async fn add_tls_worker(cluster: &mut Cluster, tls: &[String]) -> usize {
    let n = cluster.workers.len();
    let mut args: Vec<String> =
        ["--coordinator", &format!("https://{}", cluster.grpc), "--name", &format!("worker-{n}"), "--slots", "2"]
            .map(String::from)
            .to_vec();
    args.extend(tls.iter().cloned());
    let worker = Proc::start(&format!("worker-{n}"), &binary("weft-worker"), &args, cluster.dir.path()).await;
    cluster.workers.push(worker);
    n
}

fn worker_tls(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> Vec<String> {
    let mut args = vec!["--tls-ca".to_string(), s(ca)];
    if let Some((cert, key)) = identity {
        args.extend(["--tls-cert".into(), s(cert), "--tls-key".into(), s(key)]);
    }
    args
}

/// Starts a worker that must not get in, waits for its log to show a refused connection
/// whose line holds every one of `needles`, stops it, and checks it never printed its ready
/// line. Its log is kept in the cluster's directory as `NAME.log`.
async fn refused_worker(cluster: &Cluster, name: &str, coordinator: &str, tls: &[String], needles: &[&str]) {
    let mut child = tokio::process::Command::new(binary("weft-worker"))
        .args(["--coordinator", coordinator, "--name", name])
        .args(tls)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("coordinator unreachable") && needles.iter().all(|n| line.contains(n)) {
                return true;
            }
        }
        false
    })
    .await;
    std::fs::write(cluster.dir.path().join(format!("{name}.log")), &log).unwrap();
    assert!(matches!(found, Ok(true)), "{name}: no refused connection with {needles:?} in its log:\n{log}");
    child.kill().await.unwrap();
    let mut stdout = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).await.unwrap();
    assert!(stdout.is_empty(), "{name} printed a ready line: {stdout}");
}

/// Waits until the file at `path` holds `needle` (logs are copied there as they come).
async fn log_has(path: &Path, needle: &str) -> String {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no `{needle}` in {} within {WAIT:?}", path.display()))
}

const NOOPS: &str = "name: tls-noops\nworkflows:\n  - name: w\n    tasks:\n      - { name: a, kind: noop, params: { result: 1 } }\n      - { name: b, kind: noop, depends_on: [a] }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_a_valid_client_certificate_registers_and_runs_a_process() {
    let (pki, _ca) = Pki::new();
    let mut cluster = start_mtls(&pki).await;
    log_has(&cluster.coordinator.log, "mutual TLS").await;
    let worker = add_tls_worker(&mut cluster, &worker_tls(&pki.ca, Some(&pki.worker))).await;

    let client = connect(&cluster, Some(pki.client_tls())).await.expect("a TLS client with a certificate");
    assert!(client.address().starts_with("https://"), "{}", client.address());
    let run = run_to_end(&client, &spec(NOOPS)).await;
    assert_succeeded(&run);
    let worker_id = cluster.worker_id(worker);
    for task in run.workflows.iter().flat_map(|w| &w.tasks) {
        assert_eq!(task.worker_id, worker_id, "{} ran on the TLS worker", task.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_without_a_valid_client_certificate_cannot_register() {
    let (pki, _ca) = Pki::new();
    let cluster = start_mtls(&pki).await;
    let https = format!("https://{}", cluster.grpc);
    // No client certificate: TLS 1.3 lets the client finish its side of the handshake, so
    // the connection opens and the worker's first call (its registration) is refused.
    refused_worker(&cluster, "no-cert", &https, &worker_tls(&pki.ca, None), &["CertificateRequired"]).await;
    // A certificate from another CA.
    let other = Ca::new("another CA");
    let foreign = other.issue(pki.dir.path(), "foreign-worker", false);
    refused_worker(&cluster, "other-ca", &https, &worker_tls(&pki.ca, Some(&foreign)), &["alert"]).await;
    // A worker that does not trust the coordinator's CA refuses it in turn.
    let other_ca = other.write(pki.dir.path(), "other-ca.crt");
    refused_worker(&cluster, "distrustful", &https, &worker_tls(&other_ca, Some(&pki.worker)), &["certificate"]).await;
    // Plaintext.
    refused_worker(&cluster, "plaintext", &format!("http://{}", cluster.grpc), &[], &[]).await;

    log_has(&cluster.coordinator.log, "TLS handshake failed").await;
    let client = connect(&cluster, Some(pki.client_tls())).await.unwrap();
    let status = client.cluster_status().await.unwrap();
    assert!(status.workers.is_empty(), "{:?}", status.workers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_tls_or_a_certificate_get_an_error() {
    let (pki, _ca) = Pki::new();
    let cluster = start_mtls(&pki).await;
    let query = weft_client::RunQuery::default();

    // Plaintext HTTP/2 to the TLS port: the connect or the first call fails.
    let plaintext = match connect(&cluster, None).await {
        Ok(client) => client.list_runs(&query).await.map(drop),
        Err(e) => Err(e),
    };
    assert!(plaintext.is_err(), "a plaintext client must not be served");

    // TLS without a client certificate: the connection opens, the call fails in the
    // transport ("received fatal alert: CertificateRequired", a broken pipe or a closed
    // connection, depending on how far the request got when the coordinator hung up).
    let anonymous = connect(&cluster, Some(ClientTls::new(&pki.ca))).await.expect("the connection opens");
    let err = anonymous.list_runs(&query).await.unwrap_err();
    assert!(matches!(err, weft_client::Error::Connection { .. } | weft_client::Error::Unavailable { .. }), "{err:?}");

    // TLS trusting another CA: the client refuses the coordinator.
    let other = Ca::new("another CA");
    let other_ca = other.write(pki.dir.path(), "other-ca.crt");
    let distrustful = ClientTls::new(&other_ca).with_identity(&pki.client.0, &pki.client.1);
    let refused = match connect(&cluster, Some(distrustful)).await {
        Ok(client) => client.list_runs(&query).await.map(drop),
        Err(e) => Err(e),
    };
    let err = refused.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // An https:// address without TLS settings, and http:// with them, are refused up front.
    let https = format!("https://{}", cluster.grpc);
    let plain = ConnectOptions::default();
    assert!(matches!(Client::connect_with(&https, &plain).await, Err(weft_client::Error::InvalidAddress { .. })));
    let options = ConnectOptions::default().with_tls(pki.client_tls());
    let http = format!("http://{}", cluster.grpc);
    assert!(matches!(Client::connect_with(&http, &options).await, Err(weft_client::Error::InvalidAddress { .. })));
    Client::connect_with(&https, &options).await.unwrap().list_runs(&query).await.expect("with its certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_beyond_loopback_must_be_asked_for() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = s(data.path());
    let out = tokio::process::Command::new(binary("weft-coordinator"))
        .args(["--listen", "0.0.0.0:0", "--metrics-listen", "off", "--data-dir", &data_dir])
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--listen") && stderr.contains("--insecure-plaintext"), "{stderr}");

    let args: Vec<String> = ["--listen", "0.0.0.0:0", "--metrics-listen", "off", "--insecure-plaintext"]
        .into_iter()
        .map(String::from)
        .chain(["--data-dir".to_string(), data_dir])
        .collect();
    let coordinator = Proc::start("coordinator", &binary("weft-coordinator"), &args, data.path()).await;
    let log = log_has(&coordinator.log, "plaintext gRPC beyond loopback").await;
    assert!(log.contains("WARN"), "{log}");
}

/// Runs weftctl from the repository root.
async fn weftctl(args: &[String]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        WAIT * 2,
        tokio::process::Command::new(binary("weftctl")).args(args).current_dir(repo_root()).kill_on_drop(true).output(),
    )
    .await
    .expect("weftctl finishes in time")
    .expect("weftctl runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weftctl_makes_certificates_and_submits_a_run_over_mutual_tls() {
    use std::os::unix::fs::PermissionsExt as _;
    let certs = tempfile::Builder::new().prefix("weft-e2e-certs-").tempdir().unwrap();
    let dir = certs.path().join("certs");
    let d = |name: &str| s(&dir.join(name));
    let init = strings(&["admin", "init-certs", &s(&dir), "--hosts", "127.0.0.1,localhost", "--clients", "w1,weftctl"]);
    let (code, stdout, stderr) = weftctl(&init).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ca.crt") && stdout.contains("w1.key"), "{stdout}");
    for key in ["ca.key", "coordinator.key", "w1.key", "weftctl.key"] {
        let mode = std::fs::metadata(dir.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    // It never overwrites; --if-missing makes a repeat a no-op.
    let (code, _, stderr) = weftctl(&init).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("exists already"), "{stderr}");
    let mut again = init.clone();
    again.push("--if-missing".into());
    assert_eq!(weftctl(&again).await.0, Some(0));

    let (cert, key, ca) = (d("coordinator.crt"), d("coordinator.key"), d("ca.crt"));
    let mut cluster = Cluster::start(&["--tls-cert", &cert, "--tls-key", &key, "--tls-client-ca", &ca]).await;
    add_tls_worker(&mut cluster, &worker_tls(&dir.join("ca.crt"), Some(&(dir.join("w1.crt"), dir.join("w1.key")))))
        .await;

    let spec_file = certs.path().join("noops.yaml");
    std::fs::write(&spec_file, NOOPS).unwrap();
    let https = format!("https://{}", cluster.grpc);
    let tls = strings(&["--tls-ca", &d("ca.crt"), "--tls-cert", &d("weftctl.crt"), "--tls-key", &d("weftctl.key")]);
    let mut submit = strings(&["--coordinator", &https, "-o", "json", "submit", &s(&spec_file), "--wait"]);
    submit.extend(tls.iter().cloned());
    let (code, stdout, stderr) = weftctl(&submit).await;
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let run: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON run");
    assert_eq!(run["status"], "succeeded", "{run}");

    // host:port is dialled over TLS when TLS flags are given.
    let mut workers = strings(&["--coordinator", &cluster.grpc, "-o", "json", "workers"]);
    workers.extend(tls.iter().cloned());
    let (code, stdout, stderr) = weftctl(&workers).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("worker-0"), "{stdout}");

    // Without its client certificate weftctl is refused, and says why.
    let (code, _, stderr) = weftctl(&strings(&["--coordinator", &https, "--tls-ca", &d("ca.crt"), "workers"])).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--tls-cert"), "the hint names the flag: {stderr}");
    // In plaintext too.
    let (code, _, stderr) = weftctl(&strings(&["--coordinator", &cluster.grpc, "workers"])).await;
    assert_eq!(code, Some(1), "{stderr}");
}

/// The coordinator's certificate is replaced on disk by one from a new CA and SIGHUP sent
/// (to the worker too): new connections get the new certificate (a client trusting only the
/// old CA is refused, one trusting the new CA served), while the worker registered before
/// (which trusts only the old CA, so could not reconnect) keeps its session and runs the
/// next process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_reaches_new_connections_while_a_worker_session_keeps_running() {
    let (pki, _ca) = Pki::new();
    let mut cluster = start_mtls(&pki).await;
    let worker = add_tls_worker(&mut cluster, &worker_tls(&pki.ca, Some(&pki.worker))).await;
    let before = connect(&cluster, Some(pki.client_tls())).await.unwrap();
    assert_succeeded(&run_to_end(&before, &spec(NOOPS)).await);

    let next = Ca::new("next CA");
    let rotated = tempfile::tempdir().unwrap();
    let (cert, key) = next.issue(rotated.path(), "coordinator", true);
    let mut reloads = cluster.coordinator.subscribe();
    for (from, to) in [(&key, &pki.server.1), (&cert, &pki.server.0)] {
        std::fs::rename(from, to).unwrap();
    }
    cluster.coordinator.signal(nix::sys::signal::Signal::SIGHUP);
    await_line(&mut reloads, &["TLS certificates reloaded", "Signal"]).await;
    // A worker given SIGHUP too (as a rotation script may send it to every weft process)
    // keeps running and keeps its session.
    let mut worker_lines = cluster.workers[worker].subscribe();
    cluster.workers[worker].signal(nix::sys::signal::Signal::SIGHUP);
    await_line(&mut worker_lines, &["SIGHUP", "the session is kept"]).await;

    let next_ca = next.write(pki.dir.path(), "next-ca.crt");
    let after = connect(&cluster, Some(ClientTls::new(&next_ca).with_identity(&pki.client.0, &pki.client.1)))
        .await
        .expect("a client trusting the new CA");
    let query = weft_client::RunQuery::default();
    after.list_runs(&query).await.expect("the new certificate is served");
    let stale = match connect(&cluster, Some(pki.client_tls())).await {
        Ok(client) => client.list_runs(&query).await.map(drop),
        Err(e) => Err(e),
    };
    assert!(stale.is_err(), "a new connection trusting only the old CA must refuse the new certificate");

    // Connections opened before the rotation are untouched: the client's, and the worker's
    // session, which runs this process without reconnecting.
    before.list_runs(&query).await.expect("the client's open connection still works");
    let run = run_to_end(&after, &spec(NOOPS)).await;
    assert_succeeded(&run);
    let worker_id = cluster.worker_id(worker);
    assert!(run.workflows[0].tasks.iter().all(|t| t.worker_id == worker_id));
    let worker_log = std::fs::read_to_string(&cluster.workers[worker].log).unwrap();
    assert!(!worker_log.contains("coordinator unreachable"), "the worker's session never dropped:\n{worker_log}");
    let status = after.cluster_status().await.unwrap();
    assert_eq!(status.workers.len(), 1, "{:?}", status.workers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_connects_with_mutual_tls() {
    let (pki, _ca) = Pki::new();
    let mut cluster = start_mtls(&pki).await;
    add_tls_worker(&mut cluster, &worker_tls(&pki.ca, Some(&pki.worker))).await;
    let python = weft_e2e::python_with_grpc();
    let run = |tls: Vec<String>| {
        let mut cmd = tokio::process::Command::new(python);
        cmd.arg(repo_root().join("examples/python/submit_process.py"))
            .args(["--coordinator", &cluster.grpc, "--noop-only", "--connect-timeout", "10"])
            .args(tls)
            .env_remove("WEFT_TLS_CA")
            .env_remove("WEFT_TLS_CERT")
            .env_remove("WEFT_TLS_KEY")
            .kill_on_drop(true);
        async move { tokio::time::timeout(WAIT * 2, cmd.output()).await.expect("python finishes in time").unwrap() }
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let tls = vec!["--ca".into(), s(&pki.ca), "--cert".into(), s(&pki.client.0), "--key".into(), s(&pki.client.1)];
    let out = run(tls).await;
    assert!(out.status.success(), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("succeeded"), "{}", text(&out.stdout));

    // Without its client certificate the call is refused.
    let out = run(vec!["--ca".into(), s(&pki.ca)]).await;
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    let runs = connect(&cluster, Some(pki.client_tls())).await.unwrap().list_runs(&Default::default()).await.unwrap();
    assert_eq!(runs.runs.len(), 1, "only the run with a certificate");
}

/// `weftctl bench --tls` starts its clusters with mutual TLS (certificates made in each
/// cluster's directory) and says so in its report; the scenarios that kill a worker and
/// restart the coordinator work on them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_its_clusters_over_mutual_tls() {
    let bin_dir = s(weft_e2e::ensure_built());
    let args = strings(&[
        "bench",
        "--start-cluster",
        "--tls",
        "--size",
        "small",
        "--repeat",
        "1",
        "--scenarios",
        "s1,s5,restart",
        "-o",
        "json",
        "--bin-dir",
        &bin_dir,
    ]);
    let out = tokio::time::timeout(
        WAIT * 4,
        tokio::process::Command::new(binary("weftctl"))
            .args(&args)
            .env("TMPDIR", env!("CARGO_TARGET_TMPDIR"))
            .env_remove("WEFT_COORDINATOR")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the bench finishes in time")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let scenarios: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(scenarios.len(), 3, "{stdout}");
    for scenario in &scenarios {
        assert!(scenario["errors"].as_array().unwrap().is_empty(), "{scenario}");
        assert!(scenario["env"]["tls"].as_str().unwrap().starts_with("mutual TLS"), "{scenario}");
    }
    assert!(scenarios[0]["summary"]["tasks_per_s"]["median"].as_f64().unwrap() > 0.0);
}

//! The TLS server and client of weft-net, in process: a health service served over TLS
//! (mutual or not) to clients with and without certificates, and certificates reloaded
//! while a connection stays open. Certificates are made here with rcgen; none is committed.
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use weft_net::tls::{ClientTls, ServerTls, ServerTlsFiles};

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

    /// A leaf certificate and its key, PEM: a server's for `names`, or a client's.
    fn leaf(&self, names: &[&str], server: bool) -> (String, String) {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("client"));
        params.extended_key_usages =
            vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes `files` (name, contents) into `dir`; returns their paths in order.
fn write(dir: &Path, files: &[(&str, &str)]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, on disk.
struct Pki {
    dir: tempfile::TempDir,
    files: ServerTlsFiles,
    client: ClientTls,
}

fn pki(mutual: bool) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1", "localhost"], true);
    let (client_cert, client_key) = ca.leaf(&["worker-1"], false);
    let paths = write(
        dir.path(),
        &[
            ("ca.crt", &ca.pem),
            ("server.crt", &cert),
            ("server.key", &key),
            ("client.crt", &client_cert),
            ("client.key", &client_key),
        ],
    );
    let files =
        ServerTlsFiles { cert: paths[1].clone(), key: paths[2].clone(), client_ca: mutual.then(|| paths[0].clone()) };
    let client = ClientTls::new(&paths[0]).with_identity(&paths[3], &paths[4]);
    Pki { dir, files, client }
}

/// Serves health over TLS on a free loopback port until the returned sender is dropped.
async fn serve(tls: ServerTls) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (router, health) = weft_net::server_with_basics(weft_net::auth::AuthLayer::open()).unwrap();
    weft_net::set_node_serving(&health, true).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        weft_net::serve(router, listener, Some(tls), shutdown).await.unwrap();
    });
    (format!("https://{addr}"), stop)
}

async fn channel(addr: &str, tls: &ClientTls) -> Result<Channel, String> {
    let endpoint = tls.endpoint(Endpoint::from_shared(addr.to_string()).unwrap()).map_err(|e| e.to_string())?;
    endpoint.connect_timeout(Duration::from_secs(5)).connect().await.map_err(|e| format!("{e:?}"))
}

/// One health check on `channel`.
async fn check(channel: Channel) -> Result<(), tonic::Status> {
    let request = HealthCheckRequest { service: String::new() };
    tokio::time::timeout(Duration::from_secs(5), HealthClient::new(channel).check(request))
        .await
        .expect("an answer in time")
        .map(drop)
}

/// Connects and checks health: `Err` with what failed, at the connect or at the call.
async fn call(addr: &str, tls: &ClientTls) -> Result<(), String> {
    check(channel(addr, tls).await?).await.map_err(|s| format!("{:?}: {}", s.code(), s.message()))
}

#[tokio::test]
async fn mutual_tls_serves_only_clients_with_a_certificate_from_its_ca() {
    let pki = pki(true);
    let (addr, _stop) = serve(ServerTls::load(pki.files.clone()).unwrap()).await;
    call(&addr, &pki.client).await.expect("a client certificate from the CA is served");

    // No client certificate: the TLS 1.3 handshake completes on the client's side, the
    // first call fails.
    let anonymous = ClientTls::new(&pki.client.ca);
    assert!(call(&addr, &anonymous).await.is_err());

    // A certificate from another CA.
    let other = Ca::new("other CA");
    let (cert, key) = other.leaf(&["worker-x"], false);
    let paths = write(pki.dir.path(), &[("other.crt", &cert), ("other.key", &key)]);
    let foreign = ClientTls::new(&pki.client.ca).with_identity(&paths[0], &paths[1]);
    assert!(call(&addr, &foreign).await.is_err());

    // A server certificate is not a client certificate (its key usage says server only).
    let server_as_client = ClientTls::new(&pki.client.ca).with_identity(&pki.files.cert, &pki.files.key);
    assert!(call(&addr, &server_as_client).await.is_err());

    // Plaintext HTTP/2 to a TLS port.
    let plain = Endpoint::from_shared(addr.replace("https://", "http://")).unwrap();
    let refused = match plain.connect().await {
        Ok(channel) => check(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a plaintext client must not be served");
}

#[tokio::test]
async fn server_only_tls_serves_anonymous_clients_that_trust_its_ca() {
    let pki = pki(false);
    let (addr, _stop) = serve(ServerTls::load(pki.files.clone()).unwrap()).await;
    call(&addr, &ClientTls::new(&pki.client.ca)).await.expect("no client certificate needed");
    call(&addr, &pki.client).await.expect("an offered one is fine too");

    // A client that trusts another CA refuses the server.
    let other = Ca::new("other CA");
    let paths = write(pki.dir.path(), &[("other-ca.crt", &other.pem)]);
    let err = call(&addr, &ClientTls::new(&paths[0])).await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // The address must be https://: tonic dials http:// in plaintext whatever its TLS config.
    let err = pki.client.endpoint(Endpoint::from_static("http://127.0.0.1:1")).unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}

#[tokio::test]
async fn bad_files_are_refused_naming_the_file() {
    let pki = pki(true);
    let other = Ca::new("other CA");
    let (_, stranger_key) = other.leaf(&["127.0.0.1"], true);
    let paths = write(pki.dir.path(), &[("stranger.key", &stranger_key), ("empty.pem", "")]);

    let mismatched = ServerTlsFiles { key: paths[0].clone(), ..pki.files.clone() };
    let err = ServerTls::load(mismatched).unwrap_err().to_string();
    assert!(err.contains("stranger.key") && err.contains("server.crt"), "{err}");
    let no_cert = ServerTlsFiles { cert: paths[1].clone(), ..pki.files.clone() };
    let err = ServerTls::load(no_cert).unwrap_err().to_string();
    assert!(err.contains("empty.pem") && err.contains("no certificate"), "{err}");
    let missing = ServerTlsFiles { client_ca: Some(pki.dir.path().join("missing.crt")), ..pki.files.clone() };
    let err = ServerTls::load(missing).unwrap_err().to_string();
    assert!(err.contains("missing.crt"), "{err}");

    let client = ClientTls { key: Some(paths[0].clone()), ..pki.client.clone() };
    let err = client.load().unwrap_err().to_string();
    assert!(err.contains("stranger.key") && err.contains("client.crt"), "{err}");
    let client = ClientTls { key: None, ..pki.client.clone() };
    assert!(client.load().is_err(), "a certificate without its key");
    assert!(ClientTls::new(&paths[1]).load().unwrap_err().to_string().contains("empty.pem"));
}

/// Rotation to a certificate from a new CA: before the reload only clients trusting the
/// old CA are served; after it new connections get the new certificate, and a connection
/// opened before keeps working.
#[tokio::test]
async fn a_reload_reaches_new_connections_and_keeps_open_ones() {
    let pki = pki(true);
    let tls = ServerTls::load(pki.files.clone()).unwrap();
    let (addr, _stop) = serve(tls.clone()).await;
    let open = channel(&addr, &pki.client).await.unwrap();
    check(open.clone()).await.unwrap();

    // New server certificate from a new CA, which also signs the new client certificates
    // and is now the client CA.
    let next = Ca::new("next CA");
    let (cert, key) = next.leaf(&["127.0.0.1"], true);
    let (client_cert, client_key) = next.leaf(&["worker-1"], false);
    let paths = write(
        pki.dir.path(),
        &[("next-ca.crt", &next.pem), ("next-client.crt", &client_cert), ("next-client.key", &client_key)],
    );
    let next_client = ClientTls::new(&paths[0]).with_identity(&paths[1], &paths[2]);
    assert!(call(&addr, &next_client).await.is_err(), "not served before the rotation");

    // A half-done rotation (the new certificate, the old key) fails to load: the old
    // configuration stays.
    std::fs::write(&pki.files.cert, &cert).unwrap();
    assert!(tls.reload().is_err());
    call(&addr, &pki.client).await.expect("still the old certificate");

    // Done by polling the files, as a rotation by a tool that sends no signal would be.
    let reloader = tls.spawn_reloader(Duration::from_millis(20));
    std::fs::write(&pki.files.key, &key).unwrap();
    std::fs::write(pki.files.client_ca.as_ref().unwrap(), &next.pem).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while call(&addr, &next_client).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the new certificate was never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reloader.abort();
    assert!(call(&addr, &pki.client).await.is_err(), "new connections no longer get the old certificate");
    check(open).await.expect("the connection opened before the rotation keeps working");
}

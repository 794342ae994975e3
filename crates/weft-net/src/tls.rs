//! TLS for weft's gRPC connections, from PEM files.
//!
//! - Server side ([`ServerTlsFiles`], [`ServerTls`]): the coordinator's certificate and key
//!   and, for mutual TLS, the CA that must have signed every client's certificate.
//! - Client side ([`ClientTls`]): the CA that signed the coordinator's certificate and, for
//!   mutual TLS, the client's own certificate and key; used by workers, weftctl and
//!   `weft-client`.
//!
//! rustls with the ring provider only, named explicitly wherever a config is built: with a
//! second provider in a binary (aws-lc) rustls cannot pick a process default and tonic's
//! server panics (STACK.md).
//!
//! The server does its own handshakes (tokio-rustls) instead of handing tonic a
//! `ServerTlsConfig`, which is fixed for the life of the server. Each accepted connection
//! takes the `ServerConfig` current at that moment, so a reload (SIGHUP, or the files
//! changing on disk) reaches new connections while established ones keep the session they
//! have. tonic gets the same `TlsStream` its own TLS would give it, so
//! `Request::peer_certs()` and `Request::remote_addr()` work as usual.
use crate::reload::Trigger;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// HTTP/2, the only protocol offered (gRPC clients ask for it by ALPN).
const ALPN_H2: &[u8] = b"h2";

/// A client that has not finished its handshake by then is dropped, so half-open
/// connections cannot pile up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a serving coordinator looks at its certificate files for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(5);

/// Handshaken connections waiting for the server to take them.
const ACCEPTED_QUEUE: usize = 64;

/// A TLS file that cannot be used, said with its path.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    #[error("{0}")]
    Config(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

fn file_error(path: &Path, problem: impl Into<String>) -> TlsError {
    TlsError::File { path: path.to_path_buf(), problem: problem.into() }
}

/// Every certificate of a PEM file; at least one.
fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no certificate (no `BEGIN CERTIFICATE` block)"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| file_error(path, format!("holds no usable private key: {e}")))
}

/// The CA certificates of a PEM file, each checked as a trust anchor.
fn trust_roots(path: &Path, pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, pem)? {
        roots.add(cert).map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Where a server's certificate, key and (for mutual TLS) client CA are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The server's certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key of that certificate (PEM).
    pub key: PathBuf,
    /// With it, every client must present a certificate signed by one of these CAs (PEM):
    /// mutual TLS. Without it, clients are not asked for a certificate.
    pub client_ca: Option<PathBuf>,
}

/// What was read from the files, to build a config from and to notice changes by.
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Contents {
    /// Tells one version of the files from another without keeping the key's bytes around.
    fn fingerprint(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&self.cert, &self.key, &self.client_ca).hash(&mut hasher);
        hasher.finish()
    }
}

impl ServerTlsFiles {
    fn read(&self) -> Result<Contents, TlsError> {
        Ok(Contents {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(read).transpose()?,
        })
    }

    fn config(&self, contents: &Contents) -> Result<ServerConfig, TlsError> {
        let certs = certificates(&self.cert, &contents.cert)?;
        let key = private_key(&self.key, &contents.key)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(format!("TLS protocol versions: {e}")))?;
        let builder = match (&self.client_ca, &contents.client_ca) {
            (Some(path), Some(pem)) => {
                let roots = trust_roots(path, pem)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| file_error(path, format!("cannot verify clients with it: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            file_error(&self.key, format!("cannot be used with the certificate in {}: {e}", self.cert.display()))
        })?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(config)
    }
}

/// A server's TLS configuration, replaced as a whole when its files change. Cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    shared: Arc<Shared>,
}

struct Shared {
    files: ServerTlsFiles,
    // std locks: held only to clone or swap an Arc, never across an await.
    current: RwLock<Arc<ServerConfig>>,
    /// The fingerprint of the files last tried, loaded or not, so a bad version is
    /// reported once rather than at every poll.
    tried: Mutex<u64>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("files", &self.shared.files).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads and checks the files: certificates parse, the key goes with the certificate,
    /// the client CA is a usable trust anchor.
    pub fn load(files: ServerTlsFiles) -> Result<ServerTls, TlsError> {
        let contents = files.read()?;
        let config = files.config(&contents)?;
        Ok(ServerTls {
            shared: Arc::new(Shared {
                files,
                current: RwLock::new(Arc::new(config)),
                tried: Mutex::new(contents.fingerprint()),
            }),
        })
    }

    pub fn files(&self) -> &ServerTlsFiles {
        &self.shared.files
    }

    /// Whether clients must present a certificate.
    pub fn mutual(&self) -> bool {
        self.shared.files.client_ca.is_some()
    }

    /// Reads the files again and, if they make a valid configuration, serves it to every
    /// connection from now on. On error the previous configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let contents = self.shared.files.read()?;
        *self.shared.tried.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = contents.fingerprint();
        self.install(&contents)
    }

    /// Like [`ServerTls::reload`], but only when the files differ from the last version
    /// tried. `Ok(false)`: nothing changed.
    fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let contents = self.shared.files.read()?;
        let fingerprint = contents.fingerprint();
        {
            let mut tried = self.shared.tried.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *tried == fingerprint {
                return Ok(false);
            }
            *tried = fingerprint;
        }
        self.install(&contents).map(|()| true)
    }

    fn install(&self, contents: &Contents) -> Result<(), TlsError> {
        let config = Arc::new(self.shared.files.config(contents)?);
        *self.shared.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(
            self.shared.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
        )
    }

    /// Reloads on SIGHUP, and when the files change (looked at every `poll`), until the
    /// returned task is aborted. Logs each reload; a failed one keeps the previous
    /// certificates and says why. A file read while half-written fails to load and is
    /// tried again once it changes again.
    pub fn spawn_reloader(&self, poll: Duration) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        crate::reload::spawn("TLS files", poll, move |trigger| {
            let result = match trigger {
                Trigger::Signal => tls.reload().map(|()| true),
                Trigger::FileChange => tls.reload_if_changed(),
            };
            let cert = tls.shared.files.cert.display();
            match result {
                Ok(false) => {}
                Ok(true) => tracing::info!(?trigger, %cert, "TLS certificates reloaded; new connections get them"),
                Err(e) => {
                    tracing::warn!(?trigger, error = %e, "TLS certificates not reloaded; still serving the previous ones")
                }
            }
        })
    }
}

/// Failed handshakes logged per second; the rest are counted and said with the next one
/// logged.
const HANDSHAKE_FAILURES_LOGGED: u32 = 10;

/// Whether one more line of a noisy kind may be logged now.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Log it, saying how many were suppressed since the last logged one.
    Log {
        suppressed: u64,
    },
    Quiet,
}

/// At most `per_window` lines per `window`; the others are counted.
#[derive(Debug)]
struct LogBudget {
    per_window: u32,
    window: Duration,
    started: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl LogBudget {
    fn new(per_window: u32, window: Duration) -> Self {
        LogBudget { per_window, window, started: None, used: 0, suppressed: 0 }
    }

    fn allow(&mut self, now: Instant) -> Verdict {
        if self.started.is_none_or(|start| now.duration_since(start) >= self.window) {
            self.started = Some(now);
            self.used = 0;
        }
        if self.used < self.per_window {
            self.used += 1;
            Verdict::Log { suppressed: std::mem::take(&mut self.suppressed) }
        } else {
            self.suppressed += 1;
            Verdict::Quiet
        }
    }
}

/// Accepted connections after their TLS handshake, for `serve_with_incoming`.
///
/// Handshakes run in tasks of their own, each bounded by [`HANDSHAKE_TIMEOUT`], so a slow
/// or silent client holds up nobody. Each takes the configuration current when its TCP
/// connection was accepted. A failed handshake (no client certificate, one from another
/// CA, a plaintext client) is logged with the peer's address and dropped. The accept loop
/// ends, closing the listener, when the stream is dropped.
pub(crate) fn incoming(
    listener: TcpListener,
    tls: ServerTls,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = mpsc::channel(ACCEPTED_QUEUE);
    // A client hammering the port with bad handshakes must not flood the log.
    let failures = Arc::new(Mutex::new(LogBudget::new(HANDSHAKE_FAILURES_LOGGED, Duration::from_secs(1))));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin on it.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            let acceptor = tls.acceptor();
            let tx = tx.clone();
            let failures = failures.clone();
            tokio::spawn(async move {
                let failed = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                        return;
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("timed out after {HANDSHAKE_TIMEOUT:?}"),
                };
                let logged = failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).allow(Instant::now());
                match logged {
                    Verdict::Log { suppressed: 0 } => {
                        tracing::info!(%peer, error = %failed, "TLS handshake failed; connection closed")
                    }
                    Verdict::Log { suppressed } => tracing::info!(
                        %peer,
                        error = %failed,
                        suppressed,
                        "TLS handshake failed; connection closed ({suppressed} more failures were not logged)"
                    ),
                    Verdict::Quiet => {}
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// TLS to a coordinator: the CA to verify its certificate with and, for mutual TLS, the
/// client's certificate and key. The files are read at each [`ClientTls::endpoint`], so a
/// client that reconnects picks up a rotated certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTls {
    /// CA certificate(s) the coordinator's certificate must be signed by (PEM).
    pub ca: PathBuf,
    /// This client's certificate (PEM), for a coordinator that asks for one.
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PEM).
    pub key: Option<PathBuf>,
}

impl ClientTls {
    /// Verifies the coordinator with `ca`; presents no certificate.
    pub fn new(ca: impl Into<PathBuf>) -> ClientTls {
        ClientTls { ca: ca.into(), cert: None, key: None }
    }

    /// Presents `cert` (with `key`) to a coordinator that asks for a client certificate.
    pub fn with_identity(self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> ClientTls {
        ClientTls { cert: Some(cert.into()), key: Some(key.into()), ..self }
    }

    /// Reads the files and checks them: the CA is a usable trust anchor, the certificate
    /// parses and the key goes with it. Returns tonic's configuration of the same files.
    pub fn load(&self) -> Result<ClientTlsConfig, TlsError> {
        let ca = read(&self.ca)?;
        let roots = trust_roots(&self.ca, &ca)?;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(format!("TLS protocol versions: {e}")))?
            .with_root_certificates(roots);
        let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca));
        match (&self.cert, &self.key) {
            (None, None) => Ok(config),
            (Some(cert_path), Some(key_path)) => {
                let (cert, key) = (read(cert_path)?, read(key_path)?);
                // Checked here, with the paths in the message; tonic would say only that a
                // key did not parse.
                builder.with_client_auth_cert(certificates(cert_path, &cert)?, private_key(key_path, &key)?).map_err(
                    |e| {
                        file_error(
                            key_path,
                            format!("cannot be used with the certificate in {}: {e}", cert_path.display()),
                        )
                    },
                )?;
                Ok(config.identity(Identity::from_pem(cert, key)))
            }
            (Some(_), None) => Err(TlsError::Config("a client certificate needs its key too".into())),
            (None, Some(_)) => Err(TlsError::Config("a client key needs its certificate too".into())),
        }
    }

    /// `endpoint` with TLS from these files, read now. The endpoint's URI must be
    /// `https://`: tonic dials `http://` URIs in plaintext whatever its TLS settings.
    pub fn endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, TlsError> {
        if endpoint.uri().scheme_str() != Some("https") {
            return Err(TlsError::Config(format!("{} is not an https:// address", endpoint.uri())));
        }
        endpoint.tls_config(self.load()?).map_err(|e| TlsError::Config(format!("TLS settings refused: {e}")))
    }
}

#[cfg(test)]
mod log_budget_tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_to_the_budget_and_the_rest_is_counted_in_the_next_line() {
        let mut budget = LogBudget::new(3, Duration::from_secs(1));
        let t0 = Instant::now();
        let burst: Vec<Verdict> = (0..10).map(|i| budget.allow(t0 + Duration::from_millis(i))).collect();
        assert_eq!(
            &burst[..3],
            &[Verdict::Log { suppressed: 0 }, Verdict::Log { suppressed: 0 }, Verdict::Log { suppressed: 0 }]
        );
        assert!(burst[3..].iter().all(|v| *v == Verdict::Quiet));
        // The next window: the first line says how many were left out.
        assert_eq!(budget.allow(t0 + Duration::from_millis(1_000)), Verdict::Log { suppressed: 7 });
        assert_eq!(budget.allow(t0 + Duration::from_millis(1_001)), Verdict::Log { suppressed: 0 });
    }
}

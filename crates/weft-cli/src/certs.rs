//! `weftctl admin init-certs`: a private CA and the certificates a cluster needs for
//! mutual TLS, made with rcgen (ECDSA P-256, ring): the coordinator's server certificate,
//! and a client certificate for each worker name and for weftctl. Also used by
//! `weftctl bench --tls` for the clusters it starts.
//!
//! Private keys are written 0600 and nothing is ever overwritten: a CA key that is
//! replaced by accident would orphan every certificate it signed.
use anyhow::{Context as _, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Names the coordinator's certificate is valid for unless told otherwise: this machine,
/// and the `coordinator` service of docker-compose.yml.
pub const DEFAULT_HOSTS: &[&str] = &["localhost", "127.0.0.1", "coordinator"];
/// Client certificates made unless told otherwise.
pub const DEFAULT_CLIENTS: &[&str] = &["worker", "weftctl"];
/// How long the CA is valid: long, as replacing it means replacing every certificate.
const CA_DAYS: u64 = 3650;
/// Certificates start being valid this long before they are made, for clocks a little behind.
const BACKDATE: Duration = Duration::from_secs(3600);

/// What to make.
#[derive(Clone, Debug)]
pub struct Plan {
    /// DNS names and IP addresses of the coordinator (its certificate's SANs).
    pub hosts: Vec<String>,
    /// One client certificate per name (its common name), `NAME.crt` and `NAME.key`.
    pub clients: Vec<String>,
    /// Validity of the server and client certificates, in days.
    pub days: u32,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            hosts: DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect(),
            clients: DEFAULT_CLIENTS.iter().map(|c| c.to_string()).collect(),
            days: 365,
        }
    }
}

/// The files [`make`] wrote, by role.
#[derive(Clone, Debug)]
pub struct Made {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// (name, certificate, key) of each client.
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

impl Made {
    /// Every file written, certificates and keys.
    pub fn files(&self) -> Vec<&Path> {
        let mut files = vec![self.ca_cert.as_path(), self.server_cert.as_path(), self.server_key.as_path()];
        for (_, cert, key) in &self.clients {
            files.extend([cert.as_path(), key.as_path()]);
        }
        files
    }
}

/// The files a plan writes into `dir`: `ca.crt`, `ca.key`, `coordinator.crt`,
/// `coordinator.key`, and `NAME.crt`, `NAME.key` per client.
fn file_names(plan: &Plan) -> Vec<String> {
    let roles = ["ca", "coordinator"].into_iter().map(String::from).chain(plan.clients.iter().cloned());
    roles.flat_map(|n| [format!("{n}.crt"), format!("{n}.key")]).collect()
}

/// Checks a plan before anything is written: names that make file names, at least one host.
pub fn check(plan: &Plan) -> anyhow::Result<()> {
    if plan.hosts.is_empty() {
        bail!("--hosts: at least one name or address is needed");
    }
    for name in &plan.clients {
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            bail!("--clients: `{name}` is not a name of letters, digits, `-`, `_` and `.`");
        }
        if name == "ca" || name == "coordinator" {
            bail!("--clients: `{name}` is taken by the CA's or the coordinator's files");
        }
    }
    if let Some((i, name)) = plan.clients.iter().enumerate().find(|(i, n)| plan.clients[..*i].contains(n)) {
        bail!("--clients: `{name}` is given twice (the second time at position {})", i + 1);
    }
    if !(1..=3650).contains(&plan.days) {
        bail!("--days: {} is not from 1 to 3650", plan.days);
    }
    Ok(())
}

/// Whether `dir` already holds a CA certificate (what `--if-missing` looks at).
pub fn has_ca(dir: &Path) -> bool {
    dir.join("ca.crt").exists()
}

/// Makes the CA and every certificate of `plan` in `dir` (created if missing). Fails,
/// before writing anything, if any of the files exists already.
pub fn make(dir: &Path, plan: &Plan) -> anyhow::Result<Made> {
    check(plan)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in file_names(plan) {
        let path = dir.join(&name);
        if path.exists() {
            bail!(
                "{} exists already; init-certs never overwrites (remove it, or use another directory)",
                path.display()
            );
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - BACKDATE;
    let days = |n: u64| Duration::from_secs(n * 24 * 3600);

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "weft CA");
    ca_params.distinguished_name.push(DnType::OrganizationName, "weft");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = not_before;
    ca_params.not_after = now + days(CA_DAYS);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Issuer::new(ca_params, ca_key);

    let leaf = |common_name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose| -> anyhow::Result<_> {
        let mut params = CertificateParams::new(sans).with_context(|| format!("certificate names of {common_name}"))?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "weft");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = now + days(u64::from(plan.days));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok((cert.pem(), key.serialize_pem()))
    };

    let ca_cert_path = write(dir, "ca.crt", ca_cert.pem().as_bytes(), false)?;
    write(dir, "ca.key", ca.key().serialize_pem().as_bytes(), true)?;
    let (cert, key) = leaf("weft coordinator", plan.hosts.clone(), ExtendedKeyUsagePurpose::ServerAuth)?;
    let server_cert = write(dir, "coordinator.crt", cert.as_bytes(), false)?;
    let server_key = write(dir, "coordinator.key", key.as_bytes(), true)?;
    let mut clients = Vec::new();
    for name in &plan.clients {
        let (cert, key) = leaf(name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)?;
        let cert_path = write(dir, &format!("{name}.crt"), cert.as_bytes(), false)?;
        let key_path = write(dir, &format!("{name}.key"), key.as_bytes(), true)?;
        clients.push((name.clone(), cert_path, key_path));
    }
    Ok(Made { ca_cert: ca_cert_path, server_cert, server_key, clients })
}

/// Writes a new file: 0600 for a private key, 0644 for a certificate.
fn write(dir: &Path, name: &str, contents: &[u8], secret: bool) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn makes_a_ca_a_server_and_clients_with_private_keys_0600() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan { clients: vec!["worker-1".into(), "weftctl".into()], ..Plan::default() };
        let made = make(dir.path(), &plan).unwrap();
        assert_eq!(made.clients.len(), 2);
        for file in made.files() {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            let secret = file.extension().is_some_and(|e| e == "key");
            assert_eq!(mode, if secret { 0o600 } else { 0o644 }, "{}", file.display());
        }
        assert_eq!(std::fs::metadata(dir.path().join("ca.key")).unwrap().permissions().mode() & 0o777, 0o600);
        // The files are what weft-net's TLS loads: the server's key goes with its
        // certificate, each client's too.
        let files = weft_net::tls::ServerTlsFiles {
            cert: made.server_cert.clone(),
            key: made.server_key.clone(),
            client_ca: Some(made.ca_cert.clone()),
        };
        weft_net::tls::ServerTls::load(files).unwrap();
        for (_, cert, key) in &made.clients {
            weft_client::ClientTls::new(&made.ca_cert).with_identity(cert, key).load().unwrap();
        }
        assert!(has_ca(dir.path()));
    }

    #[test]
    fn never_overwrites_and_writes_nothing_when_it_refuses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("weftctl.key"), "mine").unwrap();
        let err = make(dir.path(), &Plan::default()).unwrap_err().to_string();
        assert!(err.contains("weftctl.key exists"), "{err}");
        assert!(!has_ca(dir.path()), "nothing written");
        assert_eq!(std::fs::read_to_string(dir.path().join("weftctl.key")).unwrap(), "mine");
    }

    #[test]
    fn bad_plans_are_refused_naming_the_flag() {
        let with = |f: fn(&mut Plan)| {
            let mut plan = Plan::default();
            f(&mut plan);
            check(&plan).unwrap_err().to_string()
        };
        assert!(with(|p| p.hosts.clear()).starts_with("--hosts"));
        assert!(with(|p| p.clients = vec!["../x".into()]).starts_with("--clients"));
        assert!(with(|p| p.clients = vec!["ca".into()]).starts_with("--clients"));
        assert!(with(|p| p.days = 0).starts_with("--days"));
        assert!(with(|p| p.clients = vec!["w".into(), "w".into()]).contains("twice"));
    }
}

//! Bearer tokens with roles: the tokens file, the one table of which role each gRPC method
//! needs, the server layer that checks every request against both, and the client-side
//! interceptor that sends a token.
//!
//! - A token is `weft_` and 64 hex digits (32 random bytes). Only its SHA-256 is kept at
//!   rest, in a tokens file of lines `sha256:<64 hex> NAME ROLE[,ROLE...]` (`#` starts a
//!   comment). A presented token is hashed and compared with every entry in constant time.
//! - [`METHODS`] maps each gRPC method to the [`Role`] it needs; health checking and
//!   reflection are open, a method not in the table needs `admin` (fail closed).
//! - [`AuthLayer`] is a tower layer for the whole server: a missing or unknown token is
//!   UNAUTHENTICATED, a valid one without the role PERMISSION_DENIED. Each refusal is logged
//!   (on target `weft::auth`, with the token's name or "unknown", never the token) and handed
//!   to a hook that counts it. An accepted request carries its [`Principal`] in its
//!   extensions.
//! - [`Bearer`] is the client side: a tonic interceptor adding `authorization: Bearer ...`.
use ring::rand::SecureRandom;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};

/// Metadata key of the worker session secret on a `MonitorService.Report` stream (see
/// `Registered.session_secret` in proto/weft/v1/worker.proto).
pub const SESSION_SECRET_METADATA: &str = "weft-session-secret";

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Start runs, register definitions.
    Submit,
    /// Read runs, history, definitions, workers and cluster status; watch.
    Read,
    /// Cancel any run, operators' commands; implies `submit` and `read`.
    Admin,
    /// Open a worker session, send heartbeats and reports.
    Worker,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Submit, Role::Read, Role::Admin, Role::Worker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Submit => "submit",
            Role::Read => "read",
            Role::Admin => "admin",
            Role::Worker => "worker",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{}`: use submit, read, admin or worker", echo(s)))
    }
}

/// A set of roles.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Roles {
        Roles(roles.into_iter().fold(0, |bits, r| bits | r.bit()))
    }

    /// Roles from a list separated by commas or spaces (`submit,read`).
    pub fn parse(text: &str) -> Result<Roles, String> {
        let names: Vec<&str> = text.split([',', ' ', '\t']).filter(|s| !s.is_empty()).collect();
        if names.is_empty() {
            return Err("no roles given: use one or more of submit, read, admin, worker".into());
        }
        names.into_iter().map(str::parse).collect::<Result<Vec<Role>, _>>().map(Roles::new)
    }

    /// Whether these roles allow what `needed` allows. `admin` implies `submit` and `read`;
    /// `worker` is implied by nothing: an operator's token is not a worker's identity.
    pub fn grants(self, needed: Role) -> bool {
        let implied = match needed {
            Role::Submit | Role::Read => Role::Admin.bit(),
            Role::Admin | Role::Worker => 0,
        };
        self.0 & (needed.bit() | implied) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Role::ALL.into_iter().filter(|r| self.0 & r.bit() != 0).map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Roles({self})")
    }
}

/// How a gRPC method may be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Without a token: health checking and reflection.
    Open,
    /// With a token that grants this role.
    Needs(Role),
}

/// Services anyone may call: a load balancer's health check, a tool's reflection.
const OPEN_SERVICES: [&str; 3] =
    ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

/// The role each method of weft's API needs: the one table. A method missing here needs
/// `admin`; a unit test checks that every method of proto/ is listed.
pub const METHODS: &[(&str, Role)] = &[
    ("/weft.v1.WorkflowService/RegisterDefinition", Role::Submit),
    ("/weft.v1.WorkflowService/StartRun", Role::Submit),
    ("/weft.v1.WorkflowService/GetDefinition", Role::Read),
    ("/weft.v1.WorkflowService/ListDefinitions", Role::Read),
    ("/weft.v1.WorkflowService/GetRun", Role::Read),
    ("/weft.v1.WorkflowService/ListRuns", Role::Read),
    ("/weft.v1.WorkflowService/GetRunHistory", Role::Read),
    ("/weft.v1.WorkflowService/WatchRun", Role::Read),
    ("/weft.v1.WorkflowService/CancelRun", Role::Admin),
    ("/weft.v1.WorkflowService/PutSchedule", Role::Submit),
    ("/weft.v1.WorkflowService/ListSchedules", Role::Read),
    ("/weft.v1.WorkflowService/SetSchedulePaused", Role::Submit),
    ("/weft.v1.WorkflowService/DeleteSchedule", Role::Admin),
    ("/weft.v1.WorkflowService/SetLimit", Role::Admin),
    ("/weft.v1.WorkflowService/ListLimits", Role::Read),
    ("/weft.v1.WorkflowService/DeleteLimit", Role::Admin),
    ("/weft.v1.MonitorService/WatchHeartbeats", Role::Read),
    ("/weft.v1.MonitorService/WatchEvents", Role::Read),
    ("/weft.v1.MonitorService/GetClusterStatus", Role::Read),
    ("/weft.v1.MonitorService/ListQuarantined", Role::Admin),
    ("/weft.v1.MonitorService/Backup", Role::Admin),
    ("/weft.v1.MonitorService/DrainWorker", Role::Admin),
    ("/weft.v1.MonitorService/Report", Role::Worker),
    ("/weft.v1.WorkerService/Session", Role::Worker),
];

/// What calling the method at `path` (`/package.Service/Method`) requires.
pub fn access(path: &str) -> Access {
    if OPEN_SERVICES.iter().any(|prefix| path.starts_with(prefix)) {
        return Access::Open;
    }
    match METHODS.iter().find(|(method, _)| *method == path) {
        Some((_, role)) => Access::Needs(*role),
        None => Access::Needs(Role::Admin),
    }
}

/// Length of a token's random part, in bytes.
const TOKEN_BYTES: usize = 32;
/// How every token begins: recognisable in a leaked log or a secret scanner.
pub const TOKEN_PREFIX: &str = "weft_";
/// Longest token name.
const MAX_TOKEN_NAME: usize = 64;

/// SHA-256 of a token, as stored.
pub fn hash_token(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Bytes from the operating system's secure random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut out).expect("the operating system's random source failed");
    out
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Exactly `N` bytes from hex (either case); `None` for anything else.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Checks a token or principal name: 1 to 64 of `[A-Za-z0-9_.-]`.
pub fn check_token_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_TOKEN_NAME {
        return Err(format!("a name is 1 to {MAX_TOKEN_NAME} characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!("`{}` has `{c}`: use letters, digits, `_`, `.` and `-`", echo(name)));
    }
    Ok(())
}

/// A fresh token and the tokens-file line that accepts it.
pub struct NewToken {
    /// The secret: shown once, never stored by weft.
    pub token: String,
    /// `sha256:<hex> NAME ROLES`, for the tokens file.
    pub line: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken").field("line", &self.line).finish_non_exhaustive()
    }
}

/// Makes a token for `name` with `roles`.
pub fn new_token(name: &str, roles: Roles) -> Result<NewToken, String> {
    check_token_name(name)?;
    if roles.is_empty() {
        return Err("a token needs at least one role".into());
    }
    let token = format!("{TOKEN_PREFIX}{}", to_hex(&random_bytes::<TOKEN_BYTES>()));
    let line = format!("sha256:{} {name} {roles}", to_hex(&hash_token(&token)));
    Ok(NewToken { token, line })
}

/// One accepted token: its name, roles and hash.
#[derive(Clone)]
pub struct TokenEntry {
    pub name: Arc<str>,
    pub roles: Roles,
    hash: [u8; 32],
}

impl fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.roles)
    }
}

/// The accepted tokens, as read from a tokens file.
#[derive(Clone, Debug)]
pub struct Tokens {
    entries: Vec<TokenEntry>,
}

/// A tokens file that cannot be used, with the line at fault.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
}

impl Tokens {
    /// Parses a tokens file's text. Errors name the line (`line 3: unknown role ...`).
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries: Vec<TokenEntry> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let at = |problem: String| format!("line {}: {problem}", i + 1);
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(hash), Some(name)) = (fields.next(), fields.next()) else {
                return Err(at("expected `sha256:<64 hex digits> NAME ROLE[,ROLE...]`".into()));
            };
            let hex = hash.strip_prefix("sha256:").ok_or_else(|| {
                at("the hash must start with `sha256:` (tokens are stored hashed, never in plain text)".into())
            })?;
            let hash = from_hex::<32>(hex).ok_or_else(|| at("the hash is not 64 hex digits".into()))?;
            check_token_name(name).map_err(at)?;
            let roles = Roles::parse(&fields.collect::<Vec<_>>().join(" ")).map_err(at)?;
            if let Some(other) = entries.iter().find(|e| &*e.name == name) {
                return Err(at(format!("the name `{}` is used twice", other.name)));
            }
            if entries.iter().any(|e| e.hash == hash) {
                return Err(at("the same token hash is listed twice".into()));
            }
            entries.push(TokenEntry { name: name.into(), roles, hash });
        }
        if entries.is_empty() {
            return Err("no tokens: every request would be refused".into());
        }
        Ok(Tokens { entries })
    }

    /// Reads and parses a tokens file.
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        read_tokens(path).map(|(tokens, _)| tokens)
    }

    /// The entry whose hash is the presented token's. Every entry is compared, in constant
    /// time, whatever matches.
    pub fn authenticate(&self, presented: &str) -> Option<&TokenEntry> {
        let hash = hash_token(presented);
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&hash)) {
                found = Some(entry);
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Who made a request, as its token says. In the request's extensions once accepted.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token's name in the tokens file.
    pub name: Arc<str>,
    pub roles: Roles,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No `authorization` header: UNAUTHENTICATED.
    MissingToken,
    /// A header that is not `Bearer <token>` or a token not in the file: UNAUTHENTICATED.
    BadToken,
    /// A known token without the method's role: PERMISSION_DENIED.
    MissingRole,
}

impl Failure {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::MissingToken => "missing_token",
            Failure::BadToken => "bad_token",
            Failure::MissingRole => "missing_role",
        }
    }
}

/// A refused request: why, and the token's name when it was a known one.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub failure: Failure,
    pub token: Option<Arc<str>>,
    pub status: Status,
}

/// A tokens file, parsed, and its text.
fn read_tokens(path: &Path) -> Result<(Tokens, String), TokenFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| TokenFileError::Read { path: shown.clone(), error })?;
    let tokens = Tokens::parse(&text).map_err(|problem| TokenFileError::Invalid { path: shown, problem })?;
    Ok((tokens, text))
}

/// Reads the tokens file again on SIGHUP and when it changes (looked at every `poll`), until
/// the returned task is aborted. Logs each reload; a failed one keeps the tokens in use and
/// says why.
pub fn spawn_tokens_reloader(auth: Arc<Authenticator>, poll: std::time::Duration) -> tokio::task::JoinHandle<()> {
    crate::reload::spawn("the tokens file", poll, move |trigger| match auth.reload() {
        Ok(None) => {}
        Ok(Some(n)) => {
            tracing::info!(target: "weft::auth", ?trigger, tokens = n, "tokens reloaded; they apply to every request from now on")
        }
        Err(e) => {
            tracing::warn!(target: "weft::auth", ?trigger, error = %e, "tokens not reloaded; the previous ones stay in force")
        }
    })
}

/// Checks requests against a tokens file. The tokens can be read again while serving
/// ([`Authenticator::reload`], [`spawn_tokens_reloader`]): a token removed from the file is
/// refused from the next request on, without a restart.
pub struct Authenticator {
    tokens: std::sync::RwLock<Arc<Tokens>>,
    /// The file the tokens came from, and its text as last read (reloads skip an unchanged
    /// file); `None` for tokens given directly.
    source: Option<(std::path::PathBuf, std::sync::Mutex<String>)>,
    /// Called once per refusal (the coordinator counts them).
    on_failure: fn(Failure),
}

impl Authenticator {
    pub fn new(tokens: Tokens, on_failure: fn(Failure)) -> Authenticator {
        Authenticator { tokens: std::sync::RwLock::new(Arc::new(tokens)), source: None, on_failure }
    }

    /// Tokens read from `path`, which [`Authenticator::reload`] reads again.
    pub fn from_file(path: &Path, on_failure: fn(Failure)) -> Result<Authenticator, TokenFileError> {
        let (tokens, text) = read_tokens(path)?;
        Ok(Authenticator {
            tokens: std::sync::RwLock::new(Arc::new(tokens)),
            source: Some((path.to_path_buf(), std::sync::Mutex::new(text))),
            on_failure,
        })
    }

    /// Reads the tokens file again. `Ok(Some(n))`: `n` tokens are accepted from now on;
    /// `Ok(None)`: the file is unchanged (or there is none). On an error the tokens in use
    /// stay: a half-written or broken file never locks everyone out, nor lets anyone in.
    pub fn reload(&self) -> Result<Option<usize>, TokenFileError> {
        let Some((path, last)) = &self.source else { return Ok(None) };
        let (tokens, text) = read_tokens(path)?;
        let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last == text {
            return Ok(None);
        }
        *last = text;
        let n = tokens.len();
        *self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(tokens);
        Ok(Some(n))
    }

    fn current(&self) -> Arc<Tokens> {
        self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// What a request to `path` with this `authorization` header value is allowed:
    /// `Ok(None)` for an open method, `Ok(Some(principal))` for an accepted token.
    pub fn check(&self, path: &str, authorization: Option<&[u8]>) -> Result<Option<Principal>, Refusal> {
        let needed = match access(path) {
            Access::Open => return Ok(None),
            Access::Needs(role) => role,
        };
        let refuse = |failure, token: Option<Arc<str>>, status| Err(Refusal { failure, token, status });
        let Some(header) = authorization else {
            return refuse(
                Failure::MissingToken,
                None,
                Status::unauthenticated("no bearer token: send the header `authorization: Bearer <token>`"),
            );
        };
        let presented = std::str::from_utf8(header).ok().and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let tokens = self.current();
        let Some(entry) = presented.and_then(|token| tokens.authenticate(token)) else {
            return refuse(Failure::BadToken, None, Status::unauthenticated("the bearer token is not valid"));
        };
        if !entry.roles.grants(needed) {
            let message = format!("token `{}` lacks the `{needed}` role, which {path} needs", entry.name);
            return refuse(Failure::MissingRole, Some(entry.name.clone()), Status::permission_denied(message));
        }
        Ok(Some(Principal { name: entry.name.clone(), roles: entry.roles }))
    }
}

/// The server layer checking every request; [`AuthLayer::open`] lets everything through.
#[derive(Clone, Default)]
pub struct AuthLayer {
    auth: Option<Arc<Authenticator>>,
}

impl AuthLayer {
    /// No authentication: every request is served.
    pub fn open() -> AuthLayer {
        AuthLayer { auth: None }
    }

    pub fn new(auth: Authenticator) -> AuthLayer {
        AuthLayer { auth: Some(Arc::new(auth)) }
    }

    /// The authenticator, when requests are checked (for [`spawn_tokens_reloader`]).
    pub fn authenticator(&self) -> Option<Arc<Authenticator>> {
        self.auth.clone()
    }

    /// Whether requests are checked.
    pub fn is_enabled(&self) -> bool {
        self.auth.is_some()
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, auth: self.auth.clone() }
    }
}

/// [`AuthLayer`]'s service.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Option<Arc<Authenticator>>,
}

type Ready<R, E> = std::future::Ready<Result<http::Response<R>, E>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for AuthService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    R: Default,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = futures::future::Either<Ready<R, S::Error>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let Some(auth) = &self.auth else {
            return futures::future::Either::Right(self.inner.call(req));
        };
        let header = req.headers().get(http::header::AUTHORIZATION).map(|v| v.as_bytes());
        match auth.check(req.uri().path(), header) {
            Ok(principal) => {
                if let Some(principal) = principal {
                    req.extensions_mut().insert(principal);
                }
                futures::future::Either::Right(self.inner.call(req))
            }
            Err(refusal) => {
                let peer = req
                    .extensions()
                    .get::<tonic::transport::server::TcpConnectInfo>()
                    .and_then(|info| info.remote_addr());
                tracing::warn!(
                    target: "weft::auth",
                    method = req.uri().path(),
                    token = refusal.token.as_deref().unwrap_or("unknown"),
                    reason = refusal.failure.as_str(),
                    peer = ?peer,
                    "request refused"
                );
                (auth.on_failure)(refusal.failure);
                futures::future::Either::Left(std::future::ready(Ok(refusal.status.into_http())))
            }
        }
    }
}

/// The client side: adds `authorization: Bearer <token>` to every call, or nothing.
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Bearer(<token>)" } else { "Bearer(none)" })
    }
}

impl Bearer {
    /// Sends `token` with every call; `None` sends nothing.
    pub fn new(token: Option<&str>) -> Result<Bearer, String> {
        let Some(token) = token.map(str::trim) else { return Ok(Bearer(None)) };
        if token.is_empty() {
            return Err("the token is empty".into());
        }
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token has characters a header cannot carry".to_string())?;
        // Kept out of HTTP/2's header compression table.
        value.set_sensitive(true);
        Ok(Bearer(Some(value)))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A token from a file: its first line, trimmed. Refuses an empty file.
pub fn read_token_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match text.lines().next().map(str::trim) {
        Some(token) if !token.is_empty() => Ok(token.to_string()),
        _ => Err(format!("{} holds no token", path.display())),
    }
}

/// At most 64 characters of something a user typed, for an error message.
fn echo(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;

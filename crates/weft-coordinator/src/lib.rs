//! The weft coordinator.
//!
//! Layout:
//! - [`config`]: flags and environment, validated.
//! - `driver`: the one task that owns the engine; handlers reach it through a `Handle`.
//! - `services`: the gRPC handlers (WorkflowService, WorkerService, MonitorService), thin.
//! - `convert`, `status`: engine types and errors to wire messages and gRPC codes.
//! - `metrics`: metric names; `web`: the HTTP port (/metrics, the dashboard and its API).
//! - `persist`, `quarantine`: restoring the store at start; records that cannot be
//!   restored are set aside and listed by `MonitorService.ListQuarantined`.
//! - `clock`: monotonic wall-clock milliseconds for the engine.
//! - `role`, `leadership`, `ha`: leader or standby. Alone on SQLite a coordinator leads from
//!   start to stop; on PostgreSQL (`--store`) it is elected through the database and steps
//!   down when it loses the lease or a commit fails.
//!
//! [`run`] serves on an already bound listener until a shutdown signal, which makes it
//! easy to start on port 0 in tests.

mod clock;
pub mod config;
mod convert;
mod driver;
mod ha;
mod leadership;
mod metrics;
mod persist;
mod quarantine;
mod role;
mod services;
mod status;
mod web;

use anyhow::Context;
use std::future::Future;
use tokio::net::TcpListener;
use tokio::sync::watch;
use weft_proto::pb::monitor_service_server::MonitorServiceServer;
use weft_proto::pb::worker_service_server::WorkerServiceServer;
use weft_proto::pb::workflow_service_server::WorkflowServiceServer;

pub use config::{Args, Config};

/// How long a stopping coordinator lets open connections finish before closing them.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Largest message sent or accepted, the same on every node (a spec of up to
/// `MAX_SPEC_BYTES`, an assignment of up to `MAX_ASSIGNMENT_INPUT_BYTES`, plus framing).
use weft_model::limits::MAX_MESSAGE_BYTES;

/// Bound listeners of a coordinator.
pub struct Listeners {
    pub grpc: TcpListener,
    /// `/metrics`, when enabled.
    pub metrics: Option<TcpListener>,
    /// TLS of the gRPC listener, its files read and checked; `None`: plaintext.
    pub tls: Option<weft_net::tls::ServerTls>,
}

impl Listeners {
    /// Reads the TLS files (failing on one that cannot be used, naming it) and binds.
    pub async fn bind(cfg: &Config) -> anyhow::Result<Listeners> {
        let tls = match &cfg.tls {
            Some(files) => Some(
                weft_net::tls::ServerTls::load(files.clone())
                    .context("TLS (--tls-cert, --tls-key, --tls-client-ca)")?,
            ),
            None => None,
        };
        log_transport(cfg, tls.as_ref());
        let grpc = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding --listen {}", cfg.listen))?;
        let metrics = match cfg.metrics_listen {
            Some(addr) => {
                Some(TcpListener::bind(addr).await.with_context(|| format!("binding --metrics-listen {addr}"))?)
            }
            None => None,
        };
        Ok(Listeners { grpc, metrics, tls })
    }
}

/// Says at start how the gRPC port is protected, loudly when it is plaintext beyond loopback.
fn log_transport(cfg: &Config, tls: Option<&weft_net::tls::ServerTls>) {
    match tls {
        Some(tls) if tls.mutual() => tracing::info!(
            cert = %tls.files().cert.display(),
            "TLS with client certificates (mutual TLS): every client must present a certificate signed by --tls-client-ca"
        ),
        Some(tls) => tracing::info!(
            cert = %tls.files().cert.display(),
            "TLS without client certificates (no --tls-client-ca): clients verify the coordinator, not the reverse"
        ),
        None if cfg.listen.ip().is_loopback() => {
            tracing::info!("plaintext gRPC on loopback (no --tls-cert): reachable from this machine only")
        }
        None => tracing::warn!(
            listen = %cfg.listen,
            "plaintext gRPC beyond loopback (--insecure-plaintext): anyone on the network can read and forge \
             requests, tokens and task parameters; serve TLS with --tls-cert, --tls-key and --tls-client-ca"
        ),
    }
}

/// The coordinator's state, loaded from its store and ready to serve.
pub struct State {
    engine: weft_engine::Engine,
    store: Box<dyn weft_store::Store>,
    clock: clock::Clock,
    /// The store's quarantine as of the start (it changes only at a start).
    quarantined: Vec<weft_store::Quarantined>,
}

/// Opens the store in the data directory (or memory), checks and migrates it, and restores
/// every run it holds. Fails with a clear error on a corrupt store or one written by a newer
/// weft; never resets it. A record that cannot be restored is logged, moved into the
/// store's quarantine and skipped.
pub fn open_state(cfg: &Config) -> anyhow::Result<State> {
    let store: Box<dyn weft_store::Store> = match &cfg.data_dir {
        config::DataDir::Memory => {
            tracing::warn!("--data-dir memory: state is kept in memory only and is lost on restart");
            Box::new(weft_store::MemoryStore::new())
        }
        config::DataDir::Path(dir) => {
            let store = weft_store_sqlite::SqliteStore::open(dir, cfg.durability)?;
            services::backup::remove_leftovers(dir);
            Box::new(store)
        }
    };
    restore_state(cfg, store)
}

/// Checks that the PostgreSQL store of `--store` can be reached and used (migrating its
/// schema): a bad URL, an unreachable server or a newer schema stop the coordinator at
/// start. Blocking.
pub fn check_shared_store(ha: &config::HaConfig) -> anyhow::Result<()> {
    weft_store_postgres::prepare(&ha.url)?;
    tracing::info!(store = %ha.url.shown(), advertise = %ha.advertise, lease = ?ha.lease, "shared store ready; joining the election");
    Ok(())
}

/// Loads `store` and restores every run it holds (see [`open_state`]). Blocking.
pub(crate) fn restore_state(cfg: &Config, mut store: Box<dyn weft_store::Store>) -> anyhow::Result<State> {
    let clock = clock::Clock::new();
    let info = store.info();
    // Say what an acknowledgement is worth, as the backend reports it (not as asked).
    tracing::info!(
        backend = info.backend,
        durability = info.durability.as_str(),
        setting = %info.setting,
        location = %info.location,
        filesystem = %info.filesystem,
        "store opened"
    );
    let started = std::time::Instant::now();
    let mut snapshot = store.load().context("loading the store")?;
    let mut quarantined = std::mem::take(&mut snapshot.quarantined);
    let mut engine = weft_engine::Engine::new(cfg.engine());
    let restored = persist::restore(&mut engine, snapshot, clock.now());
    quarantined.extend(quarantine::set_aside(store.as_mut(), &restored.quarantine));
    tracing::info!(
        store = %info.location,
        definitions = restored.definitions,
        runs = restored.runs,
        unfinished_runs = restored.unfinished_runs,
        tasks = restored.tasks,
        observations = restored.observations,
        schedules = restored.schedules,
        skipped_orphans = restored.orphans,
        quarantined = quarantined.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "state restored"
    );
    quarantine::report(&quarantined);
    for (name, why) in &restored.refused_schedules {
        tracing::warn!(name = %name, reason = %why, "a stored schedule or limit cannot be read back; it stays stored and is not used");
    }
    Ok(State { engine, store, clock, quarantined })
}

/// How this coordinator comes to lead.
pub enum Startup {
    /// On its own store (SQLite or memory), opened: it leads from start to stop, and a
    /// failed commit stops it.
    Alone(Box<State>),
    /// On the shared PostgreSQL store of `--store`: it leads when elected and stands by
    /// otherwise.
    Elected(config::HaConfig),
}

/// The layer checking every request's bearer token against `--tokens`, or none. Without
/// tokens anyone who reaches the port may do anything: said at start, loudly when the port
/// is reachable from other machines.
fn auth_layer(cfg: &Config) -> weft_net::auth::AuthLayer {
    use weft_net::auth::{AuthLayer, Authenticator};
    match &cfg.tokens {
        Some(tokens) => {
            tracing::info!(tokens = tokens.len(), "bearer tokens required (--tokens)");
            let on_failure = |failure: weft_net::auth::Failure| metrics::auth_failure(failure.as_str());
            let from_file = cfg.tokens_file.as_deref().map(|path| Authenticator::from_file(path, on_failure));
            match from_file {
                Some(Ok(auth)) => AuthLayer::new(auth),
                // Changed since the flags were checked: keep what was checked; the reloader
                // reads it again.
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "tokens file changed at start; using the tokens read first");
                    AuthLayer::new(Authenticator::new((**tokens).clone(), on_failure))
                }
                None => AuthLayer::new(Authenticator::new((**tokens).clone(), on_failure)),
            }
        }
        None if cfg.listen.ip().is_loopback() => {
            tracing::info!("no --tokens: requests are not authenticated (listening on loopback only)");
            AuthLayer::open()
        }
        None => {
            tracing::warn!(
                listen = %cfg.listen,
                "no --tokens: anyone who can reach this port can submit, cancel and read every run and register \
                 as a worker; pass --tokens FILE (see README, Security)"
            );
            AuthLayer::open()
        }
    }
}

/// Serves the coordinator until `shutdown` resolves or (alone) the store fails. Installs the
/// process-wide metrics recorder when a metrics listener is given.
pub async fn run(
    cfg: Config,
    startup: Startup,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Installed before anything counts.
    let recorder = match listeners.metrics {
        Some(listener) => Some((metrics::install_recorder()?, listener)),
        None => None,
    };
    let listener = listeners.grpc;
    let data_dir = match (&cfg.data_dir, &cfg.ha) {
        (config::DataDir::Path(dir), None) => Some(dir.clone()),
        _ => None,
    };
    let role = role::Role::new(role::Part::Standby { leader: None });
    let services = services::Services {
        role: role.clone(),
        data_dir,
        shared_store: cfg.ha.is_some(),
        backup_turn: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
    };
    let auth = auth_layer(&cfg);
    if let Some((handle, listener)) = recorder {
        let mut stop = stop_rx.clone();
        let (services, authenticator) = (services.clone(), auth.authenticator());
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            if let Err(e) = web::serve(handle, services, authenticator, listener, shutdown).await {
                tracing::error!(error = %e, "HTTP listener (/metrics, dashboard) failed");
            }
        });
    }
    // Reloaded on SIGHUP and when the file changes; ends with the coordinator.
    let tokens_reloader =
        auth.authenticator().map(|a| weft_net::auth::spawn_tokens_reloader(a, weft_net::tls::RELOAD_POLL));
    let (router, health) = weft_net::server_with_basics(auth)?;
    let router = router
        .add_service(
            WorkflowServiceServer::new(services.clone())
                // Clients' requests are refused past their own, smaller bound before decoding.
                .max_decoding_message_size(weft_model::limits::MAX_REQUEST_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            WorkerServiceServer::new(services.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            MonitorServiceServer::new(services)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        );
    // NOT_SERVING until this coordinator leads.
    leadership::set_services_serving(&health, false).await;

    let mut leadership = match startup {
        Startup::Alone(state) => {
            tokio::spawn(leadership::alone(cfg.clone(), *state, role, health.clone(), stop_rx.clone()))
        }
        Startup::Elected(ha) => tokio::spawn(ha::elect(cfg.clone(), ha, role, health.clone(), stop_rx.clone())),
    };
    let (ended_tx, mut ended_rx) = watch::channel(false);
    let leadership_done = tokio::spawn(async move {
        let result = (&mut leadership).await;
        let _ = ended_tx.send(true);
        result
    });

    let health_on_stop = health.clone();
    let stop_for_serve = stop_tx.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = ended_rx.changed() => {}
        }
        // Tell health checkers first (a watcher sees NOT_SERVING before the stream ends),
        // then stop taking requests.
        leadership::set_services_serving(&health_on_stop, false).await;
        weft_net::set_node_serving(&health_on_stop, false).await;
        // Ending leadership stops the driver, which ends worker sessions and watch streams
        // that a graceful shutdown would otherwise wait for.
        let _ = stop_for_serve.send(true);
    };
    let mut stopping = stop_tx.subscribe();
    // Reloaded on SIGHUP and when the files change; ends with the coordinator.
    let reloader = listeners.tls.as_ref().map(|tls| tls.spawn_reloader(weft_net::tls::RELOAD_POLL));
    let serving = weft_net::serve(router, listener, listeners.tls, stop);
    tokio::pin!(serving);
    let served = tokio::select! {
        served = &mut serving => served,
        // Streams the driver does not own (a health watch) must not keep a stopping
        // coordinator alive, least of all one whose store failed.
        _ = async {
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the shutdown grace; closing them");
            Ok(())
        }
    };
    let _ = stop_tx.send(true);
    if let Some(reloader) = tokens_reloader {
        reloader.abort();
    }
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    let led = leadership_done.await.context("leadership task")?.context("leadership task")?;
    led.map_err(|reason| anyhow::anyhow!("{reason}"))?;
    served.map_err(Into::into)
}

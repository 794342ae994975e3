//! Server plumbing shared by weft's gRPC servers: one place that adds health checking,
//! reflection and socket tuning around a node's own services.
//!
//! Layout:
//! - this file: the server builder and [`serve`], in plaintext or over TLS.
//! - [`tls`]: TLS from PEM files, for the server (reloaded while serving) and for clients.
//! - [`auth`]: bearer tokens and roles: the tokens file, the method-to-role table, the
//!   server layer checking every request, the client interceptor sending a token.
pub mod auth;
pub mod reload;
pub mod tls;

use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;

/// A server with its services, every request passing [`auth::AuthLayer`] first.
pub type Router = tonic::transport::server::Router<tower_layer::Stack<auth::AuthLayer, tower_layer::Identity>>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the reflection service failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Health reporting for the services of a node.
pub type HealthReporter = tonic_health::server::HealthReporter;

/// Streams one connection may have open at once; a client past it waits (HTTP/2 clients
/// queue the extra streams until one ends).
///
/// Unlimited, a client that opens tens of thousands of calls at once (20,000 one-task runs,
/// each with its StartRun and WatchRun, over one connection) gets ahead of the server: their
/// small request frames pile up unread until h2's guard against small-frame floods closes the
/// whole connection (GOAWAY ENHANCE_YOUR_CALM, "too_many_data_frames"), failing every call
/// on it. With this bound, what can be buffered unread stays far below that guard.
pub const MAX_CONCURRENT_STREAMS: u32 = 1_024;

/// A server with reflection (v1 and v1alpha) and health checking, ready for services.
/// Every request goes through `auth` (one layer for every service; it leaves health and
/// reflection open).
pub fn server_with_basics(auth: auth::AuthLayer) -> Result<(Router, HealthReporter), Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(weft_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let v1 = reflection.build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(weft_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let router = tonic::transport::Server::builder()
        // Find peers that vanished without closing their connection.
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .layer(auth)
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha);
    Ok((router, reporter))
}

/// Marks a service as serving in the health service.
pub async fn set_serving<S: NamedService>(reporter: &HealthReporter) {
    reporter.set_serving::<S>().await;
}

/// Marks a service as not serving in the health service.
pub async fn set_not_serving<S: NamedService>(reporter: &HealthReporter) {
    reporter.set_not_serving::<S>().await;
}

/// Marks the whole node (the empty service name) as serving or not.
pub async fn set_node_serving(reporter: &HealthReporter, serving: bool) {
    let status = if serving { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
    reporter.set_service_status("", status).await;
}

/// Serves on an already bound listener until `shutdown` resolves, over TLS when `tls` is
/// given (see [`tls`]), in plaintext otherwise. Accepted sockets get TCP_NODELAY: small
/// request/response messages must not wait for Nagle's algorithm.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    tls: Option<tls::ServerTls>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    if let Some(tls) = tls {
        router.serve_with_incoming_shutdown(tls::incoming(listener, tls), shutdown).await?;
        return Ok(());
    }
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        if let Err(e) = conn.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        Ok::<_, std::io::Error>(conn)
    });
    router.serve_with_incoming_shutdown(incoming, shutdown).await?;
    Ok(())
}

//! Typed async client for a weft coordinator, used by `weftctl`, the end-to-end tests,
//! the benchmarks and any Rust service that starts workflows.
//!
//! Layout:
//! - [`client`]: [`Client`] with one method per RPC of `WorkflowService` and the watcher
//!   half of `MonitorService`, plus [`Client::wait_run`] (follow a run to its end) and
//!   [`Client::run_history_all`] (every page of a run's history).
//! - [`spec_file`]: [`load_spec_file`] reads a YAML or JSON process file, with errors that
//!   name the file, line, column and field.
//! - [`address`]: what a user may type as a coordinator address (`https://` with TLS).
//! - [`error`]: the one [`Error`] enum; a refused request keeps the server's field violations.
//!
//! Results are the wire messages of [`pb`] (re-exported) so callers see every field the
//! coordinator sends; ids and specs going in are `weft-model` types so mistakes are caught
//! before a request leaves.
//!
//! Over TLS (mutual TLS if the coordinator asks for a client certificate):
//! `Client::connect_with("coordinator:7070", &ConnectOptions { tls: Some(ClientTls::new("ca.crt")
//! .with_identity("weftctl.crt", "weftctl.key")) })`.
//!
//! With a bearer token, for a coordinator started with `--tokens`:
//! `Client::connect_with("coordinator:7070", &ConnectOptions { token: Some(token), ..Default::default() })`;
//! a call without the role it needs fails with [`Error::Rpc`] `PERMISSION_DENIED`, one
//! without a valid token with `UNAUTHENTICATED`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_client::Error> {
//! use weft_client::{Client, RunSource, StartOptions, load_spec_file};
//! let client = Client::connect("127.0.0.1:7070").await?;
//! let spec = load_spec_file("examples/order-fulfilment.yaml")?;
//! let started = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await?;
//! let run = client.wait_run(started.run_id).await?;
//! println!("{} ended {:?}", run.run_id, weft_client::run_status(&run));
//! # Ok(()) }
//! ```

pub mod address;
pub mod client;
pub mod error;
mod leader;
pub mod retry;
mod schedules;
pub mod spec_file;

pub use address::{DEFAULT_PORT, parse_address, parse_address_with};
pub use client::{
    AuthChannel, BackupCopy, Client, ClientTls, ConnectOptions, HistoryPage, Registered, RunPage, RunQuery, RunSource,
    ServingStatus, StartOptions, StartedRun, Subscription, is_final_event, run_status,
};
pub use error::{Error, FieldViolation, SpecFileError};
pub use spec_file::{SpecFormat, load_spec_file, parse_spec};
/// The gRPC status code in [`Error::Rpc`] and [`Error::Conflict`].
pub use tonic::Code;
pub use weft_model::{ProcessSpec, RunId, RunStatus, WorkerId};
pub use weft_proto::pb;

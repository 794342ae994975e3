//! One function per subcommand; each returns the process exit code.
//!
//! - [`runs`]: submit, validate, register, start, definitions, runs, run, history, cancel.
//! - [`cluster`]: workers and the `watch` streams; [`top`]: the live view of the cluster.
//! - [`admin`]: operators' commands (the store's quarantine).
//! - `dev` and `bench` live in their own modules ([`crate::dev`], [`crate::bench`]): they
//!   manage child processes.
pub mod admin;
pub mod cluster;
pub mod runs;
pub mod schedules;
pub mod top;

use crate::cli::{Cli, Command};
use crate::output::OutputFormat;
use weft_client::{Client, ConnectOptions};

/// What every command needs: where the coordinator is, how to reach it, how to print.
pub struct Context {
    pub coordinator: String,
    pub output: OutputFormat,
    /// How to connect: TLS settings (`--tls-ca`, `--tls-cert`, `--tls-key`) and the bearer
    /// token (`--token-file` or `WEFT_TOKEN`).
    pub connect: ConnectOptions,
}

/// How long to look for a leader among several coordinators: past a failover's takeover.
const LEADER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Context {
    pub async fn connect(&self) -> Result<Client, weft_client::Error> {
        // Several addresses (`a,b,c`): coordinators sharing a store; the leader is used.
        let addresses: Vec<String> =
            self.coordinator.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect();
        Client::connect_leader(&addresses, &self.connect, LEADER_WAIT).await
    }
}

/// The bearer token: from `--token-file`, else from `WEFT_TOKEN`, else none.
fn token(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        return weft_net::auth::read_token_file(path).map(Some).map_err(|e| anyhow::anyhow!("--token-file: {e}"));
    }
    Ok(std::env::var("WEFT_TOKEN").ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let tls = cli.tls.client_tls()?;
    let connect = ConnectOptions { tls, token: token(cli.token_file.as_deref())? };
    let ctx = Context { coordinator: cli.coordinator, output: cli.output, connect };
    match cli.command {
        Command::Submit(args) => runs::submit(&ctx, args).await,
        Command::Validate { file } => runs::validate(&ctx, &file),
        Command::Register { file } => runs::register(&ctx, &file).await,
        Command::Start(args) => runs::start(&ctx, args).await,
        Command::Definitions { prefix } => runs::definitions(&ctx, &prefix).await,
        Command::Runs(args) => runs::list(&ctx, args).await,
        Command::Run { id } => runs::show(&ctx, id).await,
        Command::History { id } => runs::history(&ctx, id).await,
        Command::Cancel { id, reason } => runs::cancel(&ctx, id, &reason).await,
        Command::Schedule { what } => schedules::run(&ctx, what).await,
        Command::Limit { what } => schedules::limits(&ctx, what).await,
        Command::Workers => cluster::workers(&ctx).await,
        Command::Health { service } => cluster::health(&ctx, &service).await,
        Command::Top(args) => top::top(&ctx, args).await,
        Command::Watch { what } => cluster::watch(&ctx, what).await,
        Command::Admin { what } => admin::admin(&ctx, what).await,
        Command::Dev(args) => crate::dev::run(args, ctx.output).await,
        Command::Bench(args) => crate::bench::run(args, &ctx).await,
    }
}

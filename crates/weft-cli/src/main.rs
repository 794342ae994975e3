//! weftctl: the weft command line.
//!
//! Layout:
//! - [`bench`]: `weftctl bench`, BENCH.md's scenarios against a cluster.
//! - [`certs`]: a CA and mutual-TLS certificates (`admin init-certs`, `bench --tls`).
//! - [`cli`]: clap definitions of every flag and subcommand.
//! - [`commands`]: one function per subcommand (runs and definitions; workers, top and watches).
//! - [`dev`]: `weftctl dev`, a local cluster of child processes.
//! - [`procs`]: the child processes of `dev` and `bench`, with a kill-on-drop guard.
//! - [`follow`]: following a run to its end (progress, then summary), shared by
//!   `submit --wait`, `start --wait` and `dev`.
//! - [`progress`]: per-workflow progress state from run events, drawn as bars or lines.
//! - [`views`]: what gets printed: `Serialize` views for `--output json`, tables and lines.
//! - [`output`]: the table renderer and formatters; [`exit`]: exit codes.
//!
//! Data goes to stdout, everything else (progress, notes, errors) to stderr, so
//! `weftctl runs -o json | jq` and `weftctl submit f.yaml | xargs weftctl run` work.
mod bench;
mod certs;
mod cli;
mod commands;
mod dev;
mod exit;
mod follow;
mod output;
mod procs;
mod progress;
mod views;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Exits with code 2 and a message naming the flag on a usage error.
    let cli = cli::Cli::parse();
    // One thread is plenty for a client, and keeps child-process handling simple.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) if exit::is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            report(&e);
            exit::for_error(&e)
        }
    };
    // Do not wait for background tasks (the stdout drains of `dev` children).
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// Prints an error to stderr with whatever detail helps fix it: field violations one per
/// line, the snippet of a bad spec file, a hint when nothing listens.
fn report(error: &anyhow::Error) {
    if let Some(violations) = error.downcast_ref::<weft_model::ValidationError>() {
        eprintln!("error: invalid process:");
        for v in &violations.violations {
            eprintln!("  {}: {}", v.field, v.message);
        }
        return;
    }
    match error.downcast_ref::<weft_client::Error>() {
        Some(weft_client::Error::InvalidArgument { violations, message }) if !violations.is_empty() => {
            // The status message usually repeats the violations; show it only if it adds to them.
            if violations.iter().all(|v| message.contains(&v.field)) {
                eprintln!("error: the coordinator refused the request:");
            } else {
                eprintln!("error: the coordinator refused the request: {message}");
            }
            for v in violations {
                eprintln!("  {v}");
            }
        }
        Some(weft_client::Error::SpecFile(e)) => {
            eprintln!("error: {e}");
            if let Some(snippet) = &e.snippet {
                eprintln!("{snippet}");
            }
        }
        Some(e @ weft_client::Error::Unavailable { message, .. }) if message.contains("standby") => {
            eprintln!("error: {e}");
            eprintln!(
                "hint: coordinators sharing a store elect one leader: give them all, --coordinator a:7070,b:7070, and \
                 weftctl finds it"
            );
        }
        Some(e @ weft_client::Error::NoLeader { .. }) => {
            eprintln!("error: {e}");
            eprintln!("hint: a failover may be under way (a standby takes over within the leader lease); try again");
        }
        Some(e @ (weft_client::Error::Unreachable { .. } | weft_client::Error::Unavailable { .. })) => {
            eprintln!("error: {e}");
            eprintln!(
                "hint: is a coordinator running there? Set --coordinator (or WEFT_COORDINATOR), or try `weftctl dev`; \
                 one serving TLS needs --tls-ca (and, for mutual TLS, --tls-cert and --tls-key)"
            );
        }
        Some(e @ weft_client::Error::Rpc { code: weft_client::Code::Unauthenticated, .. }) => {
            eprintln!("error: {e}");
            eprintln!("hint: this coordinator wants a bearer token: set WEFT_TOKEN or pass --token-file");
        }
        Some(e @ weft_client::Error::Rpc { code: weft_client::Code::PermissionDenied, .. }) => {
            eprintln!("error: {e}");
            eprintln!("hint: ask an operator for a token with that role (weftctl admin token new NAME --roles ...)");
        }
        Some(e @ weft_client::Error::Connection { .. }) => {
            eprintln!("error: {e}");
            eprintln!(
                "hint: the coordinator closed the connection during the call; one serving mutual TLS does that to a \
                 client without a certificate it accepts (--tls-ca, --tls-cert, --tls-key)"
            );
        }
        _ => eprintln!("error: {error:#}"),
    }
}

//! `weft-worker`: parse flags, set up logging, run until SIGTERM or Ctrl-C.
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use weft_worker::cli::Args;

fn main() -> anyhow::Result<()> {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if args.print_config {
        println!("{}", weft_telemetry::config_report(&Args::command(), &matches));
        return Ok(());
    }
    weft_telemetry::init(&args.log, args.log_format).context("invalid --log")?;
    let threads = usize::from(args.threads);
    weft_telemetry::runtime(threads)?.block_on(async {
        let worker = args.into_worker()?;
        ignore_hangup();
        worker.run(weft_worker::shutdown_signal()).await.context("the worker stopped")?;
        Ok(())
    })
}

/// SIGHUP must not kill a worker: operators send it to every weft process after rotating
/// certificates, and the coordinator reloads its own on it. A worker reads its TLS files at
/// every connect, so its session is kept and the next reconnect uses the new files.
fn ignore_hangup() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangup) => {
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!("SIGHUP: TLS files are read again at the next connect; the session is kept");
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP; it would stop this worker"),
    }
}

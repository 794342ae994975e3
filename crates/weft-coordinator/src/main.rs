//! `weft-coordinator`: parse flags, set up logging and metrics, bind, serve until SIGTERM or Ctrl-C.
use clap::{CommandFactory, FromArgMatches};
use weft_coordinator::{Args, Config, Listeners, Startup};

fn main() -> anyhow::Result<()> {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if args.print_config {
        println!("{}", weft_telemetry::config_report(&Args::command(), &matches));
        return Ok(());
    }
    let cfg = match Config::try_from(args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("weft-coordinator: {e}");
            std::process::exit(2);
        }
    };
    weft_telemetry::runtime(cfg.threads)?.block_on(serve(cfg))
}

async fn serve(mut cfg: Config) -> anyhow::Result<()> {
    weft_telemetry::init(&cfg.log, cfg.log_format)?;
    let listeners = Listeners::bind(&cfg).await?;
    cfg.bound(listeners.grpc.local_addr()?);
    let opened = match &cfg.ha {
        // The PostgreSQL client blocks: check the store on a thread of its own.
        Some(ha) => {
            let ha = ha.clone();
            tokio::task::spawn_blocking(move || {
                weft_coordinator::check_shared_store(&ha).map(|()| Startup::Elected(ha))
            })
            .await?
        }
        None => weft_coordinator::open_state(&cfg).map(|state| Startup::Alone(Box::new(state))),
    };
    let startup = match opened {
        Ok(startup) => startup,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot open the store");
            eprintln!("weft-coordinator: {e:#}");
            std::process::exit(1);
        }
    };
    let grpc = listeners.grpc.local_addr()?;
    let metrics = listeners.metrics.as_ref().map(|l| l.local_addr()).transpose()?;
    tracing::info!(grpc = %grpc, metrics = ?metrics, "coordinator serving");
    // One machine-readable line on stdout: tests and `weftctl dev` start us on port 0.
    weft_procs::announce(&weft_procs::CoordinatorReady {
        grpc: grpc.to_string(),
        metrics: metrics.map(|a| a.to_string()),
        pid: std::process::id(),
    })?;
    weft_coordinator::run(cfg, startup, listeners, shutdown_signal()).await?;
    tracing::info!("coordinator stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

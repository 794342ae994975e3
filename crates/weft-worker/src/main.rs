//! `weft-worker`: parse flags, set up logging, run until SIGTERM or Ctrl-C.
use anyhow::Context;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = weft_worker::cli::Args::parse();
    weft_telemetry::init(&args.log, args.log_format).context("invalid --log")?;
    let threads = usize::from(args.threads);
    weft_telemetry::runtime(threads)?.block_on(async {
        let worker = args.into_worker()?;
        worker.run(weft_worker::shutdown_signal()).await.context("the worker stopped")?;
        Ok(())
    })
}

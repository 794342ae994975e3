//! Following one run to its end with live progress, then printing its summary. Shared by
//! `submit --wait`, `start --wait` and `dev`.
use crate::exit;
use crate::output::{OutputFormat, out, print_json};
use crate::progress::{Change, ProgressView, RunProgress, notable};
use crate::views::WorkerNames;
use crate::views::run::{RunView, run_detail};
use std::io::IsTerminal;
use weft_client::{Client, RunId, pb, run_status};

/// Draws progress on stderr until the run ends, prints the run (table or JSON) on stdout,
/// and returns the exit code for its status. Ctrl-C is the caller's business: dropping
/// this future stops following and leaves the bars as they were.
pub async fn follow_run(client: &Client, run_id: RunId, output: OutputFormat) -> anyhow::Result<u8> {
    let snapshot = client.get_run(run_id).await?;
    // Events are replayed from sequence 1, so start from the bare structure.
    let mut progress = RunProgress::skeleton(&snapshot);
    let mut view = ProgressView::new(&progress, std::io::stderr().is_terminal());
    let result = client
        .wait_run_with(run_id, |event| {
            // The note first: "billing/charge failed ..." then the line or bar it changed.
            if let Some(line) = notable(event) {
                view.note(&line);
            }
            if let Change::Task { index } = progress.apply(event) {
                view.update(&progress, index);
            }
        })
        .await;
    view.finish(&progress);
    let run = result?;
    print_run(client, &run, output).await?;
    Ok(exit::for_status(run_status(&run)))
}

/// Prints a run in full, naming workers when the cluster still knows them.
pub async fn print_run(client: &Client, run: &pb::Run, output: OutputFormat) -> anyhow::Result<()> {
    let status = client.cluster_status().await.ok();
    let names = status.as_ref().map(WorkerNames::from_status).unwrap_or_default();
    match output {
        OutputFormat::Table => {
            let mut text = run_detail(run, &names);
            for note in status.iter().flat_map(|s| crate::views::run::unserved_notes(run, s)) {
                text.push_str(&note);
                text.push('\n');
            }
            out(&text)?
        }
        OutputFormat::Json => print_json(&RunView::new(run, &names))?,
    }
    Ok(())
}

/// Worker names from the cluster status, or none: names are a nicety, and a coordinator
/// that cannot answer GetClusterStatus should not stop a run from being shown.
pub async fn worker_names(client: &Client) -> WorkerNames {
    client.cluster_status().await.map(|s| WorkerNames::from_status(&s)).unwrap_or_default()
}

/// Resolves when Ctrl-C is pressed; never, if the handler cannot be installed.
pub async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

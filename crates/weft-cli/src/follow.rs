//! Following one run to its end with live progress, then printing its summary. Shared by
//! `submit --wait`, `start --wait` and `dev`.
use crate::exit;
use crate::output::{OutputFormat, out, print_json};
use crate::progress::{Change, ProgressView, RunProgress, notable};
use crate::views::WorkerNames;
use crate::views::run::{RunView, run_detail, unserved_notes};
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::IsTerminal;
use weft_client::{Client, RunId, pb, run_status};

/// Draws progress on stderr until the run ends, prints the run (table or JSON) on stdout,
/// and returns the exit code for its status. Ctrl-C is the caller's business: dropping
/// this future stops following and leaves the bars as they were.
pub async fn follow_run(client: &Client, run_id: RunId, output: OutputFormat) -> anyhow::Result<u8> {
    let snapshot = client.get_run(run_id).await?;
    // Events are replayed from sequence 1, so start from the bare structure.
    let progress = RefCell::new(RunProgress::skeleton(&snapshot));
    let view = RefCell::new(ProgressView::new(&progress.borrow(), std::io::stderr().is_terminal()));
    // The wait borrows the view and the progress until it is dropped, at the end of this block.
    let result = {
        let wait = client.wait_run_with(run_id, |event| {
            // The note first: "billing/charge failed ..." then the line or bar it changed.
            if let Some(line) = notable(event) {
                view.borrow().note(&line);
            }
            // Applied first, its borrow ended, then drawn from.
            let change = progress.borrow_mut().apply(event);
            if let Change::Task { index } = change {
                view.borrow_mut().update(&progress.borrow(), index);
            }
        });
        tokio::pin!(wait);
        // While nothing of the run is running, say why its ready tasks wait when no live
        // worker serves them (each reason once): otherwise `0/10 done` would just sit there.
        let mut said = HashSet::new();
        let mut check = tokio::time::interval(IDLE_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.tick().await;
        loop {
            tokio::select! {
                result = &mut wait => break result,
                _ = check.tick() => {
                    let idle = progress.borrow().workflows.iter().all(|w| w.active().is_empty());
                    if idle {
                        for note in waiting_notes(client, run_id).await {
                            if said.insert(note.clone()) {
                                view.borrow().note(&note);
                            }
                        }
                    }
                }
            }
        }
    };
    view.into_inner().finish(&progress.borrow());
    let run = result?;
    print_run(client, &run, output).await?;
    Ok(exit::for_status(run_status(&run)))
}

/// How often a run with nothing running is checked for tasks no live worker serves.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(3);

/// [`unserved_notes`] of the run as it is now; none when either view cannot be had.
async fn waiting_notes(client: &Client, run_id: RunId) -> Vec<String> {
    match (client.get_run(run_id).await, client.cluster_status().await) {
        (Ok(run), Ok(status)) => unserved_notes(&run, &status),
        _ => Vec::new(),
    }
}

/// Prints a run in full, naming workers when the cluster still knows them.
pub async fn print_run(client: &Client, run: &pb::Run, output: OutputFormat) -> anyhow::Result<()> {
    let status = client.cluster_status().await.ok();
    let names = status.as_ref().map(WorkerNames::from_status).unwrap_or_default();
    match output {
        OutputFormat::Table => {
            let mut text = run_detail(run, &names);
            for note in status.iter().flat_map(|s| unserved_notes(run, s)) {
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

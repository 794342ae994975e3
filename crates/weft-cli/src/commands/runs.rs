//! Definitions and runs: submit, validate, register, start, definitions, runs, run, history, cancel.
use super::Context;
use crate::cli::{RunOptions, RunsArgs, StartArgs, SubmitArgs};
use crate::exit;
use crate::follow::{follow_run, interrupted, print_run, worker_names};
use crate::output::{OutputFormat, out, print_json, print_json_line};
use crate::views::WorkerNames;
use crate::views::history::{HistoryEventView, history_table};
use crate::views::run::{DefinitionView, RunView, definitions_table, runs_table};
use serde::Serialize;
use std::path::Path;
use weft_client::{Client, RunId, RunQuery, RunSource, StartOptions, load_spec_file};

/// Page size asked of the server when listing; it caps pages at 1000.
const MAX_PAGE: u32 = 1000;
/// Events asked for per GetRunHistory page (the server's maximum).
const HISTORY_PAGE: u32 = 10_000;

#[derive(Serialize)]
struct StartedView {
    run_id: String,
    created: bool,
}

pub async fn submit(ctx: &Context, args: SubmitArgs) -> anyhow::Result<u8> {
    // Read the file before dialling, so a typo is reported even with no coordinator up.
    let spec = load_spec_file(&args.file)?;
    let client = ctx.connect().await?;
    start_and_maybe_follow(ctx, &client, RunSource::Inline(&spec), args.run).await
}

pub async fn start(ctx: &Context, args: StartArgs) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let source = RunSource::Definition { name: &args.name, version: args.version };
    start_and_maybe_follow(ctx, &client, source, args.run).await
}

async fn start_and_maybe_follow(
    ctx: &Context,
    client: &Client,
    source: RunSource<'_>,
    options: RunOptions,
) -> anyhow::Result<u8> {
    let key = options.key.clone();
    let started = client.start_run(source, StartOptions { idempotency_key: options.key, input: options.input }).await?;
    if !started.created {
        eprintln!(
            "note: idempotency key `{}` matched run {}; nothing new was started",
            key.unwrap_or_default(),
            started.run_id
        );
    }
    if !options.wait {
        match ctx.output {
            OutputFormat::Table => out(&format!("{}\n", started.run_id))?,
            OutputFormat::Json => {
                print_json(&StartedView { run_id: started.run_id.to_string(), created: started.created })?
            }
        }
        return Ok(exit::OK);
    }
    eprintln!("run {}", started.run_id);
    tokio::select! {
        code = follow_run(client, started.run_id, ctx.output) => code,
        () = interrupted() => {
            eprintln!(
                "\nstopped following; run {id} goes on. Check it with `weftctl run {id}` or cancel it with `weftctl cancel {id}`",
                id = started.run_id
            );
            Ok(exit::INTERRUPTED)
        }
    }
}

/// Checks a file without a coordinator. Kinds are taken as known (only the coordinator
/// knows what its workers serve), but the parameters of built-in kinds are checked.
pub fn validate(ctx: &Context, file: &Path) -> anyhow::Result<u8> {
    let spec = load_spec_file(file)?;
    weft_model::validate_process(&spec, &|_| true)?;
    let custom: std::collections::BTreeSet<&str> = spec
        .workflows
        .iter()
        .flat_map(|w| &w.tasks)
        .map(|t| t.kind.as_str())
        .filter(|k| !weft_model::builtin::KINDS.contains(k))
        .collect();
    let tasks: usize = spec.workflows.iter().map(|w| w.tasks.len()).sum();
    match ctx.output {
        OutputFormat::Table => {
            out(&format!(
                "{}: ok: process `{}`, {} workflow(s), {tasks} task(s)\n",
                file.display(),
                spec.name,
                spec.workflows.len()
            ))?;
            if !custom.is_empty() {
                eprintln!(
                    "note: kinds that are not built in need a worker that serves them: {}",
                    custom.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
        }
        OutputFormat::Json => print_json(&serde_json::json!({
            "file": file.display().to_string(),
            "valid": true,
            "spec": spec,
            "tasks": tasks,
            "custom_kinds": custom,
        }))?,
    }
    Ok(exit::OK)
}

pub async fn register(ctx: &Context, file: &Path) -> anyhow::Result<u8> {
    let spec = load_spec_file(file)?;
    let client = ctx.connect().await?;
    let registered = client.register_definition(&spec).await?;
    match ctx.output {
        OutputFormat::Table => {
            let what = if registered.created { "registered" } else { "unchanged (same as the latest):" };
            out(&format!("{what} {} version {}\n", registered.name, registered.version))?;
        }
        OutputFormat::Json => print_json(&serde_json::json!({
            "name": registered.name,
            "version": registered.version,
            "created": registered.created,
        }))?,
    }
    Ok(exit::OK)
}

pub async fn definitions(ctx: &Context, prefix: &str) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let definitions = client.list_definitions(prefix).await?;
    match ctx.output {
        OutputFormat::Table if definitions.is_empty() => eprintln!("no definitions"),
        OutputFormat::Table => out(&definitions_table(&definitions).render())?,
        OutputFormat::Json => print_json(&definitions.iter().map(DefinitionView::new).collect::<Vec<_>>())?,
    }
    Ok(exit::OK)
}

pub async fn list(ctx: &Context, args: RunsArgs) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let limit = args.limit as usize;
    let mut query = RunQuery {
        status: args.status.map(Into::into),
        process_name: args.process,
        idempotency_key: args.key,
        page_size: None,
        page_token: None,
    };
    let mut runs = Vec::new();
    while runs.len() < limit {
        query.page_size = Some(((limit - runs.len()) as u32).min(MAX_PAGE));
        let page = client.list_runs(&query).await?;
        runs.extend(page.runs);
        match page.next_page_token {
            Some(token) => query.page_token = Some(token),
            None => break,
        }
    }
    runs.truncate(limit);
    match ctx.output {
        OutputFormat::Table if runs.is_empty() => eprintln!("no runs"),
        OutputFormat::Table => out(&runs_table(&runs).render())?,
        OutputFormat::Json => {
            let names = WorkerNames::default();
            print_json(&runs.iter().map(|r| RunView::new(r, &names)).collect::<Vec<_>>())?
        }
    }
    Ok(exit::OK)
}

pub async fn show(ctx: &Context, id: RunId) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let run = client.get_run(id).await?;
    print_run(&client, &run, ctx.output).await?;
    Ok(exit::OK)
}

/// Every event of a run, oldest first. JSON lines are printed page by page as they
/// arrive; the table needs every row first to align its columns.
pub async fn history(ctx: &Context, id: RunId) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let names = worker_names(&client).await;
    match ctx.output {
        OutputFormat::Table => {
            let events = client.run_history_all(id, HISTORY_PAGE).await?;
            out(&history_table(&events, &names).render())?;
        }
        OutputFormat::Json => {
            let mut from_seq = 1;
            loop {
                let page = client.run_history(id, from_seq, HISTORY_PAGE).await?;
                for event in &page.events {
                    print_json_line(&HistoryEventView::new(event, &names))?;
                }
                match page.next_seq {
                    Some(next) => from_seq = next,
                    None => break,
                }
            }
        }
    }
    Ok(exit::OK)
}

pub async fn cancel(ctx: &Context, id: RunId, reason: &str) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let run = client.cancel_run(id, reason).await?;
    print_run(&client, &run, ctx.output).await?;
    Ok(exit::OK)
}

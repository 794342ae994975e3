//! The cluster: `workers`, and the `watch` streams of heartbeats and events.
use super::Context;
use crate::cli::WatchCommand;
use crate::exit;
use crate::follow::{interrupted, worker_names};
use crate::output::{OutputFormat, out, print_json, print_json_line};
use crate::views::WorkerNames;
use crate::views::cluster::{ClusterView, cluster_text};
use crate::views::events::{EventView, HeartbeatView, anomaly_line, heartbeat_line, run_event_line, worker_event_line};
use std::time::{Duration, Instant};
use weft_client::{Client, Subscription, pb};

/// A heartbeat from an unknown worker refreshes the name table at most this often, so a
/// stream of heartbeats from an unregistered id cannot turn into a stream of requests.
const NAME_REFRESH: Duration = Duration::from_secs(5);

pub async fn workers(ctx: &Context) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let status = client.cluster_status().await?;
    match ctx.output {
        OutputFormat::Table => out(&cluster_text(&status))?,
        OutputFormat::Json => print_json(&ClusterView::new(&status))?,
    }
    Ok(exit::OK)
}

pub async fn health(ctx: &Context, service: &str) -> anyhow::Result<u8> {
    let status = ctx.connect().await?.health(service).await?;
    let serving = status == weft_client::ServingStatus::Serving;
    match ctx.output {
        OutputFormat::Table => out(&format!("{}\n", status.as_str_name()))?,
        OutputFormat::Json => print_json(&serde_json::json!({ "service": service, "status": status.as_str_name() }))?,
    }
    Ok(if serving { exit::OK } else { exit::FAILED })
}

pub async fn watch(ctx: &Context, what: WatchCommand) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let names = Names { table: worker_names(&client).await, refreshed: Instant::now() };
    match what {
        WatchCommand::Heartbeats { worker } => {
            let stream = client.watch_heartbeats(worker).await?;
            eprintln!("watching heartbeats; Ctrl-C to stop");
            stream_until_done(&client, stream, names, ctx.output, print_heartbeat).await
        }
        WatchCommand::Events { run } => {
            let stream = client.watch_events(run).await?;
            eprintln!("watching events; Ctrl-C to stop");
            stream_until_done(&client, stream, names, ctx.output, print_event).await
        }
    }
}

/// Worker names, refreshed when an id turns up that the table does not know.
struct Names {
    table: WorkerNames,
    refreshed: Instant,
}

impl Names {
    async fn learn(&mut self, client: &Client, worker_id: &str) {
        if worker_id.is_empty() || self.table.contains(worker_id) || self.refreshed.elapsed() < NAME_REFRESH {
            return;
        }
        self.refreshed = Instant::now();
        self.table = worker_names(client).await;
    }
}

/// Prints items as they arrive; Ctrl-C and the server closing the stream both end it
/// cleanly (exit 0). A broken stream is an error.
async fn stream_until_done<T>(
    client: &Client,
    mut stream: Subscription<T>,
    mut names: Names,
    output: OutputFormat,
    print: fn(&T, &WorkerNames, OutputFormat) -> anyhow::Result<()>,
) -> anyhow::Result<u8>
where
    T: WorkerOf,
{
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = interrupted() => return Ok(exit::OK),
        };
        match item {
            None => {
                eprintln!("the coordinator closed the stream");
                return Ok(exit::OK);
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(item)) => {
                names.learn(client, item.worker_id()).await;
                print(&item, &names.table, output)?;
            }
        }
    }
}

/// The worker an item is about, for looking up its name.
trait WorkerOf {
    fn worker_id(&self) -> &str;
}

impl WorkerOf for pb::Heartbeat {
    fn worker_id(&self) -> &str {
        &self.worker_id
    }
}

impl WorkerOf for pb::ClusterEvent {
    fn worker_id(&self) -> &str {
        match &self.event {
            Some(pb::cluster_event::Event::Run(e)) => &e.worker_id,
            // Worker events carry their own name.
            _ => "",
        }
    }
}

fn print_heartbeat(h: &pb::Heartbeat, names: &WorkerNames, output: OutputFormat) -> anyhow::Result<()> {
    match output {
        OutputFormat::Table => out(&format!("{}\n", heartbeat_line(h, names)))?,
        OutputFormat::Json => print_json_line(&HeartbeatView::new(h, names))?,
    }
    Ok(())
}

fn print_event(e: &pb::ClusterEvent, names: &WorkerNames, output: OutputFormat) -> anyhow::Result<()> {
    match output {
        OutputFormat::Table => {
            let line = match &e.event {
                Some(pb::cluster_event::Event::Run(run)) => run_event_line(run, names),
                Some(pb::cluster_event::Event::Worker(worker)) => worker_event_line(worker),
                Some(pb::cluster_event::Event::Anomaly(anomaly)) => anomaly_line(anomaly),
                // An event kind newer than this build: say so rather than drop it silently.
                None => "(an event this weftctl does not know)".to_string(),
            };
            out(&format!("{line}\n"))?;
        }
        OutputFormat::Json => match EventView::new(e) {
            Some(view) => print_json_line(&view)?,
            None => print_json_line(&serde_json::json!({"type": "unknown"}))?,
        },
    }
    Ok(())
}

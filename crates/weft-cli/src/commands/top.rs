//! `weftctl top`: the cluster status every `--interval` until Ctrl-C, with the latest
//! anomalies and liveness changes from a `WatchEvents` stream running alongside.
//!
//! On a terminal each snapshot is drawn over the previous one (ANSI cursor-home and
//! erase codes, nothing else); otherwise snapshots are printed one after another,
//! separated by a blank line, so the output can be logged or tested. `-o json` prints the
//! cluster status instead (one JSON line per interval; one pretty document with `--once`).
use super::Context;
use crate::cli::TopArgs;
use crate::exit;
use crate::follow::interrupted;
use crate::output::{OutputFormat, out, print_json, print_json_line};
use crate::views::cluster::ClusterView;
use crate::views::top::{EventLog, top_text};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use weft_client::{Client, Subscription, pb};

/// Cursor to the top-left corner; erase to the end of the line; erase everything below the
/// cursor; erase the whole screen.
const HOME: &str = "\x1b[H";
const ERASE_LINE: &str = "\x1b[K";
const ERASE_BELOW: &str = "\x1b[J";
const ERASE_SCREEN: &str = "\x1b[2J";

pub async fn top(ctx: &Context, args: TopArgs) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let limit = call_limit(args.interval);
    if args.once {
        // An error here is reported by `main` like any other failed request (exit 1).
        let status = cluster_status(&client, limit).await?;
        match ctx.output {
            OutputFormat::Table => out(&top_text(&status, client.address(), None))?,
            OutputFormat::Json => print_json(&ClusterView::new(&status))?,
        }
        return Ok(exit::OK);
    }
    let mut screen = Screen { tty: std::io::stdout().is_terminal(), frames: 0 };
    let mut feed = Feed { stream: None, log: EventLog::default() };
    if ctx.output == OutputFormat::Table {
        feed.subscribe(&client, limit).await;
    }
    let mut ticker = tokio::time::interval(args.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let ctrl_c = interrupted();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            () = &mut ctrl_c => return Ok(exit::OK),
            item = next_event(&mut feed.stream) => feed.take(item),
            _ = ticker.tick() => {
                let status = tokio::select! {
                    () = &mut ctrl_c => return Ok(exit::OK),
                    status = cluster_status(&client, limit) => status,
                };
                let status = match status {
                    Ok(status) => status,
                    Err(e) => {
                        eprintln!("error: lost the coordinator at {}: {e:#}", client.address());
                        return Ok(exit::FAILED);
                    }
                };
                match ctx.output {
                    OutputFormat::Table => screen.draw(&top_text(&status, client.address(), Some(&feed.log)))?,
                    OutputFormat::Json => print_json_line(&ClusterView::new(&status))?,
                }
                // The coordinator answers again: pick the event stream up again if it broke.
                if ctx.output == OutputFormat::Table && feed.stream.is_none() {
                    feed.subscribe(&client, limit).await;
                }
            }
        }
    }
}

/// How long one call may take before the coordinator counts as gone: two intervals, but
/// at least 5 s (a busy coordinator) and at most 30 s.
fn call_limit(interval: Duration) -> Duration {
    (interval * 2).clamp(Duration::from_secs(5), Duration::from_secs(30))
}

async fn cluster_status(client: &Client, limit: Duration) -> anyhow::Result<pb::ClusterStatus> {
    match tokio::time::timeout(limit, client.cluster_status()).await {
        Ok(status) => Ok(status?),
        Err(_) => anyhow::bail!("no answer within {}", humantime::format_duration(limit)),
    }
}

/// Where snapshots go: over each other on a terminal, one after another elsewhere.
struct Screen {
    tty: bool,
    frames: u64,
}

impl Screen {
    fn draw(&mut self, snapshot: &str) -> std::io::Result<()> {
        let frame = self.frame(snapshot);
        out(&frame)
    }

    /// What drawing `snapshot` writes.
    fn frame(&mut self, snapshot: &str) -> String {
        let frame = if self.tty {
            let mut frame = String::with_capacity(snapshot.len() + 256);
            if self.frames == 0 {
                frame.push_str(ERASE_SCREEN);
            }
            frame.push_str(HOME);
            for line in snapshot.lines() {
                frame.push_str(line);
                frame.push_str(ERASE_LINE);
                frame.push('\n');
            }
            frame.push_str(ERASE_BELOW);
            frame
        } else if self.frames == 0 {
            snapshot.to_string()
        } else {
            format!("\n{snapshot}")
        };
        self.frames += 1;
        frame
    }
}

/// The event stream and what it has shown so far.
struct Feed {
    stream: Option<Subscription<pb::ClusterEvent>>,
    log: EventLog,
}

impl Feed {
    async fn subscribe(&mut self, client: &Client, limit: Duration) {
        match tokio::time::timeout(limit, client.watch_events(None)).await {
            Ok(Ok(stream)) => {
                self.stream = Some(stream);
                self.log.note = None;
            }
            Ok(Err(e)) => self.log.note = Some(format!("no event stream: {e}")),
            Err(_) => self.log.note = Some("no event stream: the coordinator did not answer".to_string()),
        }
    }

    fn take(&mut self, item: Option<Result<pb::ClusterEvent, weft_client::Error>>) {
        match item {
            Some(Ok(event)) => {
                self.log.push(&event);
            }
            Some(Err(e)) => {
                self.stream = None;
                self.log.note = Some(format!("event stream broke: {e}; reconnecting"));
            }
            None => {
                self.stream = None;
                self.log.note = Some("the coordinator closed the event stream; reconnecting".to_string());
            }
        }
    }
}

/// The next event, or never when there is no stream.
async fn next_event(
    stream: &mut Option<Subscription<pb::ClusterEvent>>,
) -> Option<Result<pb::ClusterEvent, weft_client::Error>> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_follow_each_other_off_a_terminal_and_overwrite_each_other_on_one() {
        let mut plain = Screen { tty: false, frames: 0 };
        assert_eq!(plain.frame("a\nb\n"), "a\nb\n");
        assert_eq!(plain.frame("c\n"), "\nc\n", "a blank line between snapshots");
        let mut tty = Screen { tty: true, frames: 0 };
        assert_eq!(tty.frame("a\nb\n"), "\x1b[2J\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J");
        assert_eq!(tty.frame("c\n"), "\x1b[Hc\x1b[K\n\x1b[J", "later frames only go home");
    }

    #[test]
    fn calls_wait_two_intervals_within_bounds() {
        assert_eq!(call_limit(Duration::from_millis(100)), Duration::from_secs(5));
        assert_eq!(call_limit(Duration::from_secs(10)), Duration::from_secs(20));
        assert_eq!(call_limit(Duration::from_secs(60)), Duration::from_secs(30));
    }
}

//! The work the scenarios submit (process specs of no-op tasks, chains, a fan-out, a
//! sleeper) and how they follow it: a run's events to its final one, on the client's clock.
use anyhow::{Context as _, bail};
use futures::StreamExt;
use std::time::Instant;
use weft_client::{Client, ProcessSpec, RunId, RunSource, StartOptions, Subscription, is_final_event, pb};
use weft_model::{TaskSpec, WorkflowSpec};

/// How often a run's watch may close early and be opened again before we give up.
const MAX_RESUBSCRIBES: u32 = 100;

fn process(name: &str, workflows: Vec<WorkflowSpec>) -> ProcessSpec {
    ProcessSpec::new(name, workflows)
}

fn noop(name: String) -> TaskSpec {
    TaskSpec::new(name, weft_model::builtin::NOOP)
}

/// A `sleep` task of `ms` milliseconds.
fn sleep(name: String, ms: u64) -> TaskSpec {
    let mut task = TaskSpec::new(name, weft_model::builtin::SLEEP);
    task.params = serde_json::json!({ "duration": ms });
    task
}

/// One workflow of `n` independent no-op tasks.
pub fn independent(name: &str, n: usize) -> ProcessSpec {
    let tasks = (0..n).map(|i| noop(format!("t{i}"))).collect();
    process(name, vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }])
}

/// One workflow of `n` independent `sleep` tasks of `ms` milliseconds each.
pub fn independent_sleeps(name: &str, n: usize, ms: u64) -> ProcessSpec {
    let tasks = (0..n).map(|i| sleep(format!("t{i}"), ms)).collect();
    process(name, vec![WorkflowSpec { name: "w".into(), tasks, chain: false, default_retry: None }])
}

/// One workflow: a chain of `len` no-op tasks, each after the one before.
pub fn chain(name: &str, len: usize) -> ProcessSpec {
    let tasks = (0..len).map(|i| noop(format!("step{i}"))).collect();
    process(name, vec![WorkflowSpec { name: "chain".into(), tasks, chain: true, default_retry: None }])
}

/// One workflow: `first` → `width` parallel tasks → `join`.
pub fn fan_out(name: &str, width: usize) -> ProcessSpec {
    let mut tasks = Vec::with_capacity(width + 2);
    tasks.push(noop("first".into()));
    let middle: Vec<String> = (0..width).map(|i| format!("p{i}")).collect();
    for name in &middle {
        let mut t = noop(name.clone());
        t.depends_on = vec!["first".into()];
        tasks.push(t);
    }
    let mut join = noop("join".into());
    join.depends_on = middle;
    tasks.push(join);
    process(name, vec![WorkflowSpec { name: "fan".into(), tasks, chain: false, default_retry: None }])
}

/// One workflow: `first` (returning `width` items) → one `for_each` task over them (no-op
/// instances) → `join`.
pub fn for_each_fan_out(name: &str, width: usize) -> ProcessSpec {
    let mut first = noop("first".into());
    first.params = serde_json::json!({ "result": { "items": (0..width).collect::<Vec<_>>() } });
    let mut each = noop("each".into());
    each.depends_on = vec!["first".into()];
    each.for_each = Some("first.items".into());
    each.max_items = Some(weft_model::limits::MAX_TASKS as u32);
    let mut join = noop("join".into());
    join.depends_on = vec!["each".into()];
    process(
        name,
        vec![WorkflowSpec { name: "fan".into(), tasks: vec![first, each, join], chain: false, default_retry: None }],
    )
}

/// One `sleep` task of `ms` milliseconds, with the default retry policy (3 attempts).
pub fn sleeper(name: &str, ms: u64) -> ProcessSpec {
    process(
        name,
        vec![WorkflowSpec {
            name: "w".into(),
            tasks: vec![sleep("nap".into(), ms)],
            chain: false,
            default_retry: None,
        }],
    )
}

/// `total` split into runs of at most `per_run`: `[per_run, per_run, ..., rest]`.
pub fn split(total: usize, per_run: usize) -> Vec<usize> {
    let per_run = per_run.max(1);
    let mut sizes = vec![per_run; total / per_run];
    if !total.is_multiple_of(per_run) {
        sizes.push(total % per_run);
    }
    sizes
}

/// Starts an inline spec, not idempotent, without input.
pub async fn start(client: &Client, spec: &ProcessSpec) -> anyhow::Result<RunId> {
    Ok(client.start_run(RunSource::Inline(spec), StartOptions::default()).await?.run_id)
}

/// Starts `tasks` independent no-op tasks as runs of at most `per_run`, `concurrency`
/// StartRun calls in flight at a time, and returns once every run was accepted. Specs are
/// built as they are sent, so the client never holds them all.
pub async fn submit_bulk(client: &Client, tasks: usize, per_run: usize, concurrency: usize) -> anyhow::Result<()> {
    let mut calls = futures::stream::iter(split(tasks, per_run).into_iter().enumerate())
        .map(|(i, n)| async move { start(client, &independent(&format!("bench-bulk-{i}"), n)).await })
        .buffer_unordered(concurrency.max(1));
    while let Some(started) = calls.next().await {
        started?;
    }
    Ok(())
}

/// Tasks waiting in the coordinator's ready queues, all queues together.
pub async fn queued(client: &Client) -> anyhow::Result<u64> {
    Ok(client.cluster_status().await?.queues.iter().map(|q| u64::from(q.depth)).sum())
}

/// How a followed run ended, as the client saw it.
#[derive(Clone, Debug)]
pub struct Followed {
    pub final_kind: pb::EventKind,
    /// When the final event arrived.
    pub ended: Instant,
    /// TASK_SUCCEEDED events seen (each task's result, once).
    pub succeeded_tasks: u64,
    /// Times the watch closed before the final event and was opened again.
    pub resubscribes: u32,
}

impl Followed {
    pub fn succeeded(&self) -> bool {
        self.final_kind == pb::EventKind::RunSucceeded
    }
}

/// A run's events from the first to the final one, each once and in order. The
/// coordinator drops a watcher that falls behind; the watch is then opened again at once
/// from the next sequence number, so a slow client costs time but loses nothing.
pub struct Cursor<'a> {
    client: &'a Client,
    run_id: RunId,
    /// Event kinds asked for; empty for all.
    kinds: &'static [pb::EventKind],
    next_seq: u64,
    stream: Option<Subscription<pb::RunEvent>>,
    done: bool,
    pub resubscribes: u32,
}

impl<'a> Cursor<'a> {
    pub fn new(client: &'a Client, run_id: RunId) -> Self {
        Cursor { client, run_id, kinds: &[], next_seq: 1, stream: None, done: false, resubscribes: 0 }
    }

    /// A cursor over the run's results only (TASK_SUCCEEDED, TASK_FAILED) and its end: what
    /// a client waiting for results needs, at a quarter of the events.
    pub fn results(client: &'a Client, run_id: RunId) -> Self {
        Cursor { kinds: &[pb::EventKind::TaskSucceeded, pb::EventKind::TaskFailed], ..Cursor::new(client, run_id) }
    }

    /// The next event and when it arrived; `None` after the final event.
    pub async fn next(&mut self) -> anyhow::Result<Option<(pb::RunEvent, Instant)>> {
        let run_id = self.run_id;
        while !self.done {
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => {
                    let stream = self.client.watch_run_kinds(run_id, self.next_seq, self.kinds).await;
                    self.stream.insert(stream.with_context(|| format!("watching run {run_id}"))?)
                }
            };
            let Some(event) = stream.next().await else {
                self.stream = None;
                self.resubscribes += 1;
                if self.resubscribes > MAX_RESUBSCRIBES {
                    bail!("the watch of run {run_id} closed {MAX_RESUBSCRIBES} times before the run ended");
                }
                continue;
            };
            let event = event.with_context(|| format!("watching run {run_id}"))?;
            let now = Instant::now();
            if event.seq < self.next_seq {
                continue;
            }
            self.next_seq = event.seq + 1;
            self.done = is_final_event(event.kind);
            if self.done
                && let Some(stream) = self.stream.take()
            {
                // The server closes the stream right after the final event: read to its end
                // rather than reset it (see `Subscription::finish`).
                stream.finish().await;
            }
            return Ok(Some((event, now)));
        }
        Ok(None)
    }
}

/// Follows a run to its final event, handing each result event (TASK_SUCCEEDED,
/// TASK_FAILED) and the final one to `on_event`.
pub async fn follow(
    client: &Client,
    run_id: RunId,
    mut on_event: impl FnMut(&pb::RunEvent, Instant),
) -> anyhow::Result<Followed> {
    let mut cursor = Cursor::results(client, run_id);
    let mut succeeded_tasks = 0;
    while let Some((event, at)) = cursor.next().await? {
        if event.kind == pb::EventKind::TaskSucceeded as i32 {
            succeeded_tasks += 1;
        }
        on_event(&event, at);
        if is_final_event(event.kind) {
            let final_kind = pb::EventKind::try_from(event.kind).unwrap_or(pb::EventKind::Unspecified);
            return Ok(Followed { final_kind, ended: at, succeeded_tasks, resubscribes: cursor.resubscribes });
        }
    }
    bail!("the watch of run {run_id} ended without a final event")
}

/// Fails unless the run succeeded with `tasks` results.
pub fn check(followed: &Followed, run_id: RunId, tasks: usize) -> anyhow::Result<()> {
    if !followed.succeeded() {
        bail!("run {run_id} ended {:?}, not succeeded (see `weftctl history {run_id}`)", followed.final_kind);
    }
    if followed.succeeded_tasks != tasks as u64 {
        bail!("run {run_id} succeeded with {} task results, expected {tasks}", followed.succeeded_tasks);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(spec: &ProcessSpec) {
        weft_model::validate_process(spec, &|k| weft_model::builtin::KINDS.contains(&k)).unwrap();
    }

    #[test]
    fn specs_are_valid_and_shaped_as_named() {
        let s = independent("s1", 1000);
        valid(&s);
        assert_eq!(s.workflows[0].tasks.len(), 1000);
        assert!(s.workflows[0].tasks.iter().all(|t| t.depends_on.is_empty()) && !s.workflows[0].chain);
        let c = chain("s3", 10);
        valid(&c);
        assert!(c.workflows[0].chain && c.workflows[0].tasks.len() == 10);
        let f = fan_out("s4", 1000);
        valid(&f);
        assert_eq!(f.workflows[0].tasks.len(), 1002);
        assert_eq!(f.workflows[0].tasks[1001].depends_on.len(), 1000);
        let z = sleeper("s5", 5000);
        valid(&z);
        assert_eq!(z.workflows[0].tasks[0].params, serde_json::json!({"duration": 5000}));
    }

    #[test]
    fn split_covers_the_total() {
        assert_eq!(split(20_000, 1_000).len(), 20);
        assert_eq!(split(2_500, 1_000), [1_000, 1_000, 500]);
        assert_eq!(split(500, 1_000), [500]);
        assert_eq!(split(3, 0), [1, 1, 1]);
    }
}

//! The one rule of what leaves the coordinator: nothing a client can see (an answer, a run
//! event, a worker or anomaly event) is released before every change the driver applied
//! up to that point is durable. Reads follow the same rule as writes, since the engine's
//! state may already hold changes that are still on their way to disk.
//!
//! Each driver step hands [`CommitOrder::submit`] the step's store batch and an [`Outbox`]
//! of what the step would show. The batch goes to the commit thread; once its group (and
//! every group before it) is durable, the answers are sent from the commit thread and the
//! events come back to the driver for fan-out. A step that wrote nothing while nothing is
//! in flight is released at once. When a commit fails, nothing held is released: the
//! answers are dropped (their callers see UNAVAILABLE) and the driver stops.
use tokio::sync::mpsc;
use weft_proto::pb;
use weft_store::{Batch, GroupCommitter};

/// An answer held back until the changes it describes are durable.
pub type Answer = Box<dyn FnOnce() + Send>;

/// Events to publish once durable.
#[derive(Default)]
pub struct Events {
    pub runs: Vec<weft_engine::RunEvent>,
    pub workers: Vec<pb::WorkerEvent>,
    pub anomalies: Vec<pb::Anomaly>,
}

impl Events {
    fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.workers.is_empty() && self.anomalies.is_empty()
    }
}

/// What one driver step would show to clients.
#[derive(Default)]
pub struct Outbox {
    pub answers: Vec<Answer>,
    pub events: Events,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.answers.is_empty() && self.events.is_empty()
    }
}

/// A group's fate, as the driver learns it.
pub type Committed = Result<Events, String>;

/// Orders releases behind commits; see the module comment.
pub struct CommitOrder {
    committer: Option<GroupCommitter>,
    committed_tx: mpsc::UnboundedSender<Committed>,
    committed_rx: mpsc::UnboundedReceiver<Committed>,
    /// Submissions whose outcome the driver has not yet taken from `committed_rx`.
    in_flight: usize,
}

impl CommitOrder {
    pub fn new(committer: GroupCommitter) -> CommitOrder {
        let (committed_tx, committed_rx) = mpsc::unbounded_channel();
        CommitOrder { committer: Some(committer), committed_tx, committed_rx, in_flight: 0 }
    }

    /// Makes `batch` durable, then releases `outbox`. Returns the events at once when they
    /// need not wait (nothing written, nothing in flight); otherwise they come back through
    /// [`CommitOrder::committed`].
    pub fn submit(&mut self, batch: Batch, outbox: Outbox) -> Option<Events> {
        if batch.is_empty() && outbox.is_empty() {
            return None;
        }
        if batch.is_empty() && self.in_flight == 0 {
            // Every change applied so far is durable: what this step shows already is.
            for answer in outbox.answers {
                answer();
            }
            return Some(outbox.events);
        }
        let Some(committer) = &self.committer else {
            return None;
        };
        self.in_flight += 1;
        let committed = self.committed_tx.clone();
        let Outbox { answers, events } = outbox;
        committer.submit(
            batch,
            Box::new(move |result| match result {
                Ok(()) => {
                    for answer in answers {
                        answer();
                    }
                    let _ = committed.send(Ok(events));
                }
                Err(reason) => {
                    // Dropping the held answers tells their callers the coordinator is going away.
                    drop(answers);
                    let _ = committed.send(Err(reason));
                }
            }),
        );
        None
    }

    /// The outcome of the oldest submission still in flight; pending forever when none is.
    pub async fn committed(&mut self) -> Committed {
        if self.in_flight == 0 {
            return std::future::pending().await;
        }
        let outcome = self.committed_rx.recv().await;
        self.in_flight -= 1;
        // The sender lives in `self`, so the channel cannot close while we wait.
        outcome.unwrap_or_else(|| Err("the store's commit thread has stopped".into()))
    }

    /// Has the commit thread copy the store once every batch submitted so far is committed.
    pub fn backup(&mut self, dest: std::path::PathBuf, done: weft_store::BackupDone) {
        match &self.committer {
            Some(committer) => committer.backup(dest, done),
            None => done(Err("the store's commit thread has stopped".into())),
        }
    }

    /// Lets the commit thread finish what it holds (so nothing acknowledged is lost) and
    /// waits for it.
    pub fn finish(&mut self) {
        drop(self.committer.take());
    }
}

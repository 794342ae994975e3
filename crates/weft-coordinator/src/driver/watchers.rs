//! Live watchers of runs, cluster events and heartbeats. A watcher that cannot keep up
//! (its channel is full) is dropped: its stream ends and it can resume from a sequence
//! number, rather than slowing the driver for everyone.
use std::collections::HashMap;
use tokio::sync::mpsc::error::TrySendError;
use weft_engine::RunEvent;
use weft_model::{RunId, WorkerId};
use weft_proto::pb;

use super::{ClusterEventTx, EventTx, HeartbeatTx};
use crate::convert::event_to_pb;

#[derive(Default)]
pub struct Watchers {
    /// Per run: (next sequence number the watcher wants, the kinds it wants, its sender).
    runs: HashMap<RunId, Vec<(u64, u32, EventTx)>>,
    events: Vec<(Option<RunId>, ClusterEventTx)>,
    heartbeats: Vec<(Option<WorkerId>, HeartbeatTx)>,
}

/// Whether a watcher asking for `kinds` (a bit per `EventKind` value) gets an event of
/// `kind`. The run's final event always goes out: it ends the stream.
pub fn wanted(kinds: u32, kind: i32) -> bool {
    let is_final = matches!(
        pb::EventKind::try_from(kind),
        Ok(pb::EventKind::RunSucceeded | pb::EventKind::RunFailed | pb::EventKind::RunCancelled)
    );
    is_final || (0..32).contains(&kind) && kinds & (1 << kind) != 0
}

/// Keeps the senders that took the message.
fn fan_out<T: Clone>(senders: &mut Vec<T>, mut send: impl FnMut(&T) -> bool) {
    senders.retain(|tx| send(tx));
}

fn delivered<T>(r: Result<(), TrySendError<T>>) -> bool {
    match r {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            tracing::warn!("dropping a watcher that fell behind");
            false
        }
        Err(TrySendError::Closed(_)) => false,
    }
}

impl Watchers {
    /// `next_seq`: the first event this watcher has not been given yet (it got the history
    /// before it, which may include events not yet durable when it subscribed).
    pub fn add_run(&mut self, run: RunId, next_seq: u64, kinds: u32, tx: EventTx) {
        self.runs.entry(run).or_default().push((next_seq, kinds, tx));
    }

    pub fn add_events(&mut self, run: Option<RunId>, tx: ClusterEventTx) {
        self.events.push((run, tx));
    }

    pub fn add_heartbeats(&mut self, worker: Option<WorkerId>, tx: HeartbeatTx) {
        self.heartbeats.push((worker, tx));
    }

    pub fn run_event(&mut self, event: &RunEvent) {
        let has_run_watchers = self.runs.contains_key(&event.run);
        if !has_run_watchers && self.events.is_empty() {
            return;
        }
        let pb_event = event_to_pb(event);
        if let Some(txs) = self.runs.get_mut(&event.run) {
            txs.retain_mut(|(next_seq, kinds, tx)| {
                if event.seq < *next_seq {
                    return true;
                }
                *next_seq = event.seq + 1;
                !wanted(*kinds, pb_event.kind) || delivered(tx.try_send(Ok(pb_event.clone())))
            });
            // The final event ends the stream: dropping the senders closes it.
            if event.kind.is_run_final() || txs.is_empty() {
                self.runs.remove(&event.run);
            }
        }
        let cluster = pb::ClusterEvent { event: Some(pb::cluster_event::Event::Run(pb_event)) };
        fan_out(&mut self.events, |(filter, tx)| {
            filter.is_some_and(|f| f != event.run) || delivered(tx.try_send(Ok(cluster.clone())))
        });
    }

    pub fn worker_event(&mut self, event: pb::WorkerEvent) {
        let cluster = pb::ClusterEvent { event: Some(pb::cluster_event::Event::Worker(event)) };
        fan_out(&mut self.events, |(filter, tx)| filter.is_some() || delivered(tx.try_send(Ok(cluster.clone()))));
    }

    pub fn anomaly(&mut self, anomaly: pb::Anomaly) {
        let cluster = pb::ClusterEvent { event: Some(pb::cluster_event::Event::Anomaly(anomaly)) };
        fan_out(&mut self.events, |(filter, tx)| filter.is_some() || delivered(tx.try_send(Ok(cluster.clone()))));
    }

    pub fn heartbeat(&mut self, worker: WorkerId, hb: &pb::Heartbeat) {
        fan_out(&mut self.heartbeats, |(filter, tx)| {
            filter.is_some_and(|f| f != worker) || delivered(tx.try_send(Ok(hb.clone())))
        });
    }
}

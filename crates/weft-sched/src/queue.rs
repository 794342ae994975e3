//! Ready queues with aging.
//!
//! Every arrival takes the next number of a global arrival counter. A task that arrived as
//! number `seq` with priority `p` has effective priority `p + (now_seq - seq) / step` once
//! `now_seq` arrivals have happened. Because every waiting task ages at the same rate, the
//! order between two tasks never depends on `now_seq`: `a` goes before `b` exactly when
//! `p_a * step - seq_a > p_b * step - seq_b`. So the order key is fixed at arrival and the
//! queue is a plain ordered map — no re-sorting as time passes — and a task of priority `p`
//! is overtaken by at most `(p_max - p) * step` later arrivals.
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sorts ascending: smaller key = dispatched first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// `seq - priority * step`: the negated effective priority.
    rank: i64,
    /// Arrival number, the tie-break: older first.
    seq: u64,
}

/// Where a task sits in its (queue, kind) sub-queue, kept by the caller to remove it (on
/// cancel). It does not repeat the queue and kind: the caller has them (a task's plan names
/// both) and a million queued tasks would hold a million copies of each pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    key: OrderKey,
}

/// (routing queue, kind): tasks are queued apart per kind so a task no free worker can run
/// does not block the ones behind it.
type SubqueueKey = (Arc<str>, Arc<str>);

#[derive(Debug)]
pub struct ReadyQueues<T> {
    /// (queue, kind) -> tasks in dispatch order, with their priority.
    subqueues: BTreeMap<SubqueueKey, BTreeMap<OrderKey, (T, i32)>>,
    /// Ready tasks per (queue, priority), kept as tasks come and go (for metrics).
    by_priority: BTreeMap<(Arc<str>, i32), usize>,
    arrivals: u64,
    step: i64,
    len: usize,
}

impl<T: Clone> ReadyQueues<T> {
    pub fn new(aging_step: u32) -> Self {
        ReadyQueues {
            subqueues: BTreeMap::new(),
            by_priority: BTreeMap::new(),
            arrivals: 0,
            step: i64::from(aging_step.max(1)),
            len: 0,
        }
    }

    /// Adds a ready task; keep the ticket to remove it later.
    pub fn push(&mut self, queue: &Arc<str>, kind: &Arc<str>, priority: i32, task: T) -> Ticket {
        self.arrivals += 1;
        let key = OrderKey { rank: self.arrivals as i64 - i64::from(priority) * self.step, seq: self.arrivals };
        self.subqueues.entry((queue.clone(), kind.clone())).or_default().insert(key, (task, priority));
        *self.by_priority.entry((queue.clone(), priority)).or_default() += 1;
        self.len += 1;
        Ticket { key }
    }

    /// Removes a task that is still queued in (`queue`, `kind`), where it was pushed.
    pub fn remove(&mut self, queue: &Arc<str>, kind: &Arc<str>, ticket: Ticket) -> Option<T> {
        let sub_key = (queue.clone(), kind.clone());
        let sub = self.subqueues.get_mut(&sub_key)?;
        let (task, priority) = sub.remove(&ticket.key)?;
        if sub.is_empty() {
            self.subqueues.remove(&sub_key);
        }
        self.taken(queue, priority);
        Some(task)
    }

    /// The (queue, kind) whose head goes first among those `eligible` accepts.
    pub fn best_head(&self, mut eligible: impl FnMut(&str, &str) -> bool) -> Option<(Arc<str>, Arc<str>)> {
        let mut best: Option<(&SubqueueKey, OrderKey)> = None;
        for (sub_key, sub) in &self.subqueues {
            let Some((&key, _)) = sub.first_key_value() else { continue };
            if best.is_none_or(|(_, b)| key < b) && eligible(&sub_key.0, &sub_key.1) {
                best = Some((sub_key, key));
            }
        }
        best.map(|(k, _)| k.clone())
    }

    /// Takes the head of one sub-queue.
    pub fn pop(&mut self, queue: &Arc<str>, kind: &Arc<str>) -> Option<T> {
        let sub_key = (queue.clone(), kind.clone());
        let sub = self.subqueues.get_mut(&sub_key)?;
        let (_, (task, priority)) = sub.pop_first()?;
        if sub.is_empty() {
            self.subqueues.remove(&sub_key);
        }
        self.taken(queue, priority);
        Some(task)
    }

    fn taken(&mut self, queue: &Arc<str>, priority: i32) {
        self.len -= 1;
        let key = (queue.clone(), priority);
        if let Some(n) = self.by_priority.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.by_priority.remove(&key);
            }
        }
    }

    /// Ready tasks per (queue, priority).
    pub fn depths_by_priority(&self) -> &BTreeMap<(Arc<str>, i32), usize> {
        &self.by_priority
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each (queue, kind) with ready tasks: its head (the task that goes first of them) and
    /// how many wait. One entry per pair, whatever the number of tasks.
    pub fn heads(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<str>, &T, usize)> {
        self.subqueues
            .iter()
            .filter_map(|((queue, kind), sub)| sub.values().next().map(|(task, _)| (queue, kind, task, sub.len())))
    }

    /// Ready tasks per routing queue (summed over kinds), by queue name.
    pub fn depths(&self) -> BTreeMap<Arc<str>, usize> {
        let mut out: BTreeMap<Arc<str>, usize> = BTreeMap::new();
        for ((queue, _), sub) in &self.subqueues {
            *out.entry(queue.clone()).or_default() += sub.len();
        }
        out
    }
}

//! weft's scheduling policy. Pure: no I/O, no clock, no async.
//!
//! - [`queue`]: ready tasks per (routing queue, kind), ordered by effective priority,
//!   where waiting raises a task's priority so that nothing starves.
//! - [`placement`]: choosing the least-loaded eligible worker.
//! - [`Scheduler`]: both together — given a snapshot of workers, decide which ready task
//!   goes to which worker right now.

pub mod placement;
pub mod queue;

pub use placement::{Candidate, pick_worker};
pub use queue::{ReadyQueues, Ticket};

/// One decision: run `task` on `candidates[worker]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement<T> {
    pub task: T,
    pub worker: usize,
}

/// Ready queues plus the placement rule.
#[derive(Debug)]
pub struct Scheduler<T> {
    pub queues: ReadyQueues<T>,
}

impl<T: Clone> Scheduler<T> {
    /// `aging_step`: arrivals after which a waiting task gains one priority level.
    pub fn new(aging_step: u32) -> Self {
        Scheduler { queues: ReadyQueues::new(aging_step) }
    }

    /// Places ready tasks on free slots until no ready task has an eligible worker with a
    /// free slot. Takes the globally best task first: among the heads of the sub-queues that
    /// some free worker can serve, the one with the highest effective priority. Updates
    /// `in_flight` of the chosen candidates as it goes.
    pub fn dispatch(&mut self, candidates: &mut [Candidate<'_>]) -> Vec<Placement<T>> {
        let mut out = Vec::new();
        if candidates.iter().all(|c| !c.has_free_slot()) {
            return out;
        }
        while let Some((queue, kind)) =
            self.queues.best_head(|queue, kind| candidates.iter().any(|c| c.has_free_slot() && c.serves(queue, kind)))
        {
            let Some(worker) = pick_worker(candidates, &queue, &kind) else { break };
            let Some(task) = self.queues.pop(&queue, &kind) else { break };
            candidates[worker].in_flight += 1;
            out.push(Placement { task, worker });
        }
        out
    }
}

#[cfg(test)]
mod tests;

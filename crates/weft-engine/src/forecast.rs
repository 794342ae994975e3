//! When a run's work will be done, by playing its schedule forward: the tasks not yet
//! finished are placed on the cluster's slots as the scheduler would place them (the
//! highest priority among those ready first, each on a slot of a worker that serves its
//! queue and kind, at that worker's speed, each step paying the dispatch overhead), from the
//! slots' state now (what they are busy with and until when). Pure: the caller describes
//! the run and the slots; times are seconds from now.
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// One task of the run, as the forecast sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Tasks it depends on (indices into the same list).
    pub deps: Vec<u32>,
    /// Its cost in seconds at speed 1.
    pub cost: f64,
    pub priority: i32,
    /// Which (queue, kind) it needs: slots say which classes they serve.
    pub class: usize,
    pub progress: Progress,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// Finished (or never to run): its dependents do not wait for it.
    Done,
    /// On a worker already: it ends in this many seconds.
    Underway { ends_in: f64 },
    /// Not handed out yet; it may not start before `not_before` (a retry's backoff).
    Waiting { not_before: f64 },
}

/// One slot of a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    /// Busy until then (0: free now).
    pub free_in: f64,
    pub speed: f64,
    /// `serves[class]`: it can run tasks of that class.
    pub serves: Vec<bool>,
}

/// Seconds from now until every task of `jobs` has ended, given `slots` and the overhead
/// each hand-out costs (`step`, seconds). Tasks no slot serves run as if on a slot of their
/// own at speed 1 (nothing better is known of when a worker for them comes).
pub fn finish_in(jobs: &[Job], slots: &[Slot], step: f64) -> f64 {
    let n = jobs.len();
    let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut waiting = vec![0u32; n];
    let mut ready_at = vec![0.0f64; n];
    for (i, job) in jobs.iter().enumerate() {
        for &d in &job.deps {
            if let Some(list) = dependents.get_mut(d as usize) {
                list.push(i as u32);
            }
        }
    }
    let mut finish = 0.0f64;
    // Ends already known: the tasks underway. Their dependents wait for them.
    let mut ended: Vec<(u32, f64)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        match job.progress {
            Progress::Done => {}
            Progress::Underway { ends_in } => ended.push((i as u32, ends_in.max(0.0))),
            Progress::Waiting { not_before } => {
                ready_at[i] = not_before.max(0.0);
                waiting[i] = job
                    .deps
                    .iter()
                    .filter(|&&d| jobs.get(d as usize).is_some_and(|j| j.progress != Progress::Done))
                    .count() as u32;
            }
        }
    }
    // Released tasks, by when they become ready.
    let mut future: BinaryHeap<Reverse<Timed>> = BinaryHeap::new();
    for (i, job) in jobs.iter().enumerate() {
        if matches!(job.progress, Progress::Waiting { .. }) && waiting[i] == 0 {
            future.push(Reverse(Timed(ready_at[i], i as u32)));
        }
    }
    let mut release = |i: u32, end: f64, future: &mut BinaryHeap<Reverse<Timed>>, finish: &mut f64| {
        *finish = finish.max(end);
        for &d in &dependents[i as usize] {
            let d = d as usize;
            if !matches!(jobs[d].progress, Progress::Waiting { .. }) || waiting[d] == 0 {
                continue;
            }
            ready_at[d] = ready_at[d].max(end);
            waiting[d] -= 1;
            if waiting[d] == 0 {
                future.push(Reverse(Timed(ready_at[d], d as u32)));
            }
        }
    };
    for (i, end) in ended {
        release(i, end, &mut future, &mut finish);
    }
    let classes = jobs.iter().map(|j| j.class + 1).max().unwrap_or(0);
    let served: Vec<bool> =
        (0..classes).map(|c| slots.iter().any(|s| s.serves.get(c).copied().unwrap_or(false))).collect();
    let mut free: BinaryHeap<Reverse<Timed>> =
        slots.iter().enumerate().map(|(k, s)| Reverse(Timed(s.free_in.max(0.0), k as u32))).collect();
    // Ready tasks, best first: higher priority, then readier, then earlier in the plan.
    let mut ready: BinaryHeap<Ranked> = BinaryHeap::new();
    // Slots with nothing they serve in sight, until a task ends and may release some.
    let mut parked: Vec<u32> = Vec::new();
    loop {
        // Tasks no slot serves run on their own as soon as they are ready.
        while let Some(Reverse(Timed(at, i))) = future.peek().copied()
            && !served.get(jobs[i as usize].class).copied().unwrap_or(false)
        {
            future.pop();
            let end = at + step + jobs[i as usize].cost;
            release(i, end, &mut future, &mut finish);
        }
        let Some(Reverse(Timed(now, k))) = free.pop() else { break };
        let mut now = now;
        if ready.is_empty() {
            match future.peek() {
                Some(Reverse(Timed(at, _))) => now = now.max(*at),
                None => break,
            }
        }
        while let Some(Reverse(Timed(at, i))) = future.peek().copied()
            && at <= now
        {
            future.pop();
            if served.get(jobs[i as usize].class).copied().unwrap_or(false) {
                ready.push(Ranked { priority: jobs[i as usize].priority, ready_at: at, index: i });
            } else {
                future.push(Reverse(Timed(at, i)));
                break;
            }
        }
        // The best ready task this slot serves; the ones it cannot serve go back.
        let slot = &slots[k as usize];
        let mut passed = Vec::new();
        let mut picked = None;
        while let Some(top) = ready.pop() {
            if slot.serves.get(jobs[top.index as usize].class).copied().unwrap_or(false) {
                picked = Some(top);
                break;
            }
            passed.push(top);
        }
        ready.extend(passed);
        match picked {
            Some(task) => {
                let i = task.index as usize;
                let start = now.max(task.ready_at);
                let end = start + step + jobs[i].cost / slot.speed.max(f64::MIN_POSITIVE);
                free.push(Reverse(Timed(end, k)));
                release(task.index, end, &mut future, &mut finish);
                for k in parked.drain(..) {
                    free.push(Reverse(Timed(end, k)));
                }
            }
            None => {
                // Nothing here for this slot: it waits for the next task to become ready
                // (or for good, when none will).
                let next = future.peek().map(|Reverse(Timed(at, _))| *at).filter(|at| *at > now);
                let other = free.peek().map(|Reverse(Timed(at, _))| *at).filter(|at| *at > now);
                match next.or(other) {
                    Some(at) => free.push(Reverse(Timed(at, k))),
                    None if ready.is_empty() && future.is_empty() => break,
                    // Others serve what is ready; this slot waits for what they release.
                    None => parked.push(k),
                }
            }
        }
    }
    finish
}

/// A time and an index, ordered by time then index (NaN-free by construction: times are
/// sums of finite, non-negative numbers).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Timed(f64, u32);

impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// A ready task's place in line: the greatest goes first.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ranked {
    priority: i32,
    ready_at: f64,
    index: u32,
}

impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then(other.ready_at.total_cmp(&self.ready_at))
            .then(other.index.cmp(&self.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn job(deps: &[u32], cost: f64, priority: i32) -> Job {
        Job { deps: deps.to_vec(), cost, priority, class: 0, progress: Progress::Waiting { not_before: 0.0 } }
    }

    fn slots(n: usize, speed: f64) -> Vec<Slot> {
        (0..n).map(|_| Slot { free_in: 0.0, speed, serves: vec![true] }).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_chain_is_its_costs_and_steps_and_parallel_work_packs_onto_the_slots() {
        let chain = [job(&[], 1.0, 0), job(&[0], 2.0, 0), job(&[1], 0.5, 0)];
        assert!(close(finish_in(&chain, &slots(4, 1.0), 0.01), 3.53));
        // Six tasks of 1, 1, 1, 1, 2, 2 s on two slots: the long ones are not first, so
        // the greedy placement ends at 4 s, not at the 4 s lower bound by luck alone.
        let wide: Vec<Job> = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0].iter().map(|&c| job(&[], c, 0)).collect();
        assert!(close(finish_in(&wide, &slots(2, 1.0), 0.0), 4.0));
        // Three 1 s tasks on two slots: 2 s, where work / capacity says 1.5 s.
        let three: Vec<Job> = (0..3).map(|_| job(&[], 1.0, 0)).collect();
        assert!(close(finish_in(&three, &slots(2, 1.0), 0.0), 2.0));
        // A twice-as-fast slot halves the time.
        assert!(close(finish_in(&three, &slots(1, 2.0), 0.0), 1.5));
    }

    #[test]
    fn higher_priority_goes_first_and_busy_slots_and_backoffs_delay_the_start() {
        // One slot: the low-priority long task waits for the high-priority short one; the
        // chain behind the short one then waits for the long one.
        let jobs = [job(&[], 1.0, 5), job(&[], 3.0, 0), job(&[0], 1.0, 0)];
        assert!(close(finish_in(&jobs, &slots(1, 1.0), 0.0), 5.0));
        // The slot is busy for 2 s more; the task underway ends in 0.5 s and releases its
        // dependent.
        let busy = [Slot { free_in: 2.0, speed: 1.0, serves: vec![true] }];
        let jobs = [Job { progress: Progress::Underway { ends_in: 0.5 }, ..job(&[], 9.0, 0) }, job(&[0], 1.0, 0)];
        assert!(close(finish_in(&jobs, &busy, 0.0), 3.0));
        // A retry waiting out its backoff starts after it.
        let backoff = [Job { progress: Progress::Waiting { not_before: 4.0 }, ..job(&[], 1.0, 0) }];
        assert!(close(finish_in(&backoff, &slots(1, 1.0), 0.0), 5.0));
        // Done tasks cost nothing and hold nothing back.
        let done = [Job { progress: Progress::Done, ..job(&[], 9.0, 0) }, job(&[0], 1.0, 0)];
        assert!(close(finish_in(&done, &slots(1, 1.0), 0.0), 1.0));
    }

    #[test]
    fn a_task_goes_only_to_a_slot_that_serves_its_class() {
        // Slot 0 serves class 0 only, slot 1 class 1 only: two 1 s tasks of class 0 queue on
        // slot 0 while slot 1 runs the one of class 1.
        let two = vec![
            Slot { free_in: 0.0, speed: 1.0, serves: vec![true, false] },
            Slot { free_in: 0.0, speed: 1.0, serves: vec![false, true] },
        ];
        let jobs = [job(&[], 1.0, 0), job(&[], 1.0, 0), Job { class: 1, ..job(&[], 1.0, 0) }];
        assert!(close(finish_in(&jobs, &two, 0.0), 2.0));
        // A class nobody serves runs as if on its own slot.
        let lonely = [Job { class: 2, ..job(&[], 1.5, 0) }];
        assert!(close(finish_in(&lonely, &two, 0.1), 1.6));
        // No slots at all: the same, along the dependencies.
        assert!(close(finish_in(&[job(&[], 1.0, 0), job(&[0], 1.0, 0)], &[], 0.0), 2.0));
    }

    fn arb_jobs() -> impl Strategy<Value = Vec<Job>> {
        proptest::collection::vec((0.0f64..3.0, -2i32..3, proptest::collection::vec(any::<u32>(), 0..3)), 1..24)
            .prop_map(|raw| {
                raw.into_iter()
                    .enumerate()
                    .map(|(i, (cost, priority, deps))| {
                        // Dependencies only on earlier tasks: a DAG.
                        let deps = if i == 0 { vec![] } else { deps.into_iter().map(|d| d % i as u32).collect() };
                        job(&deps, cost, priority)
                    })
                    .collect()
            })
    }

    proptest! {
        /// Never sooner than the longest chain nor than the work over the slots, never later
        /// than running everything one after another on one slot.
        #[test]
        fn the_forecast_lies_between_the_bounds(jobs in arb_jobs(), n in 1usize..5, step in 0.0f64..0.05) {
            let got = finish_in(&jobs, &slots(n, 1.0), step);
            let mut path = vec![0.0f64; jobs.len()];
            for (i, j) in jobs.iter().enumerate() {
                path[i] = j.deps.iter().map(|&d| path[d as usize]).fold(0.0, f64::max) + j.cost + step;
            }
            let critical = path.iter().copied().fold(0.0, f64::max);
            let work: f64 = jobs.iter().map(|j| j.cost + step).sum();
            prop_assert!(got >= critical - 1e-9, "{got} < critical path {critical}");
            prop_assert!(got >= work / n as f64 - 1e-9, "{got} < work / slots {}", work / n as f64);
            prop_assert!(got <= work + 1e-9, "{got} > all in a row {work}");
        }
    }
}

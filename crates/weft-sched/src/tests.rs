use super::*;
use proptest::prelude::*;
use std::sync::Arc;

fn s(x: &str) -> Arc<str> {
    Arc::from(x)
}

struct Pool {
    queues: Vec<Vec<Arc<str>>>,
    kinds: Vec<Vec<Arc<str>>>,
    slots: Vec<u32>,
    in_flight: Vec<u32>,
    cpu: Vec<f32>,
}

impl Pool {
    fn candidates(&self) -> Vec<Candidate<'_>> {
        (0..self.slots.len())
            .map(|i| Candidate {
                queues: &self.queues[i],
                kinds: &self.kinds[i],
                slots: self.slots[i],
                in_flight: self.in_flight[i],
                cpu_percent: self.cpu[i],
                speed: 1.0,
                accepting: true,
            })
            .collect()
    }
}

fn one_worker(slots: u32) -> Pool {
    Pool {
        queues: vec![vec![s("default")]],
        kinds: vec![vec![s("noop")]],
        slots: vec![slots],
        in_flight: vec![0],
        cpu: vec![0.0],
    }
}

#[test]
fn equal_priority_is_first_in_first_out() {
    let mut sched = Scheduler::new(100);
    for i in 0..5 {
        sched.queues.push(&s("default"), &s("noop"), 0, i);
    }
    let pool = one_worker(5);
    let order: Vec<i32> = sched.dispatch(&mut pool.candidates()).into_iter().map(|p| p.task).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
}

#[test]
fn removed_tasks_are_not_dispatched() {
    let mut sched = Scheduler::new(10);
    let t = sched.queues.push(&s("default"), &s("noop"), 5, "gone");
    sched.queues.push(&s("default"), &s("noop"), 0, "kept");
    assert_eq!(sched.queues.remove(&s("default"), &s("noop"), t), Some("gone"));
    assert_eq!(sched.queues.remove(&s("default"), &s("noop"), t), None);
    assert_eq!(sched.queues.remove(&s("other"), &s("noop"), t), None, "not in that queue");
    let pool = one_worker(5);
    let got: Vec<_> = sched.dispatch(&mut pool.candidates()).into_iter().map(|p| p.task).collect();
    assert_eq!(got, vec!["kept"]);
    assert!(sched.queues.is_empty());
}

#[test]
fn placement_prefers_lower_load_then_cpu() {
    let pool = Pool {
        queues: vec![vec![s("default")]; 3],
        kinds: vec![vec![s("noop")]; 3],
        slots: vec![4, 2, 2],
        in_flight: vec![2, 1, 0],
        cpu: vec![0.0, 0.0, 90.0],
    };
    assert_eq!(pick_worker(&pool.candidates(), "default", "noop"), Some(2));
    let pool = Pool { in_flight: vec![2, 1, 1], ..pool };
    // Loads 2/4 == 1/2 == 1/2; worker 2 has high CPU, so the first of 0 and 1 wins.
    assert_eq!(pick_worker(&pool.candidates(), "default", "noop"), Some(0));
}

#[test]
fn a_task_waits_for_a_worker_that_serves_its_kind() {
    let mut sched = Scheduler::new(10);
    sched.queues.push(&s("default"), &s("gpu"), 9, "gpu-task");
    sched.queues.push(&s("default"), &s("noop"), 0, "noop-task");
    let pool = one_worker(2);
    let got = sched.dispatch(&mut pool.candidates());
    assert_eq!(got, vec![Placement { task: "noop-task", worker: 0 }]);
    assert_eq!(sched.queues.len(), 1);
    assert_eq!(sched.queues.depths().get("default"), Some(&1));
    assert_eq!(sched.queues.depths_by_priority().get(&(s("default"), 9)), Some(&1));
    assert_eq!(sched.queues.depths_by_priority().get(&(s("default"), 0)), None, "emptied entries go away");
}

proptest! {
    /// Among ready tasks of one queue, the higher effective priority goes first.
    #[test]
    fn dispatch_order_follows_effective_priority(prios in proptest::collection::vec(-5i32..5, 1..60), step in 1u32..20) {
        let mut sched = Scheduler::new(step);
        for (i, p) in prios.iter().enumerate() {
            sched.queues.push(&s("default"), &s("noop"), *p, i);
        }
        let pool = one_worker(prios.len() as u32);
        let order: Vec<usize> = sched.dispatch(&mut pool.candidates()).into_iter().map(|p| p.task).collect();
        prop_assert_eq!(order.len(), prios.len());
        // Effective priority at the end (all arrived): p + (n - seq) / step, seq = i + 1.
        let n = prios.len() as i64;
        let eff = |i: usize| prios[i] as i64 * step as i64 + (n - (i as i64 + 1));
        for w in order.windows(2) {
            prop_assert!(eff(w[0]) > eff(w[1]) || (eff(w[0]) == eff(w[1]) && w[0] < w[1]), "{:?}", order);
        }
    }

    /// A low-priority task is dispatched within a bounded number of dispatches while a
    /// steady stream of high-priority tasks keeps arriving.
    #[test]
    fn low_priority_does_not_starve(gap in 1i32..50, step in 1u32..50, backlog in 0usize..20) {
        let mut sched = Scheduler::new(step);
        for i in 0..backlog {
            sched.queues.push(&s("default"), &s("noop"), gap, 1000 + i);
        }
        sched.queues.push(&s("default"), &s("noop"), 0, 0usize);
        let bound = backlog + (gap as usize) * (step as usize) + 1;
        let mut waited = 0usize;
        loop {
            sched.queues.push(&s("default"), &s("noop"), gap, 1);
            let pool = one_worker(1);
            let got = sched.dispatch(&mut pool.candidates());
            prop_assert_eq!(got.len(), 1);
            waited += 1;
            if got[0].task == 0 { break; }
            prop_assert!(waited <= bound, "waited {} dispatches, bound {}", waited, bound);
        }
    }

    /// No worker gets more attempts than its slots, nor a queue or kind it does not serve,
    /// and the dispatch only stops when no remaining task can be placed.
    #[test]
    fn placements_respect_slots_queues_and_kinds(
        tasks in proptest::collection::vec((0usize..3, 0usize..3, -3i32..3), 0..80),
        workers in proptest::collection::vec((0u32..4, 0u32..3, proptest::collection::vec(0usize..3, 1..3), proptest::collection::vec(0usize..3, 1..3)), 1..5),
    ) {
        let names = [s("a"), s("b"), s("c")];
        let mut sched = Scheduler::new(4);
        for (i, (q, k, p)) in tasks.iter().enumerate() {
            sched.queues.push(&names[*q], &names[*k], *p, (i, *q, *k));
        }
        let pool = Pool {
            queues: workers.iter().map(|w| w.2.iter().map(|i| names[*i].clone()).collect()).collect(),
            kinds: workers.iter().map(|w| w.3.iter().map(|i| names[*i].clone()).collect()).collect(),
            slots: workers.iter().map(|w| w.0).collect(),
            in_flight: workers.iter().map(|w| w.1.min(w.0)).collect(),
            cpu: vec![0.0; workers.len()],
        };
        let mut cands = pool.candidates();
        let placed = sched.dispatch(&mut cands);
        let mut count = pool.in_flight.clone();
        for p in &placed {
            let (_, q, k) = p.task;
            prop_assert!(cands[p.worker].serves(&names[q], &names[k]));
            count[p.worker] += 1;
        }
        for (i, c) in count.iter().enumerate() {
            prop_assert!(*c <= pool.slots[i]);
            prop_assert_eq!(*c, cands[i].in_flight);
        }
        // Whatever is left has no free, serving worker.
        prop_assert!(sched.queues.best_head(|q, k| cands.iter().any(|c| c.has_free_slot() && c.serves(q, k))).is_none());
    }
}

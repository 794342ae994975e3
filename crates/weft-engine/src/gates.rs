//! Concurrency and rate limits (a process's `limits`, a task's `uses`) and concurrency keys
//! (`concurrency_key`, `max_per_key`): a task is handed out only when every gate it passes
//! has room. One that has none waits *parked* at the gate, off the ready queues (so it does
//! not hold back the tasks behind it), in priority order; it goes back to its queue when a
//! holder of the gate ends or the rate window opens.
//!
//! Holders are the gate's tasks with an attempt out (assigned or running): counted from the
//! tasks' own states, so no path that ends an attempt (a report, a lost worker, a cancel, a
//! timeout) can leak a share. A restored engine counts the attempts it restored.
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use weft_model::gates::{Rate, render_key};
use weft_model::limits::MAX_CONCURRENCY_KEY_BYTES;
use weft_model::{Millis, TaskState};

use crate::Engine;
use crate::timers::Timer;
use crate::types::TaskRef;

/// (process name, limit name), or (process name, `key:` and the rendered key): names of
/// limits cannot hold a `:`.
pub type GateKey = (Arc<str>, Arc<str>);

/// A gate a task passes: its key and its bounds (concurrency, rate), so that the gate can be
/// made again from any of its tasks after it was forgotten for being idle.
#[derive(Clone, Debug)]
pub(crate) struct GateRef {
    key: GateKey,
    concurrency: Option<u32>,
    rate: Option<Rate>,
    /// A cluster-wide limit: its bounds are the cluster's as they are now (set, changed or
    /// deleted through the API), not the ones seen when the task first became ready.
    cluster: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Gates {
    gates: HashMap<GateKey, Gate>,
    /// The gates of each task that has any, from its first time ready until it ends.
    of_task: HashMap<TaskRef, Arc<[GateRef]>>,
    /// Gates a holder of which ended since the last scheduling pass.
    to_wake: BTreeSet<GateKey>,
}

#[derive(Debug, Default)]
struct Gate {
    concurrency: Option<u32>,
    rate: Option<Rate>,
    holders: BTreeSet<TaskRef>,
    /// When holders were handed out within the last rate window, oldest first.
    starts: VecDeque<Millis>,
    /// Parked tasks, best first: higher priority, then longer ready.
    waiting: BTreeSet<(i64, Millis, TaskRef)>,
}

/// Why a gate is shut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shut {
    /// `held` of `of` taken.
    Full { held: u32, of: u32 },
    /// The window's starts are used up; it opens again at `opens_at`.
    Rate { rate: Rate, opens_at: Millis },
}

impl Gate {
    /// Drops holders whose attempt ended and starts older than the rate window.
    fn prune(&mut self, live: impl Fn(TaskRef) -> bool, now: Millis) {
        self.holders.retain(|r| live(*r));
        if let Some(rate) = self.rate {
            while self.starts.front().is_some_and(|at| *at + rate.per_ms as Millis <= now) {
                self.starts.pop_front();
            }
        }
    }

    /// Whether it is shut with `held` holders, counting only the starts inside the rate
    /// window at `now` (so it needs no pruning first, and can be asked without changing it).
    fn shut(&self, held: u32, now: Millis) -> Option<Shut> {
        if let Some(of) = self.concurrency
            && held >= of
        {
            return Some(Shut::Full { held, of });
        }
        let rate = self.rate?;
        let window = rate.per_ms as Millis;
        let mut live = self.starts.iter().filter(|at| **at + window > now);
        let oldest = *live.next()?;
        (live.count() as u64 + 1 >= u64::from(rate.count)).then_some(Shut::Rate { rate, opens_at: oldest + window })
    }

    /// How many more may be handed out now.
    fn room(&self) -> usize {
        let by_count = self.concurrency.map_or(usize::MAX, |c| (c as usize).saturating_sub(self.holders.len()));
        let by_rate = self.rate.map_or(usize::MAX, |r| (r.count as usize).saturating_sub(self.starts.len()));
        by_count.min(by_rate)
    }
}

/// `limit bank-api 5/5`, `limit bank-api rate 100/min`, `concurrency key c-42 1/1`.
pub fn describe(key: &GateKey, shut: &Shut) -> String {
    let what = match (key.1.strip_prefix("key:"), key.1.strip_prefix("map:")) {
        (Some(k), _) => format!("concurrency key {k}"),
        (_, Some(_)) => "max_parallel".to_string(),
        _ => format!("limit {}", key.1),
    };
    match shut {
        Shut::Full { held, of } => format!("{what} {held}/{of}"),
        Shut::Rate { rate, .. } => format!("{what} rate {rate}"),
    }
}

impl Engine {
    /// The gates `r` passes (none for most tasks), worked out once per task.
    pub(crate) fn gates_of(&mut self, r: TaskRef) -> Option<Arc<[GateRef]>> {
        if let Some(gates) = self.gates.of_task.get(&r) {
            return Some(gates.clone());
        }
        let run = self.runs.get(&r.run)?;
        let tp = &run.plan.tasks[r.task as usize];
        let map_parallel = match tp.fan.as_deref() {
            Some(weft_model::plan::Fan::Item { map, .. }) => match run.plan.tasks[*map as usize].fan.as_deref() {
                Some(weft_model::plan::Fan::Map { max_parallel: Some(p), .. }) => Some((*map, *p)),
                _ => None,
            },
            _ => None,
        };
        if tp.uses.is_empty() && tp.concurrency_key.is_none() && map_parallel.is_none() {
            return None;
        }
        let process = run.plan.name.clone();
        let mut gates = Vec::new();
        for &l in tp.uses.iter() {
            let Some(limit) = run.plan.limits.get(l as usize) else { continue };
            // The cluster's limits are shared by every process: no process in their key.
            let owner = if limit.cluster { Arc::from("") } else { process.clone() };
            let key = (owner, limit.name.clone());
            gates.push(GateRef { key, concurrency: limit.concurrency, rate: limit.rate, cluster: limit.cluster });
        }
        if let Some(k) = &tp.concurrency_key {
            // Bounded on the way in; a stored input that no longer parses keys as null.
            let input: serde_json::Value = serde_json::from_str(&run.input_json).unwrap_or(serde_json::Value::Null);
            let rendered = render_key(&k.template, &input, MAX_CONCURRENCY_KEY_BYTES);
            let key = (process, Arc::from(format!("key:{rendered}").as_str()));
            gates.push(GateRef { key, concurrency: Some(k.max_per_key), rate: None, cluster: false });
        }
        if let Some((map, max_parallel)) = map_parallel {
            // `max_parallel`: a gate of this run's instances of that task alone.
            let key = (run.plan.name.clone(), Arc::from(format!("map:{}:{map}", r.run).as_str()));
            gates.push(GateRef { key, concurrency: Some(max_parallel), rate: None, cluster: false });
        }
        let gates: Arc<[GateRef]> = Arc::from(gates);
        self.gates.of_task.insert(r, gates.clone());
        Some(gates)
    }

    /// The gate of `g`, made if it was forgotten; the latest bounds seen win.
    fn gate(&mut self, g: &GateRef) -> &mut Gate {
        let (concurrency, rate) = match g.cluster {
            // Deleted since: no bound.
            true => self.cluster_limits.by_name.get(&g.key.1).map_or((None, None), |l| (l.concurrency, l.rate)),
            false => (g.concurrency, g.rate),
        };
        let gate = self.gates.gates.entry(g.key.clone()).or_default();
        gate.concurrency = concurrency;
        gate.rate = rate;
        gate
    }

    /// A cluster-wide limit changed: its gate takes the new bounds, and the tasks waiting
    /// there are looked at again.
    pub(crate) fn gates_changed(&mut self, name: &Arc<str>) {
        let key: GateKey = (Arc::from(""), name.clone());
        if let Some(gate) = self.gates.gates.get_mut(&key) {
            let bounds = self.cluster_limits.by_name.get(name).map_or((None, None), |l| (l.concurrency, l.rate));
            (gate.concurrency, gate.rate) = bounds;
            self.gates.to_wake.insert(key);
        }
    }

    fn holds_a_slot(&self, r: TaskRef) -> bool {
        self.runs
            .get(&r.run)
            .is_some_and(|run| matches!(run.tasks[r.task as usize].state, TaskState::Assigned | TaskState::Running))
    }

    /// The first of `keys` that is shut now, and why.
    fn first_shut(&mut self, gates: &[GateRef], now: Millis) -> Option<(GateKey, Shut)> {
        for g in gates {
            self.gate(g);
            let mut gate = self.gates.gates.remove(&g.key)?;
            gate.prune(|r| self.holds_a_slot(r), now);
            let shut = gate.shut(gate.holders.len() as u32, now);
            self.gates.gates.insert(g.key.clone(), gate);
            if let Some(shut) = shut {
                return Some((g.key.clone(), shut));
            }
        }
        None
    }

    /// Before `r` goes to its queue or to a worker: true if a gate is shut, and then `r`
    /// is parked there (it stays ready, off the queues).
    pub(crate) fn park_if_shut(&mut self, r: TaskRef, now: Millis) -> bool {
        let Some(gates) = self.gates_of(r) else { return false };
        let Some((key, shut)) = self.first_shut(&gates, now) else { return false };
        let Some(run) = self.runs.get(&r.run) else { return false };
        let priority = i64::from(run.plan.tasks[r.task as usize].priority);
        let ready_at = run.tasks[r.task as usize].ready_at.unwrap_or(now);
        if let Some(gate) = self.gates.gates.get_mut(&key) {
            gate.waiting.insert((-priority, ready_at, r));
        }
        if let Shut::Rate { opens_at, .. } = shut {
            self.set_timer(opens_at.max(now + 1), Timer::GateOpens(r));
        }
        true
    }

    /// `r` is handed out: it holds a share of each of its gates.
    pub(crate) fn take_gates(&mut self, r: TaskRef, now: Millis) {
        let Some(gates) = self.gates.of_task.get(&r).cloned() else { return };
        for g in gates.iter() {
            let gate = self.gate(g);
            gate.holders.insert(r);
            if gate.rate.is_some() {
                // In time order (restored attempts come in task order).
                let at = gate.starts.partition_point(|t| *t <= now);
                gate.starts.insert(at, now);
            }
        }
    }

    /// An attempt of `r` ended (or `r` did): its gates may have room for a parked task.
    pub(crate) fn gates_freed(&mut self, r: TaskRef, finished: bool) {
        let gates = if finished { self.gates.of_task.remove(&r) } else { self.gates.of_task.get(&r).cloned() };
        if let Some(gates) = gates {
            self.gates.to_wake.extend(gates.iter().map(|g| g.key.clone()));
        }
    }

    /// A rate window of `r`'s gates opened.
    pub(crate) fn gate_opens(&mut self, r: TaskRef) {
        if let Some(gates) = self.gates.of_task.get(&r).cloned() {
            self.gates.to_wake.extend(gates.iter().map(|g| g.key.clone()));
        }
    }

    /// Puts parked tasks back on their queues as far as their gates have room, best first.
    pub(crate) fn wake_gates(&mut self, now: Millis) {
        while let Some(key) = self.gates.to_wake.pop_first() {
            let Some(mut gate) = self.gates.gates.remove(&key) else { continue };
            gate.prune(|r| self.holds_a_slot(r), now);
            let mut room = gate.room();
            let mut back = Vec::new();
            while room > 0
                && let Some(entry) = gate.waiting.pop_first()
            {
                let r = entry.2;
                if self.is_parked(r) {
                    back.push(r);
                    room -= 1;
                }
            }
            // Still some waiting and the rate used up: look again when its window opens (a
            // holder ending would not help them).
            if let Some(&(_, _, first)) = gate.waiting.first()
                && let Some(Shut::Rate { opens_at, .. }) = gate.shut(0, now)
            {
                self.set_timer(opens_at.max(now + 1), Timer::GateOpens(first));
            }
            if gate.waiting.is_empty() && gate.holders.is_empty() && gate.starts.is_empty() {
                // Nothing to remember: a concurrency key of a customer seen once costs nothing.
            } else {
                self.gates.gates.insert(key.clone(), gate);
            }
            for r in back {
                self.requeue(r);
            }
        }
    }

    /// A parked task back on its queue (it was ready all along: no new event).
    fn requeue(&mut self, r: TaskRef) {
        let Some(run) = self.runs.get_mut(&r.run) else { return };
        let tp = &run.plan.tasks[r.task as usize];
        let ticket = self.sched.queues.push(&tp.queue, &tp.kind, tp.priority, r);
        run.tasks[r.task as usize].ticket = Some(ticket);
    }

    /// The gates tasks wait at now: (process, why, how many), most waiting first, at most
    /// `limit`.
    pub fn gates_waited_at(&self, now: Millis, limit: usize) -> Vec<(Arc<str>, String, usize)> {
        let mut out: Vec<(Arc<str>, String, usize)> = self
            .gates
            .gates
            .iter()
            .filter_map(|(key, gate)| {
                let waiting = gate.waiting.iter().filter(|(_, _, r)| self.is_parked(*r)).count();
                if waiting == 0 {
                    return None;
                }
                Some((key.0.clone(), self.why_shut(key, gate, now)?, waiting))
            })
            .collect();
        out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
        out.truncate(limit);
        out
    }

    /// Why a ready task waits at a gate, if it does.
    pub fn waiting_reason(&self, r: TaskRef, now: Millis) -> Option<String> {
        if !self.is_parked(r) {
            return None;
        }
        let gates = self.gates.of_task.get(&r)?;
        gates.iter().find_map(|g| self.why_shut(&g.key, self.gates.gates.get(&g.key)?, now))
    }

    /// A ready task waiting off its queue (at a gate), not out on a retry's backoff.
    fn is_parked(&self, r: TaskRef) -> bool {
        self.runs
            .get(&r.run)
            .and_then(|run| run.tasks.get(r.task as usize))
            .is_some_and(|t| t.state == TaskState::Ready && t.ticket.is_none() && t.retry_at.is_none())
    }

    /// Why `gate` is shut now, as a person reads it; `None` if it has room.
    fn why_shut(&self, key: &GateKey, gate: &Gate, now: Millis) -> Option<String> {
        let held = gate.holders.iter().filter(|h| self.holds_a_slot(**h)).count() as u32;
        gate.shut(held, now).map(|shut| describe(key, &shut))
    }

    /// After a restore: the restored attempts hold their gates' shares, and the ones started
    /// within a rate window count against it.
    pub(crate) fn restore_gates(&mut self, run: weft_model::RunId, now: Millis) {
        let Some(n) = self.runs.get(&run).map(|r| r.tasks.len()) else { return };
        for task in 0..n as u32 {
            let r = TaskRef { run, task };
            let Some(t) = self.runs.get(&run).map(|x| &x.tasks[task as usize]) else { continue };
            let (state, started) = (t.state, t.started_at);
            if !matches!(state, TaskState::Assigned | TaskState::Running) {
                continue;
            }
            if self.gates_of(r).is_some() {
                self.take_gates(r, started.unwrap_or(now).min(now));
            }
        }
    }
}

//! Placement: which worker gets a task.

/// A worker as placement sees it: a snapshot taken by the caller.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub queues: &'a [std::sync::Arc<str>],
    pub kinds: &'a [std::sync::Arc<str>],
    pub slots: u32,
    /// Attempts assigned or running on it.
    pub in_flight: u32,
    /// Host CPU use 0..100 as last reported.
    pub cpu_percent: f32,
    /// Relative speed, 1.0 = reference.
    pub speed: f64,
    /// Live and not draining.
    pub accepting: bool,
}

impl Candidate<'_> {
    pub fn has_free_slot(&self) -> bool {
        self.accepting && self.in_flight < self.slots
    }

    pub fn serves(&self, queue: &str, kind: &str) -> bool {
        self.queues.iter().any(|q| &**q == queue) && self.kinds.iter().any(|k| &**k == kind)
    }
}

/// The least-loaded accepting worker with a free slot that serves `queue` and `kind`:
/// lowest in_flight / slots, then lowest CPU, then highest speed, then lowest index.
pub fn pick_worker(candidates: &[Candidate<'_>], queue: &str, kind: &str) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        if !(c.has_free_slot() && c.serves(queue, kind)) {
            continue;
        }
        best = match best {
            Some(b) if !better(c, &candidates[b]) => Some(b),
            _ => Some(i),
        };
    }
    best
}

/// Strictly better placement than `b`. Loads compare by cross-multiplication: exact, no floats.
fn better(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
    let load_a = u64::from(a.in_flight) * u64::from(b.slots);
    let load_b = u64::from(b.in_flight) * u64::from(a.slots);
    if load_a != load_b {
        return load_a < load_b;
    }
    if a.cpu_percent != b.cpu_percent {
        return a.cpu_percent < b.cpu_percent;
    }
    a.speed > b.speed
}

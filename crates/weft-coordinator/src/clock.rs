//! The coordinator's clock: wall-clock milliseconds at start, advanced by a monotonic
//! timer, so engine time never runs backwards when the system clock is adjusted.
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use weft_model::Millis;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    start_ms: Millis,
}

impl Clock {
    pub fn new() -> Self {
        let start_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0);
        Clock { start: Instant::now(), start_ms }
    }

    pub fn now(&self) -> Millis {
        self.start_ms + self.start.elapsed().as_millis() as Millis
    }

    /// The instant at which `now()` reaches `at`.
    pub fn instant_of(&self, at: Millis) -> tokio::time::Instant {
        let offset = (at - self.start_ms).max(0) as u64;
        tokio::time::Instant::from_std(self.start + std::time::Duration::from_millis(offset))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

//! Host load for heartbeats. Only CPU and memory are refreshed: each refresh reads a
//! couple of small /proc files, cheap enough for the heartbeat interval.
use sysinfo::System;

pub(crate) struct HostStats {
    system: System,
}

/// One reading.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Load {
    pub(crate) cpu_percent: f32,
    pub(crate) memory_used_bytes: u64,
    pub(crate) memory_total_bytes: u64,
}

impl HostStats {
    pub(crate) fn new() -> Self {
        let mut system = System::new();
        // CPU use is the difference between two refreshes; this one sets the baseline.
        system.refresh_cpu_usage();
        HostStats { system }
    }

    pub(crate) fn sample(&mut self) -> Load {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        Load {
            cpu_percent: self.system.global_cpu_usage().clamp(0.0, 100.0),
            memory_used_bytes: self.system.used_memory(),
            memory_total_bytes: self.system.total_memory(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_memory() {
        let load = HostStats::new().sample();
        assert!(load.memory_total_bytes > 0);
        assert!(load.memory_used_bytes <= load.memory_total_bytes);
        assert!((0.0..=100.0).contains(&load.cpu_percent));
    }
}

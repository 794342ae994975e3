//! What commands print: one `Serialize` view struct per output (the `--output json` form)
//! and a table or line rendering of the same data.
//!
//! - [`run`]: runs, tasks and definitions; [`estimate`]: a run's estimate and compensation.
//! - [`history`]: a run's recorded events.
//! - [`cluster`]: workers and queues; [`events`]: heartbeats and cluster events.
//! - [`top`]: the snapshot `weftctl top` redraws.
//! - [`admin`]: records in the store's quarantine.
pub mod admin;
pub mod cluster;
pub mod estimate;
pub mod events;
pub mod history;
pub mod run;
pub mod schedules;
pub mod top;

use std::collections::HashMap;
use weft_client::pb;

/// `RUN_STATUS_SUCCEEDED` -> `succeeded`: the wire names minus their enum prefix, which is
/// how both tables and JSON spell states (short, and stable because the proto names are).
fn enum_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix).unwrap_or(full).to_ascii_lowercase()
}

/// Name of a wire enum value, or `unknown(N)` for a value this build does not know.
macro_rules! wire_name {
    ($fn_name:ident, $ty:ty, $prefix:literal) => {
        pub fn $fn_name(value: i32) -> String {
            match <$ty>::try_from(value) {
                Ok(v) => enum_name(v.as_str_name(), $prefix),
                Err(_) => format!("unknown({value})"),
            }
        }
    };
}

wire_name!(run_status_name, pb::RunStatus, "RUN_STATUS_");
wire_name!(task_state_name, pb::TaskState, "TASK_STATE_");
wire_name!(event_kind_name, pb::EventKind, "EVENT_KIND_");
wire_name!(liveness_name, pb::WorkerLiveness, "WORKER_LIVENESS_");
wire_name!(cost_source_name, pb::CostSource, "COST_SOURCE_");
wire_name!(overlap_name, pb::ScheduleOverlap, "SCHEDULE_OVERLAP_");
wire_name!(catch_up_name, pb::ScheduleCatchUp, "SCHEDULE_CATCH_UP_");

/// Worker ids to names, from a cluster status, so tables can say `w-1` rather than a UUID.
/// UUID v7 prefixes are timestamps and collide between workers started together, so
/// when no name is known we show the id's random tail instead.
#[derive(Clone, Debug, Default)]
pub struct WorkerNames(HashMap<String, String>);

impl WorkerNames {
    pub fn from_status(status: &pb::ClusterStatus) -> Self {
        WorkerNames(status.workers.iter().map(|w| (w.worker_id.clone(), w.name.clone())).collect())
    }

    pub fn name(&self, worker_id: &str) -> Option<&str> {
        self.0.get(worker_id).map(String::as_str).filter(|n| !n.is_empty())
    }

    pub fn contains(&self, worker_id: &str) -> bool {
        self.0.contains_key(worker_id)
    }

    /// A short label: the name, else `…` and the last 8 characters of the id.
    pub fn label(&self, worker_id: &str) -> String {
        if worker_id.is_empty() {
            return String::new();
        }
        match self.name(worker_id) {
            Some(name) => name.to_string(),
            None => {
                let tail: String = worker_id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
                format!("…{tail}")
            }
        }
    }
}

/// Fixtures shared by the views' tests.
#[cfg(test)]
pub(crate) mod test_fixtures {
    use super::WorkerNames;
    use weft_client::pb;

    /// Names for one worker, `w-1`.
    pub fn names() -> WorkerNames {
        WorkerNames::from_status(&pb::ClusterStatus {
            workers: vec![pb::WorkerStatus {
                worker_id: "0190bbbb-0000-7000-8000-0000deadbeef".into(),
                name: "w-1".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_drop_the_prefix() {
        assert_eq!(run_status_name(pb::RunStatus::Succeeded as i32), "succeeded");
        assert_eq!(task_state_name(pb::TaskState::Running as i32), "running");
        assert_eq!(event_kind_name(pb::EventKind::TaskRetrying as i32), "task_retrying");
        assert_eq!(liveness_name(pb::WorkerLiveness::Draining as i32), "draining");
        assert_eq!(run_status_name(99), "unknown(99)");
    }

    #[test]
    fn worker_labels_prefer_names() {
        let status = pb::ClusterStatus {
            workers: vec![pb::WorkerStatus {
                worker_id: "0190-aaaa-1234abcd".into(),
                name: "w-1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let names = WorkerNames::from_status(&status);
        assert_eq!(names.label("0190-aaaa-1234abcd"), "w-1");
        assert_eq!(names.label("0190-bbbb-99998888"), "…99998888");
        assert_eq!(names.label(""), "");
    }
}

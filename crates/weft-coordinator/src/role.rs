//! The part this coordinator plays, read by every request: the leader (its driver's handle)
//! or a standby (and where the leader is). A standby answers the weft services with
//! UNAVAILABLE naming the leader in `weft-leader` metadata, so clients and workers go there.
use std::sync::Arc;
use tokio::sync::watch;
use tonic::Status;
use weft_proto::pb;

use crate::driver::Handle;

/// What the leader serves with.
#[derive(Clone)]
pub struct Leading {
    pub handle: Handle,
    /// The store's quarantine as of this leader's start (`ListQuarantined`).
    pub quarantined: Arc<[pb::QuarantinedRecord]>,
}

#[derive(Clone)]
pub enum Part {
    Leading(Leading),
    /// Not leading: `leader` is the leader's advertised address when one is known.
    Standby {
        leader: Option<String>,
    },
}

/// Shared by the services and the loop that changes it.
#[derive(Clone)]
pub struct Role(Arc<watch::Sender<Part>>);

impl Role {
    pub fn new(part: Part) -> Role {
        Role(Arc::new(watch::Sender::new(part)))
    }

    pub fn set(&self, part: Part) {
        self.0.send_replace(part);
    }

    pub fn part(&self) -> Part {
        self.0.borrow().clone()
    }

    /// The leader's handle, or the answer a standby gives.
    pub fn leading(&self) -> Result<Leading, Status> {
        match &*self.0.borrow() {
            Part::Leading(leading) => Ok(leading.clone()),
            Part::Standby { leader } => Err(not_leader(leader.as_deref())),
        }
    }
}

/// UNAVAILABLE (retry elsewhere or later: nothing was applied), naming the leader.
pub fn not_leader(leader: Option<&str>) -> Status {
    let mut status = match leader {
        Some(at) => Status::unavailable(format!(
            "this coordinator is a standby; the leader is at {at}: nothing was applied, send it there"
        )),
        None => Status::unavailable(
            "this coordinator is a standby and no leader is elected yet: nothing was applied, retry shortly",
        ),
    };
    // Always present on a standby's refusal (empty while no leader is known), so that
    // clients can tell it from other unavailability.
    let value =
        leader.and_then(|at| at.parse().ok()).unwrap_or_else(|| tonic::metadata::MetadataValue::from_static(""));
    status.metadata_mut().insert(weft_proto::LEADER_METADATA, value);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standby_names_the_leader_in_its_message_and_metadata() {
        let role = Role::new(Part::Standby { leader: Some("10.0.0.7:7070".into()) });
        let status = role.leading().err().unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains("the leader is at 10.0.0.7:7070"), "{}", status.message());
        assert_eq!(status.metadata().get(weft_proto::LEADER_METADATA).unwrap(), "10.0.0.7:7070");
        let none = Role::new(Part::Standby { leader: None }).leading().err().unwrap();
        assert_eq!(none.metadata().get(weft_proto::LEADER_METADATA).unwrap(), "");
    }
}

//! Schedules over WorkflowService (put, list, pause or resume, delete), and cluster-wide
//! limits (set, list, delete).
use weft_proto::pb;

use crate::{Client, Error};

impl Client {
    /// Adds a schedule or replaces the one of that name; answers it once durable.
    pub async fn put_schedule(&self, spec: pb::ScheduleSpec) -> Result<pb::Schedule, Error> {
        let request = pb::PutScheduleRequest { spec: Some(spec) };
        Ok(crate::retry::when_saturated(|| {
            let (mut service, request) = (self.workflow.clone(), request.clone());
            async move { service.put_schedule(request).await }
        })
        .await?
        .into_inner())
    }

    /// Every schedule, by name.
    pub async fn list_schedules(&self) -> Result<Vec<pb::Schedule>, Error> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListSchedulesRequest { page_size: 1000, page_token };
            let page = self.workflow.clone().list_schedules(request).await?.into_inner();
            all.extend(page.schedules);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }

    pub async fn set_schedule_paused(&self, name: &str, paused: bool) -> Result<pb::Schedule, Error> {
        let request = pb::SetSchedulePausedRequest { name: name.to_string(), paused };
        Ok(self.workflow.clone().set_schedule_paused(request).await?.into_inner())
    }

    pub async fn delete_schedule(&self, name: &str) -> Result<(), Error> {
        let request = pb::DeleteScheduleRequest { name: name.to_string() };
        self.workflow.clone().delete_schedule(request).await?;
        Ok(())
    }
}

impl Client {
    /// Sets a cluster-wide limit (`rate` like "100/min", empty for none).
    pub async fn set_limit(&self, name: &str, concurrency: Option<u32>, rate: &str) -> Result<pb::ClusterLimit, Error> {
        let limit =
            pb::ClusterLimit { name: name.to_string(), limit: Some(pb::Limit { concurrency, rate: rate.to_string() }) };
        let request = pb::SetLimitRequest { limit: Some(limit) };
        Ok(self.workflow.clone().set_limit(request).await?.into_inner())
    }

    pub async fn list_limits(&self) -> Result<Vec<pb::ClusterLimit>, Error> {
        Ok(self.workflow.clone().list_limits(pb::ListLimitsRequest {}).await?.into_inner().limits)
    }

    pub async fn delete_limit(&self, name: &str) -> Result<(), Error> {
        self.workflow.clone().delete_limit(pb::DeleteLimitRequest { name: name.to_string() }).await?;
        Ok(())
    }
}

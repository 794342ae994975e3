//! Schedules over WorkflowService: put, list, pause or resume, delete.
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

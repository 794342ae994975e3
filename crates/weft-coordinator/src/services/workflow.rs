//! WorkflowService.
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use weft_engine::RunSource;
use weft_engine::query::RunFilter;
use weft_model::{ProcessPlan, ValidationError, validate_process};
use weft_proto::convert::{process_from_pb, run_status_from_pb};
use weft_proto::pb;
use weft_proto::pb::workflow_service_server::WorkflowService;

use super::{Services, WATCH_BUFFER, metered, page_size};
use crate::convert::parse_run_id;
use crate::driver::Command;
use crate::driver::config::ConfigCommand;
use crate::status::invalid;

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::RunEvent, Status>> + Send>>;

/// A schedule's or limit's name from a request: bounded and well formed before the driver
/// sees it.
fn checked_name(name: &str) -> Result<(), Status> {
    weft_model::validate::check_name(name).map_err(|e| invalid(&ValidationError::single("name", e)))
}

fn spec_from(spec: Option<&pb::ProcessSpec>, field: &str) -> Result<weft_model::ProcessSpec, Status> {
    let spec = spec.ok_or_else(|| invalid(&ValidationError::single(field, "is missing")))?;
    process_from_pb(spec, field).map_err(|e| invalid(&e))
}

/// Converts and validates a spec on a blocking thread, off the runtime and the driver: a
/// large spec costs milliseconds of checks, which must delay neither health checks, nor
/// workers' heartbeats, nor other requests. Every kind is taken as known here; the driver
/// checks the kinds against the workers it knows.
async fn plan_from(spec: pb::ProcessSpec) -> Result<Arc<ProcessPlan>, Status> {
    tokio::task::spawn_blocking(move || {
        let spec = spec_from(Some(&spec), "spec")?;
        validate_process(&spec, &|_| true).map(Arc::new).map_err(|e| invalid(&e.prefixed("spec")))
    })
    .await
    .map_err(|e| Status::internal(format!("validating the spec failed: {e}")))?
}

#[tonic::async_trait]
impl WorkflowService for Services {
    async fn register_definition(
        &self,
        req: Request<pb::RegisterDefinitionRequest>,
    ) -> Result<Response<pb::RegisterDefinitionResponse>, Status> {
        metered("RegisterDefinition", self.register_definition_inner(req).await)
    }

    async fn get_definition(&self, req: Request<pb::GetDefinitionRequest>) -> Result<Response<pb::Definition>, Status> {
        metered("GetDefinition", self.get_definition_inner(req).await)
    }

    async fn list_definitions(
        &self,
        req: Request<pb::ListDefinitionsRequest>,
    ) -> Result<Response<pb::ListDefinitionsResponse>, Status> {
        metered("ListDefinitions", self.list_definitions_inner(req).await)
    }

    async fn start_run(&self, req: Request<pb::StartRunRequest>) -> Result<Response<pb::StartRunResponse>, Status> {
        metered("StartRun", self.start_run_inner(req).await)
    }

    async fn get_run(&self, req: Request<pb::GetRunRequest>) -> Result<Response<pb::Run>, Status> {
        metered("GetRun", self.get_run_inner(req).await)
    }

    async fn list_runs(&self, req: Request<pb::ListRunsRequest>) -> Result<Response<pb::ListRunsResponse>, Status> {
        metered("ListRuns", self.list_runs_inner(req).await)
    }

    async fn cancel_run(&self, req: Request<pb::CancelRunRequest>) -> Result<Response<pb::Run>, Status> {
        metered("CancelRun", self.cancel_run_inner(req).await)
    }

    async fn get_run_history(
        &self,
        req: Request<pb::GetRunHistoryRequest>,
    ) -> Result<Response<pb::GetRunHistoryResponse>, Status> {
        metered("GetRunHistory", self.get_run_history_inner(req).await)
    }

    async fn put_schedule(&self, req: Request<pb::PutScheduleRequest>) -> Result<Response<pb::Schedule>, Status> {
        metered("PutSchedule", self.put_schedule_inner(req).await)
    }

    async fn list_schedules(
        &self,
        req: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        metered("ListSchedules", self.list_schedules_inner(req).await)
    }

    async fn set_schedule_paused(
        &self,
        req: Request<pb::SetSchedulePausedRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        metered("SetSchedulePaused", self.set_schedule_paused_inner(req).await)
    }

    async fn delete_schedule(
        &self,
        req: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::DeleteScheduleResponse>, Status> {
        metered("DeleteSchedule", self.delete_schedule_inner(req).await)
    }

    async fn set_limit(&self, req: Request<pb::SetLimitRequest>) -> Result<Response<pb::ClusterLimit>, Status> {
        metered("SetLimit", self.set_limit_inner(req).await)
    }

    async fn list_limits(&self, _: Request<pb::ListLimitsRequest>) -> Result<Response<pb::ListLimitsResponse>, Status> {
        let cmd = |reply| Command::Config(ConfigCommand::ListLimits { reply });
        let limits = metered("ListLimits", self.handle()?.ask(cmd).await.map(Response::new))?.into_inner();
        Ok(Response::new(pb::ListLimitsResponse { limits }))
    }

    async fn delete_limit(
        &self,
        req: Request<pb::DeleteLimitRequest>,
    ) -> Result<Response<pb::DeleteLimitResponse>, Status> {
        metered("DeleteLimit", self.delete_limit_inner(req).await)
    }

    type WatchRunStream = EventStream;

    async fn watch_run(&self, req: Request<pb::WatchRunRequest>) -> Result<Response<Self::WatchRunStream>, Status> {
        metered("WatchRun", self.watch_run_inner(req).await)
    }
}

impl Services {
    async fn set_limit_inner(&self, req: Request<pb::SetLimitRequest>) -> Result<Response<pb::ClusterLimit>, Status> {
        let missing = || invalid(&ValidationError::single("limit", "is missing"));
        let pb::ClusterLimit { name, limit } = req.into_inner().limit.ok_or_else(missing)?;
        let limit = limit.ok_or_else(|| invalid(&ValidationError::single("limit.limit", "is missing")))?;
        let rate = match limit.rate.trim() {
            "" => None,
            text => Some(
                weft_model::gates::Rate::parse(text)
                    .map_err(|e| invalid(&ValidationError::single("limit.limit.rate", e)))?,
            ),
        };
        let limit = weft_model::gates::LimitSpec { concurrency: limit.concurrency, rate };
        weft_model::validate::validate_limit(&name, &limit).map_err(|e| invalid(&e))?;
        let cmd = |reply| Command::Config(ConfigCommand::SetLimit { name, limit, reply });
        self.handle()?.ask(cmd).await.map(Response::new)
    }

    async fn delete_limit_inner(
        &self,
        req: Request<pb::DeleteLimitRequest>,
    ) -> Result<Response<pb::DeleteLimitResponse>, Status> {
        let name = req.into_inner().name;
        checked_name(&name)?;
        let cmd = |reply| Command::Config(ConfigCommand::DeleteLimit { name, reply });
        self.handle()?.ask(cmd).await?;
        Ok(Response::new(pb::DeleteLimitResponse {}))
    }

    async fn put_schedule_inner(&self, req: Request<pb::PutScheduleRequest>) -> Result<Response<pb::Schedule>, Status> {
        let spec = req.into_inner().spec.ok_or_else(|| invalid(&ValidationError::single("spec", "is missing")))?;
        let spec = crate::convert::schedule_from_pb(&spec).map_err(|e| invalid(&e))?;
        // Checked here too (the engine checks again): a bad pattern costs the driver nothing.
        weft_model::schedule::validate_schedule(&spec).map_err(|e| invalid(&e.prefixed("spec")))?;
        let cmd = |reply| Command::Config(ConfigCommand::Put { spec, reply });
        self.handle()?.ask(cmd).await.map(Response::new)
    }

    async fn list_schedules_inner(
        &self,
        req: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let req = req.into_inner();
        let after = match req.page_token.as_str() {
            "" => None,
            t if weft_model::validate::check_name(t).is_ok() => Some(t.to_string()),
            _ => return Err(invalid(&ValidationError::single("page_token", "is not a token this server gave out"))),
        };
        let limit = page_size(req.page_size);
        let cmd = |reply| Command::Config(ConfigCommand::List { after, limit, reply });
        let (schedules, next_page_token) = self.handle()?.ask(cmd).await?;
        Ok(Response::new(pb::ListSchedulesResponse { schedules, next_page_token }))
    }

    async fn set_schedule_paused_inner(
        &self,
        req: Request<pb::SetSchedulePausedRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        let pb::SetSchedulePausedRequest { name, paused } = req.into_inner();
        checked_name(&name)?;
        let cmd = |reply| Command::Config(ConfigCommand::SetPaused { name, paused, reply });
        self.handle()?.ask(cmd).await.map(Response::new)
    }

    async fn delete_schedule_inner(
        &self,
        req: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::DeleteScheduleResponse>, Status> {
        let name = req.into_inner().name;
        checked_name(&name)?;
        let cmd = |reply| Command::Config(ConfigCommand::Delete { name, reply });
        self.handle()?.ask(cmd).await?;
        Ok(Response::new(pb::DeleteScheduleResponse {}))
    }

    async fn register_definition_inner(
        &self,
        req: Request<pb::RegisterDefinitionRequest>,
    ) -> Result<Response<pb::RegisterDefinitionResponse>, Status> {
        let req = req.into_inner();
        let spec = req.spec.ok_or_else(|| invalid(&ValidationError::single("spec", "is missing")))?;
        let plan = plan_from(spec).await?;
        let name = req.name.clone();
        let (version, created) = self.handle()?.ask(|reply| Command::RegisterDefinition { name, plan, reply }).await?;
        Ok(Response::new(pb::RegisterDefinitionResponse { name: req.name, version, created }))
    }

    async fn get_definition_inner(
        &self,
        req: Request<pb::GetDefinitionRequest>,
    ) -> Result<Response<pb::Definition>, Status> {
        let pb::GetDefinitionRequest { name, version } = req.into_inner();
        self.handle()?.ask(|reply| Command::GetDefinition { name, version, reply }).await.map(Response::new)
    }

    async fn list_definitions_inner(
        &self,
        req: Request<pb::ListDefinitionsRequest>,
    ) -> Result<Response<pb::ListDefinitionsResponse>, Status> {
        let req = req.into_inner();
        let after = match req.page_token.as_str() {
            "" => None,
            token => {
                let parsed = token.rsplit_once('@').and_then(|(n, v)| Some((n.to_string(), v.parse().ok()?)));
                let bad = || invalid(&ValidationError::single("page_token", "is not a token this server gave out"));
                Some(parsed.ok_or_else(bad)?)
            }
        };
        let (definitions, next_page_token) = self
            .handle()?
            .ask(|reply| Command::ListDefinitions {
                prefix: req.name_prefix,
                after,
                limit: page_size(req.page_size),
                reply,
            })
            .await?;
        Ok(Response::new(pb::ListDefinitionsResponse { definitions, next_page_token }))
    }

    async fn start_run_inner(
        &self,
        req: Request<pb::StartRunRequest>,
    ) -> Result<Response<pb::StartRunResponse>, Status> {
        let req = req.into_inner();
        let source = match req.source {
            Some(pb::start_run_request::Source::Spec(spec)) => RunSource::Plan(plan_from(spec).await?),
            Some(pb::start_run_request::Source::Definition(d)) => {
                RunSource::Definition { name: d.name, version: (d.version != 0).then_some(d.version) }
            }
            None => return Err(invalid(&ValidationError::single("source", "give `spec` or `definition`"))),
        };
        let key = (!req.idempotency_key.is_empty()).then_some(req.idempotency_key);
        let input_json = req.input_json;
        let (id, created) = self.handle()?.ask(|reply| Command::StartRun { source, key, input_json, reply }).await?;
        Ok(Response::new(pb::StartRunResponse { run_id: id.to_string(), created }))
    }

    async fn get_run_inner(&self, req: Request<pb::GetRunRequest>) -> Result<Response<pb::Run>, Status> {
        let req = req.into_inner();
        let id = parse_run_id("run_id", &req.run_id).map_err(|e| invalid(&e))?;
        let start = match req.task_page_token.as_str() {
            "" => 0,
            token => token.parse::<u32>().map_err(|_| {
                invalid(&ValidationError::single("task_page_token", "is not a token this server gave out"))
            })?,
        };
        let size = match req.task_page_size {
            0 => 1_000,
            n => n.min(10_000) as usize,
        };
        self.handle()?.ask(|reply| Command::GetRun { id, start, size, reply }).await.map(Response::new)
    }

    async fn list_runs_inner(
        &self,
        req: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        let req = req.into_inner();
        let after = match req.page_token.as_str() {
            "" => None,
            token => Some(parse_run_id("page_token", token).map_err(|e| invalid(&e))?),
        };
        let status = run_status_from_pb(req.status);
        if status.is_none() && req.status != 0 {
            return Err(invalid(&ValidationError::single("status", format!("unknown value {}", req.status))));
        }
        // Filters are bounded like the fields they match (the dashboard passes them from a URL).
        if req.idempotency_key.len() > weft_model::limits::MAX_IDEMPOTENCY_KEY_LEN {
            return Err(invalid(&ValidationError::single("idempotency_key", "is longer than any key a run can have")));
        }
        if req.process_name.len() > weft_model::limits::MAX_NAME_LEN {
            return Err(invalid(&ValidationError::single("process_name", "is longer than any process name")));
        }
        let filter = RunFilter {
            status,
            process_name: (!req.process_name.is_empty()).then_some(req.process_name),
            idempotency_key: (!req.idempotency_key.is_empty()).then_some(req.idempotency_key),
        };
        let limit = page_size(req.page_size);
        let (runs, next_page_token) =
            self.handle()?.ask(|reply| Command::ListRuns { filter, after, limit, reply }).await?;
        Ok(Response::new(pb::ListRunsResponse { runs, next_page_token }))
    }

    async fn cancel_run_inner(&self, req: Request<pb::CancelRunRequest>) -> Result<Response<pb::Run>, Status> {
        let req = req.into_inner();
        let id = parse_run_id("run_id", &req.run_id).map_err(|e| invalid(&e))?;
        let reason = req.reason;
        self.handle()?.ask(|reply| Command::CancelRun { id, reason, reply }).await.map(Response::new)
    }

    async fn get_run_history_inner(
        &self,
        req: Request<pb::GetRunHistoryRequest>,
    ) -> Result<Response<pb::GetRunHistoryResponse>, Status> {
        let req = req.into_inner();
        let id = parse_run_id("run_id", &req.run_id).map_err(|e| invalid(&e))?;
        let limit = match req.page_size {
            0 => 1000,
            n => n.min(10_000) as usize,
        };
        let from_seq = req.from_seq;
        let (events, next_seq) = self.handle()?.ask(|reply| Command::History { id, from_seq, limit, reply }).await?;
        Ok(Response::new(pb::GetRunHistoryResponse { events, next_seq }))
    }

    async fn watch_run_inner(
        &self,
        req: Request<pb::WatchRunRequest>,
    ) -> Result<Response<<Self as WorkflowService>::WatchRunStream>, Status> {
        let req = req.into_inner();
        let id = parse_run_id("run_id", &req.run_id).map_err(|e| invalid(&e))?;
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let from_seq = req.from_seq;
        let kinds = kinds_mask(&req.kinds)?;
        let history = self.handle()?.ask(|reply| Command::WatchRun { id, from_seq, kinds, tx, reply }).await?;
        // History first, then live events; the driver registered `tx` in the same step it
        // read the history, so nothing is missed or repeated.
        let stream = tokio_stream::iter(history.into_iter().map(Ok)).chain(ReceiverStream::new(rx));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The event kinds a watcher wants, as a bit per `EventKind` value; all bits when none given.
fn kinds_mask(kinds: &[i32]) -> Result<u32, Status> {
    if kinds.is_empty() {
        return Ok(u32::MAX);
    }
    let mut mask = 0u32;
    for (i, &k) in kinds.iter().enumerate() {
        match pb::EventKind::try_from(k) {
            Ok(kind) if kind != pb::EventKind::Unspecified => mask |= 1 << (kind as i32),
            _ => {
                return Err(invalid(&ValidationError::single(
                    format!("kinds[{i}]"),
                    format!("unknown event kind {k}"),
                )));
            }
        }
    }
    Ok(mask)
}

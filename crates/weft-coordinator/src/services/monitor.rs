//! MonitorService: worker reports in, live views out.
use std::pin::Pin;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};
use weft_proto::pb;
use weft_proto::pb::monitor_service_server::MonitorService;

use super::{Services, WATCH_BUFFER, metered};
use crate::convert::{attempt_from_pb, parse_run_id, parse_worker_id, session_secret_from_text};
use crate::driver::Command;
use crate::status::invalid;

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl MonitorService for Services {
    type ReportStream = Boxed<pb::ReportAck>;

    async fn report(&self, req: Request<Streaming<pb::WorkerReport>>) -> Result<Response<Self::ReportStream>, Status> {
        metered("Report", self.report_inner(req).await)
    }

    type WatchHeartbeatsStream = Boxed<pb::Heartbeat>;

    async fn watch_heartbeats(
        &self,
        req: Request<pb::WatchHeartbeatsRequest>,
    ) -> Result<Response<Self::WatchHeartbeatsStream>, Status> {
        metered("WatchHeartbeats", self.watch_heartbeats_inner(req).await)
    }

    type WatchEventsStream = Boxed<pb::ClusterEvent>;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        metered("WatchEvents", self.watch_events_inner(req).await)
    }

    async fn get_cluster_status(
        &self,
        _req: Request<pb::GetClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        metered("GetClusterStatus", self.get_cluster_status_inner(_req).await)
    }

    async fn drain_worker(
        &self,
        req: Request<pb::DrainWorkerRequest>,
    ) -> Result<Response<pb::DrainWorkerResponse>, Status> {
        metered("DrainWorker", self.drain_worker_inner(req).await)
    }

    type BackupStream = ReceiverStream<Result<pb::BackupChunk, Status>>;

    async fn backup(&self, _req: Request<pb::BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        metered("Backup", self.backup_inner().await.map(Response::new))
    }

    async fn list_quarantined(
        &self,
        req: Request<pb::ListQuarantinedRequest>,
    ) -> Result<Response<pb::ListQuarantinedResponse>, Status> {
        metered(
            "ListQuarantined",
            crate::quarantine::page(&self.leading()?.quarantined, req.get_ref()).map(Response::new),
        )
    }
}

impl Services {
    async fn report_inner(
        &self,
        req: Request<Streaming<pb::WorkerReport>>,
    ) -> Result<Response<<Self as MonitorService>::ReportStream>, Status> {
        // The stream is bound to one worker session by its secret: every report on it is
        // applied only if its worker id is that session's (the driver checks each one).
        let secret = req
            .metadata()
            .get(weft_net::auth::SESSION_SECRET_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(session_secret_from_text);
        let Some(secret) = secret else {
            tracing::warn!(target: "weft::auth", reason = "bad_session", "report stream refused: no session secret");
            crate::metrics::auth_failure("bad_session");
            return Err(Status::permission_denied(format!(
                "a report stream must carry the `{}` metadata: the session_secret its worker's Session was given",
                weft_net::auth::SESSION_SECRET_METADATA
            )));
        };
        let mut inbound = req.into_inner();
        let (ack, rx) = mpsc::unbounded_channel();
        let handle = self.handle()?;
        tokio::spawn(async move {
            while let Ok(Some(report)) = inbound.message().await {
                // A refused report ended the stream (its receiver is gone): read no more.
                if ack.is_closed() {
                    break;
                }
                let id = match parse_worker_id("worker_id", &report.worker_id) {
                    Ok(id) => id,
                    Err(e) => {
                        let _ = ack.send(Err(invalid(&e)));
                        break;
                    }
                };
                match report.report {
                    Some(pb::worker_report::Report::Heartbeat(heartbeat)) => {
                        handle.send_for_worker(Command::Heartbeat { id, secret, heartbeat, ack: ack.clone() }).await
                    }
                    Some(pb::worker_report::Report::Status(status)) => {
                        match attempt_from_pb("status.attempt", status.attempt.as_ref()) {
                            Ok(attempt) => {
                                handle
                                    .send_for_worker(Command::TaskStatus {
                                        id,
                                        secret,
                                        status,
                                        attempt,
                                        ack: ack.clone(),
                                    })
                                    .await
                            }
                            Err(e) => {
                                let _ = ack.send(Err(invalid(&e)));
                                break;
                            }
                        }
                    }
                    None => {}
                }
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn watch_heartbeats_inner(
        &self,
        req: Request<pb::WatchHeartbeatsRequest>,
    ) -> Result<Response<<Self as MonitorService>::WatchHeartbeatsStream>, Status> {
        let worker = match req.get_ref().worker_id.as_str() {
            "" => None,
            text => Some(parse_worker_id("worker_id", text).map_err(|e| invalid(&e))?),
        };
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        self.handle()?.send_for_client(Command::WatchHeartbeats { worker, tx })?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn watch_events_inner(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<<Self as MonitorService>::WatchEventsStream>, Status> {
        let run = match req.get_ref().run_id.as_str() {
            "" => None,
            text => Some(parse_run_id("run_id", text).map_err(|e| invalid(&e))?),
        };
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        self.handle()?.send_for_client(Command::WatchEvents { run, tx })?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn drain_worker_inner(
        &self,
        req: Request<pb::DrainWorkerRequest>,
    ) -> Result<Response<pb::DrainWorkerResponse>, Status> {
        let id = parse_worker_id("worker_id", &req.get_ref().worker_id).map_err(|e| invalid(&e))?;
        self.handle()?.ask(|reply| Command::DrainWorker { id, reply }).await?;
        Ok(Response::new(pb::DrainWorkerResponse {}))
    }

    async fn get_cluster_status_inner(
        &self,
        _req: Request<pb::GetClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        self.handle()?.ask(|reply| Command::ClusterStatus { reply }).await.map(Response::new)
    }
}

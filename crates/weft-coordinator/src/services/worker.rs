//! WorkerService: a worker's session stream.
use std::pin::Pin;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use weft_model::ValidationError;
use weft_proto::pb::worker_service_server::WorkerService;
use weft_proto::{PROTOCOL_VERSION, pb};

use super::{Services, metered};
use crate::convert::registration_from_pb;
use crate::driver::Command;
use crate::status::invalid;

type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::CoordinatorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl WorkerService for Services {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        req: Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        metered("Session", self.session_inner(req).await)
    }
}

impl Services {
    async fn session_inner(
        &self,
        req: Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<Response<<Self as WorkerService>::SessionStream>, Status> {
        // The name of the token that opened the session, for the log (none without --tokens).
        let token = req.extensions().get::<weft_net::auth::Principal>().map(|p| p.name.clone());
        let mut inbound = req.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| invalid(&ValidationError::single("register", "stream closed before registering")))?;
        let Some(pb::worker_message::Message::Register(register)) = first.message else {
            return Err(invalid(&ValidationError::single("register", "the first message must be `register`")));
        };
        if register.protocol_version != PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!(
                "protocol version {} is not supported: this coordinator speaks version {PROTOCOL_VERSION}",
                register.protocol_version
            )));
        }
        let reg = registration_from_pb(&register).map_err(|e| invalid(&e))?;
        let id = reg.id;
        let (tx, rx) = mpsc::unbounded_channel();
        let session = self.handle()?.ask_for_worker(|reply| Command::WorkerOpen { reg, tx, token, reply }).await?;
        let handle = self.handle()?;
        tokio::spawn(async move {
            // Reads the rest of the session: a drain notice, then the end of the stream.
            loop {
                match inbound.message().await {
                    Ok(Some(pb::WorkerMessage { message: Some(pb::worker_message::Message::Drain(_)) })) => {
                        handle.send_for_worker(Command::WorkerDrain { id, session }).await;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            handle.send_for_worker(Command::WorkerClosed { id, session }).await;
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }
}

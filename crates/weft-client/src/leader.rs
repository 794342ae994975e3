//! Several coordinators sharing one store, one of them leading: [`Client::connect_leader`]
//! finds the leader. Standbys answer the weft services NOT_SERVING in the health service (and
//! refuse calls with UNAVAILABLE naming the leader), so the leader is the one whose
//! `weft.v1.WorkflowService` is SERVING.
use std::time::Duration;
use tokio::time::Instant;
use weft_proto::pb::workflow_service_server::SERVICE_NAME as WORKFLOW_SERVICE;

use crate::client::{Client, ConnectOptions, ServingStatus};
use crate::error::Error;

/// Between rounds over every address while no leader is found (an election under way).
const ROUND_PAUSE: Duration = Duration::from_millis(200);
/// How long one coordinator may take to say whether it leads: a paused process still
/// accepts connections (the kernel does) but never answers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Client {
    /// Waits until this coordinator's WorkflowService serves (it leads), following the
    /// health service's watch stream; `false` if it did not within `wait`.
    pub async fn wait_leading(&self, wait: Duration) -> Result<bool, Error> {
        let request = tonic_health::pb::HealthCheckRequest { service: WORKFLOW_SERVICE.to_string() };
        let mut health = self.health_client();
        let watched = async {
            let mut updates = health.watch(request).await?.into_inner();
            while let Some(update) = updates.message().await? {
                if update.status == ServingStatus::Serving as i32 {
                    return Ok(true);
                }
            }
            Ok::<_, tonic::Status>(false)
        };
        match tokio::time::timeout(wait, watched).await {
            Ok(result) => Ok(result?),
            Err(_) => Ok(false),
        }
    }

    /// Connects to the leader among `addresses`: each is tried in turn, and the first whose
    /// WorkflowService serves is the one. While none does (a failover under way) it tries
    /// again until `wait` has passed. One address is connected to as [`Client::connect_with`]
    /// does, without asking who leads.
    pub async fn connect_leader(
        addresses: &[String],
        options: &ConnectOptions,
        wait: Duration,
    ) -> Result<Client, Error> {
        match addresses {
            [] => {
                return Err(Error::InvalidAddress { address: String::new(), reason: "no address given".into() });
            }
            [one] => return Client::connect_with(one, options).await,
            _ => {}
        }
        let deadline = Instant::now() + wait;
        loop {
            let mut heard = Vec::with_capacity(addresses.len());
            for address in addresses {
                let probe = async {
                    let client = Client::connect_with(address, options).await?;
                    let serving = client.health(WORKFLOW_SERVICE).await;
                    Ok::<_, Error>((client, serving))
                };
                let probed = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                    Ok(probed) => probed,
                    Err(_) => {
                        heard.push(format!("{address}: no answer within {PROBE_TIMEOUT:?}"));
                        continue;
                    }
                };
                let (client, serving) = match probed {
                    Ok(probed) => probed,
                    // A mistyped address or bad TLS files will not get better.
                    Err(e @ (Error::InvalidAddress { .. } | Error::Tls { .. } | Error::InvalidInput { .. })) => {
                        return Err(e);
                    }
                    Err(e) => {
                        heard.push(format!("{address}: {e}"));
                        continue;
                    }
                };
                match serving {
                    Ok(ServingStatus::Serving) => return Ok(client),
                    Ok(_) => heard.push(format!("{address}: a standby")),
                    Err(e) => heard.push(format!("{address}: {e}")),
                }
            }
            if Instant::now() + ROUND_PAUSE > deadline {
                return Err(Error::NoLeader { heard: heard.join("; ") });
            }
            tokio::time::sleep(ROUND_PAUSE).await;
        }
    }
}

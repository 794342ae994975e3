//! Serving as the leader: a [`Term`] starts the commit thread and the driver on a restored
//! state and makes the services answer; ending it makes them refuse (as a standby does) and
//! stops the driver. A coordinator on its own store leads in one term from start to stop
//! ([`alone`]); coordinators sharing PostgreSQL lead in terms they are elected to (`ha`).
use tokio::sync::watch;
use weft_net::HealthReporter;
use weft_proto::pb::monitor_service_server::MonitorServiceServer;
use weft_proto::pb::worker_service_server::WorkerServiceServer;
use weft_proto::pb::workflow_service_server::WorkflowServiceServer;

use crate::role::{Leading, Part, Role};
use crate::services::Services;
use crate::{Config, State, convert, driver, metrics, quarantine};

/// The health service's answer for the three weft services: SERVING only while leading.
pub(crate) async fn set_services_serving(health: &HealthReporter, serving: bool) {
    if serving {
        weft_net::set_serving::<WorkflowServiceServer<Services>>(health).await;
        weft_net::set_serving::<WorkerServiceServer<Services>>(health).await;
        weft_net::set_serving::<MonitorServiceServer<Services>>(health).await;
    } else {
        weft_net::set_not_serving::<WorkflowServiceServer<Services>>(health).await;
        weft_net::set_not_serving::<WorkerServiceServer<Services>>(health).await;
        weft_net::set_not_serving::<MonitorServiceServer<Services>>(health).await;
    }
}

/// One term of leadership: the driver serving from a restored state.
pub(crate) struct Term {
    stop: watch::Sender<bool>,
    driver: tokio::task::JoinHandle<Result<(), String>>,
}

impl Term {
    /// Starts the commit thread and the driver on `state`, then lets requests in.
    pub(crate) async fn start(
        cfg: &Config,
        state: State,
        role: &Role,
        health: &HealthReporter,
    ) -> anyhow::Result<Term> {
        let store = convert::store_status(&state.store.info());
        let committer = weft_store::GroupCommitter::start(state.store, cfg.group_commit, metrics::commit)
            .map_err(|e| anyhow::anyhow!("starting the store's commit thread: {e}"))?;
        let (driver, handle) = driver::Driver::new(state.engine, state.clock, committer, store, cfg.retention);
        let (stop, stop_rx) = watch::channel(false);
        let driver = tokio::spawn(driver.run(stop_rx));
        role.set(Part::Leading(Leading { handle, quarantined: quarantine::listing(state.quarantined) }));
        set_services_serving(health, true).await;
        metrics::leading(true);
        Ok(Term { stop, driver })
    }

    /// Resolves when the driver stops on its own, which it does only when a commit failed:
    /// the reason. Nothing it could not store was acknowledged.
    pub(crate) async fn failed(&mut self) -> String {
        match (&mut self.driver).await {
            Ok(Err(reason)) => format!("a store commit failed: {reason}"),
            Ok(Ok(())) => "the driver stopped".into(),
            Err(e) => format!("the driver task ended: {e}"),
        }
    }

    /// Stops taking requests at once (health first, then calls), the driver still running.
    pub(crate) async fn refuse(&self, role: &Role, health: &HealthReporter) {
        set_services_serving(health, false).await;
        if matches!(role.part(), Part::Leading(_)) {
            metrics::leading(false);
        }
        role.set(Part::Standby { leader: None });
    }

    /// Stops leading: health checkers hear it first, then requests are refused as a
    /// standby refuses them (naming `leader` if known), then the driver stops, which ends
    /// worker sessions and watch streams. The driver's own outcome is returned.
    pub(crate) async fn end(self, role: &Role, health: &HealthReporter, leader: Option<String>) -> Result<(), String> {
        self.refuse(role, health).await;
        role.set(Part::Standby { leader });
        let _ = self.stop.send(true);
        if self.driver.is_finished() {
            // Already reported through `failed`.
            return Ok(());
        }
        match self.driver.await {
            Ok(result) => result,
            Err(e) => Err(format!("the driver task ended: {e}")),
        }
    }
}

/// A coordinator on its own store: leads from start to stop. A failed commit ends it (and
/// the coordinator): nothing more could be acknowledged.
pub(crate) async fn alone(
    cfg: Config,
    state: State,
    role: Role,
    health: HealthReporter,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut term = Term::start(&cfg, state, &role, &health).await.map_err(|e| format!("{e:#}"))?;
    tokio::select! {
        // The driver logged why.
        reason = term.failed() => {
            term.refuse(&role, &health).await;
            Err(reason)
        }
        _ = stopped(&mut stop) => term.end(&role, &health, None).await,
    }
}

/// Resolves once `stop` is set (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

//! Several coordinators on one PostgreSQL database, one leading at a time.
//!
//! A coordinator stands by, trying every quarter lease to take the lease row
//! (`weft_store_postgres::lease`) and telling clients where the leader is. Once it holds the
//! lease it loads the state from the database and leads (a [`Term`]), renewing every quarter
//! lease from a task of its own. It steps down to standby, saying why, when:
//! - a renewal finds a later epoch (deposed), or no renewal succeeded for so long that the
//!   lease may have passed on (it stops before the lease could expire on the database's clock);
//! - a commit fails, a fenced one included (PostgreSQL restarted, or another coordinator took
//!   over while this one was paused): nothing it could not store was acknowledged, and it
//!   gives the lease up so that whoever is healthy (itself included) reloads and leads.
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use weft_net::HealthReporter;
use weft_store_postgres::{LeaseClient, PgStore, PgUrl};

use crate::config::HaConfig;
use crate::leadership::{Term, stopped};
use crate::role::{Part, Role};
use crate::{Config, State};

/// Stands by and leads when elected, until `stop`.
pub(crate) async fn elect(
    cfg: Config,
    ha: HaConfig,
    role: Role,
    health: HealthReporter,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let holder = format!("{} pid {} {}", ha.advertise, std::process::id(), uuid::Uuid::now_v7().simple());
    let quarter = ha.lease / 4;
    let mut campaign = Campaign { url: ha.url.clone(), timeout: quarter, client: None, said: String::new() };
    loop {
        // Stand by until the lease is ours.
        let (epoch, taken_at) = loop {
            if *stop.borrow() {
                return Ok(());
            }
            let attempt_at = Instant::now();
            match campaign.try_acquire(&holder, &ha.advertise, ha.lease).await {
                Ok(Some(epoch)) => break (epoch, attempt_at),
                Ok(None) => {
                    let leader = campaign.observe_leader().await;
                    role.set(Part::Standby { leader });
                }
                Err(e) => campaign.say(format!("cannot reach PostgreSQL to take part in the election: {e}")),
            }
            tokio::select! {
                _ = tokio::time::sleep(quarter) => {}
                _ = stop.changed() => {}
            }
        };
        campaign.said.clear();
        tracing::info!(epoch, advertise = %ha.advertise, "elected leader; loading the state from PostgreSQL");
        let mut keeper = tokio::spawn(keep_lease(ha.url.clone(), epoch, ha.lease, taken_at));
        let loaded = tokio::select! {
            loaded = load(cfg.clone(), ha.url.clone(), epoch) => loaded,
            reason = &mut keeper => Err(anyhow::anyhow!(kept(reason))),
            _ = stopped(&mut stop) => {
                keeper.abort();
                campaign.release(epoch).await;
                return Ok(());
            }
        };
        let mut term = match loaded {
            Ok(state) => match Term::start(&cfg, state, &role, &health).await {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!(epoch, error = %format!("{e:#}"), "cannot lead; standing by");
                    keeper.abort();
                    campaign.release(epoch).await;
                    continue;
                }
            },
            Err(e) => {
                tracing::error!(epoch, error = %format!("{e:#}"), "cannot load the state; standing by");
                keeper.abort();
                campaign.release(epoch).await;
                tokio::time::sleep(quarter).await;
                continue;
            }
        };
        tracing::info!(epoch, advertise = %ha.advertise, took_ms = taken_at.elapsed().as_millis() as u64, "leading");
        let reason = tokio::select! {
            reason = term.failed() => reason,
            reason = &mut keeper => kept(reason),
            _ = stopped(&mut stop) => {
                keeper.abort();
                let ended = term.end(&role, &health, None).await;
                // Handing over at once rather than after the lease.
                campaign.release(epoch).await;
                return ended;
            }
        };
        keeper.abort();
        // Refuse at once; then point clients at whoever leads now, if anyone does yet.
        term.refuse(&role, &health).await;
        let leader = campaign.observe_leader().await;
        let _ = term.end(&role, &health, leader).await;
        tracing::warn!(epoch, %reason, "stepped down to standby");
        // Only has an effect if the lease is still ours (a failed commit): whoever is
        // healthy takes it now and reloads what was stored.
        campaign.release(epoch).await;
    }
}

fn kept(reason: Result<String, tokio::task::JoinError>) -> String {
    reason.unwrap_or_else(|e| format!("the lease keeper ended: {e}"))
}

/// Renews the lease of `epoch` every quarter lease. Returns why leadership must end: a later
/// epoch holds the lease, or renewals failed for so long that it may soon expire.
async fn keep_lease(url: PgUrl, epoch: u64, lease: Duration, taken_at: Instant) -> String {
    let quarter = lease / 4;
    // Valid until the start of the last successful renewal plus the lease: the database
    // set the expiry after that start, so this errs early.
    let mut valid_until = taken_at + lease;
    let mut client: Option<LeaseClient> = None;
    let mut last_error = String::new();
    loop {
        tokio::time::sleep(quarter).await;
        let started = Instant::now();
        let renewed = async {
            let c = match client.take() {
                Some(c) if !c.is_closed() => c,
                _ => LeaseClient::connect(url.secret(), quarter).await?,
            };
            let renewed = c.renew(epoch, lease).await;
            client = Some(c);
            renewed
        };
        match tokio::time::timeout(quarter, renewed).await {
            Ok(Ok(true)) => valid_until = started + lease,
            Ok(Ok(false)) => {
                return format!(
                    "deposed: another coordinator holds a later epoch of the lease than this one's {epoch}"
                );
            }
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => last_error = format!("no answer within {}", humantime::format_duration(quarter)),
        }
        // Stop before the lease could lapse on the database's clock.
        if Instant::now() + quarter >= valid_until {
            return format!("could not renew the lease in time ({last_error}); another coordinator may take it");
        }
    }
}

/// Opens the store for `epoch` and restores the state, on a thread of its own: the store's
/// client blocks, and its runtime must not be dropped inside ours.
async fn load(cfg: Config, url: PgUrl, epoch: u64) -> anyhow::Result<State> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new().name("weft-store-load".into()).spawn(move || {
        let loaded = PgStore::open(&url, epoch)
            .map_err(anyhow::Error::from)
            .and_then(|store| crate::restore_state(&cfg, Box::new(store)));
        // The receiver gone (leadership lost meanwhile): the state is dropped here.
        let _ = tx.send(loaded);
    })?;
    rx.await.map_err(|_| anyhow::anyhow!("the loading thread ended without an answer"))?
}

/// The standby's connection for taking the lease and watching who holds it.
struct Campaign {
    url: PgUrl,
    timeout: Duration,
    client: Option<LeaseClient>,
    /// The last thing said about the election, so a standby says each change once.
    said: String,
}

impl Campaign {
    async fn client(&mut self) -> Result<&LeaseClient, weft_store_postgres::LeaseError> {
        if self.client.as_ref().is_none_or(LeaseClient::is_closed) {
            self.client = Some(LeaseClient::connect(self.url.secret(), self.timeout).await?);
        }
        self.client.as_ref().ok_or_else(|| weft_store_postgres::LeaseError("no connection".into()))
    }

    async fn try_acquire(
        &mut self,
        holder: &str,
        advertise: &str,
        lease: Duration,
    ) -> Result<Option<u64>, weft_store_postgres::LeaseError> {
        let timeout = self.timeout;
        let attempt = async { self.client().await?.try_acquire(holder, advertise, lease).await };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                self.client = None;
                Err(weft_store_postgres::LeaseError(format!("no answer within {timeout:?}")))
            }
        }
    }

    /// The leader's address, when a lease is in force.
    async fn observe_leader(&mut self) -> Option<String> {
        let timeout = self.timeout;
        let seen = match tokio::time::timeout(timeout, async { self.client().await?.observe().await }).await {
            Ok(Ok(seen)) => seen,
            _ => return None,
        };
        if !seen.in_force {
            return None;
        }
        self.say(format!("standing by: the leader is at {} (epoch {})", seen.address, seen.epoch));
        Some(seen.address)
    }

    /// Logs `what` unless it was the last thing said.
    fn say(&mut self, what: String) {
        if what != self.said {
            tracing::info!("{what}");
            self.said = what;
        }
    }

    /// Gives the lease of `epoch` up, if still ours; failing is harmless (it expires).
    async fn release(&mut self, epoch: u64) {
        let timeout = self.timeout;
        let attempt = async { self.client().await?.release(epoch).await };
        if let Ok(Err(e)) | Err(e) = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| weft_store_postgres::LeaseError(format!("no answer within {timeout:?}")))
        {
            tracing::debug!(epoch, error = %e, "could not release the lease; it will expire");
        }
    }
}

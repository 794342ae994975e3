//! The leader's lease: one row of `weft_leader` (epoch, holder, address, expiry).
//!
//! Why a lease row and not an advisory lock: an advisory lock lives as long as the session
//! holding it, and a leader that is paused (SIGSTOP, a long GC-like stall, a VM freeze) keeps
//! its session, so the lock would never pass on; a lease expires on the database's clock
//! whatever the holder does. Expiry is judged by `clock_timestamp()` on the server only, so
//! the coordinators' clocks never need to agree.
//!
//! Fencing: taking the lease increments the epoch. Every commit of a leader begins with
//! `SELECT epoch … FOR SHARE` and writes only if the epoch is still its own (see
//! `PgStore::commit`), so a deposed leader that wakes up cannot overwrite its successor's
//! state: the row lock orders each commit entirely before or entirely after a takeover.
use std::time::Duration;

/// Takes the lease if it has expired: a new epoch. `$1` holder, `$2` address, `$3` lease in ms.
pub const ACQUIRE: &str = "UPDATE weft_leader SET epoch = epoch + 1, holder = $1, address = $2, \
     expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond' \
     WHERE id = 1 AND expires_at < clock_timestamp() RETURNING epoch";
/// Extends the lease of epoch `$1` by `$2` ms from now; no row: the epoch is no longer held.
pub const RENEW: &str = "UPDATE weft_leader SET expires_at = clock_timestamp() + $2::float8 * interval '1 millisecond' \
     WHERE id = 1 AND epoch = $1 RETURNING epoch";
/// Gives the lease of epoch `$1` up at once (a stopping leader): a standby takes it at its
/// next attempt instead of waiting for the expiry.
pub const RELEASE: &str = "UPDATE weft_leader SET expires_at = '-infinity' WHERE id = 1 AND epoch = $1";
/// The lease as it stands: epoch, holder, address, and whether it is still in force.
pub const OBSERVE: &str = "SELECT epoch, holder, address, expires_at > clock_timestamp() FROM weft_leader WHERE id = 1";
/// The check every leader commit starts with (inside its transaction).
pub const FENCE: &str = "SELECT epoch FROM weft_leader WHERE id = 1 FOR SHARE";

/// Column `i` of `row` as an epoch: an error, not a panic, on what the database holds.
fn epoch_of(row: &tokio_postgres::Row, i: usize) -> Result<u64, LeaseError> {
    let epoch: i64 = row.try_get(i).map_err(failed("reading the lease's epoch"))?;
    u64::try_from(epoch).map_err(|_| LeaseError(format!("the lease's epoch is {epoch}, not a count")))
}

/// The lease as read by [`LeaseClient::observe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseState {
    pub epoch: u64,
    /// The holder's name (unique per coordinator process).
    pub holder: String,
    /// Where clients reach the holder (its `--advertise` address).
    pub address: String,
    /// Not expired on the database's clock.
    pub in_force: bool,
}

/// Errors talking to PostgreSQL about the lease.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LeaseError(pub String);

fn failed(what: &'static str) -> impl Fn(tokio_postgres::Error) -> LeaseError {
    move |e| LeaseError(format!("{what}: {}", crate::describe(&e)))
}

/// A connection of its own for the lease, apart from the store's, so a long commit never
/// delays a renewal beyond its own row lock.
pub struct LeaseClient {
    client: tokio_postgres::Client,
    connection: tokio::task::JoinHandle<()>,
}

impl LeaseClient {
    /// Connects; every statement is bounded by `timeout` (a renewal that cannot finish within
    /// the lease is as good as lost).
    pub async fn connect(url: &str, timeout: Duration) -> Result<LeaseClient, LeaseError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| LeaseError(format!("invalid URL: {e}")))?;
        config.connect_timeout(timeout).application_name("weft-coordinator lease");
        let (client, connection) =
            config.connect(tokio_postgres::NoTls).await.map_err(failed("connecting to PostgreSQL"))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        let ms = timeout.as_millis().max(1);
        client
            .batch_execute(&format!("SET statement_timeout = {ms}; SET lock_timeout = {ms}"))
            .await
            .map_err(failed("setting timeouts"))?;
        Ok(LeaseClient { client, connection })
    }

    /// Closed by the server or the network: make a new one.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Takes the lease for `lease` if it has expired; `None` while another holds it.
    pub async fn try_acquire(&self, holder: &str, address: &str, lease: Duration) -> Result<Option<u64>, LeaseError> {
        let ms = lease.as_millis() as f64;
        let row =
            self.client.query_opt(ACQUIRE, &[&holder, &address, &ms]).await.map_err(failed("taking the lease"))?;
        row.map(|r| epoch_of(&r, 0)).transpose()
    }

    /// Extends the lease of `epoch`; `false`: another coordinator holds a later epoch.
    pub async fn renew(&self, epoch: u64, lease: Duration) -> Result<bool, LeaseError> {
        let ms = lease.as_millis() as f64;
        let row = self.client.query_opt(RENEW, &[&(epoch as i64), &ms]).await.map_err(failed("renewing the lease"))?;
        Ok(row.is_some())
    }

    /// Gives up the lease of `epoch` (no effect once another holds a later one).
    pub async fn release(&self, epoch: u64) -> Result<(), LeaseError> {
        self.client.execute(RELEASE, &[&(epoch as i64)]).await.map_err(failed("releasing the lease"))?;
        Ok(())
    }

    pub async fn observe(&self) -> Result<LeaseState, LeaseError> {
        let row = self.client.query_one(OBSERVE, &[]).await.map_err(failed("reading the lease"))?;
        let column = failed("reading the lease");
        Ok(LeaseState {
            epoch: epoch_of(&row, 0)?,
            holder: row.try_get(1).map_err(&column)?,
            address: row.try_get(2).map_err(&column)?,
            in_force: row.try_get(3).map_err(&column)?,
        })
    }
}

impl Drop for LeaseClient {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

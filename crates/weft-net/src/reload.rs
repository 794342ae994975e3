//! Files read again while serving (TLS certificates, the tokens file): on SIGHUP, and when
//! they change, looked at every poll.
use std::time::Duration;

/// Why a reload was tried, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP: read the files even if they look unchanged.
    Signal,
    /// The periodic look: read them only if they changed.
    FileChange,
}

/// Calls `reload` on every SIGHUP and every `poll`, until the returned task is aborted.
/// `what` names the files in the warning given when SIGHUP cannot be listened for.
pub fn spawn(
    what: &'static str,
    poll: Duration,
    mut reload: impl FnMut(Trigger) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; {what} are still reloaded when they change");
                None
            }
        };
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let trigger = tokio::select! {
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => Trigger::Signal,
                _ = tick.tick() => Trigger::FileChange,
            };
            reload(trigger);
        }
    })
}

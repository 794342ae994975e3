//! Worker sessions, heartbeats, draining and leases.
use std::sync::Arc;
use weft_model::limits::{MAX_SLOTS, MAX_WORKER_LABELS, MAX_WORKER_NAME_LEN};
use weft_model::validate::check_name;
use weft_model::{Millis, ValidationError, Violation, WorkerId};

use crate::types::{Liveness, SessionSecret, TaskError, TaskRef, Worker, WorkerRegistration};
use crate::{AttemptId, Effect, Engine, Error, WorkerEvent};

/// What a heartbeat says.
#[derive(Clone, Debug, Default)]
pub struct HeartbeatInfo {
    /// Slots in use, as the worker counts them.
    pub used: u32,
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// Attempts the worker is running.
    pub running: Vec<AttemptId>,
}

fn check_registration(reg: &WorkerRegistration) -> Result<(), ValidationError> {
    let mut violations = Vec::new();
    let mut fail = |field: String, message: String| violations.push(Violation { field, message });
    if !(1..=MAX_SLOTS).contains(&reg.slots) {
        fail("register.slots".into(), format!("is {}, must be 1 to {MAX_SLOTS}", reg.slots));
    }
    if !(reg.speed.is_finite() && reg.speed > 0.0) {
        fail("register.speed".into(), format!("is {}, must be a positive number", reg.speed));
    }
    if reg.kinds.is_empty() {
        fail("register.kinds".into(), "a worker must serve at least one kind".into());
    }
    for (field, labels) in [("kinds", &reg.kinds), ("queues", &reg.queues)] {
        if labels.len() > MAX_WORKER_LABELS {
            fail(
                format!("register.{field}"),
                format!("has {} entries, at most {MAX_WORKER_LABELS} allowed", labels.len()),
            );
            continue;
        }
        for (i, label) in labels.iter().enumerate() {
            if let Err(e) = check_name(label) {
                fail(format!("register.{field}[{i}]"), e);
            }
        }
    }
    for (field, text) in [("name", &reg.name), ("version", &reg.version)] {
        if text.len() > MAX_WORKER_NAME_LEN {
            fail(
                format!("register.{field}"),
                format!("is {} bytes, at most {MAX_WORKER_NAME_LEN} allowed", text.len()),
            );
        }
    }
    if violations.is_empty() { Ok(()) } else { Err(ValidationError::new(violations)) }
}

impl Engine {
    /// Opens (or replaces) a worker's session. A worker id whose session is connected, or
    /// whose attempts are still within their lease, is taken only by a registration that
    /// proves it is the same worker with its previous session's secret: anything else is
    /// refused (`AlreadyExists`), so nobody can take over a live worker's attempts and
    /// assignments by naming its id.
    pub fn register_worker(&mut self, mut reg: WorkerRegistration, now: Millis) -> Result<(), Error> {
        check_registration(&reg)?;
        if let Some(w) = self.workers.get(&reg.id)
            && (w.connected || w.liveness != Liveness::Dead)
            && let Some(secret) = &w.secret
            && !reg.proof.as_ref().is_some_and(|proof| secret.matches(proof))
        {
            return Err(Error::AlreadyExists(format!(
                "worker id {} belongs to a live session; a new session of that worker must send its previous \
                 session's secret (previous_session_secret)",
                reg.id
            )));
        }
        if reg.queues.is_empty() {
            reg.queues.push(Arc::from("default"));
        }
        self.known_kinds.extend(reg.kinds.iter().cloned());
        if self.next_monitor == 0 {
            self.next_monitor = now + self.cfg.heartbeat_interval_ms as Millis;
        }
        let previous = self.workers.get(&reg.id).map(|w| (w.attempts.clone(), w.health.clone()));
        let detail = match &previous {
            None => "joined".to_string(),
            Some(_) => "reconnected".to_string(),
        };
        let worker = Worker {
            session: reg.session,
            secret: Some(reg.secret),
            name: reg.name,
            queues: reg.queues,
            kinds: reg.kinds,
            slots: reg.slots,
            speed: reg.speed,
            version: reg.version,
            liveness: Liveness::Live,
            connected: true,
            health: previous.as_ref().map(|(_, h)| h.clone()).unwrap_or_default(),
            attempts: previous.map(|(a, _)| a).unwrap_or_default(),
            ..Worker::blank(reg.id, now)
        };
        let assigned: Vec<TaskRef> = worker.attempts.iter().copied().collect();
        self.workers.insert(worker.id, worker);
        self.worker_event(reg.id, detail, now);
        // Attempts it says it holds: keep the current ones, stop the rest.
        self.reconcile(reg.id, &reg.holding, now);
        // Attempts assigned to it that it does not hold never reached it (or were lost with
        // its previous session): run them again.
        let held: Vec<TaskRef> = reg.holding.iter().filter_map(|a| self.resolve(a)).collect();
        for r in assigned.into_iter().filter(|r| !held.contains(r)) {
            self.release(reg.id, r);
            let message = format!("worker {} reconnected without this attempt", reg.id);
            self.retry_or_fail(r, TaskError { message, retryable: true }, true, now);
        }
        self.schedule(now);
        Ok(())
    }

    /// Tells the worker to stop any attempt it runs that is not its current one.
    fn reconcile(&mut self, worker: WorkerId, running: &[AttemptId], _now: Millis) {
        for a in running {
            let current = self.resolve(a).is_some_and(|r| {
                let t = &self.runs[&r.run].tasks[r.task as usize];
                t.attempt == a.attempt && t.worker == Some(worker) && t.state.is_active()
            });
            if !current {
                let reason = "stale attempt: it was re-assigned or its run ended".to_string();
                self.emit(Effect::Cancel { worker, attempt: a.clone(), reason });
            }
        }
    }

    /// Whether `secret` is the secret of the session that registered worker `id`: a report
    /// or heartbeat is applied only then (the caller refuses the rest).
    pub fn session_matches(&self, id: WorkerId, secret: &SessionSecret) -> bool {
        self.workers.get(&id).and_then(|w| w.secret.as_ref()).is_some_and(|s| s.matches(secret))
    }

    /// The session stream closed. A worker holding attempts keeps them until its lease
    /// runs out (it may reconnect); one holding none is gone at once.
    pub fn worker_disconnected(&mut self, id: WorkerId, session: u64, now: Millis) {
        let Some(w) = self.workers.get_mut(&id) else { return };
        if w.session != session || !w.connected {
            return;
        }
        w.connected = false;
        w.disconnected_at = Some(now);
        if w.attempts.is_empty() {
            self.declare_dead(id, "disconnected".into(), now);
        } else if w.liveness != Liveness::Dead {
            let n = w.attempts.len();
            w.liveness = Liveness::Suspect;
            let grace = self.cfg.disconnect_grace_ms;
            self.worker_event(
                id,
                format!("disconnected holding {n} attempts; they run again unless it is back within {grace} ms"),
                now,
            );
        }
    }

    /// The worker is leaving: no new attempts.
    pub fn worker_draining(&mut self, id: WorkerId, session: u64, now: Millis) {
        let Some(w) = self.workers.get_mut(&id) else { return };
        if w.session != session || w.liveness == Liveness::Draining {
            return;
        }
        w.liveness = Liveness::Draining;
        let n = w.attempts.len();
        self.worker_event(id, format!("draining, finishing {n} attempts"), now);
    }

    /// A heartbeat renews the worker's lease. Returns false for a worker with no session.
    pub fn heartbeat(&mut self, id: WorkerId, info: HeartbeatInfo, now: Millis) -> bool {
        let Some(w) = self.workers.get_mut(&id) else { return false };
        let gap = now - w.last_heartbeat;
        w.last_heartbeat = now;
        w.recent.push_back(crate::types::HeartbeatSample {
            at: now,
            used: info.used,
            cpu_percent: info.cpu_percent,
            memory_used_bytes: info.memory_used_bytes,
            gap_ms: gap,
        });
        if w.recent.len() > crate::types::RECENT_HEARTBEATS {
            w.recent.pop_front();
        }
        w.cpu_percent = info.cpu_percent;
        w.memory_used_bytes = info.memory_used_bytes;
        w.memory_total_bytes = info.memory_total_bytes;
        let back = match w.liveness {
            Liveness::Suspect if w.connected => Some("heartbeats resumed"),
            Liveness::Dead if w.connected => Some("back after being declared dead"),
            _ => None,
        };
        if let Some(detail) = back {
            w.liveness = Liveness::Live;
            self.worker_event(id, detail.into(), now);
        }
        self.reconcile(id, &info.running, now);
        self.observe_heartbeat(id, gap, now);
        if back.is_some() {
            self.schedule(now);
        }
        true
    }

    /// Silent workers: suspect after two missed heartbeats, dead after the lease.
    pub(crate) fn check_leases(&mut self, now: Millis) {
        let lease = self.cfg.lease_timeout_ms as Millis;
        let suspect_after = (2 * self.cfg.heartbeat_interval_ms as Millis).min(lease);
        let retention = self.cfg.dead_worker_retention_ms as Millis;
        let mut dead = Vec::new();
        let mut suspect = Vec::new();
        let mut forget = Vec::new();
        let grace = self.cfg.disconnect_grace_ms as Millis;
        for w in self.workers.values() {
            let silent = now - w.last_heartbeat;
            let gone = !w.connected && w.disconnected_at.is_some_and(|at| now - at >= grace);
            match w.liveness {
                Liveness::Dead if !w.connected && silent >= retention => forget.push(w.id),
                Liveness::Dead => {}
                _ if silent >= lease || gone => dead.push(w.id),
                Liveness::Live if silent >= suspect_after => suspect.push(w.id),
                _ => {}
            }
        }
        for id in suspect {
            self.workers.get_mut(&id).expect("listed").liveness = Liveness::Suspect;
            self.worker_event(id, "missed heartbeats".into(), now);
        }
        for id in dead {
            let detail = match self.workers[&id].connected {
                true => format!("no heartbeat for {lease} ms (lease timeout)"),
                false => format!("disconnected and not back within {grace} ms"),
            };
            self.declare_dead(id, detail, now);
        }
        for id in forget {
            self.workers.remove(&id);
        }
    }

    /// When a worker's silence next changes its liveness.
    pub(crate) fn liveness_deadline(&self, w: &Worker) -> Option<Millis> {
        let lease = self.cfg.lease_timeout_ms as Millis;
        let suspect_after = (2 * self.cfg.heartbeat_interval_ms as Millis).min(lease);
        let lease_end = match w.disconnected_at {
            Some(at) if !w.connected => (w.last_heartbeat + lease).min(at + self.cfg.disconnect_grace_ms as Millis),
            _ => w.last_heartbeat + lease,
        };
        match w.liveness {
            Liveness::Live => Some((w.last_heartbeat + suspect_after).min(lease_end)),
            Liveness::Suspect | Liveness::Draining => Some(lease_end),
            Liveness::Dead if !w.connected => Some(w.last_heartbeat + self.cfg.dead_worker_retention_ms as Millis),
            Liveness::Dead => None,
        }
    }

    /// The worker is gone: its attempts go back to their queues.
    fn declare_dead(&mut self, id: WorkerId, detail: String, now: Millis) {
        let Some(w) = self.workers.get_mut(&id) else { return };
        w.liveness = Liveness::Dead;
        let lost: Vec<TaskRef> = std::mem::take(&mut w.attempts).into_iter().collect();
        let name = w.name.clone();
        self.worker_event(id, detail, now);
        for r in lost {
            let message = format!("attempt lost: worker {name} ({id}) died");
            self.retry_or_fail(r, TaskError { message, retryable: true }, true, now);
        }
    }

    fn worker_event(&mut self, id: WorkerId, detail: String, now: Millis) {
        let Some(w) = self.workers.get(&id) else { return };
        let event = WorkerEvent { worker: id, name: w.name.clone(), liveness: w.liveness, at: now, detail };
        self.emit(Effect::Worker(event));
    }
}

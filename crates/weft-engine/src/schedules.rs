//! Schedules: runs of a definition started on a cron pattern. Each slot (a time the
//! pattern matches) is handled once: its run is started with the idempotency key
//! `schedule:NAME:SLOT_MS`, and the slot is recorded as the schedule's last in the same
//! change set, so after a restart or a failover no slot starts twice and none is passed
//! over without being counted (`skipped`, with the reason in `last_error`).
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use weft_model::schedule::{CatchUp, CronTimes, MAX_CATCH_UP, ON_TIME_MS, Overlap, ScheduleSpec, validate_schedule};
use weft_model::{Millis, RunId};

use crate::runs::{RunSource, StartRun};
use crate::timers::Timer;
use crate::{Engine, Error};

/// Schedules a coordinator keeps at most.
pub const MAX_SCHEDULES: usize = 10_000;

/// What a schedule has done, stored with it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleState {
    pub paused: bool,
    pub created_at: Millis,
    /// The latest slot handled (started, queued or skipped).
    pub last_slot: Option<Millis>,
    /// A slot waiting for the previous run to end (`queue_one`).
    pub pending_slot: Option<Millis>,
    pub last_run: Option<RunId>,
    pub fired: u64,
    pub skipped: u64,
    /// Why the latest slot not started was not (or why its start failed).
    pub last_error: String,
}

/// A schedule: what it is and what it has done.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub spec: ScheduleSpec,
    pub state: ScheduleState,
    times: CronTimes,
    /// Its next slot, when not paused.
    pub next_at: Option<Millis>,
    /// Names its due timer (timers hold numbers, not names).
    seq: u64,
}

impl Schedule {
    /// The next `n` slots from its next one.
    pub fn upcoming(&self, n: usize) -> Vec<Millis> {
        let mut out = Vec::new();
        let mut at = self.next_at;
        while let Some(slot) = at
            && out.len() < n
        {
            out.push(slot);
            at = self.times.next_after(slot);
        }
        out
    }
}

/// One schedule as stored: its spec and state as JSON text.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSchedule {
    pub name: Arc<str>,
    pub spec_json: String,
    pub state_json: String,
}

#[derive(Debug, Default)]
pub(crate) struct Schedules {
    by_name: BTreeMap<Arc<str>, Schedule>,
    by_seq: HashMap<u64, Arc<str>>,
    next_seq: u64,
    /// Runs started by a schedule and not yet ended, and whose.
    running: HashMap<RunId, Arc<str>>,
}

/// A run id for a slot: time-ordered (the slot's time), unique per (schedule, slot), the
/// same on every replay.
fn slot_run_id(name: &str, slot: Millis) -> RunId {
    RunId::derived(slot, &[name.as_bytes()])
}

impl Engine {
    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.schedules.by_name.values()
    }

    pub fn get_schedule(&self, name: &str) -> Result<&Schedule, Error> {
        self.schedules.by_name.get(name).ok_or_else(|| Error::NotFound { what: "schedule", id: name.into() })
    }

    /// Adds a schedule, or replaces the one of that name (keeping what it has done, so a
    /// slot it handled is not handled again).
    pub fn put_schedule(&mut self, spec: ScheduleSpec, now: Millis) -> Result<&Schedule, Error> {
        let times = validate_schedule(&spec)?;
        // What it starts must exist now (it may be deleted later: then its slots say so).
        self.definition(&spec.definition, spec.version)?;
        let name: Arc<str> = Arc::from(spec.name.as_str());
        let state = match self.schedules.by_name.get(&name) {
            Some(old) => old.state.clone(),
            None if self.schedules.by_name.len() >= MAX_SCHEDULES => {
                return Err(Error::FailedPrecondition(format!("{MAX_SCHEDULES} schedules already; delete one first")));
            }
            None => ScheduleState { created_at: now, ..ScheduleState::default() },
        };
        self.install_schedule(spec, times, state, now);
        self.dirty.mark_schedule(name.clone());
        self.get_schedule(&name)
    }

    /// Pauses (no slot starts; the ones passed while paused are not caught up) or resumes.
    pub fn set_schedule_paused(&mut self, name: &str, paused: bool, now: Millis) -> Result<&Schedule, Error> {
        let s = self
            .schedules
            .by_name
            .get_mut(name)
            .ok_or_else(|| Error::NotFound { what: "schedule", id: name.into() })?;
        if s.state.paused != paused {
            s.state.paused = paused;
            if !paused {
                // Resumed: what passed while paused is over; the next slot is from now.
                s.state.last_slot = Some(s.state.last_slot.unwrap_or(now).max(now));
            }
            let key: Arc<str> = Arc::from(name);
            self.arm(&key);
            self.dirty.mark_schedule(key);
        }
        self.get_schedule(name)
    }

    pub fn delete_schedule(&mut self, name: &str) -> Result<(), Error> {
        let s =
            self.schedules.by_name.remove(name).ok_or_else(|| Error::NotFound { what: "schedule", id: name.into() })?;
        self.schedules.by_seq.remove(&s.seq);
        self.dirty.mark_schedule(Arc::from(name));
        Ok(())
    }

    /// Schedules as stored, at start; ones that no longer parse are skipped and returned
    /// with the reason (they must not keep the coordinator from starting).
    pub fn restore_schedules(&mut self, stored: Vec<StoredSchedule>, now: Millis) -> Vec<(String, String)> {
        let mut refused = Vec::new();
        for s in stored {
            let spec: Result<ScheduleSpec, String> = serde_json::from_str(&s.spec_json).map_err(|e| e.to_string());
            let state: Result<ScheduleState, String> = serde_json::from_str(&s.state_json).map_err(|e| e.to_string());
            match (spec, state) {
                (Ok(spec), Ok(state)) => match validate_schedule(&spec) {
                    Ok(times) => self.install_schedule(spec, times, state, now),
                    Err(e) => refused.push((s.name.to_string(), e.to_string())),
                },
                (Err(e), _) | (_, Err(e)) => refused.push((s.name.to_string(), e)),
            }
        }
        refused
    }

    fn install_schedule(&mut self, spec: ScheduleSpec, times: CronTimes, state: ScheduleState, _now: Millis) {
        let name: Arc<str> = Arc::from(spec.name.as_str());
        let seq = match self.schedules.by_name.get(&name) {
            Some(old) => old.seq,
            None => {
                self.schedules.next_seq += 1;
                self.schedules.next_seq
            }
        };
        if let Some(run) = state.last_run
            && self.runs.get(&run).is_some_and(|r| !r.status.is_final())
        {
            self.schedules.running.insert(run, name.clone());
        }
        self.schedules.by_seq.insert(seq, name.clone());
        self.schedules.by_name.insert(name.clone(), Schedule { spec, state, times, next_at: None, seq });
        self.arm(&name);
    }

    /// Works out a schedule's next slot (after the last handled, or its creation) and sets
    /// its timer; due slots then fire on the next tick.
    fn arm(&mut self, name: &Arc<str>) {
        let Some(s) = self.schedules.by_name.get_mut(name) else { return };
        s.next_at =
            if s.state.paused { None } else { s.times.next_after(s.state.last_slot.unwrap_or(s.state.created_at)) };
        if let Some(at) = s.next_at {
            let seq = s.seq;
            self.set_timer(at, Timer::ScheduleDue(seq, at));
        }
    }

    /// A schedule's timer: the slots due by now are handled by its catch-up policy.
    pub(crate) fn schedule_due(&mut self, seq: u64, at: Millis, now: Millis) {
        let Some(name) = self.schedules.by_seq.get(&seq).cloned() else { return };
        let Some(s) = self.schedules.by_name.get(&name) else { return };
        if s.state.paused || s.next_at != Some(at) {
            return;
        }
        let after = s.state.last_slot.unwrap_or(s.state.created_at);
        let (due, dropped) = s.times.slots_between(after, now, MAX_CATCH_UP);
        let Some(&latest) = due.last() else {
            self.arm(&name);
            return;
        };
        let chosen: Vec<Millis> = match s.spec.catch_up {
            CatchUp::None => (now - latest <= ON_TIME_MS).then_some(latest).into_iter().collect(),
            CatchUp::Latest => vec![latest],
            CatchUp::All { window_ms } => {
                due.iter().copied().filter(|slot| now - slot <= window_ms as Millis).collect()
            }
        };
        let missed = due.len() + dropped - chosen.len();
        if let Some(s) = self.schedules.by_name.get_mut(&name) {
            if missed > 0 {
                s.state.skipped = s.state.skipped.saturating_add(missed as u64);
                s.state.last_error = format!("{missed} slot(s) missed while no coordinator led (catch-up policy)");
            }
            s.state.last_slot = Some(latest);
        }
        for slot in chosen {
            self.fire_slot(&name, slot, now);
        }
        self.dirty.mark_schedule(name.clone());
        self.arm(&name);
    }

    /// One slot, by the overlap policy.
    fn fire_slot(&mut self, name: &Arc<str>, slot: Millis, now: Millis) {
        let Some(s) = self.schedules.by_name.get(name) else { return };
        let busy = s.state.last_run.is_some_and(|r| self.runs.get(&r).is_some_and(|run| !run.status.is_final()));
        let overlap = s.spec.overlap;
        match (busy, overlap, self.schedules.by_name.get_mut(name)) {
            (true, Overlap::Skip, Some(s)) => {
                s.state.skipped = s.state.skipped.saturating_add(1);
                s.state.last_error = format!("slot {slot} skipped: the previous run was still running");
            }
            (true, Overlap::QueueOne, Some(s)) => {
                if s.state.pending_slot.replace(slot).is_some() {
                    s.state.skipped = s.state.skipped.saturating_add(1);
                    s.state.last_error = "a queued slot was replaced by a later one".into();
                }
            }
            _ => self.start_slot(name, slot, now),
        }
    }

    fn start_slot(&mut self, name: &Arc<str>, slot: Millis, now: Millis) {
        let Some(s) = self.schedules.by_name.get(name) else { return };
        let req = StartRun {
            id: slot_run_id(name, slot),
            source: RunSource::Definition { name: s.spec.definition.clone(), version: s.spec.version },
            idempotency_key: Some(format!("schedule:{name}:{slot}")),
            input_json: s.spec.input_json.clone(),
        };
        let started = self.start_run(req, now);
        let Some(s) = self.schedules.by_name.get_mut(name) else { return };
        match started {
            Ok((id, _)) => {
                s.state.fired = s.state.fired.saturating_add(1);
                s.state.last_run = Some(id);
                self.schedules.running.insert(id, name.clone());
            }
            Err(e) => {
                s.state.skipped = s.state.skipped.saturating_add(1);
                s.state.last_error = format!("slot {slot} not started: {e}");
            }
        }
    }

    /// A run ended: if a schedule started it and a slot waits for it, that slot starts.
    pub(crate) fn schedule_run_ended(&mut self, run: RunId, now: Millis) {
        let Some(name) = self.schedules.running.remove(&run) else { return };
        let Some(s) = self.schedules.by_name.get_mut(&name) else { return };
        if s.state.last_run != Some(run) {
            return;
        }
        if let Some(slot) = s.state.pending_slot.take() {
            self.start_slot(&name, slot, now);
            self.dirty.mark_schedule(name);
        }
    }

    /// A schedule as stored, or `None` once deleted.
    pub(crate) fn stored_schedule(&self, name: &Arc<str>) -> Option<StoredSchedule> {
        let s = self.schedules.by_name.get(name)?;
        Some(StoredSchedule {
            name: name.clone(),
            spec_json: serde_json::to_string(&s.spec).unwrap_or_default(),
            state_json: serde_json::to_string(&s.state).unwrap_or_default(),
        })
    }

    /// Every schedule as stored.
    pub fn stored_schedules(&self) -> Vec<StoredSchedule> {
        self.schedules.by_name.keys().filter_map(|n| self.stored_schedule(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_run_ids_are_v7_shaped_time_ordered_and_distinct_per_schedule() {
        let a = slot_run_id("nightly", 1_000);
        assert_eq!(a.0.get_version_num(), 7);
        assert!(slot_run_id("nightly", 2_000) > a);
        assert_ne!(slot_run_id("hourly", 1_000), a);
        assert_eq!(slot_run_id("nightly", 1_000), a);
    }
}

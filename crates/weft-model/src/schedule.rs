//! Schedules: a definition started on a cron pattern in a time zone
//! (`weftctl schedule add nightly-billing --cron "0 2 * * *" --timezone Europe/Paris billing`).
//! Pure: the times are worked out from a given instant, never from a clock.
use crate::Millis;
use crate::limits::*;
use crate::validate::{ValidationError, Violation, check_json, check_name, echo};
use chrono::TimeZone as _;
use serde::{Deserialize, Serialize};
use std::str::FromStr as _;

/// A schedule as registered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    /// Five fields (minute hour day-of-month month day-of-week), or six with seconds first.
    pub cron: String,
    /// An IANA zone (`Europe/Paris`); the pattern's hours are that zone's.
    pub timezone: String,
    /// The definition it starts, and its version (`None`: the latest when it fires).
    pub definition: String,
    pub version: Option<u32>,
    /// The runs' input, JSON text (empty: null).
    pub input_json: String,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
}

/// What a slot does while the schedule's previous run still runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The slot is skipped (counted).
    #[default]
    Skip,
    /// The slot waits for the run to end, then starts; a later slot replaces a waiting one.
    QueueOne,
    /// The slot starts a run anyway.
    Allow,
}

/// What happens to slots missed while no coordinator led (or it was paused at a slot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum CatchUp {
    /// No catching up: the latest slot starts if it is at most [`ON_TIME_MS`] late; the
    /// others are skipped (counted).
    None,
    /// The latest missed slot starts, once; the others are skipped (counted).
    #[default]
    Latest,
    /// Every missed slot within `window_ms` of now starts (at most [`MAX_CATCH_UP`]).
    All { window_ms: u64 },
}

/// A slot this late still counts as on time.
pub const ON_TIME_MS: Millis = 60_000;
/// Most slots one catch-up starts.
pub const MAX_CATCH_UP: usize = 100;
/// Longest catch-up window: 30 days.
pub const MAX_CATCH_UP_WINDOW_MS: u64 = 30 * 24 * 3600 * 1000;
/// Bounds of a pattern's and a zone's text.
pub const MAX_CRON_LEN: usize = 256;
pub const MAX_TIMEZONE_LEN: usize = 64;

/// A parsed pattern in its zone.
#[derive(Clone, Debug)]
pub struct CronTimes {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

impl CronTimes {
    pub fn parse(cron: &str, timezone: &str) -> Result<CronTimes, Vec<Violation>> {
        let violation = |field: &str, message: String| Violation { field: field.into(), message };
        let mut found = Vec::new();
        if cron.len() > MAX_CRON_LEN {
            found.push(violation("cron", format!("is {} bytes, at most {MAX_CRON_LEN} allowed", cron.len())));
        }
        if timezone.len() > MAX_TIMEZONE_LEN {
            found.push(violation(
                "timezone",
                format!("is {} bytes, at most {MAX_TIMEZONE_LEN} allowed", timezone.len()),
            ));
        }
        if !found.is_empty() {
            return Err(found);
        }
        let parsed = croner::Cron::from_str(cron).map_err(|e| format!("`{}`: {e}", echo(cron)));
        let zone = chrono_tz::Tz::from_str(timezone)
            .map_err(|_| format!("`{}` is not an IANA time zone (e.g. UTC, Europe/Paris)", echo(timezone)));
        match (parsed, zone) {
            (Ok(cron), Ok(zone)) => {
                let times = CronTimes { cron, zone };
                // A pattern that never matches (30 February) would never fire.
                if times.next_after(0).is_none() {
                    return Err(vec![Violation { field: "cron".into(), message: "never matches".into() }]);
                }
                Ok(times)
            }
            (parsed, zone) => {
                if let Err(e) = parsed {
                    found.push(violation("cron", e));
                }
                if let Err(e) = zone {
                    found.push(violation("timezone", e));
                }
                Err(found)
            }
        }
    }

    /// The first slot strictly after `after` (ms since the epoch), if any within the
    /// pattern's range.
    pub fn next_after(&self, after: Millis) -> Option<Millis> {
        // Slots are whole seconds: from the second `after` falls in, exclusive.
        let start = self.zone.timestamp_millis_opt(after.div_euclid(1000) * 1000).single()?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.timestamp_millis())
    }

    /// Slots in `(after, until]`, oldest first, at most `max` (the latest ones when more).
    pub fn slots_between(&self, after: Millis, until: Millis, max: usize) -> (Vec<Millis>, usize) {
        let mut slots = std::collections::VecDeque::new();
        let mut dropped = 0usize;
        let mut at = after;
        while let Some(next) = self.next_after(at) {
            if next > until {
                break;
            }
            slots.push_back(next);
            if slots.len() > max {
                slots.pop_front();
                dropped += 1;
            }
            at = next;
            // A per-second pattern over a month is millions of slots: past that many,
            // jump to the last stretch instead of walking it.
            if dropped > 10 * max {
                let skip_to = until - (until - at) / 2;
                if skip_to > at {
                    dropped += 1;
                    at = skip_to;
                    slots.clear();
                }
            }
        }
        (slots.into(), dropped)
    }
}

/// Checks a schedule, naming each bad field, and parses its pattern.
pub fn validate_schedule(spec: &ScheduleSpec) -> Result<CronTimes, ValidationError> {
    let mut found = Vec::new();
    if let Err(e) = check_name(&spec.name) {
        found.push(Violation { field: "name".into(), message: e });
    }
    if let Err(e) = check_name(&spec.definition) {
        found.push(Violation { field: "definition".into(), message: e });
    }
    if let Err(e) = check_json(&spec.input_json, MAX_PARAMS_BYTES) {
        found.push(Violation { field: "input_json".into(), message: e });
    }
    if let CatchUp::All { window_ms } = spec.catch_up
        && !(1_000..=MAX_CATCH_UP_WINDOW_MS).contains(&window_ms)
    {
        found.push(Violation {
            field: "catch_up.window_ms".into(),
            message: format!("is {window_ms} ms, must be 1000 ms to {MAX_CATCH_UP_WINDOW_MS} ms"),
        });
    }
    if spec.version == Some(0) {
        found.push(Violation {
            field: "version".into(),
            message: "is 0; versions start at 1 (leave it out for the latest)".into(),
        });
    }
    let times = CronTimes::parse(&spec.cron, &spec.timezone);
    match times {
        Ok(times) if found.is_empty() => Ok(times),
        Ok(_) => Err(ValidationError::new(found)),
        Err(more) => {
            found.extend(more);
            Err(ValidationError::new(found))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
    }

    #[test]
    fn a_nightly_pattern_fires_at_two_in_its_zone_across_a_clock_change() {
        let t = CronTimes::parse("0 2 * * *", "Europe/Paris").unwrap();
        // 02:00 in Paris is 01:00 UTC in winter.
        assert_eq!(t.next_after(ms("2026-12-02T10:00:00Z")), Some(ms("2026-12-03T01:00:00Z")));
        // And 00:00 UTC in summer.
        assert_eq!(t.next_after(ms("2026-07-01T10:00:00Z")), Some(ms("2026-07-02T00:00:00Z")));
        let every_second = CronTimes::parse("* * * * * *", "UTC").unwrap();
        assert_eq!(every_second.next_after(ms("2026-12-02T10:00:00.400Z")), Some(ms("2026-12-02T10:00:01Z")));
        let (slots, dropped) = every_second.slots_between(ms("2026-12-02T10:00:00Z"), ms("2026-12-02T10:00:05Z"), 3);
        assert_eq!(slots, [ms("2026-12-02T10:00:03Z"), ms("2026-12-02T10:00:04Z"), ms("2026-12-02T10:00:05Z")]);
        assert_eq!(dropped, 2);
    }

    #[test]
    fn bad_schedules_name_each_field() {
        let spec = ScheduleSpec {
            name: "bad name".into(),
            cron: "61 * * * *".into(),
            timezone: "Mars/Olympus".into(),
            definition: "billing".into(),
            version: Some(0),
            input_json: "{".into(),
            overlap: Overlap::Skip,
            catch_up: CatchUp::All { window_ms: 10 },
        };
        let e = validate_schedule(&spec).unwrap_err();
        let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
        for f in ["name", "input_json", "catch_up.window_ms", "version", "cron", "timezone"] {
            assert!(fields.contains(&f), "{f} not in {e}");
        }
        assert!(CronTimes::parse("0 0 30 2 *", "UTC").unwrap_err()[0].message.contains("never matches"));
    }
}

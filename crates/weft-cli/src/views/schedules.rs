//! Schedules as tables and JSON.
use super::estimate::relative;
use super::{catch_up_name, overlap_name};
use crate::output::{Table, render_fields, rfc3339};
use serde::Serialize;
use weft_client::pb;

#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub definition: String,
    pub version: Option<u32>,
    pub input: serde_json::Value,
    pub overlap: String,
    pub catch_up: String,
    pub catch_up_window_ms: Option<u64>,
    pub paused: bool,
    pub next_fire: Vec<String>,
    pub last_slot: Option<String>,
    pub last_run_id: Option<String>,
    pub fired: u64,
    pub skipped: u64,
    pub last_error: Option<String>,
    pub pending_slot: Option<String>,
}

impl ScheduleView {
    pub fn new(s: &pb::Schedule) -> Self {
        let spec = s.spec.clone().unwrap_or_default();
        let all = spec.catch_up == pb::ScheduleCatchUp::All as i32;
        ScheduleView {
            name: spec.name,
            cron: spec.cron,
            timezone: spec.timezone,
            definition: spec.definition,
            version: (spec.version != 0).then_some(spec.version),
            input: serde_json::from_str(&spec.input_json).unwrap_or(serde_json::Value::Null),
            overlap: overlap_name(spec.overlap),
            catch_up: catch_up_name(spec.catch_up),
            catch_up_window_ms: all.then_some(spec.catch_up_window_ms),
            paused: s.paused,
            next_fire: s.next_fire_ms.iter().filter_map(|ms| rfc3339(*ms)).collect(),
            last_slot: rfc3339(s.last_slot_ms),
            last_run_id: (!s.last_run_id.is_empty()).then(|| s.last_run_id.clone()),
            fired: s.fired,
            skipped: s.skipped,
            last_error: (!s.last_error.is_empty()).then(|| s.last_error.clone()),
            pending_slot: rfc3339(s.pending_slot_ms),
        }
    }
}

fn next_text(s: &pb::Schedule, now_ms: i64) -> String {
    match (s.paused, s.next_fire_ms.first()) {
        (true, _) => "paused".into(),
        (false, Some(at)) => format!("{} ({})", rfc3339(*at).unwrap_or_default(), relative(*at, now_ms)),
        (false, None) => "never".into(),
    }
}

/// One schedule, field per line (what `schedule add`, `pause` and `resume` print).
pub fn schedule_line(s: &pb::Schedule, now_ms: i64) -> String {
    let v = ScheduleView::new(s);
    let definition = match v.version {
        Some(n) => format!("{} v{n}", v.definition),
        None => format!("{} (latest)", v.definition),
    };
    let upcoming: Vec<String> = s.next_fire_ms.iter().skip(1).take(2).filter_map(|ms| rfc3339(*ms)).collect();
    render_fields(&[
        ("schedule", v.name),
        ("cron", format!("{} ({})", v.cron, v.timezone)),
        ("starts", definition),
        ("next", next_text(s, now_ms)),
        ("then", upcoming.join(", ")),
        ("policies", format!("overlap {}, catch-up {}", v.overlap, v.catch_up)),
        ("fired", format!("{} started, {} skipped", v.fired, v.skipped)),
        ("last run", v.last_run_id.unwrap_or_default()),
        ("last error", v.last_error.unwrap_or_default()),
    ])
}

pub fn schedules_table(schedules: &[pb::Schedule], now_ms: i64) -> Table {
    let mut table = Table::new(&["name", "cron", "timezone", "definition", "next", "fired", "skipped", "last error"]);
    for s in schedules {
        let v = ScheduleView::new(s);
        table.row(vec![
            v.name,
            v.cron,
            v.timezone,
            v.definition,
            next_text(s, now_ms),
            v.fired.to_string(),
            v.skipped.to_string(),
            v.last_error.unwrap_or_default(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_shows_its_next_fires_and_counts() {
        let s = pb::Schedule {
            spec: Some(pb::ScheduleSpec {
                name: "nightly".into(),
                cron: "0 2 * * *".into(),
                timezone: "Europe/Paris".into(),
                definition: "billing".into(),
                catch_up: pb::ScheduleCatchUp::Latest as i32,
                ..Default::default()
            }),
            next_fire_ms: vec![1_700_000_060_000, 1_700_086_460_000],
            fired: 3,
            skipped: 1,
            last_error: "1 slot(s) missed".into(),
            ..Default::default()
        };
        let text = schedule_line(&s, 1_700_000_000_000);
        assert!(text.contains("0 2 * * * (Europe/Paris)"), "{text}");
        assert!(text.contains("billing (latest)"), "{text}");
        assert!(text.contains("(in 1m00s)"), "{text}");
        assert!(text.contains("3 started, 1 skipped"), "{text}");
        let json = serde_json::to_value(ScheduleView::new(&s)).unwrap();
        assert_eq!(json["catch_up"], "latest");
        assert_eq!(json["next_fire"].as_array().unwrap().len(), 2);
        let table = schedules_table(&[s], 1_700_000_000_000).render();
        assert!(table.lines().next().unwrap().starts_with("NAME"), "{table}");
    }
}

//! What a benchmark produces: per-repeat [`Trial`]s of named numbers, gathered in a
//! [`ScenarioReport`] with their median, min and max, printed as one table row per metric
//! or one JSON object per scenario. Each trial also keeps the store it ran on, and a
//! scenario counts as durable only if every trial's store was.
use super::store::Store;
use crate::output::Table;
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// One metric of one repeat.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// A fixed name (`tasks_per_s`), or one made per point of a scaling axis
    /// (`tasks_per_s@20000`).
    pub name: Cow<'static, str>,
    pub value: f64,
    pub unit: &'static str,
}

/// The result of one repeat of a scenario: numbers (aggregated over repeats) and facts
/// (kept per repeat: an outcome, a count that must not vary).
#[derive(Clone, Debug, Default)]
pub struct Trial {
    pub metrics: Vec<Metric>,
    /// In the order they were added.
    pub facts: Vec<(String, Value)>,
    /// The coordinator's store as it reported it when the trial began; `None` if the trial
    /// never asked.
    pub store: Option<Store>,
}

impl Trial {
    pub fn metric(&mut self, name: impl Into<Cow<'static, str>>, value: f64, unit: &'static str) -> &mut Self {
        self.metrics.push(Metric { name: name.into(), value, unit });
        self
    }

    pub fn fact(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        match self.facts.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.facts.push((name.to_string(), value)),
        }
        self
    }

    /// A one-line summary for progress output: `tasks_per_s 1234 tasks/s, wall_s 1.62 s`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> =
            self.metrics.iter().map(|m| format!("{} {} {}", m.name, number(m.value), m.unit)).collect();
        parts.extend(self.facts.iter().map(|(k, v)| format!("{k} {}", fact_text(v))));
        parts.join(", ")
    }
}

/// Median, min and max of one metric over the repeats.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
    /// How many repeats produced this metric.
    pub n: usize,
}

impl Stats {
    /// `None` for no values. The median of an even count is the mean of the middle two.
    pub fn of(values: &[f64], unit: &'static str) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Some(Stats { median, min: sorted[0], max: sorted[n - 1], unit, n })
    }
}

/// Everything measured for one scenario.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    pub id: &'static str,
    pub title: &'static str,
    /// Sizes and settings the trials ran with.
    pub params: Value,
    /// Where and how it ran: topology, durability, machine load.
    pub env: Value,
    pub trials: Vec<Trial>,
    /// Why the scenario did not run at all.
    pub skipped: Option<String>,
    /// Repeats that failed, with the error.
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

impl ScenarioReport {
    pub fn new(id: &'static str, title: &'static str, params: Value, env: Value) -> Self {
        ScenarioReport {
            id,
            title,
            params,
            env,
            trials: Vec::new(),
            skipped: None,
            errors: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a note once, however many repeats make it.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The stores the trials ran on, the first of each label (started clusters differ
    /// only in their temporary location), in order.
    pub fn stores(&self) -> Vec<&Store> {
        distinct(self.trials.iter().filter_map(|t| t.store.as_ref()))
    }

    /// Whether every trial ran on a durable store; `None` when no trial read its store.
    pub fn durable(&self) -> Option<bool> {
        let stores = self.stores();
        (!stores.is_empty()).then(|| stores.iter().all(|s| s.label().durable))
    }

    /// Stats per metric, in the order the first trial that has it lists it.
    pub fn stats(&self) -> Vec<(&str, Stats)> {
        let mut names: Vec<(&str, &'static str)> = Vec::new();
        for m in self.trials.iter().flat_map(|t| &t.metrics) {
            if !names.iter().any(|(n, _)| *n == m.name) {
                names.push((&m.name, m.unit));
            }
        }
        names
            .into_iter()
            .filter_map(|(name, unit)| {
                let values: Vec<f64> =
                    self.trials.iter().flat_map(|t| &t.metrics).filter(|m| m.name == name).map(|m| m.value).collect();
                Stats::of(&values, unit).map(|s| (name, s))
            })
            .collect()
    }

    /// The scenario as one JSON object: parameters, every repeat, and the summary.
    pub fn to_json(&self) -> Value {
        let repeats: Vec<Value> = self
            .trials
            .iter()
            .map(|t| {
                let mut object = Map::new();
                for m in &t.metrics {
                    object.insert(m.name.to_string(), finite(m.value));
                }
                object.extend(t.facts.iter().cloned());
                if let Some(store) = &t.store {
                    object.insert("store".into(), store.to_json());
                }
                Value::Object(object)
            })
            .collect();
        let summary: Map<String, Value> = self
            .stats()
            .into_iter()
            .map(|(name, s)| {
                let value = serde_json::json!({
                    "median": finite(s.median), "min": finite(s.min), "max": finite(s.max), "unit": s.unit, "n": s.n,
                });
                (name.to_string(), value)
            })
            .collect();
        serde_json::json!({
            "scenario": self.id,
            "title": self.title,
            "params": self.params,
            "env": self.env,
            "repeats": repeats,
            "summary": summary,
            "skipped": self.skipped,
            "errors": self.errors,
            "notes": self.notes,
        })
    }
}

/// The first store of each label.
fn distinct<'a>(stores: impl Iterator<Item = &'a Store>) -> Vec<&'a Store> {
    let mut out: Vec<&Store> = Vec::new();
    for s in stores {
        if !out.iter().any(|o| o.label() == s.label()) {
            out.push(s);
        }
    }
    out
}

/// What the text report says about stores, above the table: one line when every scenario
/// ran on the same kind of store, else one line per scenario and store (`s1: store: ...`).
pub fn store_lines(reports: &[ScenarioReport]) -> Vec<String> {
    match distinct(reports.iter().flat_map(|r| r.stores())).as_slice() {
        [] => Vec::new(),
        [one] => vec![one.label().text],
        _ => reports
            .iter()
            .flat_map(|r| r.stores().into_iter().map(move |s| format!("{}: {}", r.id, s.label().text)))
            .collect(),
    }
}

/// NaN and infinities are not JSON: they become null.
fn finite(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Every scenario as a table: one row per metric (median, then min–max over the repeats),
/// one per fact (its values over the repeats), one for a skipped scenario.
pub fn table(reports: &[ScenarioReport]) -> Table {
    let mut table = Table::new(&["scenario", "metric", "median", "min–max", "unit", "n"]);
    for r in reports {
        if let Some(why) = &r.skipped {
            table.row(vec![r.id.into(), "skipped".into(), String::new(), String::new(), String::new(), why.clone()]);
            continue;
        }
        for (name, s) in r.stats() {
            table.row(vec![
                r.id.into(),
                name.into(),
                number(s.median),
                format!("{}–{}", number(s.min), number(s.max)),
                s.unit.into(),
                s.n.to_string(),
            ]);
        }
        let mut fact_names: Vec<&String> = Vec::new();
        for name in r.trials.iter().flat_map(|t| t.facts.iter().map(|(n, _)| n)) {
            if !fact_names.contains(&name) {
                fact_names.push(name);
            }
        }
        for name in fact_names {
            let values: Vec<String> = r
                .trials
                .iter()
                .filter_map(|t| t.facts.iter().find(|(n, _)| n == name))
                .map(|(_, v)| fact_text(v))
                .collect();
            let mut distinct = values.clone();
            distinct.dedup();
            let shown = if distinct.len() == 1 { distinct[0].clone() } else { values.join(" / ") };
            table.row(vec![r.id.into(), name.clone(), shown, String::new(), String::new(), values.len().to_string()]);
        }
        if !r.errors.is_empty() {
            table.row(vec![
                r.id.into(),
                "failed repeats".into(),
                r.errors.len().to_string(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    table
}

fn fact_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Three significant digits, without exponent: `20400`, `1230`, `12.3`, `0.432`, `0.0051`.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let magnitude = if x == 0.0 { 0 } else { x.abs().log10().floor() as i32 };
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_the_middle() {
        let s = Stats::of(&[3.0, 1.0, 2.0], "s").unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(Stats::of(&[4.0, 1.0, 2.0, 3.0], "s").unwrap().median, 2.5);
        assert_eq!(Stats::of(&[], "s"), None);
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(number(20_412.7), "20413");
        assert_eq!(number(1_234.0), "1234");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.4321), "0.432");
        assert_eq!(number(0.00512), "0.00512");
        assert_eq!(number(0.0), "0.00");
    }

    fn report() -> ScenarioReport {
        let mut r = ScenarioReport::new("s5", "failover", serde_json::json!({"sleep_s": 5}), Value::Null);
        for (rerun, outcome) in [(5.2, "succeeded"), (5.4, "succeeded"), (5.1, "succeeded")] {
            let mut t = Trial::default();
            t.metric("kill_to_rerun_s", rerun, "s").fact("outcome", outcome).fact("attempts", 2);
            r.trials.push(t);
        }
        r
    }

    #[test]
    fn json_has_every_repeat_and_the_summary() {
        let json = report().to_json();
        assert_eq!(json["scenario"], "s5");
        assert_eq!(json["repeats"].as_array().unwrap().len(), 3);
        assert_eq!(json["repeats"][1]["kill_to_rerun_s"], 5.4);
        assert_eq!(json["repeats"][1]["outcome"], "succeeded");
        assert_eq!(json["summary"]["kill_to_rerun_s"]["median"], 5.2);
        assert_eq!(json["summary"]["kill_to_rerun_s"]["min"], 5.1);
        assert_eq!(json["summary"]["kill_to_rerun_s"]["unit"], "s");
        assert_eq!(json["params"]["sleep_s"], 5);
        assert_eq!(json["skipped"], Value::Null);
    }

    fn sqlite(durability: &str, location: &str) -> Store {
        Store::Reported(weft_client::pb::StoreStatus {
            backend: "sqlite".into(),
            durability: durability.into(),
            location: location.into(),
            filesystem: "ext4".into(),
            setting: String::new(),
        })
    }

    #[test]
    fn a_scenario_is_durable_only_if_every_trial_ran_on_a_durable_store() {
        let mut r = report();
        assert_eq!(r.durable(), None, "no trial read its store");
        assert!(store_lines(std::slice::from_ref(&r)).is_empty());
        for (i, t) in r.trials.iter_mut().enumerate() {
            t.store = Some(sqlite("full", &format!("/tmp/weft-bench-{i}/data/weft.db")));
        }
        assert_eq!(r.durable(), Some(true));
        assert_eq!(r.stores().len(), 1, "the same store, in three temporary directories");
        assert_eq!(r.to_json()["repeats"][2]["store"]["location"], "/tmp/weft-bench-2/data/weft.db");
        assert_eq!(r.to_json()["repeats"][2]["store"]["durable"], true);
        assert_eq!(store_lines(std::slice::from_ref(&r)), ["store: sqlite (full) on ext4: durable"]);

        r.trials[1].store = Some(sqlite("relaxed", "/tmp/x/weft.db"));
        assert_eq!(r.durable(), Some(false));
        let mut other = report();
        other.id = "s1";
        other.trials[0].store = Some(sqlite("full", "/tmp/y/weft.db"));
        let lines = store_lines(&[r, other]);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], "s5: store: sqlite (full) on ext4: durable");
        assert!(lines[1].starts_with("s5: store: sqlite (relaxed) on ext4: NOT durable ("), "{lines:?}");
        assert_eq!(lines[2], "s1: store: sqlite (full) on ext4: durable");
    }

    #[test]
    fn the_table_shows_medians_spreads_facts_and_skips() {
        let mut skipped = ScenarioReport::new("restart", "restart", Value::Null, Value::Null);
        skipped.skipped = Some("needs --start-cluster".into());
        let text = table(&[report(), skipped]).render();
        let expected = "\
SCENARIO  METRIC           MEDIAN     MIN–MAX    UNIT  N
s5        kill_to_rerun_s  5.20       5.10–5.40  s     3
s5        outcome          succeeded                   3
s5        attempts         2                           3
restart   skipped                                      needs --start-cluster
";
        assert_eq!(text, expected);
    }
}

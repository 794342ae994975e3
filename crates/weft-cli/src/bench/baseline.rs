//! The regression guard: `--save-baseline FILE` writes each scenario's medians as JSON;
//! `--baseline FILE` compares a run against such a file and flags every metric more than
//! `--margin` worse (the command then exits 1). Which way is worse follows from the
//! metric: throughput (`*_per_s`) is better higher, everything else (times, latencies, CPU,
//! memory, bytes) better lower. Only the sizes and store the baseline was made with compare:
//! a scenario whose parameters differ is reported, not judged.
use super::report::{ScenarioReport, number};
use crate::output::Table;
use serde_json::{Map, Value, json};

/// The file's format version; a file of another is refused.
const FORMAT: u64 = 1;

/// Whether a larger value of the metric `name` is better.
pub fn higher_is_better(name: &str) -> bool {
    name.ends_with("_per_s")
}

/// The medians of `reports`, with what they ran with, as the baseline file holds them.
pub fn to_json(reports: &[ScenarioReport], command: &str) -> Value {
    let scenarios: Map<String, Value> = reports
        .iter()
        .filter(|r| r.skipped.is_none() && !r.trials.is_empty())
        .map(|r| {
            let metrics: Map<String, Value> = r
                .stats()
                .into_iter()
                .filter(|(_, s)| s.median.is_finite())
                .map(|(name, s)| (name.to_string(), json!({ "median": s.median, "unit": s.unit })))
                .collect();
            (r.id.to_string(), json!({ "params": r.params, "durable": r.durable(), "metrics": metrics }))
        })
        .collect();
    json!({ "format": FORMAT, "command": command, "scenarios": scenarios })
}

/// One metric compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Compared {
    pub scenario: String,
    pub metric: String,
    pub baseline: f64,
    pub now: f64,
    pub unit: String,
    /// How much worse (positive) or better (negative), as a fraction of the baseline.
    pub worse_by: f64,
    pub regressed: bool,
}

/// What a comparison found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    pub compared: Vec<Compared>,
    /// Scenarios that could not be judged, and why.
    pub not_compared: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> impl Iterator<Item = &Compared> {
        self.compared.iter().filter(|c| c.regressed)
    }

    pub fn table(&self, margin: f64) -> Table {
        let mut t = Table::new(&["scenario", "metric", "baseline", "now", "unit", "change", "verdict"]);
        for c in &self.compared {
            let verdict = if c.regressed {
                format!("WORSE by more than {:.0} %", margin * 100.0)
            } else if c.worse_by < -margin {
                "better".to_string()
            } else {
                "ok".to_string()
            };
            let change = (c.now - c.baseline) / c.baseline.abs().max(f64::MIN_POSITIVE) * 100.0;
            t.row(vec![
                c.scenario.clone(),
                c.metric.clone(),
                number(c.baseline),
                number(c.now),
                c.unit.clone(),
                format!("{change:+.0} %"),
                verdict,
            ]);
        }
        t
    }
}

/// Compares `reports` with a baseline file's content; `margin` is a fraction (0.25: 25 %).
pub fn compare(baseline: &Value, reports: &[ScenarioReport], margin: f64) -> Result<Comparison, String> {
    if baseline["format"].as_u64() != Some(FORMAT) {
        return Err(format!("not a weft bench baseline of format {FORMAT} (`format` is {})", baseline["format"]));
    }
    let scenarios = baseline["scenarios"].as_object().ok_or("no `scenarios` object")?;
    let mut out = Comparison::default();
    for r in reports {
        let Some(base) = scenarios.get(r.id) else {
            out.not_compared.push(format!("{}: not in the baseline", r.id));
            continue;
        };
        if base["params"] != r.params {
            out.not_compared.push(format!(
                "{}: ran with other parameters than the baseline's ({} against {})",
                r.id, r.params, base["params"]
            ));
            continue;
        }
        if base["durable"] != json!(r.durable()) {
            out.not_compared.push(format!(
                "{}: the baseline's store was durable {}, this one {:?}",
                r.id,
                base["durable"],
                r.durable()
            ));
            continue;
        }
        for (name, stats) in r.stats() {
            let Some(then) = base["metrics"][name]["median"].as_f64() else { continue };
            let now = stats.median;
            if !now.is_finite() || then == 0.0 {
                continue;
            }
            let worse_by = if higher_is_better(name) { (then - now) / then } else { (now - then) / then };
            out.compared.push(Compared {
                scenario: r.id.to_string(),
                metric: name.to_string(),
                baseline: then,
                now,
                unit: stats.unit.to_string(),
                worse_by,
                regressed: worse_by > margin,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Trial;

    fn report(id: &'static str, metrics: &[(&'static str, f64, &'static str)]) -> ScenarioReport {
        let mut r = ScenarioReport::new(id, "t", json!({ "tasks": 10 }), Value::Null);
        for _ in 0..3 {
            let mut trial = Trial::default();
            for (name, value, unit) in metrics {
                trial.metric(*name, *value, unit);
            }
            r.trials.push(trial);
        }
        r
    }

    #[test]
    fn throughput_is_better_higher_and_times_lower() {
        assert!(higher_is_better("tasks_per_s"));
        assert!(!higher_is_better("p99_ms") && !higher_is_better("coordinator_peak_rss_mib"));
    }

    #[test]
    fn metrics_past_the_margin_the_wrong_way_are_flagged_and_others_not() {
        let then = [report("s1", &[("tasks_per_s", 10_000.0, "tasks/s"), ("wall_s", 2.0, "s"), ("p99_ms", 4.0, "ms")])];
        let saved = to_json(&then, "weftctl bench");
        let now = [report("s1", &[("tasks_per_s", 7_000.0, "tasks/s"), ("wall_s", 2.2, "s"), ("p99_ms", 2.0, "ms")])];
        let c = compare(&saved, &now, 0.2).unwrap();
        let flagged: Vec<&str> = c.regressions().map(|c| c.metric.as_str()).collect();
        assert_eq!(
            flagged,
            ["tasks_per_s"],
            "30 % less throughput is past 20 %; 10 % slower is not; faster p99 is better"
        );
        let p99 = c.compared.iter().find(|c| c.metric == "p99_ms").unwrap();
        assert!((p99.worse_by + 0.5).abs() < 1e-9);
        let text = c.table(0.2).render();
        assert!(text.contains("WORSE by more than 20 %") && text.contains("better"), "{text}");
        assert_eq!(compare(&saved, &then, 0.2).unwrap().regressions().count(), 0, "a run equal to its baseline passes");
    }

    #[test]
    fn other_sizes_or_a_missing_scenario_are_reported_not_judged() {
        let saved = to_json(&[report("s1", &[("tasks_per_s", 10.0, "tasks/s")])], "x");
        let mut other = report("s1", &[("tasks_per_s", 1.0, "tasks/s")]);
        other.params = json!({ "tasks": 20 });
        let c = compare(&saved, &[other, report("s2", &[("p50_ms", 1.0, "ms")])], 0.2).unwrap();
        assert!(c.compared.is_empty());
        assert_eq!(c.not_compared.len(), 2, "{:?}", c.not_compared);
        assert!(compare(&json!({ "format": 99 }), &[], 0.2).is_err());
    }
}

//! A run's cost-model estimate (`Run.estimate`) and whether it was compensated: the JSON
//! view and the lines `weftctl run` prints under the run's fields.
use crate::output::{duration, render_fields, rfc3339};
use serde::Serialize;
use weft_client::pb;

/// The estimate as `weftctl run -o json` prints it.
#[derive(Debug, Serialize)]
pub struct EstimateView {
    /// T: the sum over tasks of cost / slots of the live workers serving it.
    pub scheduling_seconds: f64,
    /// E: the sum over tasks of cost / speed of the worker that ran (or can run) it.
    pub execution_seconds: f64,
    /// M: the sum over tasks of cost / heartbeat rate.
    pub monitoring_seconds: f64,
    /// Work left, from the unfinished tasks' costs and worker speeds.
    pub remaining_seconds: f64,
    pub predicted_finish: Option<String>,
    pub predicted_finish_ms: i64,
    /// Where task costs came from: declared; the task's own past durations; its executor's
    /// parameters (a sleep's duration); tasks of its kind on its queue; unknown (taken as
    /// `default_cost_seconds`).
    pub tasks_declared: u32,
    pub tasks_observed: u32,
    pub tasks_hinted: u32,
    pub tasks_kind_history: u32,
    pub tasks_unknown: u32,
    pub default_cost_seconds: f64,
    /// What each step of a chain costs beyond its task's duration, as measured.
    pub step_overhead_seconds: f64,
}

impl EstimateView {
    pub fn new(e: &pb::Estimate) -> Self {
        EstimateView {
            scheduling_seconds: e.scheduling_seconds,
            execution_seconds: e.execution_seconds,
            monitoring_seconds: e.monitoring_seconds,
            remaining_seconds: e.remaining_seconds,
            predicted_finish: rfc3339(e.predicted_finish_ms),
            predicted_finish_ms: e.predicted_finish_ms,
            tasks_declared: e.tasks_declared,
            tasks_observed: e.tasks_observed,
            tasks_hinted: e.tasks_hinted,
            tasks_kind_history: e.tasks_kind_history,
            tasks_unknown: e.tasks_unknown,
            default_cost_seconds: e.default_cost_seconds,
            step_overhead_seconds: e.step_overhead_seconds,
        }
    }
}

/// Seconds as a duration for people (`850ms`, `1.50s`, `2m05s`); negative or NaN as 0.
pub fn seconds(s: f64) -> String {
    let ms = if s.is_finite() && s > 0.0 { (s * 1000.0).round() as u64 } else { 0 };
    duration(ms)
}

/// `in 3.00s`, `1.25s ago` or `now`: when `at_ms` is relative to `now_ms`.
pub fn relative(at_ms: i64, now_ms: i64) -> String {
    match at_ms.cmp(&now_ms) {
        std::cmp::Ordering::Greater => format!("in {}", duration((at_ms - now_ms) as u64)),
        std::cmp::Ordering::Less => format!("{} ago", duration((now_ms - at_ms) as u64)),
        std::cmp::Ordering::Equal => "now".to_string(),
    }
}

/// `2026-12-02T05:00:04.000Z (in 2.00s): at risk, predicted 8.00s late` for a running run
/// whose predicted finish is past its deadline; the deadline alone otherwise; empty without.
fn deadline_text(run: &pb::Run, now_ms: i64) -> String {
    let Some(at) = rfc3339(run.deadline_ms).filter(|_| run.deadline_ms > 0) else { return String::new() };
    let mut text = format!("{at} ({})", relative(run.deadline_ms, now_ms));
    let running = run.status == pb::RunStatus::Running as i32;
    if let Some(e) = run.estimate.as_ref().filter(|e| running && e.predicted_finish_ms > run.deadline_ms) {
        let late = (e.predicted_finish_ms - run.deadline_ms) as f64 / 1000.0;
        text.push_str(&format!(": at risk, predicted {} late", seconds(late)));
    }
    text
}

/// The estimate against reality: `1.20s at start (+20 %), 1.02s at 50 % (+2 %); took 1.00s`
/// for a finished run (each prediction as the run duration it foresaw, and how far off that
/// was as a share of the real one); the predictions so far for a running one.
fn predicted_text(run: &pb::Run) -> String {
    if run.predictions.is_empty() {
        return String::new();
    }
    let finished = run.finished_at_ms > 0;
    let took = (run.finished_at_ms - run.created_at_ms).max(1);
    let parts: Vec<String> = run
        .predictions
        .iter()
        .map(|p| {
            let at = match p.checkpoint_percent {
                0 => "at start".to_string(),
                n => format!("at {n} %"),
            };
            let foreseen = seconds((p.predicted_finish_ms - run.created_at_ms) as f64 / 1000.0);
            if finished {
                let error = (p.predicted_finish_ms - run.finished_at_ms) as f64 / took as f64 * 100.0;
                format!("{foreseen} {at} ({error:+.0} %)")
            } else {
                format!("{foreseen} {at}")
            }
        })
        .collect();
    let took = if finished { format!("; took {}", seconds(took as f64 / 1000.0)) } else { String::new() };
    format!("{}{took}", parts.join(", "))
}

/// The lines under a run's fields: `compensated  yes` when compensations ran, then the
/// estimate (T, E, M, work left, predicted finish, where the task costs came from).
/// Empty when there is neither.
pub fn estimate_text(run: &pb::Run, now_ms: i64) -> String {
    let e = run.estimate.as_ref();
    let finish = e.and_then(|e| {
        rfc3339(e.predicted_finish_ms).map(|at| format!("{at} ({})", relative(e.predicted_finish_ms, now_ms)))
    });
    render_fields(&[
        ("compensated", if run.compensated { "yes".to_string() } else { String::new() }),
        (
            "estimate",
            e.map(|e| {
                format!(
                    "T {} scheduling, E {} execution, M {} monitoring",
                    seconds(e.scheduling_seconds),
                    seconds(e.execution_seconds),
                    seconds(e.monitoring_seconds)
                )
            })
            .unwrap_or_default(),
        ),
        ("remaining", e.map(|e| seconds(e.remaining_seconds)).unwrap_or_default()),
        ("finish", finish.unwrap_or_default()),
        ("predicted", predicted_text(run)),
        ("deadline", deadline_text(run, now_ms)),
        (
            "task costs",
            e.map(|e| {
                format!(
                    "{} declared, {} observed, {} from params, {} from their kind, {} unknown (at {} each); {} per step",
                    e.tasks_declared,
                    e.tasks_observed,
                    e.tasks_hinted,
                    e.tasks_kind_history,
                    e.tasks_unknown,
                    seconds(e.default_cost_seconds),
                    seconds(e.step_overhead_seconds)
                )
            })
            .unwrap_or_default(),
        ),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_estimate() -> pb::Estimate {
        pb::Estimate {
            scheduling_seconds: 1.5,
            execution_seconds: 2.0,
            monitoring_seconds: 0.2,
            remaining_seconds: 0.75,
            predicted_finish_ms: 1_700_000_003_000,
            tasks_declared: 2,
            tasks_observed: 1,
            tasks_hinted: 3,
            tasks_kind_history: 4,
            tasks_unknown: 0,
            default_cost_seconds: 0.5,
            step_overhead_seconds: 0.007,
        }
    }

    #[test]
    fn a_running_run_predicted_past_its_deadline_says_it_is_at_risk() {
        let run = pb::Run {
            status: pb::RunStatus::Running as i32,
            deadline_ms: 1_700_000_001_000,
            estimate: Some(sample_estimate()),
            ..Default::default()
        };
        let text = estimate_text(&run, 1_700_000_000_000);
        assert!(
            text.contains("deadline     2023-11-14T22:13:21.000Z (in 1.00s): at risk, predicted 2.00s late"),
            "{text}"
        );
        let done = pb::Run { status: pb::RunStatus::Succeeded as i32, ..run };
        assert!(!estimate_text(&done, 1_700_000_000_000).contains("at risk"));
    }

    #[test]
    fn predictions_are_set_against_the_actual_duration() {
        let p = |checkpoint_percent, at| pb::Prediction { checkpoint_percent, made_at_ms: 0, predicted_finish_ms: at };
        let mut run = pb::Run {
            created_at_ms: 1_000,
            predictions: vec![p(0, 2_200), p(50, 2_000)],
            status: pb::RunStatus::Running as i32,
            ..Default::default()
        };
        assert!(
            estimate_text(&run, 1_500).contains("predicted    1.20s at start, 1.00s at 50 %\n"),
            "{}",
            estimate_text(&run, 1_500)
        );
        (run.status, run.finished_at_ms) = (pb::RunStatus::Succeeded as i32, 2_000);
        let text = estimate_text(&run, 3_000);
        assert!(text.contains("predicted    1.20s at start (+20 %), 1.00s at 50 % (+0 %); took 1.00s\n"), "{text}");
    }

    #[test]
    fn estimate_lines() {
        let run = pb::Run { compensated: true, estimate: Some(sample_estimate()), ..Default::default() };
        let expected = "\
compensated  yes
estimate     T 1.50s scheduling, E 2.00s execution, M 200ms monitoring
remaining    750ms
finish       2023-11-14T22:13:23.000Z (in 3.00s)
task costs   2 declared, 1 observed, 3 from params, 4 from their kind, 0 unknown (at 500ms each); 7ms per step
";
        assert_eq!(estimate_text(&run, 1_700_000_000_000), expected);
        let late = estimate_text(&run, 1_700_000_004_250);
        assert!(late.contains("finish       2023-11-14T22:13:23.000Z (1.25s ago)"), "{late}");
    }

    #[test]
    fn nothing_to_say_is_nothing() {
        assert_eq!(estimate_text(&pb::Run::default(), 0), "");
        let only = pb::Run { compensated: true, ..Default::default() };
        assert_eq!(estimate_text(&only, 0), "compensated  yes\n");
        let unpredicted = pb::Run {
            estimate: Some(pb::Estimate { predicted_finish_ms: 0, ..sample_estimate() }),
            ..Default::default()
        };
        assert!(!estimate_text(&unpredicted, 0).contains("finish"));
    }

    #[test]
    fn run_detail_and_json_show_the_estimate_and_compensation() {
        use crate::views::WorkerNames;
        use crate::views::run::{RunView, run_detail_at, tests::sample_run};
        let mut run = sample_run();
        run.compensated = true;
        run.estimate = Some(sample_estimate());
        let text = run_detail_at(&run, &WorkerNames::default(), 1_700_000_004_000);
        let expected_middle = "\
input     {\"order\":42}

compensated  yes
estimate     T 1.50s scheduling, E 2.00s execution, M 200ms monitoring
remaining    750ms
finish       2023-11-14T22:13:23.000Z (1.00s ago)
task costs   2 declared, 1 observed, 3 from params, 4 from their kind, 0 unknown (at 500ms each); 7ms per step

WORKFLOW  TASK";
        assert!(text.contains(expected_middle), "{text}");
        let json = serde_json::to_value(RunView::new(&run, &WorkerNames::default())).unwrap();
        assert_eq!(json["compensated"], true);
        assert_eq!(
            json["estimate"],
            serde_json::json!({
                "scheduling_seconds": 1.5, "execution_seconds": 2.0, "monitoring_seconds": 0.2,
                "remaining_seconds": 0.75, "predicted_finish": "2023-11-14T22:13:23.000Z",
                "predicted_finish_ms": 1_700_000_003_000i64,
                "tasks_declared": 2, "tasks_observed": 1, "tasks_hinted": 3, "tasks_kind_history": 4,
                "tasks_unknown": 0, "default_cost_seconds": 0.5, "step_overhead_seconds": 0.007
            })
        );
        // A run without an estimate prints none and leaves the field out.
        let plain = serde_json::to_value(RunView::new(&sample_run(), &WorkerNames::default())).unwrap();
        assert!(plain.get("estimate").is_none());
        assert_eq!(plain["compensated"], false);
    }

    #[test]
    fn formatters() {
        assert_eq!(seconds(0.85), "850ms");
        assert_eq!(seconds(125.0), "2m05s");
        assert_eq!(seconds(-1.0), "0ms");
        assert_eq!(seconds(f64::NAN), "0ms");
        assert_eq!(relative(5_000, 2_000), "in 3.00s");
        assert_eq!(relative(2_000, 5_000), "3.00s ago");
        assert_eq!(relative(2_000, 2_000), "now");
    }
}

//! The estimate measured against what happened: a run's predicted finish is recorded at its
//! start and when 25, 50 and 75 % of its tasks have finished, and compared with the actual
//! finish when it ends (in the final event's detail, `GetRun`, and the coordinator's
//! `weft_estimate_error_ratio` histogram).
use weft_model::{Millis, RunId};

use crate::Engine;
use crate::types::Run;

/// Where predictions are taken: the share of a run's tasks finished, in percent.
pub const CHECKPOINTS: [u8; 4] = [0, 25, 50, 75];

/// One prediction of a run's finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// Percent of the run's tasks finished when it was made (one of [`CHECKPOINTS`]).
    pub checkpoint: u8,
    pub made_at: Millis,
    pub predicted_finish: Millis,
}

impl Prediction {
    /// How far off it was, as a share of the run's whole duration: +0.2 predicted a finish
    /// 20 % of the run's duration too late, -0.1 too early.
    pub fn error(&self, created_at: Millis, finished_at: Millis) -> f64 {
        let took = (finished_at - created_at).max(1) as f64;
        (self.predicted_finish - finished_at) as f64 / took
    }
}

/// Percent of the run's tasks finished, from its running count (O(1): it is asked at
/// every task's end).
fn finished_percent(run: &Run) -> usize {
    run.finished_tasks as usize * 100 / run.tasks.len().max(1)
}

/// A run's estimate is taken again each time this share of its tasks has finished (every
/// task's end for runs this small or smaller): an estimate costs a pass over the run's
/// tasks, so a run of n tasks pays 16 passes, not n.
const RECHECKS: u32 = 16;
/// A new predicted finish is published when it moves from the last one published by more
/// than this share of the run's predicted duration, and at least [`MOVE_AT_LEAST_MS`].
const MOVE_SHARE: f64 = 0.10;
const MOVE_AT_LEAST_MS: Millis = 100;

impl Engine {
    /// After a run started or one of its tasks finished: records the predictions that have
    /// come due (every checkpoint its finished share has reached, each once), and publishes
    /// the predicted finish (a RUN_ESTIMATE event) when it moved by more than the margin.
    /// Cheap when neither can be due.
    pub(crate) fn note_predictions(&mut self, id: RunId, now: Millis) {
        let Some(run) = self.runs.get(&id) else { return };
        if run.status.is_final() {
            return;
        }
        // Its last task has ended: the run ends in this step, and a "prediction" now would
        // only flatter the estimate.
        if finished_percent(run) >= 100 {
            return;
        }
        let due: Vec<u8> = if run.predicting {
            let reached = finished_percent(run);
            CHECKPOINTS
                .into_iter()
                .filter(|c| usize::from(*c) <= reached && !run.predictions.iter().any(|p| p.checkpoint == *c))
                .collect()
        } else {
            Vec::new()
        };
        let every = (run.tasks.len() as u32 / RECHECKS).max(1);
        if due.is_empty() && run.finished_tasks % every != 0 {
            return;
        }
        let Ok(estimate) = self.estimate(id, now) else { return };
        let finish = estimate.predicted_finish;
        let Some(run) = self.runs.get_mut(&id) else { return };
        for checkpoint in due {
            run.predictions.push(Prediction { checkpoint, made_at: now, predicted_finish: finish });
        }
        let Some(last) = run.published_finish.replace(finish) else { return };
        let span = last.saturating_sub(run.created_at).max(0);
        let margin = ((span as f64 * MOVE_SHARE) as Millis).max(MOVE_AT_LEAST_MS);
        if finish.saturating_sub(last).saturating_abs() <= margin {
            run.published_finish = Some(last);
            return;
        }
        let detail = moved(finish.saturating_sub(run.created_at), last.saturating_sub(run.created_at));
        self.record(id, None, crate::EventKind::RunEstimate, detail, now);
    }
}

/// `predicted to take 2.10s, 1.80s longer than said before (0.30s)`.
fn moved(took_ms: Millis, before_ms: Millis) -> String {
    let seconds = |ms: Millis| format!("{:.2}s", ms as f64 / 1000.0);
    let (by, way) = if took_ms >= before_ms {
        (took_ms.saturating_sub(before_ms), "longer")
    } else {
        (before_ms.saturating_sub(took_ms), "shorter")
    };
    format!("predicted to take {}, {} {way} than said before ({})", seconds(took_ms), seconds(by), seconds(before_ms))
}

/// `predicted 1.20s at start (+20 %), 1.02s at 50 % (+2 %); took 1.00s`: each prediction as
/// the duration it foresaw, and its error; empty when there is none.
pub fn summary(predictions: &[Prediction], created_at: Millis, finished_at: Millis) -> String {
    if predictions.is_empty() {
        return String::new();
    }
    let seconds = |ms: Millis| format!("{:.2}s", ms as f64 / 1000.0);
    let parts: Vec<String> = predictions
        .iter()
        .map(|p| {
            let at = if p.checkpoint == 0 { "at start".to_string() } else { format!("at {} %", p.checkpoint) };
            let error = p.error(created_at, finished_at) * 100.0;
            format!("{} {at} ({error:+.0} %)", seconds(p.predicted_finish - created_at))
        })
        .collect();
    format!("predicted {}; took {}", parts.join(", "), seconds(finished_at - created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_shares_of_the_runs_duration_and_the_summary_says_each() {
        let p = |checkpoint, predicted_finish| Prediction { checkpoint, made_at: 0, predicted_finish };
        // A run from 1,000 to 2,000 ms.
        assert!((p(0, 2_200).error(1_000, 2_000) - 0.2).abs() < 1e-9);
        assert!((p(50, 1_900).error(1_000, 2_000) + 0.1).abs() < 1e-9);
        let text = summary(&[p(0, 2_200), p(50, 2_000)], 1_000, 2_000);
        assert_eq!(text, "predicted 1.20s at start (+20 %), 1.00s at 50 % (+0 %); took 1.00s");
        assert_eq!(summary(&[], 0, 1), "");
        assert_eq!(moved(2_100, 300), "predicted to take 2.10s, 1.80s longer than said before (0.30s)");
        assert_eq!(moved(500, 1_700), "predicted to take 0.50s, 1.20s shorter than said before (1.70s)");
    }
}

//! `estimate`: how right the cost model is. A cluster of two workers of different sizes
//! (2 slots and 1 slot) runs one mixed process several times, one run after another: a chain
//! of sleeps at high priority, a fan-out of sleeps of different lengths and its join, and a
//! batch of low-priority sleeps. Each run's predictions (at its start and at 25, 50 and 75 %
//! of its tasks, `Run.predictions`) are set against its actual finish: the error is
//! |predicted − actual| over the run's duration, in percent. The first run is *cold* (the
//! coordinator has seen nothing; costs come from the sleeps' parameters), the others *warm*
//! (their tasks' own history); warm errors are averaged (the mean absolute percentage error).
use super::cluster::Launcher;
use super::report::Trial;
use super::store;
use anyhow::bail;
use weft_client::{ProcessSpec, RunSource, SpecFormat, StartOptions, pb};

/// The checkpoints predictions are taken at, as `Run.predictions` numbers them.
const CHECKPOINTS: [(u32, &str); 4] = [(0, "start"), (25, "25"), (50, "50"), (75, "75")];

/// The mixed process, its sleeps scaled by `scale` (1.0: a run of about 1.5 s here).
pub fn mixed(scale: f64) -> ProcessSpec {
    let ms = |base: u64| ((base as f64 * scale).round() as u64).max(1);
    let mut yaml = String::from("name: estimate-mix\nworkflows:\n  - name: chain\n    steps:\n");
    for (i, d) in [120, 240, 80, 160].into_iter().enumerate() {
        yaml.push_str(&format!(
            "      - {{ name: c{i}, kind: sleep, priority: 10, params: {{ duration: {}ms }} }}\n",
            ms(d)
        ));
    }
    yaml.push_str("  - name: fan\n    tasks:\n");
    yaml.push_str(&format!("      - {{ name: split, kind: sleep, params: {{ duration: {}ms }} }}\n", ms(50)));
    let widths = [100, 300, 200, 400, 150, 250];
    for (i, d) in widths.into_iter().enumerate() {
        yaml.push_str(&format!(
            "      - {{ name: f{i}, kind: sleep, depends_on: [split], params: {{ duration: {}ms }} }}\n",
            ms(d)
        ));
    }
    let all: Vec<String> = (0..widths.len()).map(|i| format!("f{i}")).collect();
    yaml.push_str(&format!("      - {{ name: join, kind: noop, depends_on: [{}] }}\n", all.join(", ")));
    yaml.push_str("  - name: batch\n    tasks:\n");
    for i in 0..4 {
        yaml.push_str(&format!(
            "      - {{ name: b{i}, kind: sleep, priority: -5, params: {{ duration: {}ms }} }}\n",
            ms(200)
        ));
    }
    weft_client::parse_spec(&yaml, SpecFormat::Yaml, "estimate-mix.yaml")
        .expect("the built-in estimate workload parses")
}

/// |predicted − actual| / duration, in percent, per checkpoint (`None` where no prediction).
pub fn errors(run: &pb::Run) -> [Option<f64>; 4] {
    let took = (run.finished_at_ms - run.created_at_ms).max(1) as f64;
    CHECKPOINTS.map(|(checkpoint, _)| {
        run.predictions
            .iter()
            .find(|p| p.checkpoint_percent == checkpoint)
            .map(|p| (p.predicted_finish_ms - run.finished_at_ms).abs() as f64 / took * 100.0)
    })
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

pub async fn estimate(launcher: &Launcher, runs: usize, scale: f64) -> anyhow::Result<Trial> {
    let cluster = launcher.start_sized(&[2, 1]).await?;
    let result = async {
        let client = cluster.client().await?;
        let store = store::read(&client).await?;
        let spec = mixed(scale);
        let mut per_run = Vec::with_capacity(runs);
        let mut took = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = client.start_run(RunSource::Inline(&spec), StartOptions::default()).await?;
            let run = client.wait_run(started.run_id).await?;
            if run.status != pb::RunStatus::Succeeded as i32 {
                bail!("run {} ended {}: {}", run.run_id, run.status, run.reason);
            }
            took.push((run.finished_at_ms - run.created_at_ms) as f64 / 1000.0);
            per_run.push(errors(&run));
        }
        let mut trial = Trial { store: Some(store), ..Default::default() };
        trial.metric("run_s", took.iter().sum::<f64>() / took.len().max(1) as f64, "s");
        let names = [
            ("cold_err_start_pct", "warm_err_start_pct"),
            ("cold_err_25_pct", "warm_err_25_pct"),
            ("cold_err_50_pct", "warm_err_50_pct"),
            ("cold_err_75_pct", "warm_err_75_pct"),
        ];
        for (i, (cold, warm)) in names.into_iter().enumerate() {
            if let Some(e) = per_run.first().and_then(|r| r[i]) {
                trial.metric(cold, e, "%");
            }
            if let Some(e) = mean(per_run.iter().skip(1).filter_map(|r| r[i])) {
                trial.metric(warm, e, "%");
            }
        }
        trial.fact("runs", runs as u64);
        Ok(trial)
    }
    .await;
    cluster.stop().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_mixes_chains_fan_outs_and_priorities() {
        let spec = mixed(1.0);
        assert_eq!(spec.workflows.len(), 3);
        let tasks: usize = spec.workflows.iter().map(|w| w.tasks.len()).sum();
        assert_eq!(tasks, 4 + 8 + 4);
        let priorities: std::collections::BTreeSet<i32> =
            spec.workflows.iter().flat_map(|w| w.tasks.iter().map(|t| t.priority)).collect();
        assert_eq!(priorities.into_iter().collect::<Vec<_>>(), [-5, 0, 10]);
    }

    #[test]
    fn errors_are_shares_of_the_run_in_percent_per_checkpoint() {
        let p = |checkpoint_percent, at| pb::Prediction { checkpoint_percent, made_at_ms: 0, predicted_finish_ms: at };
        let run = pb::Run {
            created_at_ms: 0,
            finished_at_ms: 1_000,
            predictions: vec![p(0, 1_200), p(50, 950)],
            ..Default::default()
        };
        assert_eq!(errors(&run), [Some(20.0), None, Some(5.0), None]);
        assert_eq!(mean([10.0, 20.0].into_iter()), Some(15.0));
        assert_eq!(mean(std::iter::empty()), None);
    }
}

//! The scaling scenarios' charts: one PNG per axis, a panel per metric, each point's median
//! joined by a line with its min–max over the repeats as a bar. The x axis is logarithmic
//! (the points grow by a factor), ticked at the points themselves.
//!
//! Text is drawn with the font in `assets/` (DejaVu Sans, see `assets/LICENSE-DejaVu`),
//! registered once, so a chart looks the same on any machine and needs no system fonts.
use super::report::ScenarioReport;
use super::scaling::split_point;
use anyhow::Context as _;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const PANEL_WIDTH: u32 = 420;
const HEIGHT: u32 = 340;

/// One panel: a metric over the axis' points.
pub struct Panel {
    /// The metric as named in the trials (without `@X`).
    pub metric: &'static str,
    /// The panel's caption and y axis label.
    pub title: &'static str,
    pub unit: &'static str,
}

/// One point of a panel: x, and the median, min and max of the metric there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: u64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The panels of each scaling scenario, and the x axis' name.
pub fn panels(scenario: &str) -> Option<(&'static str, Vec<Panel>)> {
    let panel = |metric, title, unit| Panel { metric, title, unit };
    let throughput = panel("tasks_per_s", "throughput", "tasks/s");
    let cpu = panel("coordinator_cpu_us_per_task", "coordinator CPU per task", "µs");
    Some(match scenario {
        "scale-tasks" => ("tasks (runs of 1,000)", vec![throughput, cpu]),
        "scale-runs" => (
            "one-task runs, each watched",
            vec![throughput, cpu, panel("coordinator_bytes_per_run", "coordinator memory per run held", "bytes")],
        ),
        "scale-workers" => (
            "one-slot worker processes (10 ms sleeps)",
            vec![throughput, panel("of_ideal_pct", "share of the ideal (slots × 100/s)", "%"), cpu],
        ),
        "scale-history" => (
            "finished tasks held by retention",
            vec![
                panel("store_mib", "store on disk", "MiB"),
                panel("restart_to_first_rpc_s", "restart: spawn to first answer", "s"),
                panel("coordinator_rss_mib", "coordinator memory", "MiB"),
            ],
        ),
        _ => return None,
    })
}

/// The points of `metric` in a report, by x.
pub fn points(report: &ScenarioReport, metric: &str) -> Vec<Point> {
    let mut out: Vec<Point> = report
        .stats()
        .into_iter()
        .filter_map(|(name, s)| {
            let (m, x) = split_point(name)?;
            (m == metric).then_some(Point { x, median: s.median, min: s.min, max: s.max })
        })
        .collect();
    out.sort_by_key(|p| p.x);
    out
}

/// Draws the report's chart into `dir` as `SCENARIO.png`; `None` if it is not a scaling
/// scenario or has no points.
pub fn draw_report(report: &ScenarioReport, dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Some((x_name, panels)) = panels(report.id) else { return Ok(None) };
    let series: Vec<(Panel, Vec<Point>)> = panels
        .into_iter()
        .map(|p| {
            let pts = points(report, p.metric);
            (p, pts)
        })
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("--charts: creating {}", dir.display()))?;
    let path = dir.join(format!("{}.png", report.id));
    draw(&path, report.id, x_name, &series).with_context(|| format!("drawing {}", path.display()))?;
    Ok(Some(path))
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is part of the binary; if it were unreadable, text would be missing
        // from the chart and drawing reports it.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws the panels side by side into a PNG at `path`.
pub fn draw(path: &Path, title: &str, x_name: &str, series: &[(Panel, Vec<Point>)]) -> anyhow::Result<()> {
    register_font();
    let width = PANEL_WIDTH * series.len().max(1) as u32;
    let root = BitMapBackend::new(path, (width, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&format!("{title}: x = {x_name}"), ("sans-serif", 18))?;
    let areas = root.split_evenly((1, series.len().max(1)));
    for (area, (panel, pts)) in areas.iter().zip(series) {
        draw_panel(area, panel, pts)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    pts: &[Point],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let xs: Vec<f64> = pts.iter().map(|p| p.x as f64).collect();
    let (lo, hi) = (xs.iter().copied().fold(f64::INFINITY, f64::min), xs.iter().copied().fold(0.0, f64::max));
    let top = pts.iter().map(|p| p.max).fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} ({})", panel.title, panel.unit), ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d((lo / 1.6..hi * 1.6).log_scale().with_key_points(xs.clone()), 0.0..top)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| super::report::number(*x).trim_end_matches(".00").to_string())
        .y_label_formatter(&|y| super::report::number(*y))
        .label_style(("sans-serif", 12))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let colour = RGBColor(31, 119, 180);
    chart.draw_series(LineSeries::new(pts.iter().map(|p| (p.x as f64, p.median)), colour.stroke_width(2)))?;
    chart.draw_series(pts.iter().map(|p| Circle::new((p.x as f64, p.median), 4, colour.filled())))?;
    chart.draw_series(
        pts.iter().map(|p| PathElement::new(vec![(p.x as f64, p.min), (p.x as f64, p.max)], colour.stroke_width(1))),
    )?;
    // Each median written just above and right of its point.
    chart.draw_series(pts.iter().map(|p| {
        EmptyElement::at((p.x as f64, p.median))
            + Text::new(super::report::number(p.median), (6, -16), ("sans-serif", 12).into_font().color(&BLACK))
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Trial;
    use crate::bench::scaling::at;

    fn report() -> ScenarioReport {
        let mut r = ScenarioReport::new("scale-tasks", "tasks", serde_json::Value::Null, serde_json::Value::Null);
        for (i, scale) in [1.0, 0.9, 1.1].into_iter().enumerate() {
            let mut t = Trial::default();
            for (x, tps) in [(2_000, 9_000.0), (20_000, 15_000.0), (200_000, 14_000.0)] {
                t.metric(at("tasks_per_s", x), tps * scale, "tasks/s");
                t.metric(at("coordinator_cpu_us_per_task", x), 60.0 + i as f64, "µs");
            }
            t.metric("unrelated", 1.0, "s");
            r.trials.push(t);
        }
        r
    }

    #[test]
    fn points_are_the_medians_and_spreads_per_x_in_order() {
        let pts = points(&report(), "tasks_per_s");
        assert_eq!(pts.iter().map(|p| p.x).collect::<Vec<_>>(), [2_000, 20_000, 200_000]);
        assert_eq!(pts[1], Point { x: 20_000, median: 15_000.0, min: 13_500.0, max: 16_500.0 });
        assert_eq!(points(&report(), "coordinator_cpu_us_per_task")[0].median, 61.0);
        assert!(points(&report(), "store_mib").is_empty());
    }

    #[test]
    fn a_report_draws_as_a_png_with_a_panel_per_metric() {
        let dir = tempfile::tempdir().unwrap();
        let path = draw_report(&report(), dir.path()).unwrap().expect("a scaling scenario with points");
        assert_eq!(path, dir.path().join("scale-tasks.png"));
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, right after the chunk's length and type.
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (2 * PANEL_WIDTH, HEIGHT));

        let not_scaling = ScenarioReport::new("s1", "s1", serde_json::Value::Null, serde_json::Value::Null);
        assert_eq!(draw_report(&not_scaling, dir.path()).unwrap(), None);
    }
}

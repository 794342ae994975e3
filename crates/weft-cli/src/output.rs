//! Output plumbing shared by every command: the `--output` format, a plain aligned table,
//! and the small formatters (times, durations, sizes, truncation) the views use.
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

/// `--output`: tables for people, JSON for scripts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Writes data to stdout. Unlike `print!` it returns write errors instead of panicking,
/// so `weftctl runs | head -1` ends quietly when the pipe closes (see `exit::is_broken_pipe`).
pub fn out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Prints a view as pretty JSON (one document) to stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    out(&format!("{}\n", serde_json::to_string_pretty(value)?))?;
    Ok(())
}

/// Prints a view as one compact JSON line, for streams (`watch`).
pub fn print_json_line<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    out(&format!("{}\n", serde_json::to_string(value)?))?;
    Ok(())
}

/// A table of left-aligned columns separated by two spaces, with an upper-case header.
/// Hand-rolled rather than a table crate: the output is plain, greppable text and the
/// whole thing is a few lines.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|h| h.to_uppercase()).collect(), rows: Vec::new() }
    }

    /// Adds a row; newlines and tabs in cells are shown as spaces so rows stay one line.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "row width must match the header");
        self.rows.push(cells.into_iter().map(|c| one_line(&c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, each line ending in a newline, without trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Key/value lines (`status    succeeded`), for the header of a detail view.
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    fields.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k:<width$}  {}\n", one_line(v))).collect()
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r', '\t'], " ")
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    let text = one_line(text);
    if text.chars().count() <= max {
        return text;
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds; `None` for 0 ("not yet").
pub fn rfc3339(ms: i64) -> Option<String> {
    (ms > 0).then(|| humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string())
}

/// The time of day (UTC) of epoch milliseconds, `HH:MM:SS.mmm`, for stream lines.
pub fn clock(ms: i64) -> String {
    match rfc3339(ms) {
        // "2025-01-02T03:04:05.678Z": the time sits at a fixed offset.
        Some(text) if text.len() >= 23 => text[11..23].to_string(),
        _ => "--:--:--.---".to_string(),
    }
}

/// A duration for people: `850ms`, `1.25s`, `2m05s`, `3h02m`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.2}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// Milliseconds between two epoch times when both are set.
pub fn span_ms(from: i64, to: i64) -> Option<u64> {
    (from > 0 && to >= from).then(|| (to - from) as u64)
}

/// Bytes for people, in binary units: `512B`, `1.5KiB`, `23.4GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n}B") } else { format!("{value:.1}{}", UNITS[unit]) }
}

/// Parses JSON text for views: results and inputs are JSON on the wire, shown as values;
/// text that is not JSON is kept as a string rather than dropped.
pub fn json_value(text: &str) -> serde_json::Value {
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_line_ends() {
        let mut t = Table::new(&["name", "state", "note"]);
        t.row(vec!["reserve".into(), "ok".into(), String::new()]);
        t.row(vec!["a".into(), "running".into(), "two\nlines".into()]);
        assert_eq!(t.render(), "NAME     STATE    NOTE\nreserve  ok\na        running  two lines\n");
    }

    #[test]
    fn formatters() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(1_250), "1.25s");
        assert_eq!(duration(125_000), "2m05s");
        assert_eq!(duration(3 * 3_600_000 + 120_000), "3h02m");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5MiB");
        assert_eq!(rfc3339(0), None);
        assert_eq!(rfc3339(1_700_000_000_123).as_deref(), Some("2023-11-14T22:13:20.123Z"));
        assert_eq!(clock(1_700_000_000_123), "22:13:20.123");
        assert_eq!(span_ms(100, 350), Some(250));
        assert_eq!(span_ms(0, 350), None);
        assert_eq!(json_value(r#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(json_value("not json"), serde_json::json!("not json"));
        assert_eq!(json_value(""), serde_json::Value::Null);
    }

    #[test]
    fn fields_skip_empty_values() {
        let text = render_fields(&[("run", "r1".into()), ("reason", String::new()), ("status", "ok".into())]);
        assert_eq!(text, "run     r1\nstatus  ok\n");
    }
}

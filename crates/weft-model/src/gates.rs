//! Concurrency and rate limits on something outside the cluster (a bank's API), as a
//! process file declares them:
//!
//! ```yaml
//! limits:
//!   bank-api: { concurrency: 5, rate: 100/min }   # at most 5 at once, 100 starts a minute
//! tasks:
//!   - { name: charge, kind: http, uses: [bank-api],
//!       concurrency_key: "{{input.customer_id}}", max_per_key: 1 }
//! ```
//!
//! A limit is shared by every run of the process that declares it; a concurrency key by
//! every task of the process whose key renders to the same text.
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest rate text accepted.
pub const MAX_RATE_TEXT: usize = 64;

/// A named limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// At most this many of its tasks hold a worker slot at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// At most `count` of its tasks start within any `per` window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

/// `100/min`: a count per window (`s`, `min`, `h`, `d`, or a duration such as `10s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per_ms: u64,
}

impl Rate {
    pub fn parse(text: &str) -> Result<Rate, String> {
        // Bounded before any work: `1000000/86400000ms` is 18 bytes.
        if text.len() > MAX_RATE_TEXT {
            return Err(format!("is {} bytes, at most {MAX_RATE_TEXT} allowed", text.len()));
        }
        let (count, per) = text
            .split_once('/')
            .ok_or_else(|| format!("`{}` is not a rate; write COUNT/WINDOW, e.g. 100/min", cut(text)))?;
        let count: u32 =
            count.trim().parse().map_err(|_| format!("`{}`: the count must be a whole number", cut(text)))?;
        let per_ms = match per.trim() {
            "s" | "sec" | "second" => 1_000,
            "min" | "minute" | "m" => 60_000,
            "h" | "hour" => 3_600_000,
            "d" | "day" => 86_400_000,
            other => crate::spec::duration_ms::parse(other).map_err(|e| format!("`{}`: {e}", cut(text)))?,
        };
        Ok(Rate { count, per_ms })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per_ms {
            1_000 => write!(f, "{}/s", self.count),
            60_000 => write!(f, "{}/min", self.count),
            3_600_000 => write!(f, "{}/h", self.count),
            86_400_000 => write!(f, "{}/d", self.count),
            ms => write!(f, "{}/{}ms", self.count, ms),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Rate::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn cut(text: &str) -> String {
    crate::validate::echo(text)
}

/// One piece of a concurrency key template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPart {
    Text(String),
    /// `{{input.a.b}}`: the run input's field `a.b` (its text if a string, else its JSON).
    Input(Vec<String>),
}

/// Parses `"customer-{{input.customer_id}}"`. Only `{{input...}}` placeholders exist.
pub fn parse_key(template: &str) -> Result<Vec<KeyPart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(KeyPart::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or("a `{{` is not closed by `}}`")?;
        let inner = after[..close].trim();
        let path = inner.strip_prefix("input").ok_or_else(|| {
            format!("`{{{{{}}}}}`: only `{{{{input}}}}` and `{{{{input.FIELD}}}}` can be used", cut(inner))
        })?;
        let fields: Vec<String> = match path {
            "" => Vec::new(),
            p if p.starts_with('.') => p[1..].split('.').map(str::to_string).collect(),
            _ => return Err(format!("`{{{{{}}}}}`: write `input.FIELD`", cut(inner))),
        };
        if fields.iter().any(String::is_empty) {
            return Err(format!("`{{{{{}}}}}`: an empty field name", cut(inner)));
        }
        parts.push(KeyPart::Input(fields));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(KeyPart::Text(rest.to_string()));
    }
    Ok(parts)
}

/// The key a template gives for a run's input: a missing field renders as `null`. At most
/// `max` bytes (cut beyond), so a huge input field cannot make a huge key.
pub fn render_key(parts: &[KeyPart], input: &serde_json::Value, max: usize) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            KeyPart::Text(t) => out.push_str(t),
            KeyPart::Input(path) => {
                let value = path.iter().try_fold(input, |v, field| v.get(field.as_str()));
                match value {
                    Some(serde_json::Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => out.push_str("null"),
                }
            }
        }
        if out.len() > max {
            let mut end = max;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_from_count_and_window_and_print_back() {
        assert_eq!(Rate::parse("100/min").unwrap(), Rate { count: 100, per_ms: 60_000 });
        assert_eq!(Rate::parse("5/s").unwrap(), Rate { count: 5, per_ms: 1_000 });
        assert_eq!(Rate::parse("3/10s").unwrap(), Rate { count: 3, per_ms: 10_000 });
        assert_eq!(Rate::parse("100/min").unwrap().to_string(), "100/min");
        assert!(Rate::parse("100").unwrap_err().contains("write COUNT/WINDOW"));
        assert!(Rate::parse("x/min").unwrap_err().contains("whole number"));
        assert!(Rate::parse("1/fortnight").is_err());
        assert!(Rate::parse(&"9".repeat(1_000_000)).unwrap_err().contains("at most 64 allowed"));
    }

    #[test]
    fn keys_render_input_fields_and_bound_their_length() {
        let parts = parse_key("customer-{{input.customer.id}}/{{ input.region }}").unwrap();
        let input = serde_json::json!({"customer": {"id": 42}, "region": "eu"});
        assert_eq!(render_key(&parts, &input, 100), "customer-42/eu");
        assert_eq!(render_key(&parts, &serde_json::json!({}), 100), "customer-null/null");
        assert_eq!(render_key(&parse_key("{{input}}").unwrap(), &serde_json::json!("x"), 100), "x");
        let long = serde_json::json!({"customer": {"id": "é".repeat(100)}, "region": ""});
        assert!(render_key(&parts, &long, 10).len() <= 10);
        assert!(parse_key("{{input.a").unwrap_err().contains("not closed"));
        assert!(parse_key("{{run.id}}").unwrap_err().contains("only `{{input}}`"));
        assert!(parse_key("{{input.}}").unwrap_err().contains("empty field"));
        assert_eq!(parse_key("plain").unwrap(), [KeyPart::Text("plain".into())]);
    }
}

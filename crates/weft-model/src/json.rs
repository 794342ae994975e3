//! Checks on JSON that comes from outside (parameters, run input, task results): size,
//! nesting depth and syntax, without building a value and without recursion, so that a
//! hostile text costs one pass over its bytes.
use crate::limits::MAX_JSON_DEPTH;
use serde::de::IgnoredAny;

/// The deepest nesting of arrays and objects in `text` (0 for a scalar). Brackets inside
/// strings do not count. The text need not be valid JSON: this runs before parsing, so that
/// a deeply nested text is refused by its depth rather than by the parser's recursion limit.
pub fn text_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The deepest nesting of arrays and objects in a value (0 for a scalar), walked without
/// recursion.
pub fn value_depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            serde_json::Value::Array(a) => {
                deepest = deepest.max(depth + 1);
                stack.extend(a.iter().map(|c| (c, depth + 1)));
            }
            serde_json::Value::Object(o) => {
                deepest = deepest.max(depth + 1);
                stack.extend(o.values().map(|c| (c, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Checks that a value nests at most [`MAX_JSON_DEPTH`] levels.
pub fn check_value_depth(value: &serde_json::Value) -> Result<(), String> {
    match value_depth(value) {
        d if d > MAX_JSON_DEPTH => Err(depth_message(d)),
        _ => Ok(()),
    }
}

/// Checks a JSON text (run input, a task result) against a size bound and
/// [`MAX_JSON_DEPTH`], then its syntax. Empty text (or only whitespace) means null.
pub fn check_text(text: &str, max_bytes: usize) -> Result<(), String> {
    if text.len() > max_bytes {
        return Err(format!("is {} bytes, at most {max_bytes} allowed", text.len()));
    }
    if text.trim().is_empty() {
        return Ok(());
    }
    let depth = text_depth(text);
    if depth > MAX_JSON_DEPTH {
        return Err(depth_message(depth));
    }
    serde_json::from_str::<IgnoredAny>(text).map(drop).map_err(|e| format!("is not valid JSON: {e}"))
}

/// Parses a JSON text that [`check_text`] would accept.
pub fn parse_text(text: &str, max_bytes: usize) -> Result<serde_json::Value, String> {
    check_text(text, max_bytes)?;
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))
}

fn depth_message(depth: usize) -> String {
    format!("nests {depth} levels deep, at most {MAX_JSON_DEPTH} allowed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn depth_of_text_and_value_agree() {
        for text in [r#"1"#, r#"[]"#, r#"{"a":[1,{"b":2}]}"#, r#"{"s":"[[[{{{"}"#, r#"["\"]["]"#, &nested(40)] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(text_depth(text), value_depth(&value), "{text}");
        }
        assert_eq!(value_depth(&json!({"a": {"b": [1]}})), 3);
        assert_eq!(text_depth(r#"{"a":"}}}"}"#), 1, "brackets in strings do not count");
    }

    #[test]
    fn check_text_bounds_size_depth_and_syntax() {
        assert!(check_text("", 10).is_ok());
        assert!(check_text(&nested(MAX_JSON_DEPTH), 1000).is_ok());
        let deep = check_text(&nested(MAX_JSON_DEPTH + 1), 1000).unwrap_err();
        assert_eq!(deep, format!("nests 33 levels deep, at most {MAX_JSON_DEPTH} allowed"));
        // Deeper than serde_json's own recursion limit: refused by depth, not by the parser.
        assert!(check_text(&nested(200), 1000).unwrap_err().starts_with("nests 200 levels"));
        assert!(check_text("12345", 4).unwrap_err().starts_with("is 5 bytes"));
        assert!(check_text("{not json", 100).unwrap_err().starts_with("is not valid JSON"));
        assert!(check_text("\"unterminated", 100).unwrap_err().starts_with("is not valid JSON"));
        assert_eq!(parse_text(" ", 10).unwrap(), serde_json::Value::Null);
        assert_eq!(parse_text("[1]", 10).unwrap(), json!([1]));
    }
}

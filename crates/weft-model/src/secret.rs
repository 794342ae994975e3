//! Secret references in task parameters.
//!
//! An object whose only key is `secret`, anywhere in a task's (or a compensation's)
//! `params`, stands for a secret by name: `{"env": {"TOKEN": {"secret": "bank-token"}}}`.
//! The coordinator validates, stores, shows and sends only the reference; the worker that
//! runs the task replaces it with the secret's value (a string) just before the task runs,
//! from its own secret sources. So a secret's value never travels in a spec, never enters
//! the store, a log, the history or the API.
//!
//! A reference must hold a valid [secret name](check_secret_name). Since every such object
//! is a reference, a parameter cannot carry the literal object `{"secret": "..."}`.
//! Walks here use an explicit stack, like [`crate::json`], whatever the depth.
use crate::limits::MAX_NAME_LEN;
use crate::validate::echo;
use serde_json::Value;

/// The one key of a reference object.
pub const SECRET_KEY: &str = "secret";

/// What stands for a secret while the coordinator checks a built-in kind's parameters: the
/// value is a string, but its text is unknown there.
pub const PLACEHOLDER: &str = "secret";

/// The name in `value` if it is a reference (an object whose only key is `secret`); the
/// name may still be invalid: not a string, or not a [valid name](check_secret_name).
pub fn reference(value: &Value) -> Option<&Value> {
    match value {
        Value::Object(o) if o.len() == 1 => o.get(SECRET_KEY),
        _ => None,
    }
}

/// Whether `value` is a reference.
pub fn is_reference(value: &Value) -> bool {
    reference(value).is_some()
}

/// Checks a secret name: 1 to 128 of `[A-Za-z0-9_.-]`, starting with a letter or a digit
/// (a name is also a file name in a worker's secrets directory: no `..`, no hidden files).
pub fn check_secret_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("is {} bytes long, at most {MAX_NAME_LEN} allowed", name.len()));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("`{}` must start with a letter or a digit", echo(name)));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("`{}` contains {c:?}; use letters, digits, `_`, `-` and `.`", echo(name)));
    }
    Ok(())
}

/// The environment variable a worker reads a secret from: `WEFT_SECRET_` and the name in
/// upper case, `-` and `.` turned into `_` (`bank-token` is `WEFT_SECRET_BANK_TOKEN`).
pub fn env_var(name: &str) -> String {
    let tail: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("WEFT_SECRET_{tail}")
}

/// The references in `params` that are malformed, as (path below `params`, problem); the
/// path is `.env.TOKEN` or `.argv[2]`. Empty when every reference is fine.
pub fn check_references(params: &Value) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    let mut stack = vec![(params, String::new())];
    while let Some((value, path)) = stack.pop() {
        if let Some(name) = reference(value) {
            let problem = match name.as_str() {
                Some(name) => check_secret_name(name).err().map(|e| format!("secret name {e}")),
                None => Some("a secret reference `{\"secret\": NAME}` needs a name (a string)".to_string()),
            };
            if let Some(problem) = problem {
                bad.push((path, problem));
            }
            continue;
        }
        match value {
            Value::Array(a) => stack.extend(a.iter().enumerate().rev().map(|(i, v)| (v, format!("{path}[{i}]")))),
            Value::Object(o) => stack.extend(o.iter().rev().map(|(k, v)| (v, format!("{path}.{}", echo(k))))),
            _ => {}
        }
    }
    bad
}

/// Whether `params` holds any reference.
pub fn has_references(params: &Value) -> bool {
    let mut stack = vec![params];
    while let Some(value) = stack.pop() {
        if is_reference(value) {
            return true;
        }
        match value {
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    false
}

/// Replaces every reference in `params` with the string `resolve` gives for its name, in
/// document order; stops at the first error. A reference whose name is not a string is
/// passed to `resolve` as its JSON text (validation refuses such references; a worker's
/// `resolve` should refuse them too).
pub fn resolve_references<E>(params: &mut Value, resolve: &mut dyn FnMut(&str) -> Result<String, E>) -> Result<(), E> {
    let mut stack = vec![params];
    while let Some(value) = stack.pop() {
        if let Some(name) = reference(value) {
            let resolved = match name.as_str() {
                Some(name) => resolve(name)?,
                None => resolve(&name.to_string())?,
            };
            *value = Value::String(resolved);
            continue;
        }
        match value {
            Value::Array(a) => stack.extend(a.iter_mut().rev()),
            Value::Object(o) => {
                let children: Vec<&mut Value> = o.values_mut().collect();
                stack.extend(children.into_iter().rev());
            }
            _ => {}
        }
    }
    Ok(())
}

/// `params` with every reference replaced by [`PLACEHOLDER`], for checks that need the
/// parameters' shape but not the secrets.
pub fn with_placeholders(params: &Value) -> Value {
    let mut copy = params.clone();
    let _ = resolve_references::<()>(&mut copy, &mut |_| Ok(PLACEHOLDER.to_string()));
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reference_is_an_object_with_only_the_secret_key() {
        assert!(is_reference(&json!({"secret": "bank-token"})));
        assert!(is_reference(&json!({"secret": 5})));
        assert!(!is_reference(&json!({"secret": "a", "other": 1})));
        assert!(!is_reference(&json!("secret")));
        assert!(!is_reference(&json!({"Secret": "a"})));
    }

    #[test]
    fn names_are_checked() {
        check_secret_name("bank-token").unwrap();
        check_secret_name("db.password_2").unwrap();
        for bad in ["", ".hidden", "..", "-x", "a/b", "../etc/passwd", "a b", &"x".repeat(MAX_NAME_LEN + 1)] {
            assert!(check_secret_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(env_var("bank-token"), "WEFT_SECRET_BANK_TOKEN");
        assert_eq!(env_var("db.pass_2"), "WEFT_SECRET_DB_PASS_2");
    }

    #[test]
    fn bad_references_are_named_by_their_path() {
        let params = json!({
            "env": {"OK": {"secret": "fine"}, "BAD": {"secret": "../x"}},
            "argv": ["a", {"secret": 3}],
            "nested": [{"deep": {"secret": ""}}],
        });
        let mut bad = check_references(&params);
        bad.sort();
        let paths: Vec<&str> = bad.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, [".argv[1]", ".env.BAD", ".nested[0].deep"]);
        assert!(bad[0].1.contains("needs a name"), "{bad:?}");
        assert!(bad[1].1.contains("must start with"), "{bad:?}");
        assert!(check_references(&json!({"env": {"A": {"secret": "a"}}})).is_empty());
    }

    #[test]
    fn references_are_resolved_in_place_anywhere() {
        let mut params = json!({
            "argv": ["echo", {"secret": "one"}],
            "env": {"T": {"secret": "two"}},
            "keep": {"secret": "x", "extra": true},
        });
        assert!(has_references(&params));
        let mut asked = Vec::new();
        resolve_references::<()>(&mut params, &mut |name| {
            asked.push(name.to_string());
            Ok(format!("value-of-{name}"))
        })
        .unwrap();
        asked.sort();
        assert_eq!(asked, ["one", "two"]);
        assert_eq!(params["argv"][1], "value-of-one");
        assert_eq!(params["env"]["T"], "value-of-two");
        assert_eq!(params["keep"], json!({"secret": "x", "extra": true}));
        assert!(!has_references(&params));

        let err = resolve_references(&mut json!([{"secret": "missing"}]), &mut |name| Err(name.to_string()));
        assert_eq!(err, Err("missing".to_string()));
        assert_eq!(with_placeholders(&json!({"a": {"secret": "s"}})), json!({"a": PLACEHOLDER}));
    }
}

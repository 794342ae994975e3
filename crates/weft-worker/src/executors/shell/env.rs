//! The environment a `shell` task starts with: nothing of the worker's but what the
//! operator's allow-list names, then the task's own `env`. A worker's environment often
//! holds credentials (its token, cloud keys, `WEFT_SECRET_*`); a task must not see them
//! unless the operator says so.
use std::ffi::OsString;

/// `PATH` of a task when the worker's own is not inherited (or the worker has none), so
/// that `sh`, `echo` and friends are still found.
pub const SAFE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Variables with this prefix hold secrets for secret references; they never reach a task
/// by inheritance, whatever the allow-list says (a task gets a secret only by reference).
const SECRET_PREFIX: &str = "WEFT_SECRET_";

/// Checks one allow-list entry: a variable name (`[A-Za-z0-9_]`), optionally ending in `*`
/// to match every name with that prefix (`LC_*`; `*` alone inherits everything but secrets).
pub(crate) fn check_allow_entry(entry: &str) -> Result<(), String> {
    let name = entry.strip_suffix('*').unwrap_or(entry);
    if entry.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!("`{entry}` contains {c:?}: use a variable name, or a prefix ending in `*`"));
    }
    Ok(())
}

fn allowed(allow: &[String], name: &str) -> bool {
    !name.starts_with(SECRET_PREFIX)
        && allow.iter().any(|entry| match entry.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == entry,
        })
}

/// The inherited part of a task's environment: the variables of `vars` (the worker's
/// environment) that `allow` names, and `PATH` (the worker's when allowed, else
/// [`SAFE_PATH`]). Sorted by name. Variables whose name is not UTF-8 are never inherited.
pub(crate) fn inherited(
    allow: &[String],
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> =
        vars.into_iter().filter(|(name, _)| name.to_str().is_some_and(|name| allowed(allow, name))).collect();
    if !env.iter().any(|(name, _)| name == "PATH") {
        env.push(("PATH".into(), SAFE_PATH.into()));
    }
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter().map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy())).collect()
    }

    const WORKER: &[(&str, &str)] = &[
        ("PATH", "/opt/bin:/usr/bin"),
        ("HOME", "/root"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C"),
        ("AWS_SECRET_ACCESS_KEY", "hunter2"),
        ("WEFT_TOKEN", "t0ken"),
        ("WEFT_SECRET_BANK_TOKEN", "s3cret"),
    ];

    #[test]
    fn only_the_allow_list_is_inherited_and_path_is_always_set() {
        let default = inherited(&["PATH".into()], vars(WORKER));
        assert_eq!(names(&default), ["PATH=/opt/bin:/usr/bin"]);

        let more = inherited(&["PATH".into(), "LANG".into(), "LC_*".into()], vars(WORKER));
        assert_eq!(names(&more), ["LANG=C.UTF-8", "LC_ALL=C", "PATH=/opt/bin:/usr/bin"]);

        let none = inherited(&[], vars(WORKER));
        assert_eq!(names(&none), [format!("PATH={SAFE_PATH}")]);
        let no_path_on_the_worker = inherited(&["PATH".into()], vars(&[("HOME", "/root")]));
        assert_eq!(names(&no_path_on_the_worker), [format!("PATH={SAFE_PATH}")]);
    }

    #[test]
    fn secrets_are_never_inherited_even_by_a_wildcard() {
        let all = inherited(&["*".into()], vars(WORKER));
        let all = names(&all);
        assert!(all.iter().any(|v| v == "AWS_SECRET_ACCESS_KEY=hunter2"), "{all:?}");
        assert!(!all.iter().any(|v| v.starts_with("WEFT_SECRET_")), "{all:?}");
        let named = inherited(&["WEFT_SECRET_BANK_TOKEN".into(), "WEFT_*".into()], vars(WORKER));
        assert_eq!(names(&named), ["PATH=/usr/local/bin:/usr/bin:/bin", "WEFT_TOKEN=t0ken"]);
    }

    #[test]
    fn entries_are_names_or_prefixes() {
        for good in ["PATH", "LC_*", "*", "my_var2"] {
            check_allow_entry(good).unwrap();
        }
        for bad in ["", "A=B", "PA TH", "A*B", "**"] {
            assert!(check_allow_entry(bad).is_err(), "{bad:?}");
        }
    }
}

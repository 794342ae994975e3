use super::*;
use crate::spec::{TaskSpec, WorkflowSpec};

fn known(kind: &str) -> bool {
    kind == "charge"
}

fn wf(name: &str, tasks: Vec<TaskSpec>) -> WorkflowSpec {
    WorkflowSpec { name: name.into(), tasks, chain: false, default_retry: None }
}

fn process(workflows: Vec<WorkflowSpec>) -> ProcessSpec {
    ProcessSpec::new("p", workflows)
}

fn dep(name: &str, deps: &[&str]) -> TaskSpec {
    let mut t = TaskSpec::new(name, "noop");
    t.depends_on = deps.iter().map(|s| s.to_string()).collect();
    t
}

fn fields(err: ValidationError) -> Vec<String> {
    err.violations.into_iter().map(|v| format!("{}: {}", v.field, v.message)).collect()
}

#[test]
fn accepts_a_dag_and_indexes_dependencies_across_workflows() {
    let p = process(vec![
        wf("a", vec![dep("x", &[]), dep("y", &["x"])]),
        wf("b", vec![dep("x", &[]), dep("z", &["x"]), dep("w", &["x", "z"])]),
    ]);
    let plan = validate_process(&p, &known).unwrap();
    assert_eq!(plan.tasks.len(), 5);
    assert_eq!(plan.tasks[1].deps, vec![0]);
    assert_eq!(plan.tasks[3].deps, vec![2]);
    assert_eq!(plan.tasks[4].deps, vec![2, 3]);
    assert_eq!(plan.tasks[2].dependents, vec![3, 4]);
    assert_eq!(plan.find("b", "w"), Some(4));
    assert_eq!(plan.workflows[1].tasks, 2..5);
}

#[test]
fn a_chain_depends_on_the_previous_step() {
    let mut w = wf("s", vec![TaskSpec::new("a", "noop"), TaskSpec::new("b", "noop"), TaskSpec::new("c", "noop")]);
    w.default_retry = Some(RetrySpec { max_attempts: Some(9), ..Default::default() });
    w.chain = true;
    let plan = validate_process(&process(vec![w]), &known).unwrap();
    assert_eq!(plan.tasks[0].deps, Vec::<u32>::new());
    assert_eq!(plan.tasks[2].deps, vec![1]);
    assert_eq!(plan.tasks[2].retry.max_attempts, 9, "the workflow's default applies");
}

#[test]
fn names_the_cycle() {
    let p = process(vec![wf("w", vec![dep("a", &["c"]), dep("b", &["a"]), dep("c", &["b"])])]);
    let errs = fields(validate_process(&p, &known).unwrap_err());
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("workflows[0].tasks: dependency cycle: "), "{errs:?}");
    for name in ["a", "b", "c"] {
        assert!(errs[0].contains(name));
    }
}

#[test]
fn rejects_unknown_duplicate_and_self_dependencies() {
    let p = process(vec![wf("w", vec![dep("a", &["a"]), dep("b", &["nope"]), dep("b", &[]), dep("c", &["b", "b"])])]);
    let errs = fields(validate_process(&p, &known).unwrap_err());
    assert!(
        errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].depends_on[0]: task `a` depends on itself")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[1].depends_on[0]: unknown task `nope`")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[2].name: `b` is also")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[3].depends_on[1]: `b` is listed twice")), "{errs:?}");
}

#[test]
fn rejects_empty_process_and_empty_workflow() {
    assert_eq!(
        fields(validate_process(&process(vec![]), &known).unwrap_err())[0],
        "workflows: a process needs at least one workflow"
    );
    let errs = fields(validate_process(&process(vec![wf("w", vec![])]), &known).unwrap_err());
    assert_eq!(errs, vec!["workflows[0].tasks: workflow `w` has no tasks"]);
}

#[test]
fn rejects_unknown_kinds_and_bad_builtin_params() {
    let mut shell = TaskSpec::new("s", "shell");
    shell.params = serde_json::json!({"argv": []});
    let mut http = TaskSpec::new("h", "http");
    http.params = serde_json::json!({"url": "ftp://x"});
    let mut typo = TaskSpec::new("t", "sleep");
    typo.params = serde_json::json!({"duraton": "1s"});
    let p =
        process(vec![wf("w", vec![TaskSpec::new("a", "teleport"), TaskSpec::new("b", "charge"), shell, http, typo])]);
    let errs = fields(validate_process(&p, &known).unwrap_err());
    assert!(errs[0].starts_with("workflows[0].tasks[0].kind: unknown kind `teleport`"), "{errs:?}");
    assert!(
        errs.iter().any(|e| e.starts_with("workflows[0].tasks[2].params: bad parameters for kind `shell`")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[3].params") && e.contains("http://")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[4].params") && e.contains("duraton")), "{errs:?}");
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn rejects_bad_retry_values() {
    let mut t = TaskSpec::new("a", "noop");
    t.retry = Some(RetrySpec {
        max_attempts: Some(0),
        initial_backoff: Some(500),
        max_backoff: Some(100),
        multiplier: Some(f64::NAN),
        jitter: Some(1.5),
    });
    let errs = fields(validate_process(&process(vec![wf("w", vec![t])]), &known).unwrap_err());
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].retry.max_attempts: is 0")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].retry.max_backoff: 100 ms is less")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].retry.multiplier: is NaN")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].retry.jitter: is 1.5")), "{errs:?}");
}

#[test]
fn rejects_bad_names_priority_and_oversize_params() {
    let mut t = TaskSpec::new("has space", "noop");
    t.priority = 5000;
    let mut big = TaskSpec::new("big", "noop");
    big.params = serde_json::json!({"result": "x".repeat(crate::limits::MAX_PARAMS_BYTES)});
    let errs = fields(validate_process(&process(vec![wf("w", vec![t, big])]), &known).unwrap_err());
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].name: `has space` contains ' '")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].priority: is 5000")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[1].params: is ")), "{errs:?}");
}

#[test]
fn retry_falls_back_to_process_default_then_engine_default() {
    let mut p = process(vec![wf("w", vec![TaskSpec::new("a", "noop")])]);
    p.default_retry = Some(RetrySpec { max_attempts: Some(7), ..Default::default() });
    let plan = validate_process(&p, &known).unwrap();
    assert_eq!(plan.tasks[0].retry.max_attempts, 7);
    assert_eq!(plan.tasks[0].retry.initial_backoff_ms, 100);
}

#[test]
fn reads_the_yaml_file_form() {
    let text = r#"
name: order
workflows:
  - name: shipping
    steps:
      - { name: reserve, kind: noop }
      - name: ship
        kind: shell
        params: { argv: [echo, shipped] }
        timeout: 5s
  - name: billing
    tasks:
      - { name: invoice, kind: noop, priority: 3 }
      - { name: charge, kind: noop, depends_on: [invoice], retry: { max_attempts: 2, initial_backoff: 50ms } }
"#;
    let spec: ProcessSpec = serde_saphyr::from_str(text).unwrap();
    assert!(spec.workflows[0].chain);
    assert_eq!(spec.workflows[0].tasks[1].timeout, Some(5000));
    let plan = validate_process(&spec, &known).unwrap();
    assert_eq!(plan.tasks[1].deps, vec![0]);
    assert_eq!(plan.tasks[3].deps, vec![2]);
    assert_eq!(plan.tasks[3].retry.initial_backoff_ms, 50);
    let single: ProcessSpec = serde_saphyr::from_str("name: solo\nsteps:\n  - { name: a, kind: noop }\n").unwrap();
    assert_eq!(single.workflows.len(), 1);
    assert_eq!(single.workflows[0].name, "solo");
}

#[test]
fn backoff_grows_and_is_capped() {
    let r = crate::spec::RetryPolicy {
        max_attempts: 10,
        initial_backoff_ms: 100,
        max_backoff_ms: 1000,
        multiplier: 2.0,
        jitter: 0.5,
    };
    assert_eq!(r.backoff_ms(2, 0.0), 100);
    assert_eq!(r.backoff_ms(3, 0.0), 200);
    assert_eq!(r.backoff_ms(5, 0.0), 800);
    assert_eq!(r.backoff_ms(9, 0.0), 1000);
    // Jitter shortens a delay by at most its fraction.
    assert_eq!(r.backoff_ms(3, 1.0), 100);
    assert_eq!(r.backoff_ms(3, 0.5), 150);
}

#[test]
fn compensations_become_hidden_tasks_after_the_workflows() {
    let text = r#"
name: saga
deadline: 1m
workflows:
  - name: pay
    steps:
      - { name: reserve, kind: noop, compensate: { kind: noop, params: { result: released } } }
      - { name: charge, kind: noop, queue: money, compensate: { kind: sleep, params: { duration: 1ms } } }
      - { name: notify, kind: noop }
"#;
    let spec: ProcessSpec = serde_saphyr::from_str(text).unwrap();
    let plan = validate_process(&spec, &known).unwrap();
    assert_eq!(plan.deadline_ms, Some(60_000));
    assert_eq!(plan.workflows[0].tasks, 0..3, "compensations are not part of the workflow's own tasks");
    assert_eq!(plan.tasks.len(), 5);
    assert_eq!(plan.tasks[0].compensation, Some(3));
    assert_eq!(plan.tasks[3].compensates, Some(0));
    assert_eq!(&*plan.tasks[4].name, "compensate:charge");
    assert_eq!(&*plan.tasks[4].queue, "money", "the original's queue by default");
    assert_eq!(plan.find("pay", "compensate:charge"), Some(4));
    let mut bad = spec.clone();
    bad.workflows[0].tasks[0].compensate.as_mut().unwrap().kind = "teleport".into();
    let errs = fields(validate_process(&bad, &known).unwrap_err());
    assert!(errs[0].starts_with("workflows[0].tasks[0].compensate.kind: unknown kind"), "{errs:?}");
}

/// `levels` nested arrays around a 1, as a value.
fn nested(levels: usize) -> serde_json::Value {
    let text = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    // serde_json refuses to parse past 128 levels; build deeper values by hand.
    let mut v = serde_json::json!(1);
    for _ in 0..levels {
        v = serde_json::Value::Array(vec![v]);
    }
    if levels < 128 {
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
    }
    v
}

#[test]
fn deep_params_are_refused_naming_the_field_and_a_plan_always_reads_back() {
    // 122 levels was accepted before, and reading the stored spec back then panicked.
    let mut t = TaskSpec::new("a", "noop");
    t.params = serde_json::json!({ "result": nested(122) });
    let mut c = TaskSpec::new("b", "noop");
    c.compensate = Some(crate::spec::CompensationSpec {
        kind: "noop".into(),
        params: serde_json::json!({ "result": nested(40) }),
        queue: None,
        retry: None,
        timeout: None,
    });
    let errs = fields(validate_process(&process(vec![wf("w", vec![t, c])]), &known).unwrap_err());
    assert_eq!(
        errs,
        [
            "workflows[0].tasks[0].params: nests 123 levels deep, at most 32 allowed",
            "workflows[0].tasks[1].compensate.params: nests 41 levels deep, at most 32 allowed",
        ]
    );
    // The deepest allowed parameters: the plan's spec JSON parses back.
    let mut t = TaskSpec::new("a", "noop");
    t.params = serde_json::json!({ "result": nested(crate::limits::MAX_JSON_DEPTH - 1) });
    let spec = process(vec![wf("w", vec![t])]);
    let plan = validate_process(&spec, &known).unwrap();
    assert_eq!(plan.spec().unwrap(), spec);
}

#[test]
fn a_plan_whose_spec_json_is_damaged_is_an_error_not_a_panic() {
    let mut plan = validate_process(&process(vec![wf("w", vec![TaskSpec::new("a", "noop")])]), &known).unwrap();
    plan.spec_json = format!("{}{}", "[".repeat(200), "]".repeat(200)).into();
    assert!(plan.spec().is_err());
}

#[test]
fn priority_is_a_range_check_even_at_i32_min() {
    let mut errs = Vec::new();
    for p in [i32::MIN, i32::MAX, -1001, 1001] {
        let mut t = TaskSpec::new("a", "noop");
        t.priority = p;
        errs.extend(fields(validate_process(&process(vec![wf("w", vec![t])]), &known).unwrap_err()));
    }
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert_eq!(errs[0], "workflows[0].tasks[0].priority: is -2147483648, must be -1000 to 1000");
    for p in [-1000, 1000] {
        let mut t = TaskSpec::new("a", "noop");
        t.priority = p;
        assert!(validate_process(&process(vec![wf("w", vec![t])]), &known).is_ok());
    }
}

#[test]
fn explicit_zeros_are_errors_never_defaults() {
    let mut t = TaskSpec::new("a", "noop");
    t.timeout = Some(0);
    t.queue_timeout = Some(0);
    t.retry = Some(RetrySpec { max_attempts: Some(0), multiplier: Some(0.0), ..Default::default() });
    let mut h = TaskSpec::new("h", "http");
    h.params = serde_json::json!({"url": "http://x", "timeout": 0});
    let errs = fields(validate_process(&process(vec![wf("w", vec![t, h])]), &known).unwrap_err());
    for field in [
        "workflows[0].tasks[0].timeout: is 0 ms",
        "workflows[0].tasks[0].queue_timeout: is 0 ms",
        "workflows[0].tasks[0].retry.max_attempts: is 0",
        "workflows[0].tasks[0].retry.multiplier: is 0",
        "workflows[0].tasks[1].params: bad parameters for kind `http`: `timeout` is 0 ms",
    ] {
        assert!(errs.iter().any(|e| e.starts_with(field)), "{field} not in {errs:?}");
    }
    let mut p = process(vec![wf("w", vec![TaskSpec::new("a", "noop")])]);
    p.deadline = Some(0);
    assert_eq!(fields(validate_process(&p, &known).unwrap_err()), ["deadline: is 0 ms, must be 1 ms to 604800000 ms"]);
    // A zero that means what it says is kept: no backoff, an instant sleep, no output kept.
    let mut t = TaskSpec::new("a", "sleep");
    t.params = serde_json::json!({"duration": 0});
    t.retry = Some(RetrySpec { initial_backoff: Some(0), max_backoff: Some(0), ..Default::default() });
    let mut s = TaskSpec::new("s", "shell");
    s.params = serde_json::json!({"argv": ["true"], "max_output_bytes": 0});
    let plan = validate_process(&process(vec![wf("w", vec![t, s])]), &known).unwrap();
    assert_eq!((plan.tasks[0].retry.initial_backoff_ms, plan.tasks[0].retry.max_backoff_ms), (0, 0));
}

#[test]
fn executor_params_are_bounded_naming_the_parameter() {
    use crate::limits::{MAX_CAPTURE_BYTES, MAX_HTTP_TIMEOUT_MS, MAX_SLEEP_MS};
    let cases = [
        (
            "shell",
            serde_json::json!({"argv": ["yes"], "max_output_bytes": 1_000_000_000_000u64}),
            "`max_output_bytes` is",
        ),
        (
            "shell",
            serde_json::json!({"argv": ["yes"], "max_output_bytes": MAX_CAPTURE_BYTES + 1}),
            "`max_output_bytes` is",
        ),
        ("sleep", serde_json::json!({"duration": "100000000years"}), "`duration` is"),
        ("sleep", serde_json::json!({"duration": MAX_SLEEP_MS + 1}), "`duration` is"),
        ("http", serde_json::json!({"url": "http://x", "timeout": "10000years"}), "`timeout` is"),
        ("http", serde_json::json!({"url": "http://x", "timeout": MAX_HTTP_TIMEOUT_MS + 1}), "`timeout` is"),
        (
            "http",
            serde_json::json!({"url": "http://x", "max_body_bytes": MAX_CAPTURE_BYTES + 1}),
            "`max_body_bytes` is",
        ),
    ];
    for (kind, params, expected) in cases {
        let mut t = TaskSpec::new("a", kind);
        t.params = params.clone();
        let errs = fields(validate_process(&process(vec![wf("w", vec![t])]), &known).unwrap_err());
        let want = format!("workflows[0].tasks[0].params: bad parameters for kind `{kind}`: {expected}");
        assert!(errs.len() == 1 && errs[0].starts_with(&want), "{params}: {errs:?}");
    }
    let ok = [
        ("shell", serde_json::json!({"argv": ["yes"], "max_output_bytes": MAX_CAPTURE_BYTES})),
        ("sleep", serde_json::json!({"duration": "7days"})),
        ("http", serde_json::json!({"url": "http://x", "timeout": "1h", "max_body_bytes": MAX_CAPTURE_BYTES})),
    ];
    for (kind, params) in ok {
        let mut t = TaskSpec::new("a", kind);
        t.params = params;
        validate_process(&process(vec![wf("w", vec![t])]), &known).unwrap();
    }
}

#[test]
fn violations_are_capped_and_echoed_values_cut() {
    use crate::limits::{MAX_VIOLATIONS, MAX_VIOLATIONS_BYTES};
    // 100 tasks of `kind: shel`: 50 listed and one entry saying how many more.
    let tasks = (0..100).map(|i| TaskSpec::new(format!("t{i}"), "shel")).collect();
    let err = validate_process(&process(vec![wf("w", tasks)]), &known).unwrap_err();
    let listed = err.violations.len() - 1;
    assert!(listed <= MAX_VIOLATIONS, "{listed}");
    assert_eq!(err.violations[0].field, "workflows[0].tasks[0].kind");
    let more = format!("and {} more problems not listed", 100 - listed);
    assert_eq!(err.violations[listed], Violation { field: "".into(), message: more.clone() });
    assert_eq!(err.omitted(), 100 - listed);
    assert!(err.to_string().ends_with(&format!("; {more}")));
    // A 1 MB name is quoted back as 64 characters and `…`.
    let long = "é".repeat(500_000);
    let mut t = TaskSpec::new("a", "noop");
    t.depends_on = vec![long.clone()];
    let err = validate_process(&process(vec![wf(&long, vec![t])]), &known).unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 1024, "{} bytes: {text}", text.len());
    assert!(text.contains(&format!("unknown task `{}…`", "é".repeat(64))), "{text}");
    // Many long violations: bounded in bytes too.
    let big: Vec<Violation> =
        (0..1000).map(|i| Violation { field: format!("f{i}"), message: "x".repeat(10_000) }).collect();
    let err = ValidationError::new(big);
    let bytes: usize = err.violations.iter().map(|v| v.field.len() + v.message.len()).sum();
    assert!(bytes <= MAX_VIOLATIONS_BYTES + 64, "{bytes}");
    let listed = err.violations.len() - 1;
    assert_eq!(err.omitted(), 1000 - listed);
    // Capping again, or prefixing, keeps the count.
    let again = ValidationError::new(err.clone().prefixed("spec").violations);
    assert_eq!(again.omitted(), err.omitted());
    assert!(again.violations[0].field.starts_with("spec.f0"));
}

#[test]
fn dependency_edges_are_bounded_before_anything_is_built() {
    // 270 tasks of 10,000 dependencies each: 2.7 million entries, refused by one count.
    let n = 270;
    let tasks: Vec<TaskSpec> = (0..n)
        .map(|i| {
            let mut t = TaskSpec::new(format!("t{i}"), "noop");
            t.depends_on = (0..10_000).map(|j| format!("t{}", (i + 1 + j) % n)).collect();
            t
        })
        .collect();
    let p = process(vec![wf("w", tasks)]);
    let started = std::time::Instant::now();
    let errs = fields(validate_process(&p, &known).unwrap_err());
    let took = started.elapsed();
    assert_eq!(errs, ["workflows: has 2700000 depends_on entries in all, at most 200000 allowed"]);
    // It took 4 s in a debug build before the bound (2.6 million violations were built).
    assert!(took < std::time::Duration::from_millis(200), "took {took:?}");
}

#[test]
fn repeated_dependencies_are_found_in_one_pass() {
    // A fan-in of 10,000 listing each dependency twice: linear, not quadratic.
    let mut tasks: Vec<TaskSpec> = (0..5_000).map(|i| TaskSpec::new(format!("p{i}"), "noop")).collect();
    let mut join = TaskSpec::new("join", "noop");
    join.depends_on = (0..10_000).map(|i| format!("p{}", i % 5_000)).collect();
    tasks.push(join);
    let err = validate_process(&process(vec![wf("w", tasks)]), &known).unwrap_err();
    let listed = err.violations.len() - 1;
    assert!(listed <= crate::limits::MAX_VIOLATIONS, "{listed}");
    assert_eq!(err.omitted(), 5_000 - listed, "every repeat is counted");
    let errs = fields(err);
    assert_eq!(errs[0], "workflows[0].tasks[5000].depends_on[5000]: `p0` is listed twice");
    assert_eq!(errs[listed], format!(": and {} more problems not listed", 5_000 - listed));
}

#[test]
fn secret_references_pass_builtin_checks_and_bad_ones_are_named_at_their_path() {
    let mut shell = TaskSpec::new("s", "shell");
    shell.params =
        serde_json::json!({"argv": ["sh", "-c", {"secret": "script"}], "env": {"T": {"secret": "bank-token"}}});
    let mut http = TaskSpec::new("h", "http");
    http.params = serde_json::json!({"url": {"secret": "hook-url"}, "headers": {"authorization": {"secret": "auth"}}});
    let mut custom = TaskSpec::new("c", "charge");
    custom.params = serde_json::json!({"deep": [{"key": {"secret": "k"}}]});
    let plan = validate_process(&process(vec![wf("w", vec![shell, http, custom])]), &known).unwrap();
    assert!(plan.tasks[0].params_json.contains(r#"{"secret":"bank-token"}"#), "the reference is kept as written");

    let mut bad = TaskSpec::new("b", "shell");
    bad.params = serde_json::json!({"argv": ["x"], "env": {"A": {"secret": "../etc/passwd"}, "B": {"secret": 1}}});
    let mut typed = TaskSpec::new("t", "http");
    typed.params = serde_json::json!({"url": "http://x", "timeout": {"secret": "t"}});
    let errs = fields(validate_process(&process(vec![wf("w", vec![bad, typed])]), &known).unwrap_err());
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].params.env.A: secret name")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("workflows[0].tasks[0].params.env.B: a secret reference")), "{errs:?}");
    // A secret is a string: where a built-in kind wants a number, the reference is refused.
    assert!(
        errs.iter().any(|e| e.starts_with("workflows[0].tasks[1].params: bad parameters for kind `http`")),
        "{errs:?}"
    );
}

#[test]
fn limits_and_the_tasks_using_them_are_checked_naming_each_field() {
    use crate::gates::{LimitSpec, Rate};
    let yaml = r#"
name: charges
limits:
  bank-api: { concurrency: 5, rate: 100/min }
tasks:
  - { name: charge, kind: noop, uses: [bank-api], concurrency_key: "c-{{input.customer}}", max_per_key: 2 }
  - { name: notify, kind: noop }
"#;
    let spec: ProcessSpec = serde_saphyr::from_str(yaml).unwrap();
    let plan = validate_process(&spec, &known).unwrap();
    assert_eq!(plan.limits.len(), 1);
    assert_eq!((plan.limits[0].concurrency, plan.limits[0].rate), (Some(5), Some(Rate { count: 100, per_ms: 60_000 })));
    assert_eq!(&*plan.tasks[0].uses, [0]);
    assert_eq!(plan.tasks[0].concurrency_key.as_ref().map(|k| k.max_per_key), Some(2));
    assert!(plan.tasks[1].uses.is_empty() && plan.tasks[1].concurrency_key.is_none());

    let mut bad = spec.clone();
    bad.limits.insert("empty".into(), LimitSpec::default());
    bad.limits.insert("zero".into(), LimitSpec { concurrency: Some(0), rate: Some(Rate { count: 1, per_ms: 10 }) });
    bad.limits.insert("bad name".into(), LimitSpec { concurrency: Some(1), rate: None });
    let t = &mut bad.workflows[0].tasks[1];
    t.uses = vec!["nowhere".into(), "bank-api".into(), "bank-api".into()];
    t.max_per_key = Some(3);
    bad.workflows[0].tasks[0].concurrency_key = Some("{{run.id}}".into());
    let errs = fields(validate_process(&bad, &known).unwrap_err());
    for field in [
        "limits.empty: give `concurrency`, `rate` or both",
        "limits.zero.concurrency: is 0, must be 1 to 1000000",
        "limits.zero.rate: a window of 10 ms, must be 1000 ms to 86400000 ms",
        "limits.bad name: `bad name` contains ' '",
        "workflows[0].tasks[1].uses[2]: `bank-api` is listed twice",
        "workflows[0].tasks[1].max_per_key: needs a `concurrency_key`",
        "workflows[0].tasks[0].concurrency_key: `{{run.id}}`: only `{{input}}`",
    ] {
        assert!(errs.iter().any(|e| e.starts_with(field)), "{field} not in {errs:?}");
    }
    // A name the process does not declare is the cluster's limit of that name.
    let mut shared = spec.clone();
    shared.workflows[0].tasks[1].uses = vec!["partner-api".into()];
    let plan = validate_process(&shared, &known).unwrap();
    let l = &plan.limits[plan.tasks[1].uses[0] as usize];
    assert!(l.cluster && &*l.name == "partner-api");
    // A rate that does not parse fails the file with the reason.
    let e = serde_saphyr::from_str::<ProcessSpec>(
        "name: p\nlimits: { x: { rate: lots } }\ntasks: [{ name: a, kind: noop }]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("write COUNT/WINDOW"), "{e}");
}

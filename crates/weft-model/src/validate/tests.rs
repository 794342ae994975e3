use super::*;
use crate::spec::{TaskSpec, WorkflowSpec};

fn known(kind: &str) -> bool {
    kind == "charge"
}

fn wf(name: &str, tasks: Vec<TaskSpec>) -> WorkflowSpec {
    WorkflowSpec { name: name.into(), tasks, chain: false, default_retry: None }
}

fn process(workflows: Vec<WorkflowSpec>) -> ProcessSpec {
    ProcessSpec { name: "p".into(), workflows, failure_policy: Default::default(), default_retry: None, deadline: None }
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

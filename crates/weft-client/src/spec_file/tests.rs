use super::*;
use std::io::Write;
use std::path::PathBuf;

fn spec_error(text: &str, format: SpecFormat) -> SpecFileError {
    match parse_spec(text, format, "orders.yaml") {
        Err(Error::SpecFile(e)) => *e,
        other => panic!("expected a spec file error, got {other:?}"),
    }
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path
}

const YAML: &str = "\
name: orders
failure_policy: let_siblings_finish
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
      - { name: invoice, kind: noop }
      - { name: charge, kind: noop, depends_on: [invoice], priority: 5 }
";

#[test]
fn loads_yaml_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let spec = load_spec_file(write_temp(&dir, "orders.yaml", YAML)).unwrap();
    assert_eq!(spec.name, "orders");
    assert_eq!(spec.workflows.len(), 2);
    assert!(spec.workflows[0].chain);
    assert!(!spec.workflows[1].chain);
    assert_eq!(spec.workflows[0].tasks[1].timeout, Some(5_000));
    assert_eq!(spec.workflows[1].tasks[1].depends_on, ["invoice"]);
    assert_eq!(spec.workflows[1].tasks[1].priority, 5);
}

#[test]
fn loads_json_from_disk_and_yml_extension() {
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"name": "solo", "steps": [{"name": "a", "kind": "noop"}, {"name": "b", "kind": "sleep", "params": {"duration": "10ms"}}]}"#;
    let spec = load_spec_file(write_temp(&dir, "solo.JSON", json)).unwrap();
    assert_eq!(spec.workflows[0].name, "solo");
    assert_eq!(spec.workflows[0].tasks.len(), 2);
    let spec = load_spec_file(write_temp(&dir, "orders.yml", YAML)).unwrap();
    assert_eq!(spec.name, "orders");
}

#[test]
fn yaml_type_error_has_line_column_and_field() {
    let text =
        "name: p\nworkflows:\n  - name: w\n    steps:\n      - name: a\n        kind: noop\n        priority: high\n";
    let e = spec_error(text, SpecFormat::Yaml);
    assert_eq!(e.line, Some(7));
    assert_eq!(e.column, Some(19));
    assert_eq!(e.field.as_deref(), Some("workflows[0].steps[0].priority"));
    assert_eq!(e.to_string(), "orders.yaml:7:19: workflows[0].steps[0].priority: invalid i32");
    let snippet = e.snippet.unwrap();
    assert!(snippet.contains("orders.yaml:7:19") && snippet.contains("priority: high"), "{snippet}");
}

#[test]
fn yaml_duplicate_key_is_refused() {
    let e = spec_error("name: p\nname: q\nsteps:\n  - {name: a, kind: noop}\n", SpecFormat::Yaml);
    assert_eq!(e.line, Some(2));
    assert_eq!(e.message, "duplicate mapping key: name");
}

#[test]
fn yaml_unknown_field_is_named() {
    let text = "name: p\nsteps:\n  - name: a\n    kind: noop\n    prioirty: 3\n";
    let e = spec_error(text, SpecFormat::Yaml);
    assert_eq!(e.line, Some(5));
    assert_eq!(e.field.as_deref(), Some("steps[0].prioirty"));
    assert!(e.message.starts_with("unknown field `prioirty`"), "{}", e.message);
}

#[test]
fn yaml_bad_duration_names_the_task_field() {
    let e = spec_error("name: p\nsteps:\n  - {name: a, kind: noop, timeout: banana}\n", SpecFormat::Yaml);
    assert_eq!(e.field.as_deref(), Some("steps[0].timeout"));
    assert!(e.message.contains("invalid duration `banana`"), "{}", e.message);
}

#[test]
fn yaml_shape_error_without_location_still_names_the_file() {
    let e = spec_error("name: p\nsteps: []\ntasks: []\n", SpecFormat::Yaml);
    assert_eq!(e.line, None);
    assert_eq!(e.to_string(), "orders.yaml: give exactly one of `workflows`, `steps` or `tasks`");
}

#[test]
fn json_type_error_has_line_and_field() {
    let text = "{\"name\": \"p\",\n \"steps\": [{\"name\": \"a\", \"kind\": 3}]}";
    let e = spec_error(text, SpecFormat::Json);
    assert_eq!((e.line, e.column), (Some(2), Some(34)));
    assert_eq!(e.field.as_deref(), Some("steps[0].kind"));
    assert_eq!(e.message, "invalid type: integer `3`, expected a string");
}

#[test]
fn json_unknown_field_and_trailing_garbage() {
    let e = spec_error(r#"{"name": "p", "steps": [{"name": "a", "kind": "noop", "colour": 1}]}"#, SpecFormat::Json);
    assert_eq!(e.field.as_deref(), Some("steps[0].colour"));
    assert!(e.message.starts_with("unknown field `colour`"), "{}", e.message);
    let e = spec_error(r#"{"name": "p", "steps": [{"name": "a", "kind": "noop"}]} x"#, SpecFormat::Json);
    assert_eq!(e.field, None);
    assert!(e.message.contains("trailing characters"), "{}", e.message);
}

#[test]
fn file_problems_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let err = load_spec_file(&missing).unwrap_err();
    assert!(matches!(err, Error::ReadFile { .. }));
    assert!(err.to_string().contains("nope.yaml"), "{err}");
    let err = load_spec_file(write_temp(&dir, "spec.toml", "x")).unwrap_err();
    assert!(matches!(err, Error::UnknownFileType { .. }));
    assert!(err.to_string().contains("spec.toml"), "{err}");
    assert!(err.is_local_input());
}

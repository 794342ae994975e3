//! Every process file in `examples/` loads and is a valid process for built-in kinds, so
//! the files a new user runs first never rot.
use std::path::PathBuf;
use weft_client::load_spec_file;
use weft_model::builtin::KINDS;

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_parses_and_validates_with_builtin_kinds() {
    let files = examples();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["order-fulfilment.yaml", "fan-out-fan-in.yaml", "priorities.yaml"] {
        assert!(names.iter().any(|n| n == expected), "examples/{expected} is missing: {names:?}");
    }
    for file in &files {
        let spec = load_spec_file(file).unwrap_or_else(|e| panic!("{e}"));
        weft_model::validate_process(&spec, &|kind| KINDS.contains(&kind))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

#[test]
fn examples_have_the_shape_their_comments_promise() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let order = load_spec_file(dir.join("order-fulfilment.yaml")).unwrap();
    let workflows: Vec<&str> = order.workflows.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(workflows, ["shipping", "billing"]);
    assert!(order.workflows.iter().all(|w| w.chain), "both workflows are chains of steps");
    for kind in ["shell", "noop"] {
        assert!(order.workflows.iter().flat_map(|w| &w.tasks).any(|t| t.kind == kind), "no {kind} task");
    }

    let fan = load_spec_file(dir.join("fan-out-fan-in.yaml")).unwrap();
    let tasks = &fan.workflows[0].tasks;
    let parts: Vec<_> = tasks.iter().filter(|t| t.depends_on == ["split"]).collect();
    assert_eq!(parts.len(), 8);
    let join = tasks.iter().find(|t| t.name == "join").unwrap();
    assert_eq!(join.depends_on.len(), 8);

    let prio = load_spec_file(dir.join("priorities.yaml")).unwrap();
    let mut priorities: Vec<i32> = prio.workflows[0].tasks.iter().map(|t| t.priority).collect();
    priorities.dedup();
    assert!(priorities.len() >= 4, "priorities differ: {priorities:?}");
}

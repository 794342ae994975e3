use super::*;

#[test]
fn missing_binaries_are_named_with_the_build_command() {
    let dir = tempfile::tempdir().unwrap();
    let err = Binaries::locate(Some(dir.path())).unwrap_err().to_string();
    assert!(err.starts_with("weft-coordinator not found in"), "{err}");
    assert!(err.contains("cargo build --release"), "{err}");
    std::fs::write(dir.path().join(COORDINATOR), "").unwrap();
    let err = Binaries::locate(Some(dir.path())).unwrap_err().to_string();
    assert!(err.starts_with("weft-worker not found in"), "{err}");
    std::fs::write(dir.path().join(WORKER), "").unwrap();
    let found = Binaries::locate(Some(dir.path())).unwrap();
    assert_eq!(found.worker, dir.path().join(WORKER));
}

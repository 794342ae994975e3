//! Compiles `proto/` with protox (pure Rust), so no system `protoc` is needed.
use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = ["weft/v1/types.proto", "weft/v1/workflow.proto", "weft/v1/worker.proto", "weft/v1/monitor.proto"];
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("weft_descriptor.bin"), fds.encode_to_vec())?;
    // Our codec: a message that does not decode is INVALID_ARGUMENT, not INTERNAL (src/codec.rs).
    // Serialize: the coordinator's web dashboard answers with the same messages as JSON.
    tonic_prost_build::configure()
        .codec_path("crate::codec::WeftCodec")
        .type_attribute(".weft.v1", "#[derive(serde::Serialize)]")
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}

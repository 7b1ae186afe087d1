//! Generates the tonic code for the Omnia contracts.
//!
//! `protoc` comes from `protoc-bin-vendored`, so a fresh machine builds this crate with no system
//! protobuf compiler installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Every `bytes` field becomes `bytes::Bytes`: a message shares the request body's (or the
    // output's) buffer instead of copying it into a `String`, and decoding slices the field out
    // of tonic's decode buffer. Encoding for the wire copies the payload once either way.
    config.bytes(["."]);
    tonic_prost_build::configure().compile_with_config(
        config,
        &[
            "proto/omnia/runtime/v1/runtime.proto",
            "proto/omnia/tools/v1/tools.proto",
        ],
        &["proto"],
    )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

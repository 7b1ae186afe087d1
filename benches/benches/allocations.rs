//! Heap allocations per function call through the whole stack, in process (gateway layers,
//! client-key auth, both schemas, gRPC `Invoke` over an in-memory HTTP/2 duplex to an echo
//! runtime, envelope): gateway and runtime together, since both run here. Counted exactly by
//! dhat's allocator, so the numbers do not depend on the machine's noise.
//!
//! `cargo bench -p omnia-benches --bench allocations`

use bytes::Bytes;
use omnia_benches::{echo_stack, run_calls};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Calls measured after the warm-up (connection set-up, lazy statics and pools are not
/// per-request costs).
const CALLS: u64 = 2_000;
const WARMUP: u64 = 200;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let calls = if std::env::args().any(|a| a == "--bench") {
        CALLS
    } else {
        10
    };
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let stack = runtime.block_on(echo_stack());
    let body = Bytes::from(r#"{"message":"summarise the October invoice dispute"}"#);
    runtime.block_on(run_calls(&stack, &body, WARMUP));
    let before = dhat::HeapStats::get();
    runtime.block_on(run_calls(&stack, &body, calls));
    let after = dhat::HeapStats::get();
    let blocks = (after.total_blocks - before.total_blocks) as f64 / calls as f64;
    let bytes = (after.total_bytes - before.total_bytes) as f64 / calls as f64;
    println!(
        "function_call/echo_{}B_body: {blocks:.1} allocations, {bytes:.0} bytes allocated per call \
         (gateway + runtime, {calls} calls after {WARMUP} warm-up)",
        body.len()
    );
}

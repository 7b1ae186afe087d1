//! Heap allocations per function call through the whole stack, in process (gateway layers,
//! client-key auth, both schemas, gRPC `Invoke` over an in-memory HTTP/2 duplex to an echo
//! runtime, envelope): gateway and runtime together, since both run here. Counted exactly by
//! dhat's allocator, so the numbers do not depend on the machine's noise.
//!
//! `cargo bench -p omnia-benches --bench allocations`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use omnia_benches::{BENCH_KEY, echo_stack};
use tower::ServiceExt;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Calls measured after the warm-up (connection set-up, lazy statics and pools are not
/// per-request costs).
const CALLS: u64 = 2_000;
const WARMUP: u64 = 200;

fn request(body: &Bytes) -> http::Request<Full<Bytes>> {
    http::Request::post("/functions/echo-function")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {BENCH_KEY}"))
        .body(Full::new(body.clone()))
        .unwrap_or_else(|e| panic!("{e}"))
}

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
    let call = || {
        let stack = stack.clone();
        let request = request(&body);
        async move {
            let response = stack.oneshot(request).await.unwrap_or_else(|e| match e {});
            assert_eq!(response.status(), http::StatusCode::OK);
            let _ = response.into_body().collect().await;
        }
    };
    runtime.block_on(async {
        for _ in 0..WARMUP {
            call().await;
        }
    });
    let before = dhat::HeapStats::get();
    runtime.block_on(async {
        for _ in 0..calls {
            call().await;
        }
    });
    let after = dhat::HeapStats::get();
    let blocks = (after.total_blocks - before.total_blocks) as f64 / calls as f64;
    let bytes = (after.total_bytes - before.total_bytes) as f64 / calls as f64;
    println!(
        "function_call/echo_{}B_body: {blocks:.1} allocations, {bytes:.0} bytes allocated per call \
         (gateway + runtime, {calls} calls after {WARMUP} warm-up)",
        body.len()
    );
}

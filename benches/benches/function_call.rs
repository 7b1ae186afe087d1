//! One function call through the whole middleware stack, in process: request id, metrics, method
//! guard, load shed, body limit, content type, client-key auth, input schema, gRPC `Invoke` to an
//! echo runtime over an in-memory HTTP/2 duplex, output schema, envelope.
//!
//! `cargo bench -p omnia-benches --bench function_call`

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::BodyExt;
use omnia_benches::{echo_request, echo_stack};
use tower::ServiceExt;

fn function_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let stack = runtime.block_on(echo_stack());
    let mut group = c.benchmark_group("function_call");
    for message_len in [16usize, 280] {
        let message: String = "m".repeat(message_len);
        let body = Bytes::from(format!(r#"{{"message":"{message}"}}"#));
        // Sanity: the call succeeds, so the bench measures the happy path.
        let status = runtime
            .block_on(stack.clone().oneshot(echo_request(&body)))
            .map(|r| r.status());
        assert_eq!(status.ok(), Some(http::StatusCode::OK));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("echo_{}B_body", body.len()), |b| {
            b.to_async(&runtime).iter(|| {
                let stack = stack.clone();
                let request = echo_request(&body);
                async move {
                    let response = stack.oneshot(request).await.unwrap_or_else(|e| match e {});
                    response
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes().len())
                        .unwrap_or(0)
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, function_call);
criterion_main!(benches);

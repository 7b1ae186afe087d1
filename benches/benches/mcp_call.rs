//! What an MCP `tools/call` costs over the same call as `POST /functions/{name}`, in process and
//! measured in one run: the MCP request goes through the gateway's `/mcp` service (auth of the
//! caller, rmcp's JSON-RPC handling, stateless), which calls the function through the same stack
//! the HTTP bench calls directly.
//!
//! `cargo bench -p omnia-benches --bench mcp_call`

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use omnia_benches::{BENCH_KEY, bench_auth, echo_request, echo_stack};
use omnia_gateway::mcp::tools::FunctionTool;
use omnia_gateway::mcp::{McpFunction, McpService};
use serde_json::json;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

fn tools_call(id: u64) -> http::Request<Full<Bytes>> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echo-function", "arguments": {"message": "mmmmmmmmmmmmmmmm"}}});
    http::Request::post("/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", format!("Bearer {BENCH_KEY}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn mcp_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let stack = runtime.block_on(echo_stack());
    let input = json!({"type": "object", "required": ["message"],
        "properties": {"message": {"type": "string", "maxLength": 280}}});
    let output = json!({"type": "object"});
    let mcp = McpService::new(
        vec![McpFunction {
            tool: FunctionTool::new("echo-function", None, &input, &output),
            auth: Arc::new(bench_auth()),
        }],
        BoxCloneSyncService::new(stack.clone()),
    );
    // Sanity: both paths succeed, so the bench measures the happy paths.
    let answer = runtime.block_on(async {
        let response = mcp
            .clone()
            .oneshot(tools_call(0))
            .await
            .unwrap_or_else(|e| match e {});
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    });
    assert_eq!(answer.0, http::StatusCode::OK, "{}", answer.1);
    // The bench runtime answers with its input.
    assert!(
        answer
            .1
            .contains(r#""structuredContent":{"message":"mmmmmmmmmmmmmmmm"}"#),
        "{}",
        answer.1
    );
    let body = Bytes::from(r#"{"message":"mmmmmmmmmmmmmmmm"}"#);

    let mut group = c.benchmark_group("mcp_vs_http");
    group.bench_function("post_function", |b| {
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
    group.bench_function("mcp_tools_call", |b| {
        b.to_async(&runtime).iter(|| {
            let mcp = mcp.clone();
            async move {
                let response = mcp
                    .oneshot(tools_call(1))
                    .await
                    .unwrap_or_else(|e| match e {});
                response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes().len())
                    .unwrap_or(0)
            }
        });
    });
    group.finish();
}

criterion_group!(benches, mcp_call);
criterion_main!(benches);

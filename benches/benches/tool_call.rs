//! The runtime's overhead per tool call (issue 15): argument parsing and validation against the
//! tool's inputSchema, dispatch, the http adapter's request building and result handling.
//!
//! A minimal hyper HTTP/1.1 service on 127.0.0.1 answers a fixed small JSON. Two functions in one
//! group: `raw_reqwest_post` is one pooled reqwest round trip with the same body (the tool's own
//! time); `tool_manager_execute` is `ToolManager::execute` of an http tool whose inputSchema has 3
//! properties, called with 3 arguments. The overhead is the difference of the two.
//!
//! `cargo bench -p omnia-benches --bench tool_call`

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use omnia_api::{HandlerKind, HttpTool, ToolDefinition, ToolHandler, ToolRegistry};
use omnia_runtime::provider::ToolCallRequest;
use omnia_runtime::{ToolContext, ToolExecutor, ToolManager};
use serde_json::json;

const ANSWER: &[u8] = br#"{"order":"A-1","status":"shipped"}"#;
const ARGUMENTS: &str = r#"{"order_id":"A-1","verbose":true,"limit":3}"#;

/// The service: reads the body, answers `ANSWER`; as little work as hyper allows.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|request: hyper::Request<hyper::body::Incoming>| async {
                    let _ = request.into_body().collect().await;
                    let mut response = hyper::Response::new(Full::new(Bytes::from_static(ANSWER)));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}/orders")
}

fn tool_manager(endpoint: String) -> ToolManager {
    let registry = ToolRegistry {
        name: "tools".into(),
        namespace: "agents".into(),
        handlers: vec![ToolHandler {
            name: "orders".into(),
            kind: HandlerKind::Http(HttpTool {
                endpoint,
                method: "POST".into(),
                headers: BTreeMap::new(),
                content_type: "application/json".into(),
                auth: None,
                query_params: Vec::new(),
                header_params: BTreeMap::new(),
                static_query: BTreeMap::new(),
                static_body: None,
                body_mapping: None,
                response_mapping: None,
                redact: Vec::new(),
                url_template: None,
                retry: None,
            }),
            tool: Some(ToolDefinition {
                name: "lookup".into(),
                description: "Looks an order up".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "order_id": {"type": "string"},
                        "verbose": {"type": "boolean"},
                        "limit": {"type": "integer", "minimum": 1}
                    },
                    "required": ["order_id"]
                }),
                output_schema: None,
            }),
            timeout: Duration::from_secs(30),
        }],
    };
    ToolManager::new(&registry).unwrap_or_else(|e| panic!("{e}"))
}

fn context() -> ToolContext<'static> {
    ToolContext {
        agent: "support",
        namespace: "agents",
        session: "session-1",
        deadline: None,
    }
}

fn tool_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let endpoint = runtime.block_on(serve());
    // Built first: it installs the rustls provider reqwest needs to build a client.
    let tools = tool_manager(endpoint.clone());
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let body = Bytes::from_static(ARGUMENTS.as_bytes());
    let request = ToolCallRequest {
        id: "call-7".into(),
        name: "lookup".into(),
        arguments_json: ARGUMENTS.to_owned(),
        consent_message: String::new(),
        categories: Vec::new(),
    };

    // Sanity: both paths succeed and see the same answer.
    let raw = runtime.block_on(async {
        let response = client
            .post(&endpoint)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), http::StatusCode::OK);
        response.bytes().await.unwrap_or_else(|e| panic!("{e}"))
    });
    assert_eq!(&raw[..], ANSWER);
    let result = runtime
        .block_on(tools.execute(&request, context()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&result).ok(),
        serde_json::from_slice::<serde_json::Value>(ANSWER).ok()
    );

    let mut group = c.benchmark_group("tool_call");
    group.bench_function("raw_reqwest_post", |b| {
        b.to_async(&runtime).iter(|| {
            let request = client
                .post(&endpoint)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            async move {
                let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
                response.bytes().await.map(|b| b.len()).unwrap_or(0)
            }
        });
    });
    group.bench_function("tool_manager_execute", |b| {
        b.to_async(&runtime).iter(|| async {
            tools
                .execute(&request, context())
                .await
                .map(|r| r.len())
                .unwrap_or_else(|e| panic!("{e}"))
        });
    });
    group.finish();
}

criterion_group!(benches, tool_call);
criterion_main!(benches);

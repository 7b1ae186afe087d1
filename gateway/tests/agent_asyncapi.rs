#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One sweep over every kind of frame the gateway sends on a WebSocket, produced live (echo,
//! demo and runtime handlers, bad input, limits, a runtime that is down), each checked against
//! Omnia's AsyncAPI schemas; the sweep fails if a kind it should have seen never came.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use omnia_gateway::agent::WsLimits;
use serde_json::Value;
use support::asyncapi::AsyncApi;
use support::ws::Client;
use support::*;

fn yaml() -> String {
    [
        echo_yaml(),
        include_str!("../../examples/echo-agent/agentruntime.yaml").to_owned(),
        include_str!("../../examples/echo-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/echo-agent/provider.yaml").to_owned(),
        include_str!("../../examples/demo-agent/agentruntime.yaml").to_owned(),
        include_str!("../../examples/demo-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/demo-agent/provider.yaml").to_owned(),
        include_str!("../../examples/mock-agent/agentruntime.yaml").to_owned(),
        include_str!("../../examples/mock-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/mock-agent/provider.yaml").to_owned(),
    ]
    .join("\n---\n")
}

/// Every frame read, in order.
#[derive(Default)]
struct Seen(Vec<Value>);

impl Seen {
    async fn read(&mut self, client: &mut Client) -> Value {
        let frame = client.json().await;
        self.0.push(frame.clone());
        frame
    }

    /// Reads until a frame of type `kind`.
    async fn until(&mut self, client: &mut Client, kind: &str) -> Value {
        loop {
            let frame = self.read(client).await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    async fn send(&mut self, client: &mut Client, text: &str, until: &str) -> Value {
        client.send_text(text).await;
        self.until(client, until).await
    }
}

#[tokio::test]
async fn every_kind_of_frame_the_gateway_sends_validates() {
    let spec = AsyncApi::load();
    let yaml = yaml();
    let runtime = real_runtime(&load(&yaml)).await;
    let limits = WsLimits {
        messages_per_second: 0,
        message_burst: 12,
        tool_ack_timeout: Duration::from_millis(200),
        ..WsLimits::default()
    };
    let options = Options {
        ws: limits,
        ..Options::default()
    };
    let gateway = TestGateway::start(&yaml, runtime.to_string(), options).await;
    let mut seen = Seen::default();

    // Echo: connected, done; bad input; the rate limit.
    let mut echo = Client::connect(gateway.facade, "/ws?agent=echo-agent", &[]).await;
    seen.read(&mut echo).await;
    seen.send(&mut echo, r#"{"type":"message","content":"hi"}"#, "done")
        .await;
    seen.send(&mut echo, "not json", "error").await;
    seen.send(
        &mut echo,
        r#"{"type":"tool_call_ack","tool_call_ack":{"call_id":"x"}}"#,
        "error",
    )
    .await;
    let upload = r#"{"type":"upload_request","upload_request":{"filename":"a.png","mime_type":"image/png","size_bytes":1}}"#;
    seen.send(&mut echo, upload, "error").await;
    for _ in 0..10 {
        seen.send(&mut echo, "{}", "error").await;
    }

    // Demo: chunks, a tool call and its result, done without content.
    let mut demo = Client::connect(gateway.facade, "/ws?agent=demo-agent", &[]).await;
    seen.read(&mut demo).await;
    seen.send(
        &mut demo,
        r#"{"type":"message","content":"password"}"#,
        "done",
    )
    .await;
    seen.send(&mut demo, r#"{"type":"message","content":"hello"}"#, "done")
        .await;

    // Runtime: streamed chunks and done with usage; a client tool call left unanswered.
    let mut agent = Client::connect(gateway.facade, "/ws?agent=mock-agent", &[]).await;
    seen.read(&mut agent).await;
    seen.send(
        &mut agent,
        r#"{"type":"message","content":"hello"}"#,
        "done",
    )
    .await;
    seen.send(
        &mut agent,
        r#"{"type":"message","content":"where am I?"}"#,
        "tool_call",
    )
    .await;
    // A second message while that turn waits is one turn too many.
    seen.send(
        &mut agent,
        r#"{"type":"message","content":"again"}"#,
        "error",
    )
    .await;
    seen.until(&mut agent, "done").await;

    // A runtime that is down: the turn fails with INTERNAL_ERROR.
    let down = DownRuntime::new();
    let orphan = TestGateway::bind(&yaml, down.address(), Options::default()).await;
    let mut lost = Client::connect(orphan.facade, "/ws?agent=mock-agent", &[]).await;
    seen.read(&mut lost).await;
    seen.send(
        &mut lost,
        r#"{"type":"message","content":"anyone?"}"#,
        "error",
    )
    .await;

    let mut kinds = BTreeSet::new();
    let mut codes = BTreeSet::new();
    for frame in &seen.0 {
        spec.check(frame.to_string().as_bytes());
        kinds.insert(frame["type"].as_str().unwrap().to_owned());
        if let Some(code) = frame["error"]["code"].as_str() {
            codes.insert(code.to_owned());
        }
    }
    assert_eq!(
        kinds,
        [
            "chunk",
            "connected",
            "done",
            "error",
            "tool_call",
            "tool_result"
        ]
        .map(str::to_owned)
        .into()
    );
    assert_eq!(
        codes,
        [
            "INTERNAL_ERROR",
            "INVALID_MESSAGE",
            "MEDIA_NOT_ENABLED",
            "RATE_LIMITED"
        ]
        .map(str::to_owned)
        .into()
    );
    assert!(
        seen.0
            .iter()
            .any(|f| f["type"] == "done" && f.get("usage").is_some()),
        "no done with usage"
    );
}

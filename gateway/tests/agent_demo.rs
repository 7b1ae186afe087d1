#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `handler: demo` over real WebSockets: Omnia's canned answers, streamed; and, with its pacing
//! on, a turn in flight: the one-turn limit, and shutdown letting the turn finish before 1001.

mod support;

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use support::asyncapi::AsyncApi;
use support::ws::{Client, Received};
use support::*;

fn demo_yaml() -> String {
    [
        echo_yaml(),
        include_str!("../../examples/demo-agent/agentruntime.yaml").to_owned(),
        include_str!("../../examples/demo-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/demo-agent/provider.yaml").to_owned(),
    ]
    .join("\n---\n")
}

async fn demo(pace: f64) -> (FakeRuntime, TestGateway) {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        demo_pace: pace,
        ..Options::default()
    };
    let gateway = TestGateway::start(&demo_yaml(), runtime.address(), options).await;
    (runtime, gateway)
}

/// Sends `content` and collects the turn's frames up to its `done`, each checked against the
/// AsyncAPI schemas.
async fn turn(client: &mut Client, spec: &AsyncApi, content: &str) -> Vec<Value> {
    let message = serde_json::json!({"type": "message", "content": content}).to_string();
    client.send_text(&message).await;
    let mut frames = Vec::new();
    loop {
        let frame = spec.check(client.json().await.to_string().as_bytes());
        let done = frame["type"] == "done";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn kinds(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

fn streamed(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "chunk")
        .map(|f| f["content"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn hello_streams_the_greeting_word_by_word_and_hi_inside_a_word_does_not() {
    let spec = AsyncApi::load();
    let (_runtime, gateway) = demo(0.0).await;
    let mut client = Client::connect(gateway.facade, "/ws?agent=demo-agent", &[]).await;
    client.json().await;

    let greeting = turn(&mut client, &spec, "Hello!").await;
    let text = streamed(&greeting);
    assert!(
        text.starts_with("Hello! I'm the Omnia demo agent."),
        "{text}"
    );
    assert!(text.ends_with("How can I help you today?"), "{text}");
    // A chunk per word and one per space between them.
    assert_eq!(greeting.len() - 1, 2 * text.split(' ').count() - 1);
    let done = greeting.last().unwrap();
    assert!(done.get("content").is_none(), "{done}");

    let other = turn(&mut client, &spec, "this is nothing").await;
    let text = streamed(&other);
    assert!(
        text.starts_with("I understand you're asking about: \"this is nothing\""),
        "{text}"
    );
}

#[tokio::test]
async fn password_streams_then_calls_lookup_user_with_the_session_and_shows_the_result() {
    let spec = AsyncApi::load();
    let (_runtime, gateway) = demo(0.0).await;
    let mut client = Client::connect(gateway.facade, "/ws?agent=demo-agent", &[]).await;
    let session = client.json().await["session_id"].clone();

    let frames = turn(&mut client, &spec, "How do I reset my password?").await;

    assert_eq!(
        kinds(&frames),
        [
            "chunk",
            "chunk",
            "chunk",
            "chunk",
            "tool_call",
            "tool_result",
            "done"
        ]
    );
    assert_eq!(
        streamed(&frames),
        "I can help you reset your password. Let me look up your account..."
    );
    let call = &frames[4]["tool_call"];
    assert_eq!(call["id"], "call_001");
    assert_eq!(call["name"], "lookup-user");
    assert_eq!(
        call["arguments"],
        serde_json::json!({"session_id": session})
    );
    assert_eq!(frames[5]["tool_result"]["id"], "call_001");
    assert_eq!(
        frames[5]["tool_result"]["result"]["email"],
        "user@example.com"
    );
    assert!(
        frames[6]["content"]
            .as_str()
            .unwrap()
            .starts_with("\n\nGreat news! I found your account.")
    );
}

#[tokio::test]
async fn weather_checks_with_dots_then_calls_weather_for_denver() {
    let spec = AsyncApi::load();
    let (_runtime, gateway) = demo(0.0).await;
    let mut client = Client::connect(gateway.facade, "/ws?agent=demo-agent", &[]).await;
    client.json().await;

    let frames = turn(&mut client, &spec, "What's the weather?").await;

    assert_eq!(
        kinds(&frames),
        [
            "chunk",
            "chunk",
            "chunk",
            "chunk",
            "tool_call",
            "tool_result",
            "done"
        ]
    );
    assert_eq!(streamed(&frames), "Checking the weather for you...");
    assert_eq!(frames[4]["tool_call"]["name"], "weather");
    assert_eq!(
        frames[4]["tool_call"]["arguments"],
        serde_json::json!({"location": "Denver, CO"})
    );
    assert_eq!(frames[5]["tool_result"]["result"]["temperature"], "72°F");
    assert!(
        frames[6]["content"]
            .as_str()
            .unwrap()
            .contains("Temperature: 72°F")
    );
}

#[tokio::test]
async fn a_second_message_while_a_turn_is_in_flight_is_rate_limited_and_the_turn_still_ends() {
    let spec = AsyncApi::load();
    // Omnia's pacing: the password answer takes about a second.
    let (_runtime, gateway) = demo(1.0).await;
    let mut client = Client::connect(gateway.facade, "/ws?agent=demo-agent", &[]).await;
    client.json().await;

    client
        .send_text(r#"{"type":"message","content":"password"}"#)
        .await;
    client
        .send_text(r#"{"type":"message","content":"and the weather?"}"#)
        .await;

    let refused = spec.check(client.json().await.to_string().as_bytes());
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["error"]["code"], "RATE_LIMITED");
    assert_eq!(refused["error"]["message"], "too many in-flight requests");
    let mut kinds = Vec::new();
    loop {
        let frame = client.json().await;
        kinds.push(frame["type"].as_str().unwrap().to_owned());
        if frame["type"] == "done" {
            break;
        }
    }
    assert_eq!(kinds.len(), 7, "{kinds:?}");
}

#[tokio::test]
async fn shutdown_closes_idle_sockets_at_once_and_busy_ones_after_their_done() {
    let (_runtime, gateway) = demo(1.0).await;
    let health = gateway.health;
    let mut idle = Client::connect(gateway.facade, "/ws?agent=demo-agent", &[]).await;
    idle.json().await;
    let mut busy = Client::connect(gateway.facade, "/ws?agent=demo-agent", &[]).await;
    busy.json().await;
    busy.send_text(r#"{"type":"message","content":"password"}"#)
        .await;
    assert_eq!(busy.json().await["type"], "chunk");

    let stopping = tokio::spawn(gateway.shutdown());

    assert_eq!(idle.closed().await, Some(1001));
    // Readiness turned before any socket was told to close, and stays so while draining.
    wait_for_readyz(health, StatusCode::SERVICE_UNAVAILABLE).await;
    // A new turn is refused while draining; the one in flight goes on.
    busy.send_text(r#"{"type":"message","content":"one more"}"#)
        .await;
    let mut after = Vec::new();
    let code = loop {
        match busy.recv().await {
            Received::Text(frame) => {
                let kind = frame["type"].as_str().unwrap();
                after.push(match frame["error"]["code"].as_str() {
                    Some(code) => code.to_owned(),
                    None => kind.to_owned(),
                });
            }
            Received::Close(code) => break code,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(after.iter().any(|k| k == "AGENT_UNAVAILABLE"), "{after:?}");
    assert_eq!(after.last().map(String::as_str), Some("done"), "{after:?}");
    assert_eq!(code, Some(1001));
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the gateway did not stop")
        .unwrap();
}

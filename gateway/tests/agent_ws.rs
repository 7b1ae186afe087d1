#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The WebSocket agent surface over real sockets: the upgrade and its refusals, the echo handler,
//! bad input on an open connection, the protocol's limits, pings and shutdown. Every frame the
//! gateway sends is checked against Omnia's AsyncAPI schemas.

mod support;

use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload};
use omnia_gateway::agent::WsLimits;
use omnia_gateway::agent::origin::OriginPolicy;
use serde_json::Value;
use support::asyncapi::AsyncApi;
use support::ws::{Client, Received, refused};
use support::*;

const ECHO_AGENT: &str = "echo-agent";

fn echo_agent_yaml() -> String {
    [
        include_str!("../../examples/echo-agent/agentruntime.yaml"),
        include_str!("../../examples/echo-agent/promptpack.yaml"),
        include_str!("../../examples/echo-agent/provider.yaml"),
    ]
    .join("\n---\n")
}

/// The echo function and the echo agent on one gateway.
fn yaml() -> String {
    format!("{}\n---\n{}", echo_yaml(), echo_agent_yaml())
}

/// A second agent-mode agent, `keyed-agent`, that requires a client key ([`GOOD_KEY`]).
fn two_agents_yaml() -> String {
    format!(
        "{}\n---\n{}\n---\n{}",
        yaml(),
        "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata:
  name: keyed-agent
spec:
  promptPackRef: {name: chat-pack}
  facade: {type: websocket, handler: echo}
  providers: [{name: default, providerRef: {name: chat-provider}}]
  externalAuth:
    clientKeys: {}
",
        key_secret(GOOD_KEY_SECRET, "keyed-agent", GOOD_KEY, "")
    )
}

async fn gateway_with(yaml: &str, ws: WsLimits) -> (FakeRuntime, TestGateway) {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        ws,
        ..Options::default()
    };
    let gateway = TestGateway::start(yaml, runtime.address(), options).await;
    (runtime, gateway)
}

async fn gateway() -> (FakeRuntime, TestGateway) {
    gateway_with(&yaml(), WsLimits::default()).await
}

/// Connects to the echo agent and reads (and checks) its `connected` frame.
async fn connect(gateway: &TestGateway, spec: &AsyncApi) -> (Client, String) {
    let mut client = Client::connect(gateway.facade, &format!("/ws?agent={ECHO_AGENT}"), &[]).await;
    let connected = checked(spec, client.json().await);
    let session = connected["session_id"].as_str().unwrap().to_owned();
    (client, session)
}

/// `frame`, after checking it against the AsyncAPI schemas.
fn checked(spec: &AsyncApi, frame: Value) -> Value {
    spec.check(frame.to_string().as_bytes())
}

fn expect_error(spec: &AsyncApi, frame: Value, code: &str) -> Value {
    let frame = checked(spec, frame);
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["error"]["code"], code, "{frame}");
    frame
}

// ---------------------------------------------------------------------------------------------
// The upgrade
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn connected_comes_first_with_a_uuid_session_and_the_capabilities() {
    let spec = AsyncApi::load();
    let (_runtime, gateway) = gateway().await;
    let mut client = Client::connect(gateway.facade, &format!("/ws?agent={ECHO_AGENT}"), &[]).await;

    let connected = checked(&spec, client.json().await);

    assert_eq!(connected["type"], "connected");
    assert_uuid(connected["session_id"].as_str().unwrap());
    assert_eq!(
        connected["connected"]["capabilities"],
        serde_json::json!({"binary_frames": false, "max_payload_size": 16 << 20, "protocol_version": 1})
    );
    assert!(connected["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(client.protocol, None);
}

#[tokio::test]
async fn the_only_agent_needs_no_query_and_the_api_agents_path_serves_too() {
    let spec = AsyncApi::load();
    let (_runtime, gateway) = gateway().await;
    for path in ["/ws", "/api/agents/echo-agent/ws?agent=echo-agent"] {
        let mut client = Client::connect(gateway.facade, path, &[]).await;
        assert_eq!(checked(&spec, client.json().await)["type"], "connected");
        let done = checked(
            &spec,
            client.ask(r#"{"type":"message","content":"hi"}"#).await,
        );
        assert_eq!(done["content"], "Echo: hi", "{path}");
    }
}

#[tokio::test]
async fn unknown_function_mode_and_unnamed_agents_are_404_before_the_upgrade() {
    let (_runtime, gateway) = gateway_with(&two_agents_yaml(), WsLimits::default()).await;
    for (query, detail) in [
        ("/ws?agent=nobody", "no agent-mode agent named \"nobody\""),
        (
            "/ws?agent=echo-function",
            "no agent-mode agent named \"echo-function\"",
        ),
        (
            "/ws?agent=echo-agent&namespace=prod",
            "in namespace \"prod\"",
        ),
        ("/ws", "say which with `?agent=NAME`"),
    ] {
        let reply = refused(gateway.facade, query, &[]).await;
        let body = reply.expect_error(404, "agent_not_found");
        assert!(
            body["detail"].as_str().unwrap().contains(detail),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn the_agents_auth_chain_runs_before_the_upgrade() {
    let (_runtime, gateway) = gateway_with(&two_agents_yaml(), WsLimits::default()).await;

    let reply = refused(gateway.facade, "/ws?agent=keyed-agent", &[]).await;
    reply.expect_error(401, "unauthorized");
    let bearer = format!("Bearer {GOOD_KEY}");
    let mut client = Client::connect(
        gateway.facade,
        "/ws?agent=keyed-agent",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(client.json().await["type"], "connected");
}

#[tokio::test]
async fn a_browser_can_send_its_key_as_a_bearer_subprotocol_and_only_that_is_selected() {
    let (_runtime, gateway) = gateway_with(&two_agents_yaml(), WsLimits::default()).await;
    let offered = format!("chat.v1, bearer.{GOOD_KEY}");

    let mut client = Client::connect(
        gateway.facade,
        "/ws?agent=keyed-agent",
        &[("sec-websocket-protocol", &offered)],
    )
    .await;

    assert_eq!(
        client.protocol.as_deref(),
        Some(&*format!("bearer.{GOOD_KEY}"))
    );
    assert_eq!(client.json().await["type"], "connected");
    let wrong = refused(
        gateway.facade,
        "/ws?agent=keyed-agent",
        &[("sec-websocket-protocol", "bearer.not-a-key")],
    )
    .await;
    wrong.expect_error(401, "unauthorized");
}

#[tokio::test]
async fn origins_are_checked_after_auth_same_origin_by_default() {
    let (_runtime, gateway) = gateway().await;
    let path = format!("/ws?agent={ECHO_AGENT}");
    // The upgrade request's Host is `localhost`.
    let cross = refused(gateway.facade, &path, &[("origin", "https://evil.example")]).await;
    let body = cross.expect_error(403, "origin_not_allowed");
    assert!(body["detail"].as_str().unwrap().contains("evil.example"));
    let mut same = Client::connect(gateway.facade, &path, &[("origin", "http://localhost")]).await;
    assert_eq!(same.json().await["type"], "connected");

    let listed = WsLimits {
        origins: OriginPolicy::from_list("https://app.example.com"),
        ..WsLimits::default()
    };
    let (_runtime, gateway) = gateway_with(&yaml(), listed).await;
    let mut allowed = Client::connect(
        gateway.facade,
        &path,
        &[("origin", "https://APP.example.com")],
    )
    .await;
    assert_eq!(allowed.json().await["type"], "connected");
    refused(gateway.facade, &path, &[("origin", "http://localhost")])
        .await
        .expect_error(403, "origin_not_allowed");
}

#[tokio::test]
async fn a_plain_get_on_ws_is_400_and_past_the_connection_cap_is_503() {
    let limits = WsLimits {
        max_connections: 1,
        ..WsLimits::default()
    };
    let (_runtime, gateway) = gateway_with(&yaml(), limits).await;

    let plain = get(gateway.facade, "/ws").await;
    plain.expect_error(400, "bad_request");

    let mut first = Client::connect(gateway.facade, "/ws", &[]).await;
    assert_eq!(first.json().await["type"], "connected");
    let second = refused(gateway.facade, "/ws", &[]).await;
    second.expect_error(503, "unavailable");
    assert_eq!(second.header("retry-after"), "1");

    // The seat comes back when the first closes.
    first.send_frame(Frame::close(1000, b"")).await;
    assert_eq!(first.closed().await, Some(1000));
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let reply = refused(gateway.facade, "/ws", &[]).await;
        if reply.status != 503 {
            assert_eq!(reply.status, 101, "{reply:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the seat never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Messages and bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn echo_answers_content_or_parts_with_one_done_in_the_session() {
    let spec = AsyncApi::load();
    let (_runtime, gateway) = gateway().await;
    let (mut client, session) = connect(&gateway, &spec).await;

    let done = checked(
        &spec,
        client.ask(r#"{"type":"message","content":"hello"}"#).await,
    );
    assert_eq!(done["type"], "done");
    assert_eq!(done["content"], "Echo: hello");
    assert_eq!(done["session_id"], session.as_str());

    let parts = r#"{"type":"message","parts":[{"type":"text","text":"from parts"}]}"#;
    assert_eq!(client.ask(parts).await["content"], "Echo: from parts");
}

#[tokio::test]
async fn bad_input_gets_an_error_frame_and_the_connection_stays_open() {
    let spec = AsyncApi::load();
    let (_runtime, gateway) = gateway().await;
    let (mut client, _) = connect(&gateway, &spec).await;

    for (frame, code, says) in [
        ("not json", "INVALID_MESSAGE", "invalid message format"),
        (
            r#"{"type":"shout"}"#,
            "INVALID_MESSAGE",
            "unknown message type `shout`",
        ),
        (
            r#"{"type":"message"}"#,
            "INVALID_MESSAGE",
            "needs `content` or `parts`",
        ),
        (
            r#"{"type":"tool_result","tool_result":{"call_id":"c1","result":1}}"#,
            "INVALID_MESSAGE",
            "no pending tool call",
        ),
        (
            r#"{"type":"tool_call_ack","tool_call_ack":{"call_id":"c1"}}"#,
            "INVALID_MESSAGE",
            "no pending tool call",
        ),
        (
            r#"{"type":"tool_call_nack","tool_call_nack":{"call_id":"c1","reason":"no"}}"#,
            "INVALID_MESSAGE",
            "no pending tool call",
        ),
        (
            r#"{"type":"tool_result"}"#,
            "INVALID_MESSAGE",
            "needs its `tool_result` object",
        ),
        (
            r#"{"type":"upload_request","upload_request":{"filename":"a.png","mime_type":"image/png","size_bytes":10}}"#,
            "MEDIA_NOT_ENABLED",
            "media storage is not enabled",
        ),
    ] {
        let error = expect_error(&spec, client.ask(frame).await, code);
        assert!(
            error["error"]["message"].as_str().unwrap().contains(says),
            "{frame}: {error}"
        );
    }
    client
        .send_frame(Frame::binary(Payload::Borrowed(b"\x00\x01")))
        .await;
    expect_error(&spec, client.json().await, "INVALID_MESSAGE");

    // A hangup is not answered; the connection still serves the next message.
    client.send_text(r#"{"type":"hangup"}"#).await;
    assert!(
        client
            .recv_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    let done = client
        .ask(r#"{"type":"message","content":"still here"}"#)
        .await;
    assert_eq!(done["content"], "Echo: still here");
}

#[tokio::test]
async fn messages_past_the_rate_are_refused_without_closing() {
    let spec = AsyncApi::load();
    let limits = WsLimits {
        messages_per_second: 0,
        message_burst: 3,
        ..WsLimits::default()
    };
    let (_runtime, gateway) = gateway_with(&yaml(), limits).await;
    let (mut client, _) = connect(&gateway, &spec).await;

    for _ in 0..3 {
        expect_error(&spec, client.ask("{}").await, "INVALID_MESSAGE");
    }
    let limited = expect_error(
        &spec,
        client
            .ask(r#"{"type":"message","content":"one more"}"#)
            .await,
        "RATE_LIMITED",
    );
    assert_eq!(limited["error"]["message"], "rate limit exceeded");
    // Still open: pings are answered (control frames are not rate limited).
    client
        .send_frame(Frame::new(
            true,
            OpCode::Ping,
            None,
            Payload::Borrowed(b"p"),
        ))
        .await;
    assert!(matches!(client.recv().await, Received::Pong));
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009_whole_or_in_fragments() {
    let limits = WsLimits {
        max_message_bytes: 1024,
        ..WsLimits::default()
    };
    let (_runtime, gateway) = gateway_with(&yaml(), limits).await;
    let big = format!(r#"{{"type":"message","content":"{}"}}"#, "x".repeat(2000));

    let mut whole = Client::connect(gateway.facade, "/ws", &[]).await;
    whole.json().await;
    whole.send_text(&big).await;
    assert_eq!(whole.closed().await, Some(1009));

    let mut fragmented = Client::connect(gateway.facade, "/ws", &[]).await;
    fragmented.json().await;
    let (first, rest) = big.as_bytes().split_at(900);
    fragmented
        .send_frame(Frame::new(
            false,
            OpCode::Text,
            None,
            Payload::Borrowed(first),
        ))
        .await;
    fragmented
        .send_frame(Frame::new(
            true,
            OpCode::Continuation,
            None,
            Payload::Borrowed(rest),
        ))
        .await;
    assert_eq!(fragmented.closed().await, Some(1009));

    // Exactly the limit is fine.
    let mut fits = Client::connect(gateway.facade, "/ws", &[]).await;
    fits.json().await;
    let padding = 1024 - r#"{"type":"message","content":""}"#.len();
    let exact = format!(
        r#"{{"type":"message","content":"{}"}}"#,
        "y".repeat(padding)
    );
    assert_eq!(exact.len(), 1024);
    assert_eq!(fits.ask(&exact).await["type"], "done");
}

#[tokio::test]
async fn text_that_is_not_utf8_closes_with_1007() {
    let (_runtime, gateway) = gateway().await;
    let mut client = Client::connect(gateway.facade, "/ws", &[]).await;
    client.json().await;

    client
        .send_frame(Frame::text(Payload::Borrowed(
            b"{\"type\":\"message\",\"content\":\"\xff\"}",
        )))
        .await;

    assert_eq!(client.closed().await, Some(1007));
}

#[tokio::test]
async fn a_client_close_is_answered_with_the_same_code() {
    let (_runtime, gateway) = gateway().await;
    let mut client = Client::connect(gateway.facade, "/ws", &[]).await;
    client.json().await;

    client.send_frame(Frame::close(4001, b"bye")).await;

    assert_eq!(client.closed().await, Some(4001));
}

// ---------------------------------------------------------------------------------------------
// Pings and shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pings_go_out_and_a_client_that_never_pongs_is_closed() {
    let limits = WsLimits {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(350),
        ..WsLimits::default()
    };
    let (_runtime, gateway) = gateway_with(&yaml(), limits).await;

    let mut answering = Client::connect(gateway.facade, "/ws", &[]).await;
    answering.json().await;
    let mut silent = Client::connect(gateway.facade, "/ws", &[]).await;
    silent.json().await;
    silent.stop_answering_pings();

    let (_, code) = tokio::join!(answering.idle(Duration::from_millis(700)), async {
        assert!(matches!(silent.recv().await, Received::Ping));
        silent.closed().await
    });
    assert_eq!(code, Some(1001));
    // The one that answered its pings is still served.
    let done = answering
        .ask(r#"{"type":"message","content":"alive"}"#)
        .await;
    assert_eq!(done["content"], "Echo: alive");
}

#[tokio::test]
async fn shutdown_closes_every_websocket_with_1001_and_refuses_new_ones() {
    let (_runtime, gateway) = gateway().await;
    let mut client = Client::connect(gateway.facade, "/ws", &[]).await;
    client.json().await;
    let facade = gateway.facade;

    let stopping = tokio::spawn(gateway.shutdown());

    assert_eq!(client.closed().await, Some(1001));
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("the gateway did not stop")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(facade).await.is_err(),
        "the facade still accepts connections"
    );
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

async fn scrape(gateway: &TestGateway) -> String {
    String::from_utf8(get(gateway.health, "/metrics").await.body.to_vec()).unwrap()
}

/// The value of the series `name{labels}` in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn connections_sessions_messages_and_turns_are_counted_with_omnias_names() {
    let (_runtime, gateway) = gateway().await;
    let labels = r#"{agent="echo-agent",namespace="default"}"#;
    let mut client = Client::connect(gateway.facade, "/ws", &[]).await;
    client.json().await;
    let idle = scrape(&gateway).await;
    assert_eq!(
        value(&idle, &format!("omnia_agent_connections_active{labels}")),
        Some(1.0)
    );
    assert_eq!(
        value(&idle, &format!("omnia_agent_sessions_active{labels}")),
        Some(0.0)
    );

    client.ask(r#"{"type":"message","content":"one"}"#).await;
    client.ask(r#"{"type":"message","content":"two"}"#).await;
    client.ask("not json").await;

    let text = scrape(&gateway).await;
    for (series, expected) in [
        (format!("omnia_agent_connections_total{labels}"), 1.0),
        (format!("omnia_agent_sessions_active{labels}"), 1.0),
        (format!("omnia_agent_messages_received_total{labels}"), 3.0),
        // connected, two done, one error
        (format!("omnia_agent_messages_sent_total{labels}"), 4.0),
        (format!("omnia_agent_requests_inflight{labels}"), 0.0),
        (
            r#"omnia_agent_requests_total{agent="echo-agent",namespace="default",status="success"}"#.to_owned(),
            2.0,
        ),
        (
            r#"omnia_agent_request_duration_seconds_count{agent="echo-agent",handler="echo",namespace="default"}"#.to_owned(),
            2.0,
        ),
    ] {
        assert_eq!(value(&text, &series), Some(expected), "{series} in\n{text}");
    }
    // The upgrade itself is not an unrouted HTTP request.
    assert!(
        !text.contains("omnia_gateway_unrouted_requests_total{"),
        "{text}"
    );

    client.send_frame(Frame::close(1000, b"")).await;
    client.closed().await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let text = scrape(&gateway).await;
        if value(&text, &format!("omnia_agent_connections_active{labels}")) == Some(0.0) {
            assert_eq!(
                value(&text, &format!("omnia_agent_sessions_active{labels}")),
                Some(0.0)
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the connection is still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

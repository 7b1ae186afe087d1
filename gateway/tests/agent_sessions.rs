#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Conversations that survive reconnects and replicas: two gateway + runtime pairs sharing one
//! real `redis-server` (started by each test on a loopback port), resume by `session_id`, an
//! unknown session, and Redis going away and coming back mid-conversation.

mod support;

use std::time::{Duration, Instant};

use http::StatusCode;
use support::asyncapi::AsyncApi;
use support::ws::Client;
use support::*;

/// The mock agent with its context on the Redis at `port` (URL in the Secret `chat-redis`).
fn yaml(port: u16) -> String {
    let agent = include_str!("../../examples/mock-agent/agentruntime.yaml").replace(
        "  session:\n    type: memory\n    ttl: 1h\n",
        "  session:\n    type: redis\n    ttl: 1h\n    storeRef: {name: chat-redis}\n",
    );
    assert!(
        agent.contains("type: redis"),
        "the example's session block changed"
    );
    [
        echo_yaml(),
        agent,
        include_str!("../../examples/mock-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/mock-agent/provider.yaml").to_owned(),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: chat-redis}}\nstringData:\n  url: redis://127.0.0.1:{port}/0\n"
        ),
    ]
    .join("\n---\n")
}

/// A gateway and its own runtime, sharing the Redis in `yaml` with any other pair.
async fn pair(yaml: &str) -> TestGateway {
    let runtime = real_runtime(&load(yaml)).await;
    TestGateway::start(yaml, runtime.to_string(), Options::default()).await
}

/// Sends `message` and returns the turn's last frame (its `done` or `error`), checked.
async fn turn(
    client: &mut Client,
    spec: &AsyncApi,
    message: serde_json::Value,
) -> serde_json::Value {
    client.send_text(&message.to_string()).await;
    loop {
        let frame = spec.check(client.json().await.to_string().as_bytes());
        if frame["type"] == "done" || frame["type"] == "error" {
            return frame;
        }
    }
}

fn say(content: &str, session: Option<&str>) -> serde_json::Value {
    match session {
        Some(id) => serde_json::json!({"type": "message", "content": content, "session_id": id}),
        None => serde_json::json!({"type": "message", "content": content}),
    }
}

#[tokio::test]
async fn a_conversation_started_on_one_replica_goes_on_on_another_after_a_reconnect() {
    let spec = AsyncApi::load();
    let redis = Redis::start();
    let yaml = yaml(redis.port);
    let (first, second) = (pair(&yaml).await, pair(&yaml).await);

    let mut before = Client::connect(first.facade, "/ws?agent=mock-agent", &[]).await;
    let session = before.json().await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    turn(&mut before, &spec, say("my colour is blue", None)).await;
    turn(&mut before, &spec, say("and my pet is a cat", None)).await;
    drop(before);

    let mut after = Client::connect(second.facade, "/ws?agent=mock-agent", &[]).await;
    let minted = after.json().await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(minted, session);
    let done = turn(&mut after, &spec, say("what did I say?", Some(&session))).await;

    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(
        done["content"],
        "Earlier you said: \"my colour is blue\"; \"and my pet is a cat\"."
    );
    // Frames now belong to the resumed session, and it goes on without naming it again.
    assert_eq!(done["session_id"], session.as_str());
    let next = turn(&mut after, &spec, say("what did I say?", None)).await;
    assert_eq!(next["session_id"], session.as_str());
    assert!(
        next["content"]
            .as_str()
            .unwrap()
            .contains("\"what did I say?\""),
        "{next}"
    );
}

#[tokio::test]
async fn an_unknown_session_is_expired_and_the_connection_stays_usable() {
    let spec = AsyncApi::load();
    let redis = Redis::start();
    let gateway = pair(&yaml(redis.port)).await;
    let mut client = Client::connect(gateway.facade, "/ws?agent=mock-agent", &[]).await;
    let minted = client.json().await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let error = turn(
        &mut client,
        &spec,
        say("hello", Some("0b5c2f3e-never-seen")),
    )
    .await;

    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["code"], "SESSION_EXPIRED");
    assert_eq!(
        error["error"]["message"],
        "session context has expired; start a new session"
    );
    let done = turn(&mut client, &spec, say("hello", None)).await;
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(done["session_id"], minted.as_str());
}

#[tokio::test]
async fn redis_going_away_fails_the_turn_turns_readiness_and_its_return_needs_no_restart() {
    let spec = AsyncApi::load();
    let mut redis = Redis::start();
    let gateway = pair(&yaml(redis.port)).await;
    let mut client = Client::connect(gateway.facade, "/ws?agent=mock-agent", &[]).await;
    client.json().await;
    assert_eq!(
        turn(&mut client, &spec, say("first", None)).await["type"],
        "done"
    );

    redis.stop();
    let error = turn(&mut client, &spec, say("second", None)).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["code"], "INTERNAL_ERROR");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("redis at 127.0.0.1:{}", redis.port)),
        "{message}"
    );
    wait_for_readyz(gateway.health, StatusCode::SERVICE_UNAVAILABLE).await;

    redis.run();
    wait_for_readyz(gateway.health, StatusCode::OK).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let frame = turn(&mut client, &spec, say("third", None)).await;
        if frame["type"] == "done" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "turns never worked again: {frame}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn resuming_while_the_store_is_down_is_an_internal_error_naming_it() {
    let spec = AsyncApi::load();
    let mut redis = Redis::start();
    let gateway = pair(&yaml(redis.port)).await;
    let mut first = Client::connect(gateway.facade, "/ws?agent=mock-agent", &[]).await;
    let session = first.json().await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        turn(&mut first, &spec, say("hello", None)).await["type"],
        "done"
    );
    drop(first);

    redis.stop();
    let mut again = Client::connect(gateway.facade, "/ws?agent=mock-agent", &[]).await;
    again.json().await;
    let error = turn(&mut again, &spec, say("hello", Some(&session))).await;

    assert_eq!(error["error"]["code"], "INTERNAL_ERROR", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot be resumed now"), "{message}");
    assert!(
        message.contains(&format!("redis at 127.0.0.1:{}", redis.port)),
        "{message}"
    );
}

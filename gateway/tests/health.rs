#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The health port: `/healthz`, `/readyz` following the runtime, and `/metrics`.

mod support;

use support::*;

#[tokio::test]
async fn healthz_is_200_even_before_the_runtime_is_up() {
    let down = closed_address().await;
    let gateway = TestGateway::bind(&echo_yaml(), down.to_string(), Options::default()).await;

    let reply = get(gateway.health, "/healthz").await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["status"], "ok");
}

#[tokio::test]
async fn readyz_is_503_until_the_runtime_is_healthy_then_200() {
    let down = closed_address().await;
    let gateway = TestGateway::bind(&echo_yaml(), down.to_string(), Options::default()).await;

    let before = get(gateway.health, "/readyz").await;
    before.expect_error(503, "unavailable");
    assert!(before.header("retry-after").parse::<u32>().is_ok());

    let listener = tokio::net::TcpListener::bind(down).await.unwrap();
    let _runtime = FakeRuntime::start_on(listener, Behaviour::Echo);
    wait_ready(gateway.health).await;
    let after = get(gateway.health, "/readyz").await;

    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.json()["status"], "ready");
}

#[tokio::test]
async fn metrics_count_a_successful_call_by_agent_namespace_and_status_class() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let reply = gateway.call(ECHO, r#"{"message":"count me"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    let metrics = get(gateway.health, "/metrics").await;

    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").starts_with("text/plain"));
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(
        text.lines().any(|line| line
            == r#"omnia_agent_requests_total{agent="echo-function",namespace="default",status="2xx"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_count_refused_calls_as_4xx() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let reply = gateway.call(ECHO, "{not json").await;
    reply.expect_error(400, "input_invalid");

    let text = String::from_utf8(get(gateway.health, "/metrics").await.body.to_vec()).unwrap();

    assert!(
        text.lines().any(|line| line
            == r#"omnia_agent_requests_total{agent="echo-function",namespace="default",status="4xx"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains(r#"agent="echo-function",namespace="default",status="2xx""#),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_health_path_is_404_json() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = get(gateway.health, "/status").await;

    reply.expect_error(404, "not_found");
}

#[tokio::test]
async fn in_process_shutdown_finishes_an_in_flight_call_and_turns_readyz_503() {
    let runtime = FakeRuntime::start(Behaviour::Hold).await;
    let gateway = TestGateway::echo(&runtime).await;
    let facade = gateway.facade;
    let health = gateway.health;
    let call = tokio::spawn(async move {
        post_json(
            facade,
            &format!("/functions/{ECHO}"),
            r#"{"message":"drain me"}"#,
        )
        .await
    });
    runtime.wait_for_calls(1).await;

    let shutdown = tokio::spawn(gateway.shutdown());
    wait_for_readyz(health, http::StatusCode::SERVICE_UNAVAILABLE).await;
    runtime.release();
    let reply = call.await.unwrap();

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "drain me");
    shutdown.await.unwrap();
}

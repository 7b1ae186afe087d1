#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The health port: `/healthz`, `/readyz` following the runtime, and `/metrics`.

mod support;

use std::time::{Duration, Instant};

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
    let down = DownRuntime::new();
    let gateway = TestGateway::bind(&echo_yaml(), down.address(), Options::default()).await;

    let before = get(gateway.health, "/readyz").await;
    before.expect_error(503, "unavailable");
    assert!(before.header("retry-after").parse::<u32>().is_ok());

    let _runtime = down.start(Behaviour::Echo);
    wait_ready(gateway.health).await;
    let after = get(gateway.health, "/readyz").await;

    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.json()["status"], "ready");
}

/// `/metrics` on `health`, as text.
async fn scrape(health: std::net::SocketAddr) -> String {
    let reply = get(health, "/metrics").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.header("content-type").starts_with("text/plain"));
    String::from_utf8(reply.body.to_vec()).unwrap()
}

/// Scrapes until `ready` holds for the text (connections close asynchronously after the
/// client is done), and returns that text.
async fn scrape_until(health: std::net::SocketAddr, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = scrape(health).await;
        if ready(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never reached:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sample lines of `text` whose series starts with `prefix`, as `(series, value)`.
fn samples<'a>(text: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit_once(' '))
        .collect()
}

const ECHO_LABELS: &str = r#"agent="echo-function",namespace="default""#;

fn connections_active(text: &str) -> &str {
    let series = format!("omnia_agent_connections_active{{{ECHO_LABELS}}}");
    samples(text, &series)
        .first()
        .map_or("missing", |&(_, value)| value)
}

#[tokio::test]
async fn metrics_after_a_success_a_4xx_and_a_5xx_are_omnias_series() {
    let down = DownRuntime::new();
    let gateway = TestGateway::bind(&echo_yaml(), down.address(), Options::default()).await;
    gateway
        .call(ECHO, r#"{"message":"anyone?"}"#)
        .await
        .expect_error(502, "runtime_error");
    let _runtime = down.start(Behaviour::Echo);
    wait_ready(gateway.health).await;
    let reply = gateway.call(ECHO, r#"{"message":"count me"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    gateway
        .call(ECHO, "{not json")
        .await
        .expect_error(400, "input_invalid");

    let text = scrape_until(gateway.health, |text| connections_active(text) == "0").await;

    // No WebSocket agent is served, so no series pretends to count sessions.
    assert!(!text.contains("omnia_agent_sessions_active"), "{text}");
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    assert_eq!(
        types,
        [
            "# TYPE omnia_agent_connections_active gauge",
            "# TYPE omnia_agent_connections_total counter",
            "# TYPE omnia_agent_requests_inflight gauge",
            "# TYPE omnia_agent_requests_total counter",
            "# TYPE omnia_agent_request_duration_seconds histogram",
            "# TYPE omnia_gateway_unrouted_requests_total counter",
            "# TYPE omnia_gateway_connections_refused_total counter",
        ]
    );
    let l = ECHO_LABELS;
    let counters: Vec<String> = [
        ("omnia_agent_connections_active", "", "0"),
        ("omnia_agent_connections_total", "", "3"),
        ("omnia_agent_requests_inflight", "", "0"),
        (
            "omnia_agent_requests_total",
            r#",status="success",status_class="2xx""#,
            "1",
        ),
        (
            "omnia_agent_requests_total",
            r#",status="error",status_class="4xx""#,
            "1",
        ),
        (
            "omnia_agent_requests_total",
            r#",status="error",status_class="5xx""#,
            "1",
        ),
    ]
    .iter()
    .map(|(name, extra, value)| format!("{name}{{{l}{extra}}} {value}"))
    .collect();
    let seen: Vec<String> = text
        .lines()
        .filter(|line| line.starts_with("omnia_agent_") && !line.contains("_duration_"))
        .map(str::to_owned)
        .collect();
    assert_eq!(seen, counters, "{text}");

    // Bucket counts depend on how long the calls took, so only the series and totals are exact.
    let h = r#"agent="echo-function",handler="runtime",namespace="default""#;
    let histogram = samples(&text, "omnia_agent_request_duration_seconds");
    let series: Vec<&str> = histogram.iter().map(|&(series, _)| series).collect();
    let mut expected: Vec<String> = ["0.1", "0.5", "1", "2", "5", "10", "30", "60", "120", "+Inf"]
        .iter()
        .map(|le| format!("omnia_agent_request_duration_seconds_bucket{{{h},le=\"{le}\"}}"))
        .collect();
    expected.push(format!("omnia_agent_request_duration_seconds_sum{{{h}}}"));
    expected.push(format!("omnia_agent_request_duration_seconds_count{{{h}}}"));
    assert_eq!(series, expected, "{text}");
    assert_eq!(histogram[9].1, "3", "+Inf bucket: {text}");
    assert_eq!(histogram[11].1, "3", "count: {text}");

    assert!(!text.contains(r#"agent="""#), "{text}");
}

#[tokio::test]
async fn a_connection_counts_under_its_agent_once_a_call_is_routed_and_leaves_when_closed() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let stream = tokio::net::TcpStream::connect(gateway.facade)
        .await
        .unwrap();
    let (mut client, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let total = format!("omnia_agent_connections_total{{{ECHO_LABELS}}} ");

    let reply = client.send_request(get_request("/nope")).await.unwrap();
    assert_eq!(reply.status(), 404);
    let text = scrape(gateway.health).await;
    assert_eq!(connections_active(&text), "0", "{text}");
    assert!(text.contains(&format!("\n{total}0\n")), "{text}");
    assert!(
        text.contains("\nomnia_gateway_unrouted_requests_total{status_class=\"4xx\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains(r#"agent="""#), "{text}");

    for _ in 0..2 {
        let call = post_request(&format!("/functions/{ECHO}"), r#"{"message":"hi"}"#);
        let reply = client.send_request(call).await.unwrap();
        assert_eq!(reply.status(), 200);
        let text = scrape(gateway.health).await;
        assert_eq!(connections_active(&text), "1", "{text}");
        assert!(text.contains(&format!("\n{total}1\n")), "{text}");
    }

    drop(client);
    connection.await.unwrap().unwrap();
    let text = scrape_until(gateway.health, |text| connections_active(text) == "0").await;
    assert!(text.contains(&format!("\n{total}1\n")), "{text}");
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

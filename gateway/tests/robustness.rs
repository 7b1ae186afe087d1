#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bad input gets its typed 4xx JSON error, and the gateway keeps serving: after each one, the
//! next request on a new connection succeeds. Also HTTP/2 prior knowledge on the facade port.

mod support;

use bytes::Bytes;
use support::*;

#[tokio::test]
async fn invalid_utf8_in_a_json_string_is_400_and_the_gateway_keeps_serving() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway
        .call(ECHO, Bytes::from_static(b"{\"message\": \"\xff\xfe\xc3\"}"))
        .await;

    reply.expect_error(400, "input_invalid");
    assert_still_serving(&gateway).await;
}

#[tokio::test]
async fn one_hundred_thousand_nested_arrays_are_400_and_the_gateway_keeps_serving() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);

    let reply = gateway.call(ECHO, deep).await;

    reply.expect_error(400, "input_invalid");
    assert_still_serving(&gateway).await;
}

#[tokio::test]
async fn a_header_over_the_limit_is_431_json_and_the_gateway_keeps_serving() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    // Over the 64 KiB limit, within the transport's cap (see `limits.rs` for past it).
    let big = "a".repeat(70 * 1024);
    let request = format!(
        "POST /functions/{ECHO} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         X-Big: {big}\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{{\"message\":\"x\"}}"
    );

    let reply = raw(gateway.facade, request.into_bytes()).await;

    reply.expect_error(431, "headers_too_large");
    assert_still_serving(&gateway).await;
}

#[tokio::test]
async fn an_empty_body_is_400_and_the_gateway_keeps_serving() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, Bytes::new()).await;

    let body = reply.expect_error(400, "input_invalid");
    assert!(body["detail"].as_str().unwrap().contains("empty"), "{body}");
    assert_still_serving(&gateway).await;
}

#[tokio::test]
async fn traversal_encoded_and_nested_names_are_404_function_not_found() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    for path in [
        "/functions/../secret",
        "/functions/%2e%2e%2fsecret",
        "/functions/a/b",
        // Aimed at a real function: no decoding or normalising may turn these into it.
        "/functions/x/../echo-function",
        "/functions/echo%2dfunction",
    ] {
        let reply = post_json(gateway.facade, path, r#"{"message":"hi"}"#).await;
        reply.expect_error(404, "function_not_found");
    }

    assert!(
        runtime.seen().await.is_empty(),
        "a call reached the runtime"
    );
    assert_still_serving(&gateway).await;
}

#[tokio::test]
async fn a_malformed_request_line_does_not_stop_the_gateway() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    // Not HTTP at all: hyper refuses it at the framing level; whatever it answers, nothing crashes.
    let mut stream = tokio::net::TcpStream::connect(gateway.facade)
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"\x00\x01GARBAGE / HTTP/9.9\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(
        PATIENCE,
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut sink),
    )
    .await
    .expect("the gateway neither answered nor closed a garbage connection");

    assert_still_serving(&gateway).await;
}

#[tokio::test]
async fn http2_prior_knowledge_works_on_the_facade_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let request = http::Request::post(format!("http://{}/functions/{ECHO}", gateway.facade))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(
            br#"{"message":"over h2c"}"#,
        )))
        .unwrap();

    let reply = send_h2(gateway.facade, request).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["output"]["echo"], "over h2c");
    assert_uuid(body["invocation_id"].as_str().unwrap());
    assert_uuid(reply.header("x-request-id"));
}

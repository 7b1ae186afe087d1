#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `POST /functions/{name}` over real sockets: every row of DESIGN.md 4.1's table, the identity
//! the runtime receives, and the request id.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use support::*;

// ---------------------------------------------------------------------------------------------
// 200
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn real_runtime_answers_the_echo_example_in_the_envelope() {
    let yaml = echo_yaml();
    let runtime = real_runtime(&load(&yaml)).await;
    let gateway = TestGateway::start(&yaml, runtime.to_string(), Options::default()).await;

    let reply = gateway.call(ECHO, r#"{"message":"hello, omnia"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    let body = reply.json();
    assert_eq!(body["output"], serde_json::json!({"echo": "hello, omnia"}));
    assert_uuid(body["invocation_id"].as_str().unwrap());
    assert!(body["duration_ms"].is_u64(), "{body}");
    let usage = &body["usage"];
    assert!(usage["input_tokens"].is_u64(), "{body}");
    assert!(usage["output_tokens"].is_u64(), "{body}");
    assert!(usage["cost_usd"].is_number(), "{body}");
}

#[tokio::test]
async fn fake_runtime_answer_is_wrapped_in_the_envelope() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    let body = reply.json();
    assert_eq!(body["output"], serde_json::json!({"echo": "hi"}));
    let seen = runtime.seen().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(body["invocation_id"], seen[0].invocation_id.as_str());
    assert_uuid(&seen[0].invocation_id);
    assert!(body["duration_ms"].is_u64(), "{body}");
    assert_eq!(
        body["usage"],
        serde_json::json!({"input_tokens": 3, "output_tokens": 2, "cost_usd": 0.5})
    );
}

#[tokio::test]
async fn the_request_body_reaches_the_runtime_byte_for_byte() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let sent = " {\n  \"message\" :\t\"spaced \\u00e9\" }\n";

    let reply = gateway.call(ECHO, sent).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(runtime.seen().await[0].input_json, Bytes::from(sent));
    assert_eq!(reply.json()["output"]["echo"], "spaced é");
}

// ---------------------------------------------------------------------------------------------
// 400 input_invalid
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_body_of_many_wrong_items_gets_fifty_errors_and_the_count_of_the_rest() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let lists = "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {name: lists}
spec:
  mode: function
  promptPackRef: {name: echo-pack}
  providers: [{name: default, providerRef: {name: echo-provider}}]
  inputSchema: {type: array, items: {type: string}}
  outputSchema: {type: object}
";
    let yaml = format!("{}\n---\n{lists}", echo_yaml());
    let gateway = TestGateway::start(&yaml, runtime.address(), Options::default()).await;
    // About 600 KiB of numbers where strings are wanted: 100,000 violations.
    let body = format!("[{}]", vec!["12345"; 100_000].join(","));

    let reply = gateway.call("lists", body).await;

    let body = reply.expect_error(400, "input_invalid");
    assert_eq!(
        body["errors"].as_array().unwrap().len(),
        50,
        "{}",
        body["detail"]
    );
    assert_eq!(body["errors_omitted"], 100_000 - 50);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .ends_with("(and 99997 more)"),
        "{}",
        body["detail"]
    );
    assert!(runtime.seen().await.is_empty());
}

#[tokio::test]
async fn input_failing_the_schema_is_400_with_a_pointer_per_failure() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, r#"{"message": 5, "extra": true}"#).await;

    let body = reply.expect_error(400, "input_invalid");
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/message"), "{body}");
    // additionalProperties is a failure of the document root.
    assert!(pointers.contains(&""), "{body}");
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["message"].is_string())
    );
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

/// The echo example, but `message` must be an email address and the answer carries a
/// `date-time`.
fn formatted_echo_yaml() -> String {
    echo_yaml()
        .replace(
            "        description: \"Text to echo\"\n",
            "        description: \"Text to echo\"\n        format: email\n",
        )
        .replace(
            "    required: [\"echo\"]\n    properties:\n      echo:\n        type: string\n",
            "    required: [\"echo\"]\n    properties:\n      echo:\n        type: string\n      \
             at:\n        type: string\n        format: date-time\n",
        )
}

#[tokio::test]
async fn an_email_field_that_is_not_an_email_is_400_naming_its_pointer() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let yaml = formatted_echo_yaml();
    assert!(yaml.contains("format: email"), "the fixture did not apply");
    let gateway = TestGateway::start(&yaml, runtime.address(), Options::default()).await;

    let accepted = gateway.call(ECHO, r#"{"message":"ana@example.com"}"#).await;
    let reply = gateway.call(ECHO, r#"{"message":"not an email"}"#).await;

    assert_eq!(accepted.status, 200, "{accepted:?}");
    let body = reply.expect_error(400, "input_invalid");
    assert_eq!(body["errors"][0]["pointer"], "/message", "{body}");
    assert_eq!(
        runtime.seen().await.len(),
        1,
        "the bad email reached the runtime"
    );
}

#[tokio::test]
async fn an_output_date_time_that_is_not_one_is_502_output_invalid() {
    let runtime = FakeRuntime::start(Behaviour::Fixed(Bytes::from_static(
        br#"{"echo": "hi", "at": "next Tuesday"}"#,
    )))
    .await;
    let yaml = formatted_echo_yaml();
    assert!(
        yaml.contains("format: date-time"),
        "the fixture did not apply"
    );
    let gateway = TestGateway::start(&yaml, runtime.address(), Options::default()).await;

    let reply = gateway.call(ECHO, r#"{"message":"ana@example.com"}"#).await;

    let body = reply.expect_error(502, "output_invalid");
    assert_eq!(body["errors"][0]["pointer"], "/at", "{body}");
}

#[tokio::test]
async fn body_that_is_not_json_is_400() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, "{not json").await;

    let body = reply.expect_error(400, "input_invalid");
    assert!(
        body["detail"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

// ---------------------------------------------------------------------------------------------
// 401 unauthorized
// ---------------------------------------------------------------------------------------------

async fn keyed_gateway(runtime: &FakeRuntime) -> TestGateway {
    TestGateway::start(&keyed_yaml(), runtime.address(), Options::default()).await
}

fn keyed_call(authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = post_request(&format!("/functions/{KEYED}"), r#"{"message":"let me in"}"#);
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn keyed_function_called_without_a_key_is_401_with_www_authenticate() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = keyed_gateway(&runtime).await;

    let reply = send(gateway.facade, keyed_call(None)).await;

    reply.expect_error(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

#[tokio::test]
async fn keyed_function_called_with_a_wrong_key_is_401() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = keyed_gateway(&runtime).await;

    let reply = send(gateway.facade, keyed_call(Some("Bearer sk-not-a-key"))).await;

    reply.expect_error(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

#[tokio::test]
async fn keyed_function_called_with_its_key_is_200() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = keyed_gateway(&runtime).await;

    let reply = send(
        gateway.facade,
        keyed_call(Some(&format!("Bearer {GOOD_KEY}"))),
    )
    .await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "let me in");
}

#[tokio::test]
async fn keyed_function_called_with_an_expired_key_is_401() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = keyed_gateway(&runtime).await;

    let reply = send(
        gateway.facade,
        keyed_call(Some(&format!("Bearer {EXPIRED_KEY}"))),
    )
    .await;

    let body = reply.expect_error(401, "unauthorized");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

#[tokio::test]
async fn function_without_validators_refuses_anonymous_callers_unless_allowed() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        open_when_unconfigured: false,
        allow_unauthenticated: false,
        ..Options::default()
    };
    let gateway = TestGateway::start(&echo_yaml(), runtime.address(), options).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    reply.expect_error(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn allow_unauthenticated_opens_a_function_without_validators() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        open_when_unconfigured: false,
        allow_unauthenticated: true,
        ..Options::default()
    };
    let gateway = TestGateway::start(&keyed_yaml(), runtime.address(), options).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn allow_unauthenticated_does_not_open_a_function_that_configures_client_keys() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        allow_unauthenticated: true,
        ..Options::default()
    };
    let gateway = TestGateway::start(&keyed_yaml(), runtime.address(), options).await;

    let reply = send(gateway.facade, keyed_call(None)).await;

    reply.expect_error(401, "unauthorized");
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

fn edge_call(authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = post_request(&format!("/functions/{EDGE}"), r#"{"message":"hi"}"#);
    request
        .headers_mut()
        .insert("x-user-id", "edge-alice".parse().unwrap());
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn edge_headers_admit_the_edge_user() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(&edge_yaml(), runtime.address(), Options::default()).await;

    let reply = send(gateway.facade, edge_call(None)).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = runtime.seen().await;
    assert_eq!(seen[0].meta("x-omnia-user-id"), Some("edge-alice"));
}

#[tokio::test]
async fn edge_headers_with_a_bearer_token_nobody_owns_are_401() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(&edge_yaml(), runtime.address(), Options::default()).await;

    let reply = send(gateway.facade, edge_call(Some("Bearer garbage"))).await;

    reply.expect_error(401, "unauthorized");
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

// ---------------------------------------------------------------------------------------------
// 404, 405
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_function_is_404_function_not_found() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway
        .call("no-such-function", r#"{"message":"hi"}"#)
        .await;

    let body = reply.expect_error(404, "function_not_found");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no-such-function"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_path_is_404_not_found() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = post_json(gateway.facade, "/api/v1/echo", r#"{"message":"hi"}"#).await;

    reply.expect_error(404, "not_found");
}

#[tokio::test]
async fn get_on_a_function_is_405_with_allow_post() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = get(gateway.facade, &format!("/functions/{ECHO}")).await;

    reply.expect_error(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), "POST");
}

// ---------------------------------------------------------------------------------------------
// 413, 415
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn declared_content_length_over_the_limit_is_413_before_the_body_is_sent() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    // Headers only: the gateway must answer without waiting for the 2 MiB it was promised.
    let request = format!(
        "POST /functions/{ECHO} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        2 * 1024 * 1024
    );

    let reply = raw(gateway.facade, request.into_bytes()).await;

    reply.expect_error(413, "payload_too_large");
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

#[tokio::test]
async fn chunked_body_over_the_limit_without_content_length_is_413() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let mut request = format!(
        "POST /functions/{ECHO} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    // 17 chunks of 64 KiB: 1 MiB + 64 KiB of JSON-ish text, never declared up front.
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..17 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");

    let reply = raw(gateway.facade, request).await;

    reply.expect_error(413, "payload_too_large");
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

#[tokio::test]
async fn text_plain_body_is_415() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let mut request = post_request(&format!("/functions/{ECHO}"), r#"{"message":"hi"}"#);
    request
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());

    let reply = send(gateway.facade, request).await;

    reply.expect_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn json_content_type_with_charset_is_accepted() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let mut request = post_request(&format!("/functions/{ECHO}"), r#"{"message":"hi"}"#);
    request.headers_mut().insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );

    let reply = send(gateway.facade, request).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "hi");
}

// ---------------------------------------------------------------------------------------------
// 502 runtime_error, output_invalid
// ---------------------------------------------------------------------------------------------

/// A call timeout far above what any of these tests may take, so a hang cannot pass as a 502.
const LONG_CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn runtime_down_is_a_fast_502_runtime_error() {
    let down = closed_address().await;
    let options = Options {
        call_timeout: LONG_CALL_TIMEOUT,
        ..Options::default()
    };
    let gateway = TestGateway::bind(&echo_yaml(), down.to_string(), options).await;

    let started = Instant::now();
    let reply = gateway.call(ECHO, r#"{"message":"anyone?"}"#).await;
    let elapsed = started.elapsed();

    let body = reply.expect_error(502, "runtime_error");
    assert_uuid(body["invocation_id"].as_str().unwrap());
    // Not a benchmark: far below the 30 s call timeout proves the call did not hang.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn calls_succeed_again_once_a_runtime_comes_up_on_the_same_address() {
    let down = DownRuntime::new();
    let options = Options {
        call_timeout: LONG_CALL_TIMEOUT,
        ..Options::default()
    };
    let gateway = TestGateway::bind(&echo_yaml(), down.address(), options).await;
    let reply = gateway.call(ECHO, r#"{"message":"anyone?"}"#).await;
    reply.expect_error(502, "runtime_error");

    let _runtime = down.start(Behaviour::Echo);
    wait_ready(gateway.health).await;
    let reply = gateway.call(ECHO, r#"{"message":"back"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "back");
}

#[tokio::test]
async fn calls_reach_a_runtime_restarted_on_the_same_address() {
    let address = DownRuntime::new();
    let runtime = address.start(Behaviour::Echo);
    let gateway = TestGateway::bind(&echo_yaml(), address.address(), Options::default()).await;
    let reply = gateway.call(ECHO, r#"{"message":"first"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // The old process says GOAWAY and goes; the next call needs a new connection.
    runtime.stop().await;
    let runtime = address.start(Behaviour::Echo);
    let reply = gateway
        .call(ECHO, r#"{"message":"after the restart"}"#)
        .await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "after the restart");
    assert_eq!(runtime.seen().await.len(), 1);
}

#[tokio::test]
async fn a_runtime_failure_is_502_naming_the_grpc_code_but_not_the_runtimes_message() {
    let runtime = FakeRuntime::start(Behaviour::Fail(
        tonic::Code::Internal,
        "provider exploded calling 10.20.30.40:443".to_owned(),
    ))
    .await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    let body = reply.expect_error(502, "runtime_error");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("gRPC code Internal"), "{body}");
    assert!(!body.to_string().contains("10.20.30.40"), "{body}");
    assert!(!body.to_string().contains("exploded"), "{body}");
    assert_eq!(
        body["invocation_id"],
        runtime.seen().await[0].invocation_id.as_str()
    );
}

#[tokio::test]
async fn an_unreachable_runtime_is_502_without_its_address() {
    let down = closed_address().await;
    let options = Options {
        call_timeout: LONG_CALL_TIMEOUT,
        ..Options::default()
    };
    let gateway = TestGateway::bind(&echo_yaml(), down.to_string(), options).await;

    let reply = gateway.call(ECHO, r#"{"message":"anyone?"}"#).await;

    let body = reply.expect_error(502, "runtime_error");
    let text = body.to_string();
    assert!(!text.contains(&down.port().to_string()), "{body}");
    assert!(!text.contains("127.0.0.1"), "{body}");
    assert_uuid(body["invocation_id"].as_str().unwrap());
}

#[tokio::test]
async fn input_the_runtime_refuses_as_invalid_argument_is_400_input_invalid() {
    let said = "the prompt requires variable `text`, but the input has no top-level field `text`";
    let runtime = FakeRuntime::start(Behaviour::Fail(
        tonic::Code::InvalidArgument,
        said.to_owned(),
    ))
    .await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    let body = reply.expect_error(400, "input_invalid");
    assert!(body["detail"].as_str().unwrap().contains(said), "{body}");
}

/// The summarizer example with an `inputSchema` that lets `text` be left out, so the request
/// reaches the real runtime, whose prompt requires it.
fn loose_summarizer_yaml() -> String {
    let agent = include_str!("../../examples/summarizer/agentruntime.yaml")
        .replace(r#"required: ["text"]"#, "required: []");
    [
        agent.as_str(),
        include_str!("../../examples/summarizer/promptpack.yaml"),
        include_str!("../../examples/summarizer/provider.yaml"),
    ]
    .join("\n---\n")
}

#[tokio::test]
async fn input_missing_a_variable_the_prompt_requires_is_400_input_invalid_from_the_real_runtime() {
    let yaml = loose_summarizer_yaml();
    let runtime = real_runtime(&load(&yaml)).await;
    let gateway = TestGateway::start(&yaml, runtime.to_string(), Options::default()).await;

    let reply = gateway.call("summarizer", r#"{"maxWords": 20}"#).await;

    let body = reply.expect_error(400, "input_invalid");
    assert!(
        body["detail"].as_str().unwrap().contains("variable `text`"),
        "{body}"
    );
}

#[tokio::test]
async fn a_runtime_that_does_not_answer_in_time_is_502_saying_it_timed_out() {
    let runtime = FakeRuntime::start(Behaviour::Hold).await;
    let options = Options {
        call_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let gateway = TestGateway::start(&echo_yaml(), runtime.address(), options).await;

    let reply = gateway.call(ECHO, r#"{"message":"too slow"}"#).await;

    let body = reply.expect_error(502, "runtime_error");
    assert_eq!(
        body["detail"], "the runtime did not answer within 0.3 s",
        "{body}"
    );
    assert_uuid(body["invocation_id"].as_str().unwrap());
}

#[tokio::test]
async fn output_failing_the_schema_is_502_output_invalid_with_the_raw_output_as_an_object() {
    let runtime =
        FakeRuntime::start(Behaviour::Fixed(Bytes::from_static(br#"{"echo": 42}"#))).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    let body = reply.expect_error(502, "output_invalid");
    assert_eq!(
        body["raw_output"],
        serde_json::json!({"echo": 42}),
        "{body}"
    );
    assert_eq!(
        body["invocation_id"],
        runtime.seen().await[0].invocation_id.as_str()
    );
    assert_eq!(body["errors"][0]["pointer"], "/echo", "{body}");
}

#[tokio::test]
async fn output_that_is_not_json_is_502_output_invalid_with_the_raw_output_as_a_string() {
    let said = "Sure! Here is your JSON: {\"echo\": \"hi\"";
    let runtime = FakeRuntime::start(Behaviour::Fixed(Bytes::from_static(said.as_bytes()))).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    let body = reply.expect_error(502, "output_invalid");
    assert_eq!(body["raw_output"], said, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not JSON"),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// 503 unavailable
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn calls_beyond_max_in_flight_are_503_with_retry_after() {
    let runtime = FakeRuntime::start(Behaviour::Hold).await;
    let options = Options {
        max_in_flight: 1,
        ..Options::default()
    };
    let gateway = TestGateway::start(&echo_yaml(), runtime.address(), options).await;
    let facade = gateway.facade;
    let first = tokio::spawn(async move {
        post_json(
            facade,
            &format!("/functions/{ECHO}"),
            r#"{"message":"first"}"#,
        )
        .await
    });
    runtime.wait_for_calls(1).await;

    let shed = gateway.call(ECHO, r#"{"message":"second"}"#).await;

    shed.expect_error(503, "unavailable");
    assert!(
        shed.header("retry-after").parse::<u32>().is_ok(),
        "{shed:?}"
    );
    runtime.release();
    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        runtime.seen().await.len(),
        1,
        "the shed call reached the runtime"
    );
}

// ---------------------------------------------------------------------------------------------
// Identity metadata and request ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn identity_reaches_the_runtime_as_metadata_without_the_bearer_token() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = keyed_gateway(&runtime).await;

    let reply = send(
        gateway.facade,
        keyed_call(Some(&format!("Bearer {GOOD_KEY}"))),
    )
    .await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = runtime.seen().await;
    let call = &seen[0];
    assert_eq!(call.meta("x-omnia-agent-name"), Some(KEYED));
    assert_eq!(call.meta("x-omnia-namespace"), Some("default"));
    assert_eq!(
        call.meta("x-omnia-request-id"),
        Some(reply.header("x-request-id"))
    );
    assert_eq!(call.meta("x-omnia-user-id"), Some(GOOD_KEY_SECRET));
    assert_eq!(call.meta("authorization"), None, "{:?}", call.metadata);
    assert!(
        call.metadata.values().all(|v| !v
            .as_bytes()
            .windows(GOOD_KEY.len())
            .any(|w| w == GOOD_KEY.as_bytes())),
        "the key was forwarded: {:?}",
        call.metadata
    );
}

#[tokio::test]
async fn client_key_claims_reach_the_runtime_as_claim_metadata_and_role() {
    use base64::Engine as _;
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let scopes =
        base64::engine::general_purpose::STANDARD.encode(r#"{"role":"editor","tenant":"acme"}"#);
    let yaml = format!(
        "{}\n---\n{}",
        keyed_yaml(),
        key_secret(
            &format!("agent-{KEYED}-clientkey-tenant-bot"),
            KEYED,
            "sk-tenant-bot",
            &format!("  scopes: {scopes}\n"),
        )
    );
    let gateway = TestGateway::start(&yaml, runtime.address(), Options::default()).await;

    let reply = send(gateway.facade, keyed_call(Some("Bearer sk-tenant-bot"))).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = runtime.seen().await;
    let call = &seen[0];
    assert_eq!(call.meta("x-omnia-user-id"), Some("tenant-bot"));
    assert_eq!(call.meta("x-omnia-claim-role"), Some("editor"));
    assert_eq!(call.meta("x-omnia-claim-tenant"), Some("acme"));
}

#[tokio::test]
async fn a_sent_request_id_is_echoed_and_forwarded() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let mut request = post_request(&format!("/functions/{ECHO}"), r#"{"message":"hi"}"#);
    request
        .headers_mut()
        .insert("x-request-id", "trace-abc-123".parse().unwrap());

    let reply = send(gateway.facade, request).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("x-request-id"), "trace-abc-123");
    assert_eq!(
        runtime.seen().await[0].meta("x-omnia-request-id"),
        Some("trace-abc-123")
    );
}

#[tokio::test]
async fn a_request_id_is_minted_when_none_is_sent() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;

    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_uuid(reply.header("x-request-id"));
}

#[tokio::test]
async fn error_responses_carry_the_request_id_too() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::echo(&runtime).await;
    let mut echoed = get_request("/functions/nope");
    echoed
        .headers_mut()
        .insert("x-request-id", "err-echo-1".parse().unwrap());

    let echoed = send(gateway.facade, echoed).await;
    let minted = post_json(gateway.facade, "/nowhere", "{}").await;

    echoed.expect_error(405, "method_not_allowed");
    assert_eq!(echoed.header("x-request-id"), "err-echo-1");
    minted.expect_error(404, "not_found");
    assert_uuid(minted.header("x-request-id"));
}

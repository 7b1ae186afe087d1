#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Tool Manager and its `http` adapter against a local service (`omnia_fakes::FakeServer`):
//! every mapping option, auth, identity headers, retries, bounds, timeouts, argument checks and
//! the circuit breaker; then a whole Converse turn whose mock model calls an http tool.

mod tool_call;

use std::collections::BTreeMap;
use std::time::Duration;

use omnia_api::{
    ApiKey, HandlerKind, HttpRetryPolicy, HttpTool, ToolAuth, ToolDefinition, ToolHandler,
    ToolRegistry,
};
use omnia_fakes::{FakeServer, Reply, StreamReply};
use omnia_runtime::provider::ToolCallRequest;
use omnia_runtime::{ToolContext, ToolExecutor, ToolManager};
use serde_json::{Value, json};

fn http(endpoint: String) -> HttpTool {
    HttpTool {
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
    }
}

fn retry(max_attempts: u32, initial_backoff: Duration, retry_on: Vec<u16>) -> HttpRetryPolicy {
    HttpRetryPolicy {
        max_attempts,
        initial_backoff,
        backoff_multiplier: 2.0,
        max_backoff: initial_backoff,
        retry_on,
        retry_on_network_error: true,
        respect_retry_after: true,
    }
}

fn registry_with(config: HttpTool, schema: Value, timeout: Duration) -> ToolRegistry {
    ToolRegistry {
        name: "tools".into(),
        namespace: "agents".into(),
        handlers: vec![ToolHandler {
            name: "orders".into(),
            kind: HandlerKind::Http(config),
            tool: Some(ToolDefinition {
                name: "lookup".into(),
                description: "Looks something up".into(),
                input_schema: schema,
                output_schema: None,
            }),
            timeout,
        }],
    }
}

fn manager(config: HttpTool) -> ToolManager {
    ToolManager::new(&registry_with(
        config,
        json!({"type": "object"}),
        Duration::from_secs(30),
    ))
    .unwrap()
}

async fn call(manager: &ToolManager, arguments: Value) -> Result<String, String> {
    call_text(manager, &arguments.to_string()).await
}

async fn call_text(manager: &ToolManager, arguments: &str) -> Result<String, String> {
    tool_call::call_text(manager, "lookup", arguments).await
}

fn query(recorded: &omnia_fakes::Recorded) -> Vec<(String, String)> {
    let query = recorded.query.clone().unwrap_or_default();
    url_pairs(&query)
}

/// `a=1&b=x+y` as pairs, decoded.
fn url_pairs(text: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{text}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_post_maps_path_query_header_and_static_fields_and_returns_the_body() {
    let fake = FakeServer::start().await;
    fake.push(Reply::json(
        200,
        &json!({"order": "A-1", "status": "shipped"}),
    ));
    let mut config = http(format!("{}/base", fake.base_url()));
    config.url_template = Some("/users/{{.user_id}}".into());
    config.query_params = vec!["verbose".into()];
    config.header_params = BTreeMap::from([("x-tenant".into(), "tenant-{{.tenant}}".into())]);
    config.static_query = BTreeMap::from([("api-version".into(), "2".into())]);
    config.static_body = Some(json!({"source": "agent", "note": "static wins"}));
    config.headers = BTreeMap::from([("x-static".into(), "yes".into())]);
    let tools = manager(config);
    let result = call(
        &tools,
        json!({"user_id": "a b/c", "verbose": true, "tenant": "acme", "note": "hi", "n": 3}),
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&result).unwrap(),
        json!({"order": "A-1", "status": "shipped"}),
        "the body comes back as JSON"
    );
    let request = fake.request(0).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/base/users/a%20b%2Fc");
    assert_eq!(
        query(&request),
        [
            ("verbose".to_owned(), "true".to_owned()),
            ("api-version".to_owned(), "2".to_owned())
        ]
    );
    assert_eq!(request.header("x-tenant"), Some("tenant-acme"));
    assert_eq!(request.header("x-static"), Some("yes"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({"note": "static wins", "n": 3, "source": "agent"}),
        "placed arguments leave the body; staticBody is merged in and wins"
    );
}

#[tokio::test]
async fn get_and_delete_send_the_arguments_in_the_query_string() {
    for method in ["GET", "DELETE"] {
        let fake = FakeServer::start().await;
        fake.push(Reply::status(200, "plain text result"));
        let mut config = http(format!("{}/search", fake.base_url()));
        config.method = method.into();
        config.static_query = BTreeMap::from([("k".into(), "v".into())]);
        let tools = manager(config);
        let result = call(&tools, json!({"q": "red shoes", "tags": ["a", "b"]}))
            .await
            .unwrap();
        assert_eq!(result, "plain text result");
        let request = fake.request(0).await;
        assert_eq!(request.method, method);
        assert_eq!(request.path, "/search");
        let mut pairs = query(&request);
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("k".to_owned(), "v".to_owned()),
                ("q".to_owned(), "red shoes".to_owned()),
                ("tags".to_owned(), "a".to_owned()),
                ("tags".to_owned(), "b".to_owned())
            ]
        );
        assert!(request.body.is_empty(), "{method} has no body");
    }
}

#[tokio::test]
async fn a_form_content_type_sends_a_form_body() {
    let fake = FakeServer::start().await;
    fake.push(Reply::json(200, &json!({})));
    let mut config = http(fake.base_url());
    config.method = "put".into();
    config.content_type = "application/x-www-form-urlencoded".into();
    call(&manager(config), json!({"a": 1, "b": "x y"}))
        .await
        .unwrap();
    let request = fake.request(0).await;
    assert_eq!(request.method, "PUT");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let mut pairs = url_pairs(std::str::from_utf8(&request.body).unwrap());
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "x y".to_owned())
        ]
    );
}

#[tokio::test]
async fn each_auth_type_sends_its_header_and_identity_headers_go_on_every_request() {
    let cases = [
        (None, "authorization", None),
        (
            Some(ToolAuth::Bearer(ApiKey::new("tok-1"))),
            "authorization",
            Some("Bearer tok-1"),
        ),
        (
            Some(ToolAuth::Basic {
                user: "user".into(),
                password: ApiKey::new("pw"),
            }),
            "authorization",
            Some("Basic dXNlcjpwdw=="),
        ),
        (
            Some(ToolAuth::ApiKeyHeader {
                header: "X-API-Key".into(),
                value: ApiKey::new("key-9"),
            }),
            "x-api-key",
            Some("key-9"),
        ),
    ];
    for (auth, header, expected) in cases {
        let fake = FakeServer::start().await;
        fake.push(Reply::json(200, &json!({"ok": true})));
        let mut config = http(fake.base_url());
        config.auth = auth;
        call(&manager(config), json!({})).await.unwrap();
        let request = fake.request(0).await;
        assert_eq!(request.header(header), expected, "{header}");
        assert_eq!(request.header("x-omnia-agent-name"), Some("support"));
        assert_eq!(request.header("x-omnia-namespace"), Some("agents"));
        assert_eq!(request.header("x-omnia-session-id"), Some("session-1"));
        assert_eq!(request.header("x-omnia-tool-name"), Some("lookup"));
        assert_eq!(request.header("x-omnia-tool-call-id"), Some("call-7"));
    }
}

#[tokio::test]
async fn retry_after_is_honoured_then_the_call_succeeds() {
    let fake = FakeServer::start().await;
    fake.push(Reply::status(429, "slow down").with_header("retry-after", "0"));
    fake.push(Reply::status(503, "busy").with_header("retry-after", "0"));
    fake.push(Reply::json(200, &json!({"ok": true})));
    let mut config = http(fake.base_url());
    // A backoff far past the call's 30 s timeout: only honouring Retry-After lets a retry start.
    config.retry = Some(retry(3, Duration::from_secs(3600), vec![429, 503]));
    let result = call(&manager(config), json!({})).await.unwrap();
    assert_eq!(result, r#"{"ok":true}"#);
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn retries_give_up_after_max_attempts_with_the_status() {
    let fake = FakeServer::start().await;
    for _ in 0..3 {
        fake.push(Reply::status(503, r#"{"error": "database down"}"#));
    }
    let mut config = http(fake.base_url());
    config.retry = Some(retry(3, Duration::from_millis(1), vec![503]));
    let error = call(&manager(config), json!({})).await.unwrap_err();
    assert!(error.contains("503"), "{error}");
    assert!(error.contains("database down"), "{error}");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_status_not_in_retry_on_is_not_retried() {
    let fake = FakeServer::start().await;
    fake.push(Reply::status(500, "boom"));
    fake.push(Reply::json(200, &json!({})));
    let mut config = http(fake.base_url());
    config.retry = Some(retry(3, Duration::from_millis(1), vec![503]));
    let error = call(&manager(config), json!({})).await.unwrap_err();
    assert!(error.contains("500") && error.contains("boom"), "{error}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn an_oversized_answer_is_a_clear_tool_error() {
    let fake = FakeServer::start().await;
    fake.push(Reply::status(200, "x".repeat(11 * 1024 * 1024)));
    let error = call(&manager(http(fake.base_url())), json!({}))
        .await
        .unwrap_err();
    assert!(error.contains("more than 10485760 bytes"), "{error}");
}

#[tokio::test]
async fn a_service_that_stalls_times_out_as_a_tool_error() {
    let fake = FakeServer::start().await;
    fake.push(StreamReply::sse(["data: {}\n\n"]).stall());
    let tools = ToolManager::new(&registry_with(
        http(fake.base_url()),
        json!({"type": "object"}),
        Duration::from_millis(300),
    ))
    .unwrap();
    let error = call(&tools, json!({})).await.unwrap_err();
    assert!(error.contains("did not answer within 300 ms"), "{error}");
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_request() {
    let fake = FakeServer::start().await;
    let tools = ToolManager::new(&registry_with(
        http(fake.base_url()),
        json!({"type": "object", "properties": {"order_id": {"type": "string"}},
               "required": ["order_id"]}),
        Duration::from_secs(30),
    ))
    .unwrap();
    let error = call(&tools, json!({"order_id": 5})).await.unwrap_err();
    assert!(
        error.contains("input schema") && error.contains("/order_id"),
        "{error}"
    );
    let error = call(&tools, json!({})).await.unwrap_err();
    assert!(error.contains("order_id"), "{error}");
    let error = call_text(&tools, "[1, 2]").await.unwrap_err();
    assert!(error.contains("not a JSON object"), "{error}");
    let error = call_text(&tools, "{nope").await.unwrap_err();
    assert!(error.contains("not JSON"), "{error}");
    assert!(fake.requests().is_empty(), "no request was made");
}

#[tokio::test]
async fn a_client_error_is_reported_with_status_and_excerpt() {
    let fake = FakeServer::start().await;
    fake.push(Reply::status(404, r#"{"error": "no order A-9"}"#));
    let error = call(&manager(http(fake.base_url())), json!({}))
        .await
        .unwrap_err();
    assert!(
        error.contains("404") && error.contains("no order A-9"),
        "{error}"
    );
}

#[tokio::test]
async fn the_breaker_opens_after_five_failures_and_half_opens_after_its_cool_down() {
    let fake = FakeServer::start().await;
    let cool_down = Duration::from_millis(300);
    let tools = ToolManager::with_breaker(
        &registry_with(
            http(fake.base_url()),
            json!({"type": "object"}),
            Duration::from_secs(30),
        ),
        5,
        cool_down,
    )
    .unwrap();
    for _ in 0..5 {
        fake.push(Reply::status(500, "down"));
    }
    for n in 0..5 {
        let error = call(&tools, json!({})).await.unwrap_err();
        assert!(error.contains("500"), "call {n}: {error}");
    }
    let error = call(&tools, json!({})).await.unwrap_err();
    assert!(
        error.contains("unavailable") && error.contains("5 times"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 5, "an open circuit sends nothing");

    // After the cool-down one probe goes through; it fails, and the circuit opens again.
    tokio::time::sleep(cool_down * 2).await;
    fake.push(Reply::status(500, "still down"));
    let error = call(&tools, json!({})).await.unwrap_err();
    assert!(error.contains("still down"), "{error}");
    let error = call(&tools, json!({})).await.unwrap_err();
    assert!(error.contains("unavailable"), "{error}");
    assert_eq!(fake.requests().len(), 6);

    // A probe that succeeds closes it.
    tokio::time::sleep(cool_down * 2).await;
    fake.push(Reply::json(200, &json!({"ok": 1})));
    fake.push(Reply::json(200, &json!({"ok": 2})));
    assert_eq!(call(&tools, json!({})).await.unwrap(), r#"{"ok":1}"#);
    assert_eq!(call(&tools, json!({})).await.unwrap(), r#"{"ok":2}"#);
}

#[test]
fn a_bad_registry_is_a_start_up_error_naming_handler_and_field() {
    let mut config = http("http://127.0.0.1:1".into());
    config.headers = BTreeMap::from([("x-bad".into(), "line\nbreak".into())]);
    let error = ToolManager::new(&registry_with(
        config,
        json!({"type": "object"}),
        Duration::from_secs(1),
    ))
    .unwrap_err();
    assert_eq!(error.handler, "orders");
    assert_eq!(error.field, "httpConfig.headers");
    let error = ToolManager::new(&registry_with(
        http("http://127.0.0.1:1".into()),
        json!({"type": "no-such-type"}),
        Duration::from_secs(1),
    ))
    .unwrap_err();
    assert_eq!(error.field, "tool.inputSchema");
    assert!(error.to_string().contains("agents/tools"), "{error}");
}

#[test]
fn the_manager_offers_its_tools_and_describes_client_tools() {
    let mut registry = registry_with(
        http("http://127.0.0.1:1".into()),
        json!({"type": "object"}),
        Duration::from_secs(1),
    );
    registry.handlers.push(ToolHandler {
        name: "location".into(),
        kind: HandlerKind::Client(omnia_api::ClientToolConfig {
            consent_message: "Share your location?".into(),
            categories: vec!["location".into()],
        }),
        tool: Some(ToolDefinition {
            name: "get_location".into(),
            description: "Where the user is".into(),
            input_schema: json!({"type": "object"}),
            output_schema: None,
        }),
        timeout: Duration::from_secs(1),
    });
    let tools = ToolManager::new(&registry).unwrap();
    let names: Vec<String> = tools.tools().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["lookup", "get_location"]);
    assert!(tools.runs("lookup"));
    assert!(
        !tools.runs("get_location"),
        "client tools run on the client"
    );
    let client = tools.client_tool("get_location").unwrap();
    assert_eq!(client.consent_message, "Share your location?");
    assert_eq!(client.categories, ["location"]);
}

mod converse {
    use omnia_proto::Utf8Bytes;
    use omnia_proto::runtime::v1::ClientMessage;
    use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
    use omnia_proto::runtime::v1::server_message::Message;
    use omnia_runtime::{Runtime, RuntimeOptions};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;
    use tokio_stream::StreamExt;
    use tokio_stream::wrappers::ReceiverStream;
    use tonic::Request;
    use tonic::transport::Channel;

    use super::*;

    const PATIENCE: Duration = Duration::from_secs(10);

    fn manifests(endpoint: &str) -> String {
        format!(
            r#"
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {{name: chat, namespace: agents}}
spec:
  promptPackRef: {{name: chat-pack}}
  toolRegistryRef: {{name: service-tools}}
  facade: {{type: websocket, handler: runtime}}
  providers: [{{name: default, providerRef: {{name: chat-provider}}}}]
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {{name: chat-provider, namespace: agents}}
spec:
  type: mock
  model: mock-chat
  mock:
    scenarios:
      - when: {{content: "where is my order?"}}
        output: {{tool_calls: [{{name: lookup_order, arguments: {{order_id: A-1}}}}]}}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata: {{name: chat-pack, namespace: agents}}
spec:
  source: {{type: configmap, configMapRef: {{name: chat-pack-contents}}}}
  version: "1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: chat-pack-contents, namespace: agents}}
data:
  pack.json: |
    {{"id": "chat", "name": "Chat", "version": "1.0.0",
     "template_engine": {{"version": "v1", "syntax": "{{{{variable}}}}"}},
     "prompts": {{"default": {{"id": "default", "name": "Chat", "version": "1.0.0",
                             "system_template": "You are helpful."}}}}}}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: ToolRegistry
metadata: {{name: service-tools, namespace: agents}}
spec:
  handlers:
    - name: orders
      type: http
      httpConfig:
        endpoint: {endpoint}
        method: POST
        urlTemplate: "/orders/{{{{.order_id}}}}"
      tool:
        name: lookup_order
        description: Look up an order by its id
        inputSchema:
          type: object
          properties:
            order_id: {{type: string}}
          required: [order_id]
"#
        )
    }

    #[tokio::test]
    async fn the_mock_model_calls_an_http_tool_and_answers_with_its_result() {
        let fake = FakeServer::start().await;
        fake.push(Reply::json(200, &json!({"status": "shipped"})));
        let config = omnia_api::load_str("http tools test", &manifests(&fake.base_url())).unwrap();
        let runtime = Runtime::compile(&config, RuntimeOptions::default()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(omnia_runtime::serve(
            runtime,
            listener,
            std::future::pending(),
        ));
        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = RuntimeServiceClient::new(channel);
        let (send, inbound) = mpsc::channel(8);
        let mut request = Request::new(ReceiverStream::new(inbound));
        request
            .metadata_mut()
            .insert("x-omnia-agent-name", "chat".parse().unwrap());
        request
            .metadata_mut()
            .insert("x-omnia-session-id", "s-42".parse().unwrap());
        let mut frames = client.converse(request).await.unwrap().into_inner();
        send.send(ClientMessage::text(
            String::new(),
            Utf8Bytes::from("where is my order?".to_owned()),
        ))
        .await
        .unwrap();
        let done = loop {
            let frame = tokio::time::timeout(PATIENCE, frames.next())
                .await
                .expect("no frame in time")
                .expect("the stream ended")
                .expect("the stream failed")
                .message
                .expect("an empty frame");
            match frame {
                Message::Done(done) => break done,
                Message::Error(error) => panic!("the turn failed: {error:?}"),
                _ => {}
            }
        };
        assert_eq!(
            String::from_utf8(done.final_content.to_vec()).unwrap(),
            r#"The lookup_order tool returned {"status":"shipped"}."#
        );
        let request = fake.request(0).await;
        assert_eq!(request.path, "/orders/A-1");
        assert_eq!(request.header("x-omnia-agent-name"), Some("chat"));
        assert_eq!(request.header("x-omnia-session-id"), Some("s-42"));
        assert_eq!(request.header("x-omnia-tool-name"), Some("lookup_order"));
    }
}

#[tokio::test]
async fn the_turns_deadline_cuts_a_call_shorter_than_its_timeout() {
    let fake = FakeServer::start().await;
    // Six calls the turn's budget cuts short: more than the breaker's five, had they counted.
    for _ in 0..6 {
        fake.push(StreamReply::sse(["data: {}\n\n"]).stall());
    }
    let tools = manager(http(fake.base_url()));
    let request = ToolCallRequest {
        id: "call-8".into(),
        name: "lookup".into(),
        arguments_json: "{}".into(),
        consent_message: String::new(),
        categories: Vec::new(),
    };
    for _ in 0..6 {
        let context = ToolContext {
            agent: "support",
            namespace: "agents",
            session: "session-1",
            deadline: Some(tokio::time::Instant::now() + Duration::from_millis(100)),
        };
        let error = tools.execute(&request, context).await.unwrap_err();
        assert!(error.contains("did not answer within"), "{error}");
    }
    // The budget was the turn's, not a sign of a sick handler: the breaker stayed closed.
    fake.push(Reply::json(200, &json!({"ok": true})));
    assert_eq!(call(&tools, json!({})).await.unwrap(), r#"{"ok":true}"#);
}

#[tokio::test]
async fn a_huge_retry_after_is_not_waited_for_and_does_not_panic() {
    let fake = FakeServer::start().await;
    fake.push(Reply::status(429, "later").with_header("retry-after", "10000000000000000000"));
    let mut config = http(fake.base_url());
    config.retry = Some(retry(3, Duration::from_millis(10), vec![429]));

    let error = call(&manager(config), json!({})).await.unwrap_err();

    assert!(error.contains("429"), "{error}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_path_argument_cannot_climb_the_url_template() {
    let fake = FakeServer::start().await;
    let mut config = http(format!("{}/api", fake.base_url()));
    config.url_template = Some("/users/{{.id}}/orders".into());
    let manager = manager(config);

    // Six refusals in a row: more than the breaker's five, had they counted.
    for climb in ["..", ".", "", "..", ".", ""] {
        let error = call(&manager, json!({"id": climb})).await.unwrap_err();
        assert!(error.contains("path segment"), "{error}");
    }
    // Nothing was sent, and the refusals did not open the breaker: they were the model's.
    assert!(fake.requests().is_empty());
    fake.push(Reply::json(200, &json!({"orders": []})));
    call(&manager, json!({"id": "u-1"})).await.unwrap();
    assert_eq!(fake.request(0).await.path, "/api/users/u-1/orders");
}

#[tokio::test]
async fn a_redirect_is_not_followed_so_auth_headers_stay_with_the_tool() {
    let elsewhere = FakeServer::start().await;
    let fake = FakeServer::start().await;
    fake.push(
        Reply::status(302, "moved")
            .with_header("location", format!("{}/stolen", elsewhere.base_url())),
    );
    let mut config = http(fake.base_url());
    config.headers = BTreeMap::from([("x-api-key".to_owned(), "secret-value".to_owned())]);

    let error = call(&manager(config), json!({})).await.unwrap_err();

    assert!(error.contains("302"), "{error}");
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn an_error_body_is_redacted_before_it_is_quoted() {
    let fake = FakeServer::start().await;
    fake.push(Reply::json(
        400,
        &json!({"error": "card declined", "card_number": "4111111111111111"}),
    ));
    let mut config = http(fake.base_url());
    config.redact = vec!["card_number".into()];

    let error = call(&manager(config), json!({})).await.unwrap_err();

    assert!(error.contains("card declined"), "{error}");
    assert!(!error.contains("4111111111111111"), "{error}");
}

#[tokio::test]
async fn a_body_mapping_renames_and_nests_fields_after_static_body_merges() {
    let fake = FakeServer::start().await;
    fake.push(Reply::json(200, &json!({"ok": true})));
    let mut config = http(fake.base_url());
    config.static_body = Some(json!({"source": "agent"}));
    config.body_mapping = Some("{id: order_id, meta: {from: source, qty: n}}".into());
    call(
        &manager(config),
        json!({"order_id": "A-1", "n": 2, "dropped": 1}),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.request(0).await.json(),
        json!({"id": "A-1", "meta": {"from": "agent", "qty": 2}})
    );
}

#[tokio::test]
async fn a_body_mapping_reshapes_a_gets_query_arguments() {
    let fake = FakeServer::start().await;
    fake.push(Reply::json(200, &json!({})));
    let mut config = http(fake.base_url());
    config.method = "GET".into();
    config.body_mapping = Some("{q: term}".into());
    call(&manager(config), json!({"term": "shoes", "other": 1}))
        .await
        .unwrap();
    assert_eq!(
        query(&fake.request(0).await),
        [("q".to_owned(), "shoes".to_owned())]
    );
}

#[tokio::test]
async fn a_response_mapping_picks_a_field_from_a_nested_answer() {
    let fake = FakeServer::start().await;
    fake.push(Reply::json(
        200,
        &json!({"data": {"items": [{"id": "A-1", "status": "shipped"}, {"id": "B-2"}]}, "x": 1}),
    ));
    let mut config = http(fake.base_url());
    config.response_mapping = Some("data.items[0].status".into());
    let result = call(&manager(config), json!({})).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&result).unwrap(),
        json!("shipped")
    );
}

#[tokio::test]
async fn a_response_mapping_on_a_non_json_answer_is_a_tool_error() {
    let fake = FakeServer::start().await;
    fake.push(Reply::status(200, "plain text"));
    let mut config = http(fake.base_url());
    config.response_mapping = Some("a".into());
    let error = call(&manager(config), json!({})).await.unwrap_err();
    assert!(error.contains("not JSON"), "{error}");
    assert!(error.contains("httpConfig.responseMapping"), "{error}");
}

#[test]
fn a_bad_mapping_expression_is_refused_at_build_naming_the_field() {
    for field in ["httpConfig.bodyMapping", "httpConfig.responseMapping"] {
        let mut config = http("http://127.0.0.1:1".into());
        if field.ends_with("bodyMapping") {
            config.body_mapping = Some("{id: ".into());
        } else {
            config.response_mapping = Some("items[".into());
        }
        let error = ToolManager::new(&registry_with(
            config,
            json!({"type": "object"}),
            Duration::from_secs(1),
        ))
        .unwrap_err();
        assert_eq!(error.handler, "orders");
        assert_eq!(error.field, field);
    }
}

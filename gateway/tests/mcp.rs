#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every function as an MCP tool (streamable HTTP on `/mcp`), driven by rmcp's client: tools are
//! listed with the functions' schemas and called through the same path as `POST /functions/...`;
//! a bad argument is a tool error the model can read; without a credential the endpoint is 401
//! with RFC 9728's discovery header, and the metadata it points at is served.

mod support;

use std::collections::HashMap;

use http::{HeaderName, HeaderValue};
use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use support::{Behaviour, FakeRuntime, GOOD_KEY, KEYED, Options, TestGateway, keyed_yaml};

async fn gateway(yaml: &str) -> (FakeRuntime, TestGateway) {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        mcp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Options::default()
    };
    let gateway = TestGateway::start(yaml, runtime.address(), options).await;
    (runtime, gateway)
}

async fn client(
    gateway: &TestGateway,
    key: Option<&str>,
) -> RunningService<RoleClient, ClientConfig> {
    let mut headers = HashMap::new();
    if let Some(key) = key {
        headers.insert(
            HeaderName::from_static("authorization"),
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
    }
    let url = format!("http://{}/mcp", gateway.mcp.unwrap());
    let config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers);
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("test", "1"),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    .serve(transport)
    .await
    .unwrap()
}

#[tokio::test]
async fn tools_are_the_functions_with_their_schemas() {
    let (_runtime, gateway) = gateway(&keyed_yaml()).await;
    let mcp = client(&gateway, Some(GOOD_KEY)).await;
    let mut tools = mcp.peer().list_all_tools().await.unwrap();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["echo-function", KEYED]);
    let config = support::load(&keyed_yaml());
    for tool in &tools {
        let agent = config.agent(&tool.name).unwrap();
        assert_eq!(
            Value::Object((*tool.input_schema).clone()),
            *agent.input_schema.as_ref().unwrap()
        );
        let output = tool.output_schema.as_ref().unwrap();
        assert_eq!(
            Value::Object((**output).clone()),
            *agent.output_schema.as_ref().unwrap()
        );
        assert!(tool.description.is_some());
    }
    mcp.cancel().await.unwrap();
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_tool_call_runs_the_function() {
    let (runtime, gateway) = gateway(&support::echo_yaml()).await;
    let mcp = client(&gateway, None).await;
    let params = CallToolRequestParams::new("echo-function")
        .with_arguments(json!({"message": "hello"}).as_object().cloned().unwrap());
    let result = mcp.call_tool(params).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(result.structured_content, Some(json!({"echo": "hello"})));
    assert_eq!(
        runtime.seen().await.len(),
        1,
        "one runtime call, as over HTTP"
    );
    mcp.cancel().await.unwrap();
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_bad_argument_is_a_tool_error_the_model_can_read() {
    let (runtime, gateway) = gateway(&support::echo_yaml()).await;
    let mcp = client(&gateway, None).await;
    let params = CallToolRequestParams::new("echo-function")
        .with_arguments(json!({"message": 42}).as_object().cloned().unwrap());
    let result = mcp.call_tool(params).await.unwrap();
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let error = result.structured_content.unwrap();
    assert_eq!(error["error"], "input_invalid");
    assert_eq!(error["errors"][0]["pointer"], "/message");
    assert!(
        runtime.seen().await.is_empty(),
        "the runtime is never called for a bad input"
    );
    mcp.cancel().await.unwrap();
    gateway.shutdown().await;
}

#[tokio::test]
async fn an_unknown_tool_is_a_protocol_error() {
    let (_runtime, gateway) = gateway(&support::echo_yaml()).await;
    let mcp = client(&gateway, None).await;
    let params = CallToolRequestParams::new("nope");
    assert!(mcp.call_tool(params).await.is_err());
    mcp.cancel().await.unwrap();
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_caller_sees_and_calls_only_what_its_credentials_admit() {
    let (_runtime, gateway) = gateway(&keyed_yaml()).await;
    let anonymous = client(&gateway, None).await;
    let tools = anonymous.peer().list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["echo-function"]);
    let call = CallToolRequestParams::new(KEYED)
        .with_arguments(json!({"message": "hi"}).as_object().cloned().unwrap());
    assert!(
        anonymous.call_tool(call).await.is_err(),
        "a tool it may not see is no tool"
    );
    anonymous.cancel().await.unwrap();
    gateway.shutdown().await;
}

/// [`keyed_yaml`] without the open echo function: no chain admits an anonymous caller.
fn keyed_only() -> String {
    keyed_yaml()
        .split("\n---\n")
        .filter(|doc| !(doc.contains("kind: AgentRuntime") && doc.contains("name: echo-function")))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[tokio::test]
async fn no_credential_is_401_pointing_at_the_protected_resource_metadata() {
    let (_runtime, gateway) = gateway(&keyed_only()).await;
    let mcp = gateway.mcp.unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let request = |key: Option<&str>| {
        let mut request = http::Request::post("/mcp")
            .header("host", format!("{mcp}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        request
            .body(http_body_util::Full::new(bytes::Bytes::from(
                initialize.to_string(),
            )))
            .unwrap()
    };
    let refused = support::send(mcp, request(None)).await;
    refused.expect_error(401, "unauthorized");
    assert_eq!(
        refused.header("www-authenticate"),
        format!("Bearer resource_metadata=\"http://{mcp}/.well-known/oauth-protected-resource\"")
    );
    let wrong = support::send(mcp, request(Some("sk-wrong"))).await;
    assert_eq!(wrong.status, 401);
    let admitted = support::send(mcp, request(Some(GOOD_KEY))).await;
    assert_eq!(admitted.status, 200, "{admitted:?}");
    assert_eq!(
        admitted.json()["result"]["serverInfo"]["name"],
        "omnia-gateway"
    );

    let metadata = support::get(mcp, "/.well-known/oauth-protected-resource").await;
    assert_eq!(metadata.status, 200);
    let body = metadata.json();
    assert_eq!(body["resource"], "http://localhost/mcp");
    assert_eq!(body["bearer_methods_supported"], json!(["header"]));
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_function_with_an_mcp_facade_serves_it_on_that_port() {
    // Below Linux's ephemeral range (32768 and up), so no other test's port-0 listener can take
    // it between choosing it and the gateway binding it.
    let port = (21_000..30_000)
        .map(|p: u16| p + u16::try_from(std::process::id() % 1000).unwrap())
        .find(|p| std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok())
        .unwrap();
    let yaml = support::echo_yaml().replace(
        "  facade:\n    type: grpc\n    port: 8080\n",
        &format!(
            "  facades:\n    - {{type: rest, port: 8080}}\n    - {{type: mcp, port: {port}}}\n"
        ),
    );
    assert!(
        yaml.contains("type: mcp"),
        "the example's facade block changed: {yaml}"
    );
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(&yaml, runtime.address(), Options::default()).await;
    assert_eq!(gateway.mcp.map(|a| a.port()), Some(port));
    let mcp = client(&gateway, None).await;
    let tools = mcp.peer().list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "echo-function");
    mcp.cancel().await.unwrap();
    gateway.shutdown().await;
}

#[tokio::test]
async fn without_an_mcp_facade_serve_opens_no_mcp_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway =
        TestGateway::start(&support::echo_yaml(), runtime.address(), Options::default()).await;
    assert_eq!(gateway.mcp, None);
    gateway.shutdown().await;
}

/// A `tools/call` is answered by the gateway itself when it can (a 2025 protocol version header),
/// else by rmcp: both answers must be the same.
#[tokio::test]
async fn the_direct_and_the_rmcp_answers_of_a_tool_call_agree() {
    let (_runtime, gateway) = gateway(&support::echo_yaml()).await;
    let mcp = gateway.mcp.unwrap();
    let send = |version: Option<&str>, arguments: Value| {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "echo-function", "arguments": arguments}});
        let mut request = http::Request::post("/mcp")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .unwrap();
        async move { support::send(mcp, request).await }
    };
    for arguments in [json!({"message": "hi"}), json!({"message": 1}), json!({})] {
        // No version header: rmcp takes the request (and assumes 2025-03-26).
        let by_rmcp = send(None, arguments.clone()).await;
        let direct = send(Some("2025-03-26"), arguments.clone()).await;
        assert_eq!(by_rmcp.status, 200);
        assert_eq!(direct.status, 200);
        assert_eq!(direct.json(), by_rmcp.json(), "{arguments}");
    }
    gateway.shutdown().await;
}

//! `grpc` tool handlers through the public [`ToolManager`]: a tonic `omnia.tools.v1.ToolService`
//! on 127.0.0.1:0 records what it receives. A call reaches it with its arguments and the
//! caller's identity, both as gRPC metadata and in `ToolRequest.metadata`, and its result comes
//! back; `is_error` is a tool error the model reads; the retry policy's codes are retried and
//! others are not; a service that is down is an error naming its endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use omnia_api::{
    GrpcRetryPolicy, GrpcTool, HandlerKind, ToolDefinition, ToolHandler, ToolRegistry,
};
use omnia_proto::tools::v1::tool_service_server::{ToolService, ToolServiceServer};
use omnia_proto::tools::v1::{ListToolsRequest, ListToolsResponse, ToolRequest, ToolResponse};
use omnia_runtime::provider::ToolCallRequest;
use omnia_runtime::{ToolContext, ToolExecutor, ToolManager};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

/// What the service saw of one `Execute`.
#[derive(Debug, Clone)]
struct Seen {
    request: ToolRequest,
    metadata: MetadataMap,
}

#[derive(Debug, Default)]
struct Script {
    seen: Mutex<Vec<Seen>>,
    /// Answers in turn; when none is left, `Execute` echoes the arguments.
    answers: Mutex<VecDeque<Result<ToolResponse, Status>>>,
}

impl Script {
    fn then(&self, answer: Result<ToolResponse, Status>) {
        self.answers.lock().push_back(answer);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

#[derive(Debug, Clone)]
struct Service(Arc<Script>);

#[tonic::async_trait]
impl ToolService for Service {
    async fn execute(
        &self,
        request: Request<ToolRequest>,
    ) -> Result<Response<ToolResponse>, Status> {
        let metadata = request.metadata().clone();
        let request = request.into_inner();
        self.0.seen.lock().push(Seen {
            request: request.clone(),
            metadata,
        });
        let answer = self.0.answers.lock().pop_front();
        answer
            .unwrap_or(Ok(ToolResponse {
                result_json: request.arguments_json,
                is_error: false,
                error_message: String::new(),
            }))
            .map(Response::new)
    }

    async fn list_tools(
        &self,
        _request: Request<ListToolsRequest>,
    ) -> Result<Response<ListToolsResponse>, Status> {
        Ok(Response::new(ListToolsResponse { tools: Vec::new() }))
    }
}

async fn serve(script: Arc<Script>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(
        ToolServiceServer::new(Service(script)),
        TcpListenerStream::new(listener),
    ));
    addr
}

/// A registry with one `grpc` handler for the tool `lookup_customer`.
fn registry(endpoint: String, retry: Option<GrpcRetryPolicy>) -> ToolRegistry {
    ToolRegistry {
        name: "support-tools".to_owned(),
        namespace: "prod".to_owned(),
        handlers: vec![ToolHandler {
            name: "customers".to_owned(),
            kind: HandlerKind::Grpc(GrpcTool {
                endpoint,
                tls: false,
                tls_cert_path: None,
                tls_key_path: None,
                tls_ca_path: None,
                tls_insecure_skip_verify: false,
                retry,
            }),
            tool: Some(ToolDefinition {
                name: "lookup_customer".to_owned(),
                description: "Looks a customer up".to_owned(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"id": {"type": "string"}},
                    "required": ["id"]
                }),
                output_schema: None,
            }),
            timeout: Duration::from_secs(30),
        }],
    }
}

fn retrying(codes: &[&str]) -> Option<GrpcRetryPolicy> {
    Some(GrpcRetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        backoff_multiplier: 2.0,
        max_backoff: Duration::from_millis(5),
        retryable_status_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
    })
}

async fn call(tools: &ToolManager, arguments: &str) -> Result<String, String> {
    let request = ToolCallRequest {
        id: "call-7".to_owned(),
        name: "lookup_customer".to_owned(),
        arguments_json: arguments.to_owned(),
        consent_message: String::new(),
        categories: Vec::new(),
    };
    let context = ToolContext {
        agent: "support-agent",
        namespace: "prod",
        session: "session-1",
        deadline: None,
    };
    tools.execute(&request, context).await
}

#[tokio::test]
async fn a_call_carries_its_arguments_and_identity_and_its_result_comes_back() {
    let script = Arc::new(Script::default());
    let addr = serve(script.clone()).await;
    let tools = ToolManager::new(&registry(addr.to_string(), None)).unwrap();
    assert!(tools.runs("lookup_customer"));
    assert_eq!(tools.tools()[0].name, "lookup_customer");

    let result = call(&tools, r#"{"id": "c-42"}"#).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&result).unwrap(),
        json!({"id": "c-42"})
    );

    let seen = script.seen();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.request.tool_name, "lookup_customer");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.request.arguments_json).unwrap(),
        json!({"id": "c-42"})
    );
    for (key, value) in [
        ("x-omnia-agent-name", "support-agent"),
        ("x-omnia-namespace", "prod"),
        ("x-omnia-session-id", "session-1"),
        ("x-omnia-tool-name", "lookup_customer"),
        ("x-omnia-tool-call-id", "call-7"),
    ] {
        assert_eq!(
            seen.metadata.get(key).and_then(|v| v.to_str().ok()),
            Some(value),
            "{key} as gRPC metadata"
        );
        assert_eq!(
            seen.request.metadata.get(key).map(String::as_str),
            Some(value),
            "{key} in ToolRequest.metadata"
        );
    }
    assert!(
        seen.metadata.get("grpc-timeout").is_some(),
        "the deadline goes as the gRPC timeout"
    );
}

#[tokio::test]
async fn is_error_is_a_tool_error_carrying_the_services_message() {
    let script = Arc::new(Script::default());
    script.then(Ok(ToolResponse {
        result_json: Default::default(),
        is_error: true,
        error_message: "customer c-42 does not exist".to_owned(),
    }));
    let addr = serve(script.clone()).await;
    let tools = ToolManager::new(&registry(addr.to_string(), None)).unwrap();
    let error = call(&tools, r#"{"id": "c-42"}"#).await.unwrap_err();
    assert!(error.contains("customer c-42 does not exist"), "{error}");
}

#[tokio::test]
async fn unavailable_twice_then_success_is_retried() {
    let script = Arc::new(Script::default());
    script.then(Err(Status::unavailable("warming up")));
    script.then(Err(Status::unavailable("warming up")));
    let addr = serve(script.clone()).await;
    let retry = retrying(&["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"]);
    let tools = ToolManager::new(&registry(addr.to_string(), retry)).unwrap();
    let result = call(&tools, r#"{"id": "c-1"}"#).await.unwrap();
    assert_eq!(result, r#"{"id":"c-1"}"#);
    assert_eq!(script.seen().len(), 3);
}

#[tokio::test]
async fn a_code_the_policy_does_not_name_is_not_retried() {
    let script = Arc::new(Script::default());
    script.then(Err(Status::permission_denied("not your customer")));
    let addr = serve(script.clone()).await;
    let tools = ToolManager::new(&registry(addr.to_string(), retrying(&["UNAVAILABLE"]))).unwrap();
    let error = call(&tools, r#"{"id": "c-1"}"#).await.unwrap_err();
    assert!(
        error.contains("PermissionDenied") && error.contains("not your customer"),
        "{error}"
    );
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn a_service_that_is_down_is_an_error_naming_its_endpoint() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    drop(listener);
    // Built while the service is down: nothing connects until the first call.
    let tools = ToolManager::new(&registry(endpoint.clone(), None)).unwrap();
    let error = call(&tools, r#"{"id": "c-1"}"#).await.unwrap_err();
    assert!(
        error.contains(&endpoint) && error.contains("could not be reached"),
        "{error}"
    );
}

#[test]
fn a_bad_endpoint_is_refused_at_start_up() {
    let error = ToolManager::new(&registry("no-port".to_owned(), None)).unwrap_err();
    assert_eq!(error.field, "grpcConfig.endpoint");
    assert!(error.message.contains("host:port"), "{error}");
}

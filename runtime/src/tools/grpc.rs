//! The `grpc` tool adapter: calls Omnia's `omnia.tools.v1.ToolService`.
//!
//! One lazily connecting [`Channel`] per handler, so the runtime starts while the tool service is
//! still down. Each call carries the caller's identity twice, as gRPC request metadata and in
//! `ToolRequest.metadata`, takes what is left of its deadline as the gRPC timeout, and is retried
//! on the handler's `retryPolicy` codes with exponential backoff while the deadline allows.
//!
//! TLS is rustls (ring), the runtime's TLS everywhere: the tonic in the tree is built without its
//! TLS features, so the channel connects through [`TlsConnector`] (tokio-rustls), configured as
//! the `tls` module describes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use omnia_api::{GrpcRetryPolicy, GrpcTool};
use omnia_proto::tools::v1::tool_service_client::ToolServiceClient;
use omnia_proto::tools::v1::{ListToolsRequest, ToolRequest};
use rustls::pki_types::ServerName;
use tokio::time::Instant;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Code, Status};

use super::identity::identity;
use super::retry::{self, Backoff};
use super::tls::{TlsConnector, tls_config};
use super::{Adapter, FoundTool, ToolError, ToolInvocation};
use crate::provider::ToolSpec;

/// The largest `ToolResponse` (and `ListToolsResponse`) accepted.
pub(crate) const MAX_RESULT_BYTES: usize = 10 * 1024 * 1024;

/// How long connecting (TCP and TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a `grpc` handler cannot be built: the field at fault, as the manifest spells it, and why.
pub(crate) type ConfigError = (&'static str, String);

/// A `grpc` handler: the channel to its `ToolService` and how calls are retried.
#[derive(Debug)]
pub(crate) struct GrpcAdapter {
    /// As configured, for errors.
    endpoint: String,
    connect: Connect,
    /// Made on first use: a lazy channel still spawns its worker, which needs a Tokio runtime,
    /// and the adapter may be built outside one.
    client: OnceLock<ToolServiceClient<Channel>>,
    retry: Retry,
}

/// How the channel connects.
#[derive(Debug)]
enum Connect {
    Plain(Endpoint),
    Tls(Endpoint, TlsConnector),
}

#[derive(Debug, Clone)]
struct Retry {
    max_attempts: u32,
    backoff: Backoff,
    codes: Vec<Code>,
}

impl Retry {
    const NONE: Retry = Retry {
        max_attempts: 1,
        backoff: Backoff::NONE,
        codes: Vec::new(),
    };

    /// The policy as resolved: its defaults are applied there (an explicit `[]` of codes
    /// retries nothing).
    fn new(policy: &GrpcRetryPolicy) -> Result<Retry, ConfigError> {
        let codes = policy
            .retryable_status_codes
            .iter()
            .map(|name| {
                code_named(name).ok_or_else(|| {
                    (
                        "grpcConfig.retryPolicy.retryableStatusCodes",
                        format!("`{name}` is not a gRPC status code name"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Retry {
            max_attempts: policy.max_attempts.max(1),
            backoff: Backoff::new(
                policy.initial_backoff,
                policy.backoff_multiplier,
                policy.max_backoff,
            ),
            codes,
        })
    }

    fn retries(&self, code: Code, attempt: u32) -> bool {
        attempt < self.max_attempts && self.codes.contains(&code)
    }
}

/// The status code a `retryableStatusCodes` entry names (`UNAVAILABLE`, `unavailable`, `14`).
fn code_named(name: &str) -> Option<Code> {
    let code = match name.trim().to_ascii_uppercase().as_str() {
        "OK" => Code::Ok,
        "CANCELLED" | "CANCELED" => Code::Cancelled,
        "UNKNOWN" => Code::Unknown,
        "INVALID_ARGUMENT" => Code::InvalidArgument,
        "DEADLINE_EXCEEDED" => Code::DeadlineExceeded,
        "NOT_FOUND" => Code::NotFound,
        "ALREADY_EXISTS" => Code::AlreadyExists,
        "PERMISSION_DENIED" => Code::PermissionDenied,
        "RESOURCE_EXHAUSTED" => Code::ResourceExhausted,
        "FAILED_PRECONDITION" => Code::FailedPrecondition,
        "ABORTED" => Code::Aborted,
        "OUT_OF_RANGE" => Code::OutOfRange,
        "UNIMPLEMENTED" => Code::Unimplemented,
        "INTERNAL" => Code::Internal,
        "UNAVAILABLE" => Code::Unavailable,
        "DATA_LOSS" => Code::DataLoss,
        "UNAUTHENTICATED" => Code::Unauthenticated,
        other => match other.parse::<i32>() {
            Ok(n) if (1..=16).contains(&n) => Code::from_i32(n),
            _ => return None,
        },
    };
    Some(code)
}

impl GrpcAdapter {
    /// The adapter of one `grpc` handler; a field that cannot work is `(field, why)`. Nothing
    /// connects until the first call.
    pub(crate) fn new(tool: &GrpcTool) -> Result<GrpcAdapter, ConfigError> {
        let fail = |reason: String| ("grpcConfig.endpoint", reason);
        let not_host_port = || fail(format!("`{}` is not host:port", tool.endpoint));
        let (authority, tls) = match tool.endpoint.split_once("://") {
            None => (tool.endpoint.trim(), tool.tls),
            Some(("http", rest)) => (rest, tool.tls),
            Some(("https", rest)) => (rest, true),
            Some(_) => return Err(not_host_port()),
        };
        let authority = authority.trim_end_matches('/');
        let (host, port) = authority
            .rsplit_once(':')
            .filter(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            .ok_or_else(not_host_port)?;
        let scheme = if tls { "https" } else { "http" };
        let uri = Uri::try_from(format!("{scheme}://{authority}"))
            .map_err(|e| fail(format!("`{}` is not a valid address: {e}", tool.endpoint)))?;
        let endpoint = Endpoint::from(uri)
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let connect = if tls {
            let config = tls_config(tool)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let server_name = ServerName::try_from(host.to_owned())
                .map_err(|e| fail(format!("`{host}` is not a TLS server name: {e}")))?;
            Connect::Tls(
                endpoint,
                TlsConnector::new(config, server_name, format!("{host}:{port}")),
            )
        } else {
            if tool.tls_ca_path.is_some()
                || tool.tls_cert_path.is_some()
                || tool.tls_key_path.is_some()
                || tool.tls_insecure_skip_verify
            {
                return Err((
                    "grpcConfig.tls",
                    "TLS settings are given but `tls` is false; set `tls: true`".to_owned(),
                ));
            }
            Connect::Plain(endpoint)
        };
        let retry = match &tool.retry {
            Some(policy) => Retry::new(policy)?,
            None => Retry::NONE,
        };
        Ok(GrpcAdapter {
            endpoint: tool.endpoint.clone(),
            connect,
            client: OnceLock::new(),
            retry,
        })
    }

    /// The client of the (lazily connecting) channel.
    fn client(&self) -> ToolServiceClient<Channel> {
        self.client
            .get_or_init(|| {
                let channel = match &self.connect {
                    Connect::Plain(endpoint) => endpoint.connect_lazy(),
                    Connect::Tls(endpoint, connector) => {
                        endpoint.connect_with_connector_lazy(connector.clone())
                    }
                };
                ToolServiceClient::new(channel).max_decoding_message_size(MAX_RESULT_BYTES)
            })
            .clone()
    }

    /// The service's tools (`ListTools`), for discovery; `input_schema` parsed as JSON.
    pub(crate) async fn list_tools(&self, deadline: Instant) -> Result<Vec<ToolSpec>, ToolError> {
        let started = Instant::now();
        let response = self
            .with_retries(
                "ListTools",
                started,
                deadline,
                |mut client, timeout| async move {
                    let mut request = tonic::Request::new(ListToolsRequest {});
                    request.set_timeout(timeout);
                    client.list_tools(request).await
                },
            )
            .await?;
        response
            .tools
            .into_iter()
            .map(|tool| {
                let parameters = if tool.input_schema.trim().is_empty() {
                    serde_json::json!({"type": "object"})
                } else {
                    serde_json::from_str(&tool.input_schema).map_err(|e| ToolError::Failed {
                        tool: tool.name.clone(),
                        reason: format!(
                            "the tool service at {} lists an input_schema that is not JSON: {e}",
                            self.endpoint
                        ),
                    })?
                };
                Ok(ToolSpec {
                    name: tool.name,
                    description: tool.description,
                    parameters,
                })
            })
            .collect()
    }

    async fn execute(&self, call: &ToolInvocation<'_>) -> Result<String, ToolError> {
        let started = Instant::now();
        let failed = |reason: String| ToolError::Failed {
            tool: call.tool.to_owned(),
            reason,
        };
        let identity = identity(call);
        let mut metadata = MetadataMap::new();
        for (key, value) in identity {
            // Ids are ASCII in practice; one that is not is left out rather than failing the call.
            match AsciiMetadataValue::try_from(value) {
                Ok(value) => {
                    metadata.insert(key, value);
                }
                Err(_) => tracing::debug!(
                    key,
                    value,
                    "identity value left out: not valid gRPC metadata"
                ),
            }
        }
        let arguments = serde_json::to_vec(call.arguments)
            .map_err(|e| failed(format!("its arguments do not serialize: {e}")))?;
        let message = ToolRequest {
            tool_name: call.tool.to_owned(),
            arguments_json: Bytes::from(arguments),
            metadata: identity
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        };
        let response = self
            .with_retries(call.tool, started, call.deadline, |mut client, timeout| {
                let mut request = tonic::Request::new(message.clone());
                *request.metadata_mut() = metadata.clone();
                request.set_timeout(timeout);
                async move { client.execute(request).await }
            })
            .await?;
        if response.is_error {
            let reason = if response.error_message.is_empty() {
                String::from_utf8_lossy(&response.result_json).into_owned()
            } else {
                response.error_message
            };
            // The service answered: this call failed, the handler is well (no breaker count).
            return Err(ToolError::Reported {
                tool: call.tool.to_owned(),
                message: if reason.is_empty() {
                    "the tool service reported an error without a message".to_owned()
                } else {
                    reason
                },
            });
        }
        if response.result_json.is_empty() {
            return Ok("null".to_owned());
        }
        String::from_utf8(response.result_json.to_vec()).map_err(|_| {
            failed(format!(
                "the tool service at {} answered with a result_json that is not UTF-8",
                self.endpoint
            ))
        })
    }

    /// Runs `attempt` until it succeeds, fails with a code the policy does not retry, runs out
    /// of attempts, or the deadline leaves no time for the next one. `tool` names the tool (or
    /// the discovery call) in errors.
    async fn with_retries<T, F, Fut>(
        &self,
        tool: &str,
        started: Instant,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T, ToolError>
    where
        F: FnMut(ToolServiceClient<Channel>, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let timed_out = || ToolError::Timeout {
            tool: tool.to_owned(),
            after: deadline.saturating_duration_since(started),
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            let status = match tokio::time::timeout_at(deadline, attempt(self.client(), left)).await
            {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => return Err(timed_out()),
            };
            let pause = self.retry.backoff.delay(attempts);
            if !self.retry.retries(status.code(), attempts) || !retry::fits(pause, deadline) {
                return Err(self.status_error(tool, &status, attempts));
            }
            tracing::debug!(
                endpoint = %self.endpoint, tool, code = ?status.code(), attempts,
                "retrying the gRPC tool call"
            );
            tokio::time::sleep(pause).await;
        }
    }

    fn status_error(&self, tool: &str, status: &Status, attempts: u32) -> ToolError {
        let tool = tool.to_owned();
        if status.code() == Code::OutOfRange
            && status
                .message()
                .contains("decoded message length too large")
        {
            return ToolError::TooLarge {
                tool,
                limit: MAX_RESULT_BYTES,
            };
        }
        let mut detail = status.message().to_owned();
        let mut source = std::error::Error::source(status);
        while let Some(error) = source {
            let text = error.to_string();
            if !detail.contains(&text) {
                if !detail.is_empty() {
                    detail.push_str(": ");
                }
                detail.push_str(&text);
            }
            source = error.source();
        }
        let tries = if attempts > 1 {
            format!(" ({attempts} attempts)")
        } else {
            String::new()
        };
        let endpoint = &self.endpoint;
        match status.code() {
            Code::Unavailable => ToolError::Unreachable {
                tool,
                reason: format!(
                    "the gRPC tool service at {endpoint} is unavailable{tries}: {detail}"
                ),
            },
            // The gRPC kin of 4xx: the service is well, this call was wrong.
            code @ (Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unauthenticated) => ToolError::Reported {
                tool,
                message: format!(
                    "the gRPC tool service at {endpoint} answered {code:?}{tries}: {detail}"
                ),
            },
            code => ToolError::Failed {
                tool,
                reason: format!(
                    "the gRPC tool service at {endpoint} answered {code:?}{tries}: {detail}"
                ),
            },
        }
    }
}

impl Adapter for GrpcAdapter {
    fn call<'a>(
        &'a self,
        call: &'a ToolInvocation<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.execute(call))
    }

    fn discover(&self, deadline: Instant) -> BoxFuture<'_, Result<Vec<FoundTool>, String>> {
        Box::pin(async move {
            let tools = self.list_tools(deadline).await.map_err(|e| e.to_string())?;
            Ok(tools
                .into_iter()
                .map(|t| FoundTool {
                    name: t.name,
                    description: t.description,
                    input_schema: t.parameters,
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::process::Command;

    use omnia_proto::tools::v1::tool_service_server::{ToolService, ToolServiceServer};
    use omnia_proto::tools::v1::{ListToolsResponse, ToolInfo, ToolResponse};
    use parking_lot::Mutex;
    use serde_json::json;
    use tokio::net::TcpListener;
    use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

    use std::path::Path;
    use std::sync::Arc;

    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject as _;

    use super::*;
    use crate::tools::ToolContext;
    use crate::tools::tls::read_certificates;

    /// What the test server saw of one `Execute`.
    #[derive(Debug, Clone)]
    struct Seen {
        request: ToolRequest,
        metadata: MetadataMap,
    }

    #[derive(Debug, Default)]
    struct Script {
        seen: Mutex<Vec<Seen>>,
        /// Answers in turn; when empty, `Execute` echoes the arguments.
        answers: Mutex<VecDeque<Result<ToolResponse, Status>>>,
    }

    #[derive(Debug, Clone, Default)]
    struct TestService(Arc<Script>);

    #[tonic::async_trait]
    impl ToolService for TestService {
        async fn execute(
            &self,
            request: tonic::Request<ToolRequest>,
        ) -> Result<tonic::Response<ToolResponse>, Status> {
            let metadata = request.metadata().clone();
            let request = request.into_inner();
            self.0.seen.lock().push(Seen {
                request: request.clone(),
                metadata,
            });
            let answer = self.0.answers.lock().pop_front();
            answer
                .unwrap_or_else(|| {
                    Ok(ToolResponse {
                        result_json: request.arguments_json,
                        is_error: false,
                        error_message: String::new(),
                    })
                })
                .map(tonic::Response::new)
        }

        async fn list_tools(
            &self,
            _request: tonic::Request<ListToolsRequest>,
        ) -> Result<tonic::Response<ListToolsResponse>, Status> {
            Ok(tonic::Response::new(ListToolsResponse {
                tools: vec![
                    ToolInfo {
                        name: "lookup".to_owned(),
                        description: "Looks a customer up".to_owned(),
                        input_schema: r#"{"type":"object","properties":{"id":{"type":"string"}}}"#
                            .to_owned(),
                    },
                    ToolInfo {
                        name: "ping".to_owned(),
                        description: String::new(),
                        input_schema: String::new(),
                    },
                ],
            }))
        }
    }

    async fn serve(script: Arc<Script>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(
            ToolServiceServer::new(TestService(script)),
            TcpListenerStream::new(listener),
        ));
        addr
    }

    fn config(endpoint: String) -> GrpcTool {
        GrpcTool {
            endpoint,
            tls: false,
            tls_cert_path: None,
            tls_key_path: None,
            tls_ca_path: None,
            tls_insecure_skip_verify: false,
            retry: None,
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

    async fn call(adapter: &GrpcAdapter, arguments: &Value) -> Result<String, ToolError> {
        let invocation = ToolInvocation {
            tool: "lookup",
            arguments,
            context: ToolContext {
                agent: "support-agent",
                namespace: "prod",
                session: "session-1",
                deadline: None,
            },
            call_id: "call-7",
            deadline: Instant::now() + Duration::from_secs(30),
        };
        adapter.call(&invocation).await
    }

    use serde_json::Value;

    #[tokio::test]
    async fn a_call_carries_the_arguments_and_the_identity_and_returns_the_result() {
        let script = Arc::new(Script::default());
        let addr = serve(script.clone()).await;
        let adapter = GrpcAdapter::new(&config(addr.to_string())).unwrap();
        let arguments = json!({"id": "c-42"});
        let result = call(&adapter, &arguments).await.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&result).unwrap(), arguments);

        let seen = script.seen.lock().clone();
        assert_eq!(seen.len(), 1);
        let seen = &seen[0];
        assert_eq!(seen.request.tool_name, "lookup");
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.request.arguments_json).unwrap(),
            arguments
        );
        let identity = [
            ("x-omnia-agent-name", "support-agent"),
            ("x-omnia-namespace", "prod"),
            ("x-omnia-session-id", "session-1"),
            ("x-omnia-tool-name", "lookup"),
            ("x-omnia-tool-call-id", "call-7"),
        ];
        for (key, value) in identity {
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
            "the deadline travels as the gRPC timeout"
        );
    }

    #[tokio::test]
    async fn is_error_is_a_tool_error_with_the_services_message() {
        let script = Arc::new(Script::default());
        script.answers.lock().push_back(Ok(ToolResponse {
            result_json: Bytes::new(),
            is_error: true,
            error_message: "customer c-42 does not exist".to_owned(),
        }));
        let addr = serve(script.clone()).await;
        let adapter = GrpcAdapter::new(&config(addr.to_string())).unwrap();
        let error = call(&adapter, &json!({"id": "c-42"})).await.unwrap_err();
        assert_eq!(
            error,
            ToolError::Reported {
                tool: "lookup".to_owned(),
                message: "customer c-42 does not exist".to_owned()
            }
        );
    }

    #[tokio::test]
    async fn unavailable_is_retried() {
        let script = Arc::new(Script::default());
        for _ in 0..2 {
            script
                .answers
                .lock()
                .push_back(Err(Status::unavailable("warming up")));
        }
        let addr = serve(script.clone()).await;
        let mut tool = config(addr.to_string());
        tool.retry = retrying(&["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"]);
        let adapter = GrpcAdapter::new(&tool).unwrap();
        let result = call(&adapter, &json!({"id": "c-1"})).await.unwrap();
        assert_eq!(result, r#"{"id":"c-1"}"#);
        assert_eq!(script.seen.lock().len(), 3);
    }

    #[tokio::test]
    async fn a_code_the_policy_does_not_name_is_not_retried() {
        let script = Arc::new(Script::default());
        script
            .answers
            .lock()
            .push_back(Err(Status::invalid_argument("id must not be empty")));
        let addr = serve(script.clone()).await;
        let mut tool = config(addr.to_string());
        tool.retry = retrying(&["UNAVAILABLE"]);
        let adapter = GrpcAdapter::new(&tool).unwrap();
        let error = call(&adapter, &json!({"id": ""})).await.unwrap_err();
        assert_eq!(script.seen.lock().len(), 1);
        let text = error.to_string();
        assert!(
            text.contains("InvalidArgument") && text.contains("id must not be empty"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn unavailable_after_the_last_attempt_is_the_last_error() {
        let script = Arc::new(Script::default());
        for _ in 0..3 {
            script
                .answers
                .lock()
                .push_back(Err(Status::unavailable("still warming up")));
        }
        let addr = serve(script.clone()).await;
        let mut tool = config(addr.to_string());
        tool.retry = retrying(&["UNAVAILABLE"]);
        let adapter = GrpcAdapter::new(&tool).unwrap();
        let error = call(&adapter, &json!({})).await.unwrap_err();
        assert_eq!(script.seen.lock().len(), 3);
        assert!(matches!(error, ToolError::Unreachable { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn a_service_that_is_down_is_a_clear_error_naming_the_endpoint() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = listener.local_addr().unwrap().to_string();
        drop(listener);
        // Built while the service is down: the channel connects on first use.
        let adapter = GrpcAdapter::new(&config(endpoint.clone())).unwrap();
        let error = call(&adapter, &json!({})).await.unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, ToolError::Unreachable { .. }), "{error:?}");
        assert!(text.contains(&endpoint), "{text}");
    }

    #[tokio::test]
    async fn a_result_over_the_limit_is_refused() {
        let script = Arc::new(Script::default());
        script.answers.lock().push_back(Ok(ToolResponse {
            result_json: Bytes::from(vec![b' '; MAX_RESULT_BYTES + 1]),
            is_error: false,
            error_message: String::new(),
        }));
        let addr = serve(script.clone()).await;
        let adapter = GrpcAdapter::new(&config(addr.to_string())).unwrap();
        let error = call(&adapter, &json!({})).await.unwrap_err();
        assert_eq!(
            error,
            ToolError::TooLarge {
                tool: "lookup".to_owned(),
                limit: MAX_RESULT_BYTES
            }
        );
    }

    #[tokio::test]
    async fn list_tools_parses_the_schemas() {
        let addr = serve(Arc::new(Script::default())).await;
        let adapter = GrpcAdapter::new(&config(addr.to_string())).unwrap();
        let tools = adapter
            .list_tools(Instant::now() + Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[0].name, "lookup");
        assert_eq!(tools[0].description, "Looks a customer up");
        assert_eq!(tools[0].parameters["properties"]["id"]["type"], "string");
        assert_eq!(tools[1].parameters, json!({"type": "object"}));
    }

    /// Outside a Tokio runtime too, as the Tool Manager may build it.
    #[test]
    fn bad_configurations_are_refused_with_their_field() {
        assert!(GrpcAdapter::new(&config("localhost:1".to_owned())).is_ok());
        let err = |tool: GrpcTool| GrpcAdapter::new(&tool).map(|_| ()).unwrap_err();
        assert_eq!(err(config("no-port".to_owned())).0, "grpcConfig.endpoint");
        let mut tool = config("localhost:1".to_owned());
        tool.retry = retrying(&["NOT_A_CODE"]);
        assert_eq!(err(tool).0, "grpcConfig.retryPolicy.retryableStatusCodes");
        let mut tool = config("localhost:1".to_owned());
        tool.tls_insecure_skip_verify = true;
        assert_eq!(err(tool).0, "grpcConfig.tls");
        let mut tool = config("localhost:1".to_owned());
        tool.tls = true;
        tool.tls_cert_path = Some("/nonexistent/cert.pem".into());
        assert_eq!(err(tool).0, "grpcConfig.tlsKeyPath");
        let mut tool = config("localhost:1".to_owned());
        tool.tls = true;
        tool.tls_ca_path = Some("/nonexistent/ca.pem".into());
        assert_eq!(err(tool).0, "grpcConfig.tlsCAPath");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let retry = Retry::new(&GrpcRetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            backoff_multiplier: 2.0,
            max_backoff: Duration::from_millis(300),
            retryable_status_codes: vec!["UNAVAILABLE".to_owned()],
        })
        .unwrap();
        for _ in 0..50 {
            assert!(retry.backoff.delay(1) <= Duration::from_millis(100));
            assert!(retry.backoff.delay(2) <= Duration::from_millis(200));
            assert!(retry.backoff.delay(10) <= Duration::from_millis(300));
        }
        assert!(retry.retries(Code::Unavailable, 4));
        assert!(!retry.retries(Code::Unavailable, 5));
        assert!(!retry.retries(Code::Internal, 1));
    }

    // TLS: a tonic server over tokio-rustls (server side), certificates from openssl.

    /// A server-side TLS stream tonic can serve (`Connected` is not implemented for it).
    struct Accepted(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

    impl tonic::transport::server::Connected for Accepted {
        type ConnectInfo = ();
        fn connect_info(&self) -> Self::ConnectInfo {}
    }

    impl tokio::io::AsyncRead for Accepted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl tokio::io::AsyncWrite for Accepted {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    fn openssl(dir: &Path, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is not installed");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `ca.pem`, and `<name>.pem` + `<name>.key` signed by it, for each name.
    fn certificates(dir: &Path, ca: &str, names: &[&str]) {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "1",
                "-subj",
                "/CN=grpc tool test CA",
            ],
        );
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        for name in names {
            openssl(
                dir,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    "/CN=localhost",
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.pem"),
                    "-CAkey",
                    &format!("{ca}.key"),
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "1",
                    "-extfile",
                    "san.ext",
                ],
            );
        }
    }

    /// A TLS tool service that requires a client certificate signed by `ca.pem`.
    async fn serve_tls(dir: &Path, script: Arc<Script>) -> SocketAddr {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certificates(&dir.join("ca.pem")).unwrap() {
            roots.add(cert).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                read_certificates(&dir.join("server.pem")).unwrap(),
                PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (accepted, incoming) = tokio::sync::mpsc::channel::<std::io::Result<_>>(4);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // A failed handshake (the client refused us) just drops the connection.
                if let Ok(stream) = acceptor.accept(tcp).await
                    && accepted.send(Ok(Accepted(stream))).await.is_err()
                {
                    return;
                }
            }
        });
        tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(
            ToolServiceServer::new(TestService(script)),
            ReceiverStream::new(incoming),
        ));
        addr
    }

    #[tokio::test]
    async fn tls_with_a_custom_ca_and_a_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        certificates(dir.path(), "ca", &["server", "client"]);
        certificates(dir.path(), "other-ca", &[]);
        let script = Arc::new(Script::default());
        let addr = serve_tls(dir.path(), script.clone()).await;
        let endpoint = format!("localhost:{}", addr.port());

        let mut tool = config(endpoint.clone());
        tool.tls = true;
        tool.tls_ca_path = Some(dir.path().join("ca.pem"));
        tool.tls_cert_path = Some(dir.path().join("client.pem"));
        tool.tls_key_path = Some(dir.path().join("client.key"));
        let adapter = GrpcAdapter::new(&tool).unwrap();
        let result = call(&adapter, &json!({"id": "tls"})).await.unwrap();
        assert_eq!(result, r#"{"id":"tls"}"#);
        // A second call on the same connection.
        let result = call(&adapter, &json!({"id": "again"})).await.unwrap();
        assert_eq!(result, r#"{"id":"again"}"#);

        // Any certificate, with tlsInsecureSkipVerify (the client certificate is still sent).
        let mut insecure = tool.clone();
        insecure.tls_ca_path = Some(dir.path().join("other-ca.pem"));
        insecure.tls_insecure_skip_verify = true;
        let adapter = GrpcAdapter::new(&insecure).unwrap();
        assert!(call(&adapter, &json!({})).await.is_ok());

        // A server certificate from another CA is refused, and the error says so.
        let mut wrong_ca = tool.clone();
        wrong_ca.tls_ca_path = Some(dir.path().join("other-ca.pem"));
        let adapter = GrpcAdapter::new(&wrong_ca).unwrap();
        let error = call(&adapter, &json!({})).await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&endpoint) && text.contains("certificate"),
            "{text}"
        );
        assert_eq!(script.seen.lock().len(), 3);
    }
}

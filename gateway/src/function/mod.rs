//! One function: the tail of the stack that is specific to one AgentRuntime in function mode.
//!
//! ```text
//! auth (this agent's validators) -> read body (deadline) -> load shed -> envelope
//!   -> input schema -> output schema -> Invoke
//! ```
//! Auth sits here rather than in the shared stack because client keys and OIDC settings belong to
//! each AgentRuntime, and one gateway serves several. It comes before the body is read, so a
//! caller the chain refuses never makes the gateway buffer a body.
//!
//! The load-shed slot is taken only once the whole body has arrived (or been refused): a slot
//! covers the schema checks and the runtime call, never the wait for a slow client, so clients
//! trickling bodies cannot fill the slots and starve everyone else. Each of them waits at most
//! the body deadline, and the number of them is bounded by the connection cap times the
//! per-connection HTTP/2 stream cap (see `server.rs`). The price is that bodies being read are no
//! longer bounded by the slots: what they hold is what clients manage to send within the
//! deadline, each at most the body limit. Each function's stack shares the one [`LoadShedLayer`]
//! of its listener, so the budget is for all functions together.

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Limited;
use omnia_middleware::auth::{AuthChain, AuthLayer, Identity};
use omnia_middleware::load_shed::LoadShedLayer;
use omnia_middleware::read_body::ReadBodyLayer;
use omnia_middleware::request_id::RequestId;
use omnia_middleware::schema::{JsonSchema, ValidateInputLayer, ValidateOutputLayer};
use omnia_middleware::{BoxError, GatewayError, InvocationId, ResponseBody, Violations};
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::{InvocationRequest, Usage};
use omnia_runtime::telemetry::TraceHeaders;
use tonic::metadata::{MetadataKey, MetadataValue};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder};

use crate::runtime_client::RuntimeClient;

pub mod openapi;

/// The type-erased per-function service the router dispatches to.
pub type FunctionService<B> =
    BoxCloneSyncService<Request<Limited<B>>, Response<ResponseBody>, Infallible>;

/// What the gateway needs to know about one function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub namespace: String,
    pub input_schema: Arc<JsonSchema>,
    pub output_schema: Arc<JsonSchema>,
    pub auth: Arc<AuthChain>,
}

/// Builds the function's service over `client`: bodies get `body_timeout` to arrive, then a slot
/// of `shed`.
pub fn service<B>(
    spec: &FunctionSpec,
    client: RuntimeClient,
    body_timeout: Duration,
    shed: &LoadShedLayer,
) -> FunctionService<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let invoke = Invoke {
        client,
        agent: Arc::new(AgentIdentity {
            name: header_value(&spec.name),
            namespace: header_value(&spec.namespace),
        }),
    };
    let stack = ServiceBuilder::new()
        .layer(AuthLayer::from_shared(spec.auth.clone()))
        .layer(ReadBodyLayer::new(body_timeout))
        .layer(shed.clone())
        .map_response(envelope)
        .layer(ValidateInputLayer::new(spec.input_schema.clone()))
        .layer(ValidateOutputLayer::new(spec.output_schema.clone()))
        .service(invoke);
    BoxCloneSyncService::new(stack)
}

fn header_value(text: &str) -> MetadataValue<tonic::metadata::Ascii> {
    // Names are DNS labels (checked at load), so always valid metadata.
    MetadataValue::try_from(text).unwrap_or_else(|_| MetadataValue::from_static("invalid"))
}

#[derive(Debug)]
struct AgentIdentity {
    name: MetadataValue<tonic::metadata::Ascii>,
    namespace: MetadataValue<tonic::metadata::Ascii>,
}

/// What a successful call reports besides the output, in response extensions for [`envelope`].
#[derive(Debug, Clone)]
struct Invocation {
    duration_ms: u64,
    usage: Usage,
}

/// Calls `RuntimeService.Invoke` with the request body as `input_json`. The message shares the
/// body's buffer; tonic then encodes it, and prost copies the body into the gRPC frame (the one
/// copy on the way out, see BENCHMARKS.md).
#[derive(Debug, Clone)]
struct Invoke {
    client: RuntimeClient,
    agent: Arc<AgentIdentity>,
}

impl Service<Request<Bytes>> for Invoke {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let client = self.client.clone();
        let agent = self.agent.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // Input validation ahead of this service parsed the body as JSON, so this holds;
            // checking here keeps the request a Go runtime reads (`input_json` is a `string`
            // there) valid whatever sits in front.
            let input_json = match Utf8Bytes::from_utf8(body) {
                Ok(text) => text,
                Err(error) => {
                    return Ok(GatewayError::InputInvalid {
                        detail: format!("the body is not valid UTF-8: {error}"),
                        errors: Violations::default(),
                    }
                    .into_response());
                }
            };
            let invocation_id = uuid::Uuid::new_v4().to_string();
            let mut call =
                tonic::Request::new(InvocationRequest::new(input_json, invocation_id.clone()));
            identity_metadata(&mut call, &agent, &parts);
            let started = Instant::now();
            let result = client.invoke(call).await;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            Ok(match result {
                Ok(answer) => {
                    let mut response = Response::new(ResponseBody::full(answer.output_json));
                    response
                        .extensions_mut()
                        .insert(InvocationId(invocation_id));
                    response.extensions_mut().insert(Invocation {
                        duration_ms,
                        usage: answer.usage.unwrap_or_default(),
                    });
                    response
                }
                Err(error) => error.into_response_with(Some(&invocation_id)),
            })
        })
    }
}

/// Identity travels as gRPC metadata (DESIGN.md 4.4), never the raw bearer token.
fn identity_metadata<T>(
    call: &mut tonic::Request<T>,
    agent: &AgentIdentity,
    parts: &http::request::Parts,
) {
    let metadata = call.metadata_mut();
    metadata.insert("x-omnia-agent-name", agent.name.clone());
    // The gateway's span of this call (or, with tracing off, the caller's context as it came).
    if let Some(trace) = parts.extensions.get::<TraceHeaders>() {
        trace.write_metadata(metadata);
    }
    metadata.insert("x-omnia-namespace", agent.namespace.clone());
    if let Some(id) = parts.extensions.get::<RequestId>()
        && let Ok(text) = id.header_value().to_str()
        && let Ok(value) = MetadataValue::try_from(text)
    {
        metadata.insert("x-omnia-request-id", value);
    }
    let Some(identity) = parts.extensions.get::<Identity>() else {
        return;
    };
    // User id, role, e-mail and claims; a value gRPC metadata cannot carry is left out.
    for (key, value) in identity.runtime_metadata() {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            metadata.insert(key, value);
        }
    }
}

/// Wraps a validated output into `{"output", "invocation_id", "duration_ms", "usage"}`. The
/// output bytes are copied into the envelope as they came from the runtime (no re-serialising:
/// they were just validated as JSON).
fn envelope(response: Response<ResponseBody>) -> Response<ResponseBody> {
    let (Some(invocation), Some(InvocationId(id))) = (
        response.extensions().get::<Invocation>().cloned(),
        response.extensions().get::<InvocationId>().cloned(),
    ) else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let raw = body.as_full().cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len() + 160);
    out.extend_from_slice(b"{\"output\":");
    out.extend_from_slice(&raw);
    let usage = &invocation.usage;
    let cost = if usage.cost_usd.is_finite() {
        usage.cost_usd
    } else {
        0.0
    };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        ",\"invocation_id\":\"{}\",\"duration_ms\":{},\"usage\":{{\"input_tokens\":{},\"output_tokens\":{},\"cost_usd\":{}}}}}",
        id, invocation.duration_ms, usage.input_tokens, usage.output_tokens, cost
    );
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, ResponseBody::full(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn envelope_splices_the_output_and_reports_usage() {
        let mut response =
            Response::new(ResponseBody::full(Bytes::from_static(br#"{"echo":"hi"}"#)));
        response.extensions_mut().insert(InvocationId("abc".into()));
        response.extensions_mut().insert(Invocation {
            duration_ms: 7,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                cost_usd: 0.0008,
            },
        });
        let response = envelope(response);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["output"]["echo"], "hi");
        assert_eq!(body["invocation_id"], "abc");
        assert_eq!(body["duration_ms"], 7);
        assert_eq!(body["usage"]["input_tokens"], 3);
        assert_eq!(body["usage"]["cost_usd"], 0.0008);
    }

    #[tokio::test]
    async fn a_body_that_is_not_utf8_never_reaches_the_runtime() {
        // Nothing listens on port 1: a call that got through would be a 502.
        let client = RuntimeClient::new("127.0.0.1:1", std::time::Duration::from_secs(5)).unwrap();
        let mut invoke = Invoke {
            client,
            agent: Arc::new(AgentIdentity {
                name: header_value("echo"),
                namespace: header_value("default"),
            }),
        };
        let request = Request::new(Bytes::from_static(b"{\"message\": \"\xff\"}"));

        let response = invoke.call(request).await.unwrap();

        assert_eq!(response.status(), 400);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "input_invalid");
        assert!(
            body["detail"].as_str().unwrap().contains("not valid UTF-8"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn envelope_leaves_errors_alone() {
        let response = GatewayError::RuntimeError {
            detail: "x".into(),
            cause: "y".into(),
        }
        .into_response();
        let response = envelope(response);
        assert_eq!(response.status(), 502);
    }
}

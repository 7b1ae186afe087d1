//! Fixtures shared by the benches: realistic request bodies and an in-process gateway whose
//! runtime is reached over an in-memory HTTP/2 duplex (real gRPC encoding, no sockets).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use omnia_gateway::function::FunctionSpec;
use omnia_gateway::metrics::Metrics;
use omnia_gateway::runtime_client::RuntimeClient;
use omnia_gateway::runtime_transport::{Http2Transport, Io};
use omnia_gateway::stack::Limits;
use omnia_middleware::auth::{AuthChain, ClientKey, ClientKeys};
use omnia_middleware::schema::JsonSchema;
use serde_json::{Value, json};
use tonic::transport::Server;

/// The client key the bench gateway accepts.
pub const BENCH_KEY: &str = "bench-client-key-0123456789";

/// A function whose runtime echoes its input, so its output schema is its input schema (the
/// echo example's; `{"message": string <= 280}`).
pub const ECHO_FUNCTION: &str = r#"
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {name: echo-function}
spec:
  mode: function
  promptPackRef: {name: echo-pack}
  facade: {type: grpc}
  providers:
    - name: default
      providerRef: {name: echo-provider}
  inputSchema: &schema
    type: object
    required: ["message"]
    properties:
      message: {type: string, maxLength: 280}
    additionalProperties: false
  outputSchema: *schema
"#;

/// A realistic JSON request body of about `size` bytes: a support ticket with a message, tags
/// and metadata, shaped like what callers send to a summariser or classifier.
pub fn ticket_body(size: usize) -> Bytes {
    let mut ticket = json!({
        "ticket_id": "TCK-2026-004211",
        "customer": {"id": "cus_81f2a", "tier": "enterprise", "region": "eu-west-1"},
        "tags": ["billing", "invoice", "urgent"],
        "created_at": "2026-11-21T08:30:00Z",
        "priority": 2,
        "message": "",
    });
    let base = serde_json::to_vec(&ticket).map(|v| v.len()).unwrap_or(0);
    let sentence = "The invoice for October lists two seats we cancelled in September; please credit the difference. ";
    let text: String = sentence
        .chars()
        .cycle()
        .take(size.saturating_sub(base))
        .collect();
    ticket["message"] = Value::String(text);
    Bytes::from(serde_json::to_vec(&ticket).unwrap_or_default())
}

/// The schema `ticket_body` satisfies.
pub fn ticket_schema() -> Value {
    json!({
        "type": "object",
        "required": ["ticket_id", "customer", "message"],
        "additionalProperties": false,
        "properties": {
            "ticket_id": {"type": "string", "pattern": "^TCK-[0-9]{4}-[0-9]{6}$"},
            "customer": {
                "type": "object",
                "required": ["id", "tier"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "tier": {"enum": ["free", "team", "enterprise"]},
                    "region": {"type": "string"}
                }
            },
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
            "created_at": {"type": "string"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "message": {"type": "string", "maxLength": 200000}
        }
    })
}

/// A gateway service (the whole Tower stack) for one function whose runtime echoes its input,
/// reached over an in-memory duplex. Must be called inside a Tokio runtime.
pub async fn echo_stack() -> impl tower::Service<
    http::Request<http_body_util::Full<Bytes>>,
    Response = http::Response<omnia_middleware::ResponseBody>,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone {
    let config = omnia_api::load_str(
        "bench",
        &format!("{ECHO_FUNCTION}\n---\n{}", echo_runtime_manifests()),
    )
    .unwrap_or_else(|e| panic!("bench manifests: {e}"));
    let runtime = omnia_runtime::Runtime::compile(
        &config,
        omnia_runtime::RuntimeOptions {
            dev: false,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("bench runtime: {e}"));
    let client =
        RuntimeClient::from_transport(in_memory_transport(runtime), Duration::from_secs(60));
    let schema = |v: &Value| Arc::new(JsonSchema::compile(v).unwrap_or_else(|e| panic!("{e}")));
    let agent = config
        .agent("echo-function")
        .unwrap_or_else(|| panic!("no echo-function"));
    let auth = bench_auth();
    let spec = FunctionSpec {
        name: agent.name.clone(),
        namespace: agent.namespace.clone(),
        input_schema: schema(agent.input_schema.as_ref().unwrap_or(&Value::Null)),
        output_schema: schema(agent.output_schema.as_ref().unwrap_or(&Value::Null)),
        auth: Arc::new(auth),
    };
    let limits = Limits::default();
    let metrics = Arc::new(Metrics::new([(
        spec.name.as_str(),
        spec.namespace.as_str(),
    )]));
    let shed = omnia_gateway::stack::LoadShedLayer::new(limits.max_in_flight);
    omnia_gateway::stack::build(
        &[spec],
        &client,
        limits,
        metrics,
        &shed,
        omnia_gateway::stack::Surfaces::default(),
    )
}

/// The echo function's auth chain: one client key, [`BENCH_KEY`].
pub fn bench_auth() -> AuthChain {
    let mut keys = ClientKeys::new(vec![ClientKey::from_plaintext("bench", BENCH_KEY)]);
    keys.default_role = Some("viewer".into());
    AuthChain::builder()
        .client_keys(keys)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A call of the echo function with `body`, authorised with [`BENCH_KEY`].
pub fn echo_request(body: &Bytes) -> http::Request<http_body_util::Full<Bytes>> {
    http::Request::post("/functions/echo-function")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {BENCH_KEY}"))
        .body(http_body_util::Full::new(body.clone()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `calls` echo calls one after another through `stack`, reading every response whole;
/// panics on anything but 200, so a count never measures an error path.
pub async fn run_calls<S>(stack: &S, body: &Bytes, calls: u64)
where
    S: tower::Service<
            http::Request<http_body_util::Full<Bytes>>,
            Response = http::Response<omnia_middleware::ResponseBody>,
            Error = std::convert::Infallible,
        > + Clone,
{
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    for _ in 0..calls {
        let response = stack
            .clone()
            .oneshot(echo_request(body))
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(response.status(), http::StatusCode::OK);
        let _ = response.into_body().collect().await;
    }
}

/// The echo function's pack and an `echo` provider (output = input).
fn echo_runtime_manifests() -> String {
    let pack = include_str!("../../examples/echo-function/promptpack.yaml");
    let provider = "apiVersion: omnia.altairalabs.ai/v1alpha1\nkind: Provider\nmetadata:\n  name: echo-provider\nspec:\n  type: echo\n";
    format!("{pack}\n---\n{provider}")
}

/// Serves `runtime` on one end of an in-memory duplex and returns the gateway's transport on the
/// other.
fn in_memory_transport(runtime: omnia_runtime::Runtime) -> Http2Transport {
    let (client_io, server_io) = tokio::io::duplex(1024 * 1024);
    tokio::spawn(async move {
        // One connection, then pending forever so the server keeps serving it.
        let incoming = tokio_stream::StreamExt::chain(
            tokio_stream::once(Ok::<_, std::io::Error>(server_io)),
            tokio_stream::pending(),
        );
        let _ = Server::builder()
            .serve_with_incoming(runtime.into_service(), incoming)
            .await;
    });
    // The connector hands out the one duplex end; a second connect (there is none while the
    // duplex lives) fails.
    let client_io = Arc::new(tokio::sync::Mutex::new(Some(client_io)));
    Http2Transport::with_connector(Arc::new(move || {
        let client_io = client_io.clone();
        Box::pin(async move {
            match client_io.lock().await.take() {
                Some(io) => Ok(Box::new(io) as Box<dyn Io>),
                None => Err(std::io::Error::other(
                    "the in-memory runtime accepts one connection",
                )),
            }
        })
    }))
}

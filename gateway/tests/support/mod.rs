//! Shared fixtures for the gateway's end-to-end tests: a fake runtime (a real tonic server whose
//! `Invoke` the test scripts), the real runtime, an in-process gateway on ephemeral ports, and a
//! small HTTP client (hyper over a `TcpStream`, plus raw socket writes for malformed requests).
//!
//! Every test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod asyncapi;
pub mod h2_frames;
pub mod media;
pub mod ws;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use omnia_api::ResolvedConfig;
use omnia_gateway::app::{Gateway, GatewayOptions};
use omnia_gateway::server::ConnectionLimits;
use omnia_gateway::stack::Limits;
use omnia_proto::runtime::v1::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use omnia_proto::runtime::v1::{
    CONTRACT_VERSION, ClientMessage, HasConversationRequest, HasConversationResponse,
    HealthRequest, HealthResponse, InvocationRequest, InvocationResponse, ServerMessage, Usage,
};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tower::util::MapRequestLayer;

/// The example function every test calls.
pub const ECHO: &str = "echo-function";
/// A function that only admits client keys (see [`keyed_yaml`]).
pub const KEYED: &str = "keyed";
/// The plaintext of the valid client key of [`KEYED`].
pub const GOOD_KEY: &str = "sk-test-0123456789abcdef";
/// The plaintext of an expired client key of [`KEYED`].
pub const EXPIRED_KEY: &str = "sk-test-expired";
/// The Secret holding [`GOOD_KEY`]'s digest; the caller's user id.
pub const GOOD_KEY_SECRET: &str = "ci-key";

/// How long any single wait in these tests may take before the test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

/// The three manifests of `examples/echo-function`, as one multi-document YAML text.
pub fn echo_yaml() -> String {
    [
        include_str!("../../../examples/echo-function/agentruntime.yaml"),
        include_str!("../../../examples/echo-function/promptpack.yaml"),
        include_str!("../../../examples/echo-function/provider.yaml"),
    ]
    .join("\n---\n")
}

/// base64 of the raw SHA-256 digest of `key`: what a client-key Secret's `keyHash` holds.
pub fn key_hash(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(key.as_bytes()))
}

/// A client-key Secret in Omnia's format for `key`; `extra` holds further `data:` lines.
pub fn key_secret(name: &str, agent: &str, key: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: {name}
  labels:
    omnia.altairalabs.ai/credential-kind: agent-client-key
    omnia.altairalabs.ai/agent: {agent}
data:
  keyHash: {hash}
{extra}",
        hash = key_hash(key)
    )
}

/// The echo example plus [`KEYED`]: the same contract, but `externalAuth.clientKeys: {}` with
/// one valid key ([`GOOD_KEY`]) and one that expired in 2020 ([`EXPIRED_KEY`]).
pub fn keyed_yaml() -> String {
    let agent = format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata:
  name: {KEYED}
spec:
  mode: function
  promptPackRef: {{name: echo-pack}}
  providers: [{{name: default, providerRef: {{name: echo-provider}}}}]
  externalAuth:
    clientKeys: {{}}
  inputSchema:
    type: object
    required: [message]
    properties: {{message: {{type: string, maxLength: 280}}}}
    additionalProperties: false
  outputSchema:
    type: object
    required: [echo]
    properties: {{echo: {{type: string}}}}
    additionalProperties: false
"
    );
    [
        echo_yaml(),
        agent,
        key_secret(GOOD_KEY_SECRET, KEYED, GOOD_KEY, ""),
        key_secret(
            "old-key",
            KEYED,
            EXPIRED_KEY,
            &format!(
                "  expiresAt: {}\n",
                base64::engine::general_purpose::STANDARD.encode("2020-01-01T00:00:00Z")
            ),
        ),
    ]
    .join("\n---\n")
}

/// A function that only admits edge trust (see [`edge_yaml`]).
pub const EDGE: &str = "edge";

/// The echo example plus [`EDGE`]: the same contract, but `externalAuth.edgeTrust: {}`.
pub fn edge_yaml() -> String {
    let agent = format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata:
  name: {EDGE}
spec:
  mode: function
  promptPackRef: {{name: echo-pack}}
  providers: [{{name: default, providerRef: {{name: echo-provider}}}}]
  externalAuth:
    edgeTrust: {{}}
  inputSchema:
    type: object
    properties: {{message: {{type: string}}}}
  outputSchema:
    type: object
    properties: {{echo: {{type: string}}}}
"
    );
    [echo_yaml(), agent].join("\n---\n")
}

/// Loads manifests the way the binary does, from text.
pub fn load(yaml: &str) -> ResolvedConfig {
    match omnia_api::load_str("test.yaml", yaml) {
        Ok(config) => config,
        Err(error) => panic!("test manifests do not load: {error}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Fake runtime
// ---------------------------------------------------------------------------------------------

/// What the fake runtime's `Invoke` does.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answers like the echo example: `{"echo": <input.message>}`.
    Echo,
    /// Answers these output bytes, whatever the input.
    Fixed(Bytes),
    /// Fails with this gRPC status.
    Fail(tonic::Code, String),
    /// Signals that a call arrived, then waits for [`FakeRuntime::release`] and answers like
    /// [`Behaviour::Echo`].
    Hold,
}

/// One `Invoke` as the fake runtime received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The gRPC request metadata (HTTP/2 headers).
    pub metadata: HeaderMap,
    pub input_json: Bytes,
    pub invocation_id: String,
}

impl Seen {
    /// A metadata value as text, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(|v| v.to_str().ok())
    }
}

/// The usage every fake answer reports (exactly representable as a proto `float`).
pub const FAKE_USAGE: Usage = Usage {
    input_tokens: 3,
    output_tokens: 2,
    cost_usd: 0.5,
};

struct FakeState {
    behaviour: Behaviour,
    seen: Mutex<Vec<Seen>>,
    arrivals: AtomicUsize,
    arrived: Notify,
    released: watch::Sender<bool>,
}

#[derive(Clone)]
struct FakeService(Arc<FakeState>);

fn echo_output(input: &[u8]) -> Bytes {
    let message = serde_json::from_slice::<Value>(input)
        .ok()
        .and_then(|v| v.get("message").cloned())
        .unwrap_or(Value::Null);
    Bytes::from(serde_json::to_vec(&serde_json::json!({ "echo": message })).unwrap())
}

#[tonic::async_trait]
impl RuntimeService for FakeService {
    type ConverseStream = tokio_stream::Empty<Result<ServerMessage, tonic::Status>>;

    async fn converse(
        &self,
        _request: tonic::Request<tonic::Streaming<ClientMessage>>,
    ) -> Result<tonic::Response<Self::ConverseStream>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "the fake runtime has no conversations",
        ))
    }

    async fn invoke(
        &self,
        request: tonic::Request<InvocationRequest>,
    ) -> Result<tonic::Response<InvocationResponse>, tonic::Status> {
        let state = &self.0;
        let metadata = request.metadata().clone().into_headers();
        let request = request.into_inner();
        state.seen.lock().await.push(Seen {
            metadata,
            input_json: request.input_json.clone(),
            invocation_id: request.invocation_id.clone(),
        });
        state.arrivals.fetch_add(1, Ordering::SeqCst);
        state.arrived.notify_waiters();
        let output_json = match &state.behaviour {
            Behaviour::Echo => echo_output(&request.input_json),
            Behaviour::Fixed(bytes) => bytes.clone(),
            Behaviour::Fail(code, message) => {
                return Err(tonic::Status::new(*code, message.clone()));
            }
            Behaviour::Hold => {
                let mut released = state.released.subscribe();
                // An error means the fake itself is gone: answer anyway.
                let _ = released.wait_for(|released| *released).await;
                echo_output(&request.input_json)
            }
        };
        Ok(tonic::Response::new(InvocationResponse {
            output_json,
            usage: Some(FAKE_USAGE),
            duration_ms: 1,
            invocation_id: request.invocation_id,
        }))
    }

    async fn health(
        &self,
        _request: tonic::Request<HealthRequest>,
    ) -> Result<tonic::Response<HealthResponse>, tonic::Status> {
        Ok(tonic::Response::new(HealthResponse {
            healthy: true,
            status: "ok".to_owned(),
            contract_version: CONTRACT_VERSION.to_owned(),
            capabilities: vec!["invoke".to_owned()],
        }))
    }

    async fn has_conversation(
        &self,
        _request: tonic::Request<HasConversationRequest>,
    ) -> Result<tonic::Response<HasConversationResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "the fake runtime has no conversations",
        ))
    }
}

/// A tonic `RuntimeService` on a real loopback socket whose `Invoke` does what the test chose.
pub struct FakeRuntime {
    pub addr: SocketAddr,
    state: Arc<FakeState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl FakeRuntime {
    /// Serves on a fresh `127.0.0.1:0` port.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, behaviour, false)
    }

    /// Serves on a fresh `127.0.0.1:0` port and gzip-compresses every answer, as a runtime that
    /// compresses regardless of what the caller advertised would.
    pub async fn start_gzip(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, behaviour, true)
    }

    fn serve(listener: TcpListener, behaviour: Behaviour, gzip: bool) -> Self {
        let addr = listener.local_addr().unwrap();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        Self::serve_incoming(incoming, addr, behaviour, gzip)
    }

    fn serve_incoming<I, IO, IE>(
        incoming: I,
        addr: SocketAddr,
        behaviour: Behaviour,
        gzip: bool,
    ) -> Self
    where
        I: tokio_stream::Stream<Item = Result<IO, IE>> + Send + 'static,
        IO: tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + tonic::transport::server::Connected
            + Unpin
            + Send
            + 'static,
        IE: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let state = Arc::new(FakeState {
            behaviour,
            seen: Mutex::new(Vec::new()),
            arrivals: AtomicUsize::new(0),
            arrived: Notify::new(),
            released: watch::Sender::new(false),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let service = RuntimeServiceServer::new(FakeService(state.clone()));
        let service = if gzip {
            service.send_compressed(CompressionEncoding::Gzip)
        } else {
            service
        };
        // tonic compresses an answer only for a caller that advertised gzip, so the gzip fake
        // advertises it on the caller's behalf: the answer is compressed whatever the caller
        // sent.
        let advertise = gzip.then(|| MapRequestLayer::new(advertise_gzip as fn(_) -> _));
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .layer(tower::util::option_layer(advertise))
                .serve_with_incoming_shutdown(service, incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            addr,
            state,
            stop,
            task,
        }
    }

    /// `host:port`, as the gateway is given it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Waits until at least `n` calls have reached `Invoke`.
    pub async fn wait_for_calls(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.state.arrived.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.state.arrivals.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("{n} call(s) never reached the fake runtime"));
    }

    /// Shuts the server down gracefully (GOAWAY to its connections) and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(PATIENCE, self.task).await;
    }

    /// Lets every held call (and every later one) answer.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }

    /// The calls received so far.
    pub async fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().await.clone()
    }
}

/// A request as if its caller accepted gzip-compressed answers.
fn advertise_gzip(mut request: Request<tonic::body::Body>) -> Request<tonic::body::Body> {
    request.headers_mut().insert(
        "grpc-accept-encoding",
        http::HeaderValue::from_static("gzip"),
    );
    request
}

/// The real runtime (`omnia_runtime`), compiled from `config` and served on `127.0.0.1:0`.
pub async fn real_runtime(config: &ResolvedConfig) -> SocketAddr {
    real_runtime_with(config, omnia_runtime::RuntimeOptions::default()).await
}

/// [`real_runtime`] with `options` (a test's breaker settings, ...).
pub async fn real_runtime_with(
    config: &ResolvedConfig,
    options: omnia_runtime::RuntimeOptions,
) -> SocketAddr {
    let runtime = omnia_runtime::Runtime::compile(config, options)
        .unwrap_or_else(|e| panic!("the runtime does not compile the test manifests: {e}"));
    // As the binaries do: stores checked, tool servers asked for their tools.
    runtime
        .connect()
        .await
        .unwrap_or_else(|e| panic!("the runtime does not connect: {e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(omnia_runtime::serve(
        runtime,
        listener,
        std::future::pending(),
    ));
    addr
}

/// A runtime address nothing listens on yet, which a runtime can later come up on: a Unix
/// socket path in a fresh directory. (A released TCP port could be taken by a parallel test in
/// between.)
pub struct DownRuntime {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl DownRuntime {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime.sock");
        Self { _dir: dir, path }
    }

    /// `unix:///...`, as the gateway is given it.
    pub fn address(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Brings a fake runtime up at the address (replacing the socket file of an earlier one).
    pub fn start(&self, behaviour: Behaviour) -> FakeRuntime {
        let _ = std::fs::remove_file(&self.path);
        let listener = tokio::net::UnixListener::bind(&self.path).unwrap();
        let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
        FakeRuntime::serve_incoming(incoming, "0.0.0.0:0".parse().unwrap(), behaviour, false)
    }
}

/// An address nothing listens on (bound, then released).
pub async fn closed_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------------------------

/// The knobs the tests turn; everything else is the default of [`Options::default`].
#[derive(Debug, Clone)]
pub struct Options {
    pub body_limit: usize,
    pub header_limit: usize,
    pub max_in_flight: usize,
    pub body_timeout: Duration,
    pub connections: ConnectionLimits,
    /// `--facade-threads`.
    pub facade_threads: usize,
    /// WebSocket limits and origins.
    pub ws: omnia_gateway::agent::WsLimits,
    /// `--demo-pace`: 0 (no delays) unless a test wants turns that take time.
    pub demo_pace: f64,
    /// `--ws-stream-per-turn`.
    pub converse_per_turn: bool,
    pub call_timeout: Duration,
    pub drain_timeout: Duration,
    pub allow_unauthenticated: bool,
    pub open_when_unconfigured: bool,
    /// The dashboard's JWKS URL, for the internal listener.
    pub management_plane_jwks_url: Option<String>,
    /// `OMNIA_WORKSPACE_NAME`.
    pub workspace_name: Option<String>,
    /// Our runtime linked in (`serve --embedded-runtime`) instead of `runtime_address`.
    pub embedded_runtime: Option<std::sync::Arc<omnia_runtime::Runtime>>,
    /// Every function as an MCP tool on this address.
    pub mcp_listen: Option<SocketAddr>,
}

impl Default for Options {
    /// Omnia's limits; functions without `externalAuth` open (as under `dev`), functions with
    /// validators enforcing them.
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            header_limit: 64 * 1024,
            max_in_flight: 64,
            body_timeout: Duration::from_secs(10),
            connections: ConnectionLimits::default(),
            facade_threads: 0,
            ws: omnia_gateway::agent::WsLimits::default(),
            demo_pace: 0.0,
            converse_per_turn: false,
            embedded_runtime: None,
            call_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            allow_unauthenticated: false,
            open_when_unconfigured: true,
            management_plane_jwks_url: None,
            workspace_name: None,
            mcp_listen: None,
        }
    }
}

/// A gateway serving in this process.
pub struct TestGateway {
    pub facade: SocketAddr,
    pub health: SocketAddr,
    /// The internal (management-plane) listener; always bound, on an ephemeral port.
    pub internal: SocketAddr,
    /// The MCP listener, when `Options::mcp_listen` asked for one.
    pub mcp: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestGateway {
    /// Binds a gateway for `yaml` in front of `runtime_address` and starts serving, without
    /// waiting for readiness (both ports accept connections from the moment they are bound).
    pub async fn bind(yaml: &str, runtime_address: String, options: Options) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = load(yaml);
        let gateway = Gateway::bind(
            &config,
            GatewayOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                health_listen: "127.0.0.1:0".parse().unwrap(),
                internal_listen: Some("127.0.0.1:0".parse().unwrap()),
                runtime_address,
                embedded_runtime: options.embedded_runtime.clone(),
                limits: Limits {
                    body: options.body_limit,
                    headers: options.header_limit,
                    max_in_flight: options.max_in_flight,
                    body_timeout: options.body_timeout,
                },
                connections: options.connections,
                facade_threads: options.facade_threads,
                ws: options.ws.clone(),
                demo_pace: options.demo_pace,
                mock_stream_delay: Duration::ZERO,
                converse_per_turn: options.converse_per_turn,
                call_timeout: options.call_timeout,
                drain_timeout: options.drain_timeout,
                allow_unauthenticated: options.allow_unauthenticated,
                open_when_unconfigured: options.open_when_unconfigured,
                management_plane_key: None,
                management_plane_jwks_url: options.management_plane_jwks_url,
                workspace_name: options.workspace_name,
                mcp_listen: options.mcp_listen,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("the gateway does not start: {e}"));
        let facade = gateway.facade_addr();
        let health = gateway.health_addr();
        let internal = gateway
            .internal_addr()
            .expect("the internal listener is bound");
        let mcp = gateway.mcp_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway.serve(async {
            let _ = stopped.await;
        }));
        Self {
            facade,
            health,
            internal,
            mcp,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// [`TestGateway::bind`], then waits until `/readyz` answers 200.
    pub async fn start(yaml: &str, runtime_address: String, options: Options) -> Self {
        let gateway = Self::bind(yaml, runtime_address, options).await;
        wait_ready(gateway.health).await;
        gateway
    }

    /// The echo example in front of `runtime`, with default options, ready.
    pub async fn echo(runtime: &FakeRuntime) -> Self {
        Self::start(&echo_yaml(), runtime.address(), Options::default()).await
    }

    /// Triggers shutdown and waits for `serve` to return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("the gateway did not shut down")
                .unwrap();
        }
    }

    /// POSTs `body` as JSON to `/functions/{name}`.
    pub async fn call(&self, name: &str, body: impl Into<Bytes>) -> Reply {
        post_json(self.facade, &format!("/functions/{name}"), body).await
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Polls `GET /readyz` on `health` until it answers 200.
pub async fn wait_ready(health: SocketAddr) {
    wait_for_readyz(health, StatusCode::OK).await;
}

/// Polls `GET /readyz` on `health` until it answers `status` (connection errors count as "not
/// yet": a process may still be starting).
pub async fn wait_for_readyz(health: SocketAddr, status: StatusCode) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(Ok(reply)) = tokio::time::timeout(
            Duration::from_secs(2),
            try_send(health, get_request("/readyz")),
        )
        .await
            && reply.status == status
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz on {health} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The dashboard's JWKS
// ---------------------------------------------------------------------------------------------

/// Serves one JSON document at any path, over HTTP/1.1 on `127.0.0.1:0`, counting requests: the
/// dashboard's `/api/auth/jwks` as far as the gateway can tell.
pub struct JwksServer {
    addr: SocketAddr,
    body: Arc<watch::Sender<String>>,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = Arc::new(watch::channel(body).0);
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counter) = (body.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let body = served.borrow().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Self {
            addr,
            body,
            hits,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/auth/jwks", self.addr)
    }

    /// Replaces the document served from now on (a key rotation at the dashboard).
    pub fn serve(&self, body: String) {
        self.body.send_replace(body);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The committed test key pair of the middleware's auth tests (`rsa-1` in its JWKS).
pub const DASHBOARD_KEY: &str = include_str!("../../../middleware/src/auth/testdata/rsa1.key.pem");
pub const DASHBOARD_JWK: &str = include_str!("../../../middleware/src/auth/testdata/rsa1.jwk.json");
pub const DASHBOARD_KID: &str = "rsa-1";

pub fn dashboard_jwks() -> String {
    let jwk: Value = serde_json::from_str(DASHBOARD_JWK).unwrap();
    json!({ "keys": [jwk] }).to_string()
}

/// What the dashboard mints for an admin trying an agent.
pub fn dashboard_claims() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "iss": "omnia-dashboard",
        "aud": "omnia-facade",
        "sub": "admin@example.test",
        "origin": "management-plane",
        "iat": now,
        "exp": now + 300,
    })
}

pub fn sign_dashboard(claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_rsa_pem(DASHBOARD_KEY.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

pub fn dashboard_token(claims: &Value) -> String {
    sign_dashboard(claims, Some(DASHBOARD_KID))
}

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value as text; panics when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
            .to_str()
            .unwrap()
    }

    /// Asserts the status and a JSON error body with this `error` code; returns the body.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.header("content-type"), "application/json", "{self:?}");
        let body = self.json();
        assert_eq!(body["error"], code, "{body}");
        assert!(body["detail"].is_string(), "{body}");
        body
    }
}

/// A `GET path` request.
pub fn get_request(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A `POST path` request with a JSON content type.
pub fn post_request(path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

/// Sends `request` over a new HTTP/1.1 connection to `addr`.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    tokio::time::timeout(PATIENCE, try_send(addr, request))
        .await
        .unwrap_or_else(|_| panic!("no answer from {addr}"))
        .unwrap_or_else(|e| panic!("request to {addr} failed: {e}"))
}

/// Like [`send`], returning connection failures instead of panicking.
pub async fn try_send(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Sends `request` (with an absolute URI) over a new HTTP/2 prior-knowledge (h2c) connection.
pub async fn send_h2(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("no HTTP/2 answer")
}

/// POSTs `body` with `content-type: application/json` to `path` on `addr`.
pub async fn post_json(addr: SocketAddr, path: &str, body: impl Into<Bytes>) -> Reply {
    send(addr, post_request(path, body)).await
}

/// GETs `path` on `addr`.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, get_request(path)).await
}

/// Writes `request` as raw bytes on a new connection and reads one HTTP/1.1 response. The write
/// runs concurrently with the read and its failure is ignored: a server may answer (and close)
/// before a body it refuses has been sent in full.
pub async fn raw(addr: SocketAddr, request: Vec<u8>) -> Reply {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let write = tokio::spawn(async move {
            let _ = writer.write_all(&request).await;
            let _ = writer.flush().await;
            writer
        });
        let reply = read_response(&mut reader).await;
        write.abort();
        reply
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("no answer to the raw request")
}

/// Reads one HTTP/1.1 response (head, then a `Content-Length` body) from `reader`.
pub async fn read_response(reader: &mut (impl AsyncReadExt + Unpin)) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = reader.read(&mut chunk).await.expect("reading the response");
        assert!(n > 0, "the connection closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("the response head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut map = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        map.append(
            http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            http::HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    let length: usize = map
        .get("content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = reader.read(&mut chunk).await.expect("reading the body");
        assert!(n > 0, "the connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        headers: map,
        body: Bytes::from(body),
    }
}

/// Asserts `text` is a UUID.
#[track_caller]
pub fn assert_uuid(text: &str) {
    assert!(
        uuid::Uuid::parse_str(text).is_ok(),
        "{text:?} is not a UUID"
    );
}

/// A valid echo call answers 200 on a new connection: the gateway is still serving.
pub async fn assert_still_serving(gateway: &TestGateway) {
    let reply = gateway.call(ECHO, r#"{"message":"still here"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "still here");
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/// A `redis-server` on a loopback port, stopped when dropped.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Self {
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.run();
        redis
    }

    pub fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: ./test.sh installs it (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

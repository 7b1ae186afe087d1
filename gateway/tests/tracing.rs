#![allow(clippy::unwrap_used, clippy::expect_used)]
//! OpenTelemetry traces through the gateway. With `OMNIA_TRACING_ENABLED=true`, the built
//! `omnia-gateway dev` (gateway and runtime in one process, over real gRPC) exports to a receiver
//! in the test: the gateway's server span is a child of the client's `traceparent`, the
//! runtime's `invoke`/`turn` span a child of the gateway's, the provider's `chat` span of that,
//! and SIGTERM flushes them. With tracing off, an incoming `traceparent` reaches the runtime
//! unchanged (a function call's metadata; a conversation's stream and message metadata).

mod support;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use http_body_util::Full;
use omnia_fakes::{OtlpReceiver, ReceivedSpan};
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use omnia_proto::runtime::v1::{
    ClientMessage, HasConversationRequest, HasConversationResponse, HealthRequest, HealthResponse,
    InvocationRequest, InvocationResponse, ServerMessage,
};
use serde_json::Value;
use support::ws::Client;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

const BIN: &str = env!("CARGO_BIN_EXE_omnia-gateway");

const CALL_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALL_PARENT: &str = "00f067aa0ba902b7";
const WS_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const WS_PARENT: &str = "b7ad6b7169203331";

fn traceparent(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}

/// A gateway process, killed if the test ends before it exits.
struct Process {
    child: Child,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `omnia-gateway dev` on the function and agent examples, tracing to `endpoint`; returns the
/// process and its facade address (read from the banner).
async fn dev(endpoint: &str) -> (Process, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr.log");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut child = Command::new(BIN)
        .arg("dev")
        .arg(examples.join("echo-function"))
        .arg(examples.join("mock-agent"))
        .args(["--listen", "127.0.0.1:0"])
        .args(["--health-listen", "127.0.0.1:0"])
        .args(["--internal-listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .env_remove("OMNIA_TRACING_SAMPLE_RATE")
        .env_remove("OMNIA_TRACING_INSECURE")
        .env("OMNIA_TRACING_ENABLED", "true")
        .env("OMNIA_TRACING_ENDPOINT", endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
        .spawn()
        .expect("cannot spawn omnia-gateway");
    let stdout = child.stdout.take().unwrap();
    let process = Process {
        child,
        stderr,
        _dir: dir,
    };
    // A thread drains stdout for the life of the process, even once nobody reads the lines, so
    // the banner's later lines never meet a full or closed pipe.
    let (lines_tx, mut lines) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(line);
        }
    });
    let facade = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.recv().await {
            if let Some(rest) = line.trim().strip_prefix("POST http://") {
                let host = rest.split('/').next().unwrap();
                return host.parse::<SocketAddr>().unwrap();
            }
        }
        panic!("dev exited without its banner");
    })
    .await
    .unwrap_or_else(|_| panic!("no banner in time; stderr:\n{}", process.stderr()));
    (process, facade)
}

/// Sends SIGTERM and waits for a clean exit.
async fn terminate(process: &mut Process) {
    let sent = Command::new("kill")
        .args(["-TERM", &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            assert!(status.success(), "exit {status}:\n{}", process.stderr());
            return;
        }
        assert!(
            Instant::now() < deadline,
            "omnia-gateway kept running:\n{}",
            process.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Frames of one WebSocket turn, up to its `done` (or `error`, which fails the test).
async fn turn(client: &mut Client, content: &str) -> Vec<Value> {
    let message = serde_json::json!({"type": "message", "content": content}).to_string();
    client.send_text(&message).await;
    let mut frames = Vec::new();
    loop {
        let frame = client.json().await;
        let kind = frame["type"].as_str().unwrap_or_default().to_owned();
        frames.push(frame);
        match kind.as_str() {
            "done" => return frames,
            "error" => panic!("the turn failed: {frames:?}"),
            _ => {}
        }
    }
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {spans:?}");
    found[0]
}

fn child_of<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan, name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.name == name && s.parent_span_id == parent.span_id)
        .unwrap_or_else(|| panic!("no {name} under {}: {spans:?}", parent.name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_and_a_turn_are_traced_from_the_client_through_the_runtime_to_the_provider() {
    let receiver = OtlpReceiver::start().await;
    let (mut process, facade) = dev(&receiver.endpoint()).await;

    let request = Request::post(format!("/functions/{ECHO}"))
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("traceparent", traceparent(CALL_TRACE, CALL_PARENT))
        .body(Full::new(bytes::Bytes::from_static(
            br#"{"message":"traced"}"#,
        )))
        .unwrap();
    let reply = match try_send(facade, request).await {
        Ok(reply) => reply,
        Err(e) => panic!("the call failed: {e:?}; stderr:\n{}", process.stderr()),
    };
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "traced");

    let ws_parent = traceparent(WS_TRACE, WS_PARENT);
    let mut client = Client::connect(
        facade,
        "/ws?agent=mock-agent",
        &[("traceparent", &ws_parent)],
    )
    .await;
    let connected = client.json().await;
    let session = connected["session_id"].as_str().unwrap().to_owned();
    let frames = turn(&mut client, "hello").await;
    assert!(frames.iter().any(|f| f["type"] == "chunk"), "{frames:?}");
    drop(client);

    terminate(&mut process).await;
    let spans = receiver
        .wait_for(PATIENCE, |spans| {
            [
                "invoke echo-function",
                "turn mock-agent",
                "ws turn mock-agent",
            ]
            .iter()
            .all(|name| spans.iter().any(|s| s.name == *name))
                && spans.iter().filter(|s| s.name.starts_with("chat ")).count() >= 2
        })
        .await;
    assert!(
        spans.iter().all(|s| s.service == "omnia-facade"),
        "{spans:?}"
    );

    // The function call: client -> gateway -> runtime -> provider, one trace.
    let http = one(&spans, "POST /functions/{name}");
    assert_eq!(http.kind, "server");
    assert_eq!(http.trace_id, CALL_TRACE);
    assert_eq!(http.parent_span_id, CALL_PARENT);
    assert_eq!(http.attr("http.route"), "/functions/{name}");
    assert_eq!(http.attr("url.path"), "/functions/echo-function");
    assert_eq!(http.attr("http.response.status_code"), 200);
    let invoke = child_of(&spans, http, "invoke echo-function");
    assert_eq!(invoke.trace_id, CALL_TRACE);
    assert_eq!(invoke.kind, "server");
    let chat = child_of(&spans, invoke, "chat mock-echo");
    assert_eq!(chat.kind, "client");
    assert_eq!(chat.attr("gen_ai.system"), "mock");
    assert_eq!(chat.attr("gen_ai.request.model"), "mock-echo");
    assert!(chat.attr("gen_ai.usage.input_tokens").as_i64() > Some(0));
    assert!(chat.attr("gen_ai.usage.output_tokens").as_i64() > Some(0));
    assert_eq!(
        chat.attr("gen_ai.response.finish_reasons"),
        &serde_json::json!(["stop"])
    );

    // The turn: client's upgrade -> gateway's turn -> runtime's turn -> provider.
    let ws_turn = one(&spans, "ws turn mock-agent");
    assert_eq!(ws_turn.kind, "server");
    assert_eq!(ws_turn.trace_id, WS_TRACE);
    assert_eq!(ws_turn.parent_span_id, WS_PARENT);
    assert_eq!(ws_turn.attr("gen_ai.conversation.id"), session.as_str());
    let runtime_turn = child_of(&spans, ws_turn, "turn mock-agent");
    assert_eq!(runtime_turn.trace_id, WS_TRACE);
    let chat = child_of(&spans, runtime_turn, "chat mock-assistant");
    assert_eq!(chat.attr("gen_ai.request.model"), "mock-assistant");
    assert_eq!(
        chat.attr("gen_ai.response.finish_reasons"),
        &serde_json::json!(["stop"])
    );
}

/// What reached the runtime: `invoke`, `stream` or `message`, and the `traceparent` it carried.
type Arrival = (&'static str, Option<String>);

/// A runtime that records the trace context each call and message brought: `Invoke` echoes,
/// `Converse` answers every message with `done`.
#[derive(Clone, Default)]
struct Recording {
    seen: Arc<parking_lot::Mutex<Vec<Arrival>>>,
}

impl Recording {
    fn seen(&self) -> Vec<Arrival> {
        self.seen.lock().clone()
    }

    async fn serve(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(
            tonic::transport::Server::builder().serve_with_incoming_shutdown(
                RuntimeServiceServer::new(self.clone()),
                TcpListenerStream::new(listener),
                std::future::pending(),
            ),
        );
        address
    }
}

#[tonic::async_trait]
impl RuntimeService for Recording {
    type ConverseStream = ReceiverStream<Result<ServerMessage, tonic::Status>>;

    async fn converse(
        &self,
        request: tonic::Request<tonic::Streaming<ClientMessage>>,
    ) -> Result<tonic::Response<Self::ConverseStream>, tonic::Status> {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_owned());
        self.seen.lock().push(("stream", traceparent));
        let seen = self.seen.clone();
        let mut inbound = request.into_inner();
        let (out, frames) = mpsc::channel(8);
        tokio::spawn(async move {
            let _ = out.send(Ok(ServerMessage::hello(Vec::new()))).await;
            while let Some(Ok(message)) = inbound.next().await {
                seen.lock()
                    .push(("message", message.metadata.get("traceparent").cloned()));
                let usage = omnia_proto::runtime::v1::Usage::default();
                let done = ServerMessage::done(Utf8Bytes::from("ok".to_owned()), usage);
                let _ = out.send(Ok(done)).await;
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(frames)))
    }

    async fn invoke(
        &self,
        request: tonic::Request<InvocationRequest>,
    ) -> Result<tonic::Response<InvocationResponse>, tonic::Status> {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_owned());
        self.seen.lock().push(("invoke", traceparent));
        let request = request.into_inner();
        Ok(tonic::Response::new(InvocationResponse {
            output_json: bytes::Bytes::from_static(br#"{"echo":"ok"}"#),
            usage: None,
            duration_ms: 1,
            invocation_id: request.invocation_id,
        }))
    }

    async fn health(
        &self,
        _: tonic::Request<HealthRequest>,
    ) -> Result<tonic::Response<HealthResponse>, tonic::Status> {
        Ok(tonic::Response::new(HealthResponse {
            healthy: true,
            status: "ok".into(),
            contract_version: "1.3.0".into(),
            capabilities: vec![],
        }))
    }

    async fn has_conversation(
        &self,
        _: tonic::Request<HasConversationRequest>,
    ) -> Result<tonic::Response<HasConversationResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("no"))
    }
}

#[tokio::test]
async fn with_tracing_off_the_clients_traceparent_reaches_the_runtime_unchanged() {
    let runtime = Recording::default();
    let address = runtime.serve().await;
    let yaml = [
        echo_yaml(),
        include_str!("../../examples/mock-agent/agentruntime.yaml").to_owned(),
        include_str!("../../examples/mock-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/mock-agent/provider.yaml").to_owned(),
    ]
    .join("\n---\n");
    // This test process installs no exporter: tracing is off.
    assert!(!omnia_runtime::telemetry::enabled());
    let gateway = TestGateway::start(&yaml, address, Options::default()).await;

    let call = traceparent(CALL_TRACE, CALL_PARENT);
    let request = Request::post(format!("/functions/{ECHO}"))
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("traceparent", &call)
        .body(Full::new(bytes::Bytes::from_static(br#"{"message":"hi"}"#)))
        .unwrap();
    let reply = send(gateway.facade, request).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // No header, nothing added.
    let reply = gateway.call(ECHO, r#"{"message":"hi"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    let upgrade = traceparent(WS_TRACE, WS_PARENT);
    let mut client = Client::connect(
        gateway.facade,
        "/ws?agent=mock-agent",
        &[("traceparent", &upgrade)],
    )
    .await;
    let _connected = client.json().await;
    turn(&mut client, "one").await;
    turn(&mut client, "two").await;

    assert_eq!(
        runtime.seen(),
        [
            ("invoke", Some(call)),
            ("invoke", None),
            // A runtime without multi_turn_stream gets a stream per turn, each with the context.
            ("stream", Some(upgrade.clone())),
            ("message", Some(upgrade.clone())),
            ("stream", Some(upgrade.clone())),
            ("message", Some(upgrade)),
        ]
    );
    gateway.shutdown().await;
}

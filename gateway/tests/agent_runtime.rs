#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `handler: runtime` over real WebSockets and real gRPC: against our runtime (streaming, client
//! tools with every way they end), against an Omnia-like runtime (a stream per turn, error
//! codes outside the AsyncAPI enum), and with the runtime's connection cut mid-turn.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use omnia_gateway::agent::WsLimits;
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use omnia_proto::runtime::v1::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use omnia_proto::runtime::v1::{
    ClientMessage, HasConversationRequest, HasConversationResponse, HealthRequest, HealthResponse,
    InvocationRequest, InvocationResponse, ResumeState, ServerMessage,
};
use serde_json::Value;
use support::asyncapi::AsyncApi;
use support::ws::Client;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

fn mock_agent_yaml(extra_facade: &str) -> String {
    let agent = include_str!("../../examples/mock-agent/agentruntime.yaml")
        .replace("    clientToolTimeout: 60s\n", extra_facade);
    [
        echo_yaml(),
        agent,
        include_str!("../../examples/mock-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/mock-agent/provider.yaml").to_owned(),
    ]
    .join("\n---\n")
}

/// The gateway in front of our runtime, both serving `yaml`.
async fn with_runtime(yaml: &str, ws: WsLimits) -> (TestGateway, std::net::SocketAddr) {
    let runtime = real_runtime(&load(yaml)).await;
    let options = Options {
        ws,
        ..Options::default()
    };
    let gateway = TestGateway::start(yaml, runtime.to_string(), options).await;
    (gateway, runtime)
}

/// Sends `content` and collects the turn's frames (checked against the AsyncAPI schemas) up to
/// its `done` or `error`, stopping early at a `tool_call`.
async fn until_end(client: &mut Client, spec: &AsyncApi) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = spec.check(client.json().await.to_string().as_bytes());
        let end = matches!(frame["type"].as_str(), Some("done" | "error" | "tool_call"));
        frames.push(frame);
        if end {
            return frames;
        }
    }
}

async fn say(client: &mut Client, spec: &AsyncApi, content: &str) -> Vec<Value> {
    let message = serde_json::json!({"type": "message", "content": content}).to_string();
    client.send_text(&message).await;
    until_end(client, spec).await
}

async fn connect(gateway: &TestGateway) -> (Client, String) {
    let mut client = Client::connect(gateway.facade, "/ws?agent=mock-agent", &[]).await;
    let session = client.json().await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (client, session)
}

/// The id of the `tool_call` that ended `frames`.
fn tool_call_id(frames: &[Value]) -> String {
    let call = &frames.last().unwrap()["tool_call"];
    call["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{call}"))
        .to_owned()
}

fn last_done(frames: &[Value]) -> &Value {
    let done = frames.last().unwrap();
    assert_eq!(done["type"], "done", "{frames:?}");
    done
}

// ---------------------------------------------------------------------------------------------
// Against our runtime
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_turn_streams_the_runtimes_chunks_and_done_carries_the_usage() {
    let spec = AsyncApi::load();
    let (gateway, _) = with_runtime(&mock_agent_yaml(""), WsLimits::default()).await;
    let (mut client, session) = connect(&gateway).await;

    let frames = say(&mut client, &spec, "hello").await;

    let answer = "Hello! I am a mock assistant streaming this answer one word at a time.";
    let chunks: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "chunk")
        .map(|f| f["content"].as_str().unwrap())
        .collect();
    assert_eq!(chunks.len(), answer.split(' ').count(), "{chunks:?}");
    assert_eq!(chunks.concat(), answer);
    let done = last_done(&frames);
    assert_eq!(done["content"], answer);
    assert_eq!(done["session_id"], session.as_str());
    let usage = &done["usage"];
    assert!(usage["input_tokens"].as_i64().unwrap() > 0, "{done}");
    assert!(usage["output_tokens"].as_i64().unwrap() > 0, "{done}");
    assert!(usage["cost_usd"].as_f64().unwrap() > 0.0, "{done}");

    // The next turns go over the same session.
    for n in 0..3 {
        let frames = say(&mut client, &spec, &format!("turn {n}")).await;
        assert_eq!(
            last_done(&frames)["content"],
            format!("Mock answer to: \"turn {n}\"")
        );
    }
}

#[tokio::test]
async fn a_client_tool_round_trip_with_and_without_an_ack_reaches_the_model() {
    let spec = AsyncApi::load();
    let (gateway, _) = with_runtime(&mock_agent_yaml(""), WsLimits::default()).await;
    let (mut client, _) = connect(&gateway).await;

    let frames = say(&mut client, &spec, "where am I?").await;
    let call = &frames.last().unwrap()["tool_call"];
    assert_eq!(call["name"], "get_location");
    assert_eq!(call["arguments"], serde_json::json!({"precision": "city"}));
    assert_eq!(
        call["consent_message"],
        "Share your location with the assistant?"
    );
    assert_eq!(call["categories"], serde_json::json!(["location"]));
    let id = call["id"].as_str().unwrap().to_owned();
    client
        .send_text(&format!(
            r#"{{"type":"tool_call_ack","tool_call_ack":{{"call_id":"{id}"}}}}"#
        ))
        .await;
    client
        .send_text(&format!(
            r#"{{"type":"tool_result","tool_result":{{"call_id":"{id}","result":{{"city":"Denver"}}}}}}"#
        ))
        .await;
    let frames = until_end(&mut client, &spec).await;
    assert_eq!(
        last_done(&frames)["content"],
        r#"The get_location tool returned {"city":"Denver"}."#
    );

    // The call is over: a late or repeated result is refused, and the connection goes on.
    let late = client
        .ask(&format!(
            r#"{{"type":"tool_result","tool_result":{{"call_id":"{id}","result":1}}}}"#
        ))
        .await;
    assert_eq!(late["error"]["code"], "INVALID_MESSAGE", "{late}");
    assert_eq!(late["error"]["message"], "no pending tool call");

    // A result without an ack is accepted.
    let frames = say(&mut client, &spec, "where am I?").await;
    let id = tool_call_id(&frames);
    client
        .send_text(&format!(
            r#"{{"type":"tool_result","tool_result":{{"call_id":"{id}","result":"Paris"}}}}"#
        ))
        .await;
    let frames = until_end(&mut client, &spec).await;
    assert_eq!(
        last_done(&frames)["content"],
        r#"The get_location tool returned "Paris"."#
    );
}

#[tokio::test]
async fn a_nack_an_ack_timeout_and_a_result_timeout_each_reach_the_model_as_a_rejection() {
    let spec = AsyncApi::load();
    let limits = WsLimits {
        tool_ack_timeout: Duration::from_millis(300),
        ..WsLimits::default()
    };
    // The AgentRuntime's clientToolTimeout overrides the gateway's 60 s.
    let yaml = mock_agent_yaml("    clientToolTimeout: 500ms\n");
    let (gateway, _) = with_runtime(&yaml, limits).await;
    let (mut client, _) = connect(&gateway).await;

    let frames = say(&mut client, &spec, "where am I?").await;
    let id = tool_call_id(&frames);
    client
        .send_text(&format!(
            r#"{{"type":"tool_call_nack","tool_call_nack":{{"call_id":"{id}","reason":"the user said no"}}}}"#
        ))
        .await;
    let done = until_end(&mut client, &spec).await;
    assert_eq!(
        last_done(&done)["content"],
        "The get_location tool was not run: the user said no."
    );

    // Never acknowledged.
    say(&mut client, &spec, "where am I?").await;
    let done = until_end(&mut client, &spec).await;
    let said = last_done(&done)["content"].as_str().unwrap().to_owned();
    assert!(
        said.contains("was not run: the client did not acknowledge the call within 0.3 s"),
        "{said}"
    );

    // Acknowledged, never answered.
    let frames = say(&mut client, &spec, "where am I?").await;
    let id = tool_call_id(&frames);
    client
        .send_text(&format!(
            r#"{{"type":"tool_call_ack","tool_call_ack":{{"call_id":"{id}"}}}}"#
        ))
        .await;
    let done = until_end(&mut client, &spec).await;
    let said = last_done(&done)["content"].as_str().unwrap().to_owned();
    assert!(
        said.contains("was not run: the client did not answer the call within 0.5 s"),
        "{said}"
    );
}

#[tokio::test]
async fn a_client_that_leaves_mid_tool_call_is_a_rejection_the_runtime_finishes_the_turn_with() {
    let spec = AsyncApi::load();
    let (gateway, runtime) = with_runtime(&mock_agent_yaml(""), WsLimits::default()).await;
    let (mut client, session) = connect(&gateway).await;
    let frames = say(&mut client, &spec, "where am I?").await;
    assert_eq!(frames.last().unwrap()["type"], "tool_call");

    drop(client);

    // The runtime keeps a session's history once a turn completes: it completed this one, with
    // the rejection the gateway sent when the client left.
    let mut runtime = RuntimeServiceClient::connect(format!("http://{runtime}"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let mut request = tonic::Request::new(HasConversationRequest {
            session_id: session.clone(),
        });
        request
            .metadata_mut()
            .insert("x-omnia-agent-name", "mock-agent".parse().unwrap());
        let state = runtime
            .has_conversation(request)
            .await
            .unwrap()
            .into_inner()
            .state();
        if state == ResumeState::Resumable {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the turn was never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Against an Omnia-like runtime
// ---------------------------------------------------------------------------------------------

/// A runtime shaped like Omnia's: its hello comes after the first message, it may or may not
/// offer `multi_turn_stream`, it answers `You said: <content>` in one chunk, and content
/// `fail` gets an `Error` frame with a code outside the AsyncAPI enum. It counts the streams
/// opened to it.
#[derive(Clone)]
struct OmniaLike {
    multi_turn: bool,
    streams: Arc<AtomicUsize>,
    /// The metadata of the last stream opened.
    metadata: Arc<parking_lot::Mutex<Option<tonic::metadata::MetadataMap>>>,
}

#[tonic::async_trait]
impl RuntimeService for OmniaLike {
    type ConverseStream = ReceiverStream<Result<ServerMessage, tonic::Status>>;

    async fn converse(
        &self,
        request: tonic::Request<tonic::Streaming<ClientMessage>>,
    ) -> Result<tonic::Response<Self::ConverseStream>, tonic::Status> {
        self.streams.fetch_add(1, Ordering::SeqCst);
        *self.metadata.lock() = Some(request.metadata().clone());
        let mut inbound = request.into_inner();
        let (out, frames) = mpsc::channel(8);
        let capabilities = if self.multi_turn {
            vec!["multi_turn_stream".to_owned()]
        } else {
            vec!["client_tools".to_owned()]
        };
        tokio::spawn(async move {
            let mut hello = Some(ServerMessage::hello(capabilities));
            while let Some(Ok(message)) = inbound.next().await {
                if let Some(hello) = hello.take() {
                    let _ = out.send(Ok(hello)).await;
                }
                let content = String::from_utf8_lossy(&message.content).into_owned();
                if content == "fail" {
                    let error = ServerMessage::error("PROVIDER_ERROR", "the model is overloaded");
                    let _ = out.send(Ok(error)).await;
                    continue;
                }
                let said = Utf8Bytes::from(format!("You said: {content}"));
                let _ = out.send(Ok(ServerMessage::chunk(said.clone()))).await;
                let usage = omnia_proto::runtime::v1::Usage::default();
                let _ = out.send(Ok(ServerMessage::done(said, usage))).await;
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(frames)))
    }

    async fn invoke(
        &self,
        _: tonic::Request<InvocationRequest>,
    ) -> Result<tonic::Response<InvocationResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("conversations only"))
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

async fn omnia_like(multi_turn: bool) -> (String, Arc<AtomicUsize>) {
    let (address, service) = omnia_like_service(multi_turn).await;
    (address, service.streams)
}

async fn omnia_like_service(multi_turn: bool) -> (String, OmniaLike) {
    let service = OmniaLike {
        multi_turn,
        streams: Arc::new(AtomicUsize::new(0)),
        metadata: Arc::default(),
    };
    let returned = service.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder().serve_with_incoming_shutdown(
            RuntimeServiceServer::new(service),
            TcpListenerStream::new(listener),
            std::future::pending(),
        ),
    );
    (address, returned)
}

#[tokio::test]
async fn a_runtime_without_multi_turn_streams_gets_a_stream_per_turn_and_ours_one_per_session() {
    let spec = AsyncApi::load();
    for (multi_turn, expected) in [(false, 3), (true, 1)] {
        let (address, streams) = omnia_like(multi_turn).await;
        let gateway = TestGateway::start(&mock_agent_yaml(""), address, Options::default()).await;
        let (mut client, _) = connect(&gateway).await;
        for n in 0..3 {
            let frames = say(&mut client, &spec, &format!("n{n}")).await;
            assert_eq!(last_done(&frames)["content"], format!("You said: n{n}"));
        }
        assert_eq!(
            streams.load(Ordering::SeqCst),
            expected,
            "multi_turn: {multi_turn}"
        );
    }
}

#[tokio::test]
async fn stream_per_turn_opens_a_stream_per_turn_even_from_a_multi_turn_runtime() {
    let spec = AsyncApi::load();
    let (address, streams) = omnia_like(true).await;
    let options = Options {
        converse_per_turn: true,
        ..Options::default()
    };
    let gateway = TestGateway::start(&mock_agent_yaml(""), address, options).await;
    let (mut client, _) = connect(&gateway).await;
    for n in 0..3 {
        let frames = say(&mut client, &spec, &format!("n{n}")).await;
        assert_eq!(last_done(&frames)["content"], format!("You said: n{n}"));
    }
    assert_eq!(streams.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_stream_carries_the_sessions_identity_and_never_the_bearer_token() {
    let spec = AsyncApi::load();
    let (address, runtime) = omnia_like_service(true).await;
    let gateway = TestGateway::start(&mock_agent_yaml(""), address, Options::default()).await;
    let mut client = Client::connect(
        gateway.facade,
        "/ws?agent=mock-agent&workspace=team-a",
        &[("authorization", "Bearer some-token")],
    )
    .await;
    let session = client.json().await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    say(&mut client, &spec, "hi").await;

    let metadata = runtime
        .metadata
        .lock()
        .clone()
        .expect("a stream was opened");
    let get = |key: &str| metadata.get(key).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(get("x-omnia-agent-name").as_deref(), Some("mock-agent"));
    assert_eq!(get("x-omnia-namespace").as_deref(), Some("default"));
    assert_eq!(get("x-omnia-session-id"), Some(session));
    assert_eq!(get("x-omnia-workspace").as_deref(), Some("team-a"));
    assert!(get("x-omnia-request-id").is_some());
    assert_eq!(get("authorization"), None);
}

#[tokio::test]
async fn a_runtime_error_ends_the_turn_with_its_code_mapped_into_the_protocol() {
    let spec = AsyncApi::load();
    let (address, _) = omnia_like(true).await;
    let gateway = TestGateway::start(&mock_agent_yaml(""), address, Options::default()).await;
    let (mut client, _) = connect(&gateway).await;

    let frames = say(&mut client, &spec, "fail").await;

    let error = &frames.last().unwrap()["error"];
    assert_eq!(error["code"], "INTERNAL_ERROR", "{error}");
    assert_eq!(error["message"], "the model is overloaded");
    assert_eq!(error["details"]["runtime_code"], "PROVIDER_ERROR");
    // No done for a failed turn; the next turn works on the same stream.
    let frames = say(&mut client, &spec, "again").await;
    assert_eq!(last_done(&frames)["content"], "You said: again");
}

// ---------------------------------------------------------------------------------------------
// The runtime's connection cut mid-turn
// ---------------------------------------------------------------------------------------------

/// A TCP relay to a runtime that can go down, as when the runtime's process dies (open
/// connections are cut, new ones are closed at once), and come back.
struct Relay {
    address: std::net::SocketAddr,
    /// Bumped to cut the open connections.
    cut: tokio::sync::watch::Sender<u64>,
    up: Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn to(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let accepting = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cuts = cuts.clone();
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self { address, cut, up }
    }

    /// The runtime dies: open connections are cut, new ones refused.
    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// The runtime is back.
    fn back(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn the_runtime_dying_mid_turn_is_an_internal_error_and_the_next_turn_works() {
    let spec = AsyncApi::load();
    let yaml = mock_agent_yaml("");
    // A slow stream, so the turn is surely in flight when the connection goes.
    let runtime = omnia_runtime::Runtime::compile(
        &load(&yaml),
        omnia_runtime::RuntimeOptions {
            mock_stream_delay: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(omnia_runtime::serve(
        runtime,
        listener,
        std::future::pending(),
    ));
    let relay = Relay::to(target).await;
    let gateway = TestGateway::start(&yaml, relay.address.to_string(), Options::default()).await;
    let (mut client, _) = connect(&gateway).await;

    client
        .send_text(r#"{"type":"message","content":"hello"}"#)
        .await;
    assert_eq!(client.json().await["type"], "chunk");
    relay.down();

    // Within the client's patience (10 s), far below the 120 s a silent runtime is given: the
    // broken connection is noticed, not waited out.
    let frames = until_end(&mut client, &spec).await;
    let error = frames.last().unwrap();
    assert_eq!(error["type"], "error", "{frames:?}");
    assert_eq!(error["error"]["code"], "INTERNAL_ERROR");
    // While it is down, turns fail the same way, and the connection stays open.
    let frames = say(&mut client, &spec, "anyone?").await;
    assert_eq!(frames.last().unwrap()["error"]["code"], "INTERNAL_ERROR");

    relay.back();
    let frames = say(&mut client, &spec, "back?").await;
    assert_eq!(last_done(&frames)["content"], "Mock answer to: \"back?\"");
}

#[tokio::test]
async fn with_the_runtime_linked_in_a_turn_streams_without_any_socket_to_it() {
    let spec = AsyncApi::load();
    let yaml = mock_agent_yaml("");
    let runtime =
        omnia_runtime::Runtime::compile(&load(&yaml), omnia_runtime::RuntimeOptions::default())
            .unwrap();
    let options = Options {
        embedded_runtime: Some(Arc::new(runtime)),
        ..Options::default()
    };
    let gateway = TestGateway::start(&yaml, String::new(), options).await;
    let (mut client, _) = connect(&gateway).await;

    let frames = say(&mut client, &spec, "hello").await;

    assert!(frames.len() > 2, "{frames:?}");
    assert_eq!(
        last_done(&frames)["content"],
        "Hello! I am a mock assistant streaming this answer one word at a time."
    );
    let frames = say(&mut client, &spec, "where am I?").await;
    let id = tool_call_id(&frames);
    client
        .send_text(&format!(
            r#"{{"type":"tool_call_nack","tool_call_nack":{{"call_id":"{id}","reason":"no"}}}}"#
        ))
        .await;
    let frames = until_end(&mut client, &spec).await;
    assert_eq!(
        last_done(&frames)["content"],
        "The get_location tool was not run: no."
    );
}

//! `Converse` end to end over a real socket, with tonic's generated client: the hello, streamed
//! turns, several turns on one stream, bad messages answered with `Error` frames, and client
//! tool calls with their results and rejections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use omnia_proto::runtime::v1::server_message::Message;
use omnia_proto::runtime::v1::{
    ClientMessage, DuplexStart, HasConversationRequest, HealthRequest, ResumeState, ServerMessage,
    ToolExecution,
};
use omnia_runtime::{Runtime, RuntimeOptions};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Streaming};

const PATIENCE: Duration = Duration::from_secs(10);

/// An agent-mode AgentRuntime whose mock answers "hello" with a fixed text and "where am I?"
/// with a client tool call.
const MANIFESTS: &str = r#"
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {name: chat}
spec:
  promptPackRef: {name: chat-pack}
  facade: {type: websocket, handler: runtime}
  providers: [{name: default, providerRef: {name: chat-provider}}]
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {name: chat-provider}
spec:
  type: mock
  model: mock-chat
  pricing: {inputCostPer1K: "0.001", outputCostPer1K: "0.002"}
  mock:
    scenarios:
      - when: {content: hello}
        output: "Hello there, how can I help?"
      - when: {content: "where am I?"}
        output:
          client_tool:
            name: get_location
            arguments: {precise: true}
            consent_message: Share your location?
            categories: [location]
      - when: {content: "say it"}
        output: "This answer is forbidden here."
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata: {name: chat-pack}
spec:
  source: {type: configmap, configMapRef: {name: chat-pack-contents}}
  version: "1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: chat-pack-contents}
data:
  pack.json: |
    {"id": "chat", "name": "Chat", "version": "1.0.0",
     "template_engine": {"version": "v1", "syntax": "{{variable}}"},
     "prompts": {"default": {"id": "default", "name": "Chat", "version": "1.0.0",
                             "system_template": "You are helpful.",
                             "validators": [{"type": "banned_words", "params": {"words": ["forbidden"]},
                                             "fail_on_violation": true,
                                             "message": "I cannot say that."}]}}}
"#;

async fn client() -> RuntimeServiceClient<Channel> {
    RuntimeServiceClient::new(channel().await)
}

/// A channel to a runtime serving [`MANIFESTS`] on a loopback port.
async fn channel() -> Channel {
    channel_with(MANIFESTS, RuntimeOptions::default()).await.0
}

/// A channel to a runtime serving `manifests` with `options`, and the runtime.
async fn channel_with(manifests: &str, options: RuntimeOptions) -> (Channel, Runtime) {
    let config = omnia_api::load_str("converse test", manifests).unwrap();
    let runtime = Runtime::compile(&config, options).unwrap();
    let served = runtime.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(omnia_runtime::serve(
        served,
        listener,
        std::future::pending(),
    ));
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (channel, runtime)
}

/// An open `Converse` stream: messages in, frames out.
struct Conversation {
    send: mpsc::Sender<ClientMessage>,
    frames: Streaming<ServerMessage>,
}

impl Conversation {
    async fn open(client: &mut RuntimeServiceClient<Channel>, session: &str) -> Self {
        let (send, inbound) = mpsc::channel(8);
        let mut request = Request::new(ReceiverStream::new(inbound));
        request
            .metadata_mut()
            .insert("x-omnia-agent-name", "chat".parse().unwrap());
        request
            .metadata_mut()
            .insert("x-omnia-session-id", session.parse().unwrap());
        let frames = client.converse(request).await.unwrap().into_inner();
        Self { send, frames }
    }

    async fn say(&self, text: &str) {
        self.send(ClientMessage::text(
            String::new(),
            Utf8Bytes::from(text.to_owned()),
        ))
        .await;
    }

    async fn send(&self, message: ClientMessage) {
        self.send.send(message).await.unwrap();
    }

    async fn next(&mut self) -> Message {
        tokio::time::timeout(PATIENCE, self.frames.next())
            .await
            .expect("no frame in time")
            .expect("the stream ended")
            .expect("the stream failed")
            .message
            .expect("an empty frame")
    }

    /// Frames up to and including the turn's end (`done` or `error`).
    async fn turn(&mut self) -> Vec<Message> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let end = matches!(frame, Message::Done(_) | Message::Error(_));
            frames.push(frame);
            if end {
                return frames;
            }
        }
    }
}

fn text(frames: &[Message]) -> String {
    frames
        .iter()
        .filter_map(|f| match f {
            Message::Chunk(chunk) => Some(String::from_utf8(chunk.content.to_vec()).unwrap()),
            _ => None,
        })
        .collect()
}

fn done(frames: &[Message]) -> (String, omnia_proto::runtime::v1::Usage) {
    match frames.last() {
        Some(Message::Done(done)) => (
            String::from_utf8(done.final_content.to_vec()).unwrap(),
            done.usage.unwrap(),
        ),
        other => panic!("the turn did not end with done: {other:?}"),
    }
}

fn error_code(frame: &Message) -> &str {
    match frame {
        Message::Error(error) => &error.code,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

#[tokio::test]
async fn the_hello_comes_first_with_the_capabilities_health_reports() {
    let mut client = client().await;
    let health = client.health(HealthRequest {}).await.unwrap().into_inner();
    assert!(
        health.healthy,
        "an agent-only runtime is healthy: {}",
        health.status
    );
    assert_eq!(health.capabilities, ["client_tools", "multi_turn_stream"]);

    let mut conversation = Conversation::open(&mut client, "s-hello").await;

    match conversation.next().await {
        Message::RuntimeHello(hello) => assert_eq!(hello.capabilities, health.capabilities),
        other => panic!("the first frame is not the hello: {other:?}"),
    }
}

#[tokio::test]
async fn a_turn_streams_word_by_word_and_ends_with_the_whole_answer_and_usage() {
    let mut client = client().await;
    let mut conversation = Conversation::open(&mut client, "s-stream").await;
    conversation.next().await;

    conversation.say("hello").await;
    let frames = conversation.turn().await;

    assert_eq!(text(&frames), "Hello there, how can I help?");
    assert_eq!(frames.len(), 6 + 1, "a chunk per word, then done");
    let (final_content, usage) = done(&frames);
    assert_eq!(final_content, "Hello there, how can I help?");
    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "{usage:?}"
    );
    assert!(usage.cost_usd > 0.0);
}

#[tokio::test]
async fn one_stream_carries_many_turns_and_the_session_is_then_resumable() {
    let mut client = client().await;
    let before = client
        .has_conversation(HasConversationRequest {
            session_id: "s-many".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.state(), ResumeState::NotFound);

    let mut conversation = Conversation::open(&mut client, "s-many").await;
    conversation.next().await;
    for n in 0..3 {
        conversation.say(&format!("turn {n}")).await;
        let (answer, _) = done(&conversation.turn().await);
        assert_eq!(answer, format!("Mock answer to: \"turn {n}\""));
    }

    let after = client
        .has_conversation(HasConversationRequest {
            session_id: "s-many".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.state(), ResumeState::Resumable);
}

#[tokio::test]
async fn bad_messages_get_error_frames_and_the_stream_goes_on() {
    let mut client = client().await;
    let mut conversation = Conversation::open(&mut client, "s-bad").await;
    conversation.next().await;

    conversation.send(ClientMessage::default()).await;
    assert_eq!(error_code(&conversation.next().await), "INVALID_MESSAGE");
    conversation
        .send(ClientMessage {
            duplex_start: Some(DuplexStart::default()),
            ..ClientMessage::default()
        })
        .await;
    assert_eq!(error_code(&conversation.next().await), "DUPLEX_UNSUPPORTED");
    conversation
        .send(ClientMessage::tool_result(
            String::new(),
            "call_9".into(),
            Utf8Bytes::from_static("{}"),
        ))
        .await;
    assert_eq!(error_code(&conversation.next().await), "INVALID_MESSAGE");

    conversation.say("hello").await;
    let (answer, _) = done(&conversation.turn().await);
    assert_eq!(answer, "Hello there, how can I help?");
}

#[tokio::test]
async fn a_client_tool_call_waits_for_its_result_and_the_model_is_told() {
    let mut client = client().await;
    let mut conversation = Conversation::open(&mut client, "s-tool").await;
    conversation.next().await;

    conversation.say("where am I?").await;
    let call = match conversation.next().await {
        Message::ToolCall(call) => call,
        other => panic!("expected a tool call, got {other:?}"),
    };
    assert_eq!(call.execution(), ToolExecution::Client);
    assert_eq!(call.name, "get_location");
    assert_eq!(&call.arguments_json[..], br#"{"precise":true}"#);
    assert_eq!(call.consent_message, "Share your location?");
    assert_eq!(call.categories, ["location"]);

    // Something else while the call waits is refused; the wait goes on.
    conversation.say("hello?").await;
    assert_eq!(error_code(&conversation.next().await), "INVALID_MESSAGE");
    conversation
        .send(ClientMessage::tool_result(
            String::new(),
            call.id.clone(),
            Utf8Bytes::from_static(r#"{"city":"Denver"}"#),
        ))
        .await;
    let (answer, _) = done(&conversation.turn().await);
    assert_eq!(
        answer,
        r#"The get_location tool returned {"city":"Denver"}."#
    );

    conversation.say("where am I?").await;
    let Message::ToolCall(call) = conversation.next().await else {
        panic!("no second tool call");
    };
    conversation
        .send(ClientMessage::tool_rejection(
            String::new(),
            call.id,
            "the user declined".into(),
        ))
        .await;
    let (answer, _) = done(&conversation.turn().await);
    assert_eq!(
        answer,
        "The get_location tool was not run: the user declined."
    );
}

#[tokio::test]
async fn a_stream_closed_while_a_tool_call_waits_ends_the_turn_quietly() {
    let mut client = client().await;
    let mut conversation = Conversation::open(&mut client, "s-gone").await;
    conversation.next().await;
    conversation.say("where am I?").await;
    assert!(matches!(conversation.next().await, Message::ToolCall(_)));

    drop(conversation.send);
    let end = tokio::time::timeout(PATIENCE, conversation.frames.next())
        .await
        .expect("the stream did not end");
    assert!(end.is_none() || end.unwrap().is_ok(), "the stream failed");

    // The runtime still serves.
    let mut again = Conversation::open(&mut client, "s-gone").await;
    again.next().await;
    again.say("hello").await;
    assert_eq!(done(&again.turn().await).0, "Hello there, how can I help?");
}

/// Sends raw bytes as `ClientMessage`s and decodes `ServerMessage`s: how a peer with a broken
/// encoder looks to the runtime.
#[derive(Clone, Copy)]
struct RawCodec;

struct RawEncoder;
struct ServerDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = bytes::Bytes;
    type Decode = ServerMessage;
    type Encoder = RawEncoder;
    type Decoder = ServerDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ServerDecoder {
        ServerDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for ServerDecoder {
    type Item = ServerMessage;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ServerMessage>, tonic::Status> {
        use prost::Message as _;
        ServerMessage::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[tokio::test]
async fn a_message_that_does_not_decode_gets_an_error_frame_not_a_transport_failure() {
    let mut grpc = tonic::client::Grpc::new(channel().await);
    grpc.ready().await.unwrap();
    // Field 2 (content) as a length-delimited field claiming 100 bytes that are not there.
    let broken = bytes::Bytes::from_static(&[0x12, 0x64, b'h', b'i']);
    let mut request = Request::new(tokio_stream::iter([broken]));
    request
        .metadata_mut()
        .insert("x-omnia-agent-name", "chat".parse().unwrap());
    let path = "/omnia.runtime.v1.RuntimeService/Converse".parse().unwrap();

    let mut frames = grpc
        .streaming(request, path, RawCodec)
        .await
        .expect("the stream is accepted")
        .into_inner();

    let mut messages = Vec::new();
    while let Some(frame) = tokio::time::timeout(PATIENCE, frames.next()).await.unwrap() {
        messages.push(frame.expect("no transport failure").message.unwrap());
    }
    assert!(
        matches!(messages[0], Message::RuntimeHello(_)),
        "{messages:?}"
    );
    assert_eq!(error_code(&messages[1]), "INVALID_MESSAGE");
    assert_eq!(messages.len(), 2, "{messages:?}");
}

#[tokio::test]
async fn a_validator_that_refuses_the_answer_ends_the_turn_with_an_error_not_done() {
    let mut client = client().await;
    let mut conversation = Conversation::open(&mut client, "s-guard").await;
    conversation.next().await;

    conversation.say("say it").await;
    let frames = conversation.turn().await;

    // The pieces streamed before the whole answer could be judged; the turn ends with the
    // validator's message instead of `done`.
    assert_eq!(text(&frames), "This answer is forbidden here.");
    let last = frames.last().unwrap();
    assert_eq!(error_code(last), "INTERNAL_ERROR");
    let Message::Error(error) = last else {
        unreachable!()
    };
    assert!(
        error.message.contains("I cannot say that."),
        "{}",
        error.message
    );
    // The refused turn was not kept: the model never heard it.
    conversation.say("what did I say?").await;
    let (answer, _) = done(&conversation.turn().await);
    assert_eq!(answer, "You have not said anything before.");
}

// ---- The tool loop -----------------------------------------------------------------------------

#[path = "converse/tool_loop.rs"]
mod tool_loop;

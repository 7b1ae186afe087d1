#![allow(clippy::unwrap_used, clippy::expect_used)]
//! OpenTelemetry traces of the built `omnia-runtime` binary (`OMNIA_TRACING_ENABLED=true`),
//! exported over OTLP/gRPC to a receiver in the test: `invoke {agent}` and `turn {agent}` are
//! children of the caller's `traceparent` (an `Invoke`'s metadata; a turn's message metadata,
//! else its stream's), `chat {model}` of them with the GenAI attributes, `execute_tool {name}`
//! of the turn; and the spans reach the collector because SIGTERM flushes them.

mod support;

use omnia_fakes::{OtlpReceiver, ReceivedSpan};
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::server_message::Message;
use omnia_proto::runtime::v1::{ClientMessage, InvocationRequest, ServerMessage};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Streaming};

use support::{LISTENING, PATIENCE, RuntimeProcess, example};

/// Three callers' contexts: an Invoke, a Converse stream, and one message of that stream.
const INVOKE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INVOKE_PARENT: &str = "00f067aa0ba902b7";
const STREAM_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const STREAM_PARENT: &str = "b7ad6b7169203331";
const MESSAGE_TRACE: &str = "5b8aa5a2d2c872e8321cf37308d69df2";
const MESSAGE_PARENT: &str = "051581bf3cb55c13";

fn traceparent(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}

/// The function and agent examples, both with mock providers (no key), with `env` on top of a
/// clean environment for the tracing settings.
fn process(env: &[(&str, &str)]) -> RuntimeProcess {
    RuntimeProcess::new([example("echo-function"), example("mock-agent")].concat())
        .args(["--metrics-listen", "off"])
        .env_remove("OMNIA_TRACING_SAMPLE_RATE")
        .env_remove("OMNIA_TRACING_INSECURE")
        .envs(env)
}

/// Frames of one turn, up to its `done` (answering a client tool call on the way).
async fn turn(
    send: &mpsc::Sender<ClientMessage>,
    frames: &mut Streaming<ServerMessage>,
) -> Vec<Message> {
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, frames.next())
            .await
            .expect("no frame in time")
            .expect("the stream ended")
            .expect("the stream failed")
            .message
            .expect("an empty frame");
        if let Message::ToolCall(call) = &frame {
            let result = Utf8Bytes::from(r#"{"city":"Denver"}"#.to_owned());
            send.send(ClientMessage::tool_result(
                String::new(),
                call.id.clone(),
                result,
            ))
            .await
            .unwrap();
        }
        let end = matches!(frame, Message::Done(_) | Message::Error(_));
        seen.push(frame);
        if end {
            assert!(matches!(seen.last(), Some(Message::Done(_))), "{seen:?}");
            return seen;
        }
    }
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn children<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
        .collect()
}

/// The GenAI attributes of a mock provider call.
fn assert_chat(span: &ReceivedSpan, model: &str, finish: &str) {
    assert_eq!(span.name, format!("chat {model}"), "{span:?}");
    assert_eq!(span.kind, "client", "{span:?}");
    assert_eq!(span.attr("gen_ai.system"), "mock", "{span:?}");
    assert_eq!(span.attr("gen_ai.operation.name"), "chat", "{span:?}");
    assert_eq!(span.attr("gen_ai.request.model"), model, "{span:?}");
    assert!(
        span.attr("gen_ai.usage.input_tokens").as_i64() > Some(0),
        "{span:?}"
    );
    assert!(
        span.attr("gen_ai.usage.output_tokens").as_i64() > Some(0),
        "{span:?}"
    );
    assert_eq!(
        span.attr("gen_ai.response.finish_reasons"),
        &serde_json::json!([finish]),
        "{span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_turn_chat_and_tool_spans_join_the_callers_trace_and_flush_on_sigterm() {
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.endpoint();
    let mut runtime = process(&[
        ("OMNIA_TRACING_ENABLED", "true"),
        ("OMNIA_TRACING_ENDPOINT", &endpoint),
    ])
    .start();
    let mut client = runtime.client().await;

    // A function call, its context in the request metadata as the gateway sends it.
    let mut invoke = Request::new(InvocationRequest::new(
        Utf8Bytes::from(r#"{"message":"traced"}"#.to_owned()),
        "inv-1".to_owned(),
    ));
    let metadata = invoke.metadata_mut();
    metadata.insert("x-omnia-agent-name", "echo-function".parse().unwrap());
    metadata.insert(
        "traceparent",
        traceparent(INVOKE_TRACE, INVOKE_PARENT).parse().unwrap(),
    );
    let answer = client.invoke(invoke).await.unwrap().into_inner();
    assert!(
        String::from_utf8_lossy(&answer.output_json).contains("traced"),
        "{answer:?}"
    );

    // A conversation: the stream's context, then a turn bringing its own, with a tool call.
    let (send, inbound) = mpsc::channel(8);
    let mut converse = Request::new(ReceiverStream::new(inbound));
    let metadata = converse.metadata_mut();
    metadata.insert("x-omnia-agent-name", "mock-agent".parse().unwrap());
    metadata.insert("x-omnia-session-id", "traced-session".parse().unwrap());
    metadata.insert(
        "traceparent",
        traceparent(STREAM_TRACE, STREAM_PARENT).parse().unwrap(),
    );
    let mut frames = client.converse(converse).await.unwrap().into_inner();
    let hello = frames.next().await.unwrap().unwrap().message;
    assert!(matches!(hello, Some(Message::RuntimeHello(_))), "{hello:?}");
    send.send(ClientMessage::text(
        String::new(),
        Utf8Bytes::from("hello".to_owned()),
    ))
    .await
    .unwrap();
    turn(&send, &mut frames).await;
    let mut located = ClientMessage::text(String::new(), Utf8Bytes::from("where am I?".to_owned()));
    located.metadata.insert(
        "traceparent".to_owned(),
        traceparent(MESSAGE_TRACE, MESSAGE_PARENT),
    );
    send.send(located).await.unwrap();
    let frames_of_tool_turn = turn(&send, &mut frames).await;
    assert!(
        frames_of_tool_turn
            .iter()
            .any(|f| matches!(f, Message::ToolCall(_))),
        "{frames_of_tool_turn:?}"
    );
    drop(send);
    drop(frames);

    // The batch exporter would wait seconds more; SIGTERM sends what it holds.
    let (status, output) = runtime.terminate().await;
    assert!(status.success(), "exit {status}:\n{output}");
    let spans = receiver
        .wait_for(PATIENCE, |spans| {
            spans.iter().any(|s| s.name == "invoke echo-function")
                && spans.iter().filter(|s| s.name == "turn mock-agent").count() == 2
                && spans.iter().any(|s| s.name == "execute_tool get_location")
        })
        .await;
    assert!(
        spans.iter().all(|s| s.service == "omnia-runtime"),
        "{spans:?}"
    );

    let invoke = named(&spans, "invoke echo-function");
    assert_eq!(invoke.len(), 1, "{spans:?}");
    let invoke = invoke[0];
    assert_eq!(invoke.kind, "server");
    assert_eq!(invoke.trace_id, INVOKE_TRACE);
    assert_eq!(invoke.parent_span_id, INVOKE_PARENT);
    assert_eq!(invoke.attr("gen_ai.agent.name"), "echo-function");
    assert_eq!(invoke.attr("omnia.invocation_id"), "inv-1");
    let calls = children(&spans, invoke);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_chat(calls[0], "mock-echo", "stop");

    let turns = named(&spans, "turn mock-agent");
    let first = turns
        .iter()
        .find(|t| t.trace_id == STREAM_TRACE)
        .unwrap_or_else(|| panic!("no turn in the stream's trace: {turns:?}"));
    assert_eq!(first.parent_span_id, STREAM_PARENT);
    assert_eq!(first.kind, "server");
    assert_eq!(first.attr("gen_ai.conversation.id"), "traced-session");
    let first_calls = children(&spans, first);
    assert_eq!(first_calls.len(), 1, "{first_calls:?}");
    assert_chat(first_calls[0], "mock-assistant", "stop");

    // The message's own context wins over the stream's.
    let second = turns
        .iter()
        .find(|t| t.trace_id == MESSAGE_TRACE)
        .unwrap_or_else(|| panic!("no turn in the message's trace: {turns:?}"));
    assert_eq!(second.parent_span_id, MESSAGE_PARENT);
    let under_second = children(&spans, second);
    let tool = under_second
        .iter()
        .find(|s| s.name == "execute_tool get_location")
        .unwrap_or_else(|| panic!("no tool span under the turn: {under_second:?}"));
    assert_eq!(tool.attr("gen_ai.tool.name"), "get_location");
    assert_eq!(tool.attr("omnia.tool.side"), "client");
    assert!(
        tool.attr("gen_ai.tool.call.id")
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(tool.status.0, "unset", "{tool:?}");
    let mut rounds: Vec<&&ReceivedSpan> = under_second
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    assert_eq!(rounds.len(), 2, "{under_second:?}");
    rounds.sort_by_key(|s| s.attr("gen_ai.response.finish_reasons").to_string());
    assert_chat(rounds[0], "mock-assistant", "stop");
    assert_chat(rounds[1], "mock-assistant", "tool_calls");
}

#[tokio::test]
async fn a_bad_tracing_setting_stops_start_up_naming_the_variable() {
    for (name, value) in [
        ("OMNIA_TRACING_SAMPLE_RATE", "2"),
        ("OMNIA_TRACING_ENDPOINT", "https://collector:4317"),
        ("OMNIA_TRACING_INSECURE", "nope"),
    ] {
        let mut runtime = process(&[("OMNIA_TRACING_ENABLED", "true"), (name, value)]).spawn();

        let (status, output) = runtime.exited();

        assert!(!status.success(), "{name}={value}: {output}");
        assert!(output.contains(name), "{name}={value}: {output}");
        assert!(!output.contains(LISTENING), "{output}");
    }
}

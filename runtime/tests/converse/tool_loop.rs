//! The tool loop: the mock model scripts tool calls; server-side tools run through a test
//! `ToolExecutor`, the others go to the client; the prompt's `tool_policy` bounds it all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;
use omnia_runtime::ToolExecutor;
use omnia_runtime::provider::ToolCallRequest;

use super::*;

/// A chat agent whose pack offers tools under a tight policy, and whose mock scripts calls.
const TOOL_MANIFESTS: &str = r#"
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {name: chat}
spec:
  promptPackRef: {name: tools-pack}
  facade: {type: websocket, handler: runtime}
  providers: [{name: default, providerRef: {name: tools-provider}}]
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {name: tools-provider}
spec:
  type: mock
  model: mock-tools
  mock:
    scenarios:
      - when: {content: one}
        output: {tool_calls: [{name: get_weather, arguments: {city: Paris}}]}
      - when: {content: two}
        output: {tool_calls: [[{name: get_weather, arguments: {city: Oslo}}], [{name: get_time}]]}
      - when: {content: forever}
        output: {tool_loop: {name: get_time}}
      - when: {content: many}
        output: {tool_calls: [{name: get_time}, {name: get_time}, {name: get_time}, {name: get_time}]}
      - when: {content: blocked}
        output: {tool_calls: [{name: delete_all}]}
      - when: {content: broken}
        output: {tool_calls: [{name: broken}]}
      - when: {content: mixed}
        output: {tool_calls: [{name: get_time}, {name: get_location}]}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata: {name: tools-pack}
spec:
  source: {type: configmap, configMapRef: {name: tools-pack-contents}}
  version: "1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: tools-pack-contents}
data:
  pack.json: |
    {"id": "tools", "name": "Tools", "version": "1.0.0",
     "template_engine": {"version": "v1", "syntax": "{{variable}}"},
     "tools": {
       "get_weather": {"name": "get_weather", "description": "Weather in a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
       "get_time": {"name": "get_time", "description": "The time",
         "parameters": {"type": "object", "properties": {}}},
       "delete_all": {"name": "delete_all", "description": "Deletes everything",
         "parameters": {"type": "object", "properties": {}}}},
     "prompts": {"default": {"id": "default", "name": "Tools", "version": "1.0.0",
       "system_template": "You use tools.",
       "tools": ["get_weather", "get_time", "delete_all"],
       "tool_policy": {"max_rounds": 2, "max_tool_calls_per_turn": 3,
                       "blocklist": ["delete_all"]}}}}
"#;

/// Runs `get_weather`, `get_time` and `broken` (which fails); counts its calls.
#[derive(Debug, Default)]
struct Backend {
    calls: AtomicUsize,
}

impl ToolExecutor for Backend {
    fn runs(&self, name: &str) -> bool {
        matches!(name, "get_weather" | "get_time" | "broken" | "delete_all")
    }

    fn execute<'a>(
        &'a self,
        call: &'a ToolCallRequest,
        _context: omnia_runtime::ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, String>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            match call.name.as_str() {
                "get_weather" => Ok(format!(
                    r#"{{"forecast":"sunny","args":{}}}"#,
                    call.arguments_json
                )),
                "get_time" => Ok(r#""12:00""#.to_owned()),
                "delete_all" => Ok("deleted".to_owned()),
                _ => Err("the backend is down".to_owned()),
            }
        })
    }
}

/// A conversation with the tool agent, past its hello, and what the test looks at behind it.
struct ToolChat {
    conversation: Conversation,
    backend: Arc<Backend>,
    runtime: Runtime,
    /// The client the conversation was opened with, kept as long as it is.
    _client: RuntimeServiceClient<Channel>,
}

impl ToolChat {
    /// Opens session `t-{name}` on a runtime of its own serving [`TOOL_MANIFESTS`].
    async fn open(name: &str) -> Self {
        let backend = Arc::new(Backend::default());
        let options = RuntimeOptions {
            tool_executor: backend.clone(),
            ..RuntimeOptions::default()
        };
        let (channel, runtime) = channel_with(TOOL_MANIFESTS, options).await;
        let mut client = RuntimeServiceClient::new(channel);
        let mut conversation = Conversation::open(&mut client, &format!("t-{name}")).await;
        conversation.next().await;
        ToolChat {
            conversation,
            backend,
            runtime,
            _client: client,
        }
    }

    /// How many calls the backend ran.
    fn calls(&self) -> usize {
        self.backend.calls.load(Ordering::SeqCst)
    }
}

/// On a new conversation (session `t-{text}`), the frames of the turn that `text` starts.
async fn turn_of(text: &str) -> (Vec<Message>, ToolChat) {
    let mut chat = ToolChat::open(text).await;
    chat.conversation.say(text).await;
    let frames = chat.conversation.turn().await;
    (frames, chat)
}

fn error_message(frames: &[Message]) -> &str {
    match frames.last() {
        Some(Message::Error(error)) => &error.message,
        other => panic!("the turn did not end with an error: {other:?}"),
    }
}

#[tokio::test]
async fn one_round_runs_a_server_tool_and_the_model_answers_with_its_result() {
    let (frames, chat) = turn_of("one").await;

    let (answer, _) = done(&frames);
    assert_eq!(
        answer,
        r#"The get_weather tool returned {"forecast":"sunny","args":{"city":"Paris"}}."#
    );
    // A server-side tool never reaches the client.
    assert!(!frames.iter().any(|f| matches!(f, Message::ToolCall(_))));
    assert_eq!(chat.calls(), 1);
    let metrics = chat.runtime.metrics().encode();
    assert!(
        metrics.contains(
            r#"omnia_tool_calls_total{agent="chat",namespace="default",tool="get_weather",status="success"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("omnia_provider_requests_total{"),
        "{metrics}"
    );
}

#[tokio::test]
async fn several_rounds_then_an_answer_about_each_call() {
    let (frames, chat) = turn_of("two").await;
    let (answer, _) = done(&frames);

    assert_eq!(
        answer,
        r#"The get_weather tool returned {"forecast":"sunny","args":{"city":"Oslo"}}. The get_time tool returned "12:00"."#
    );
    assert_eq!(chat.calls(), 2);
}

#[tokio::test]
async fn max_rounds_ends_a_turn_that_never_stops_asking() {
    let (frames, mut chat) = turn_of("forever").await;

    assert!(
        error_message(&frames).contains("tool_policy.max_rounds"),
        "{frames:?}"
    );
    assert!(
        error_message(&frames).contains("more than 2 rounds"),
        "{frames:?}"
    );
    assert_eq!(chat.calls(), 2);
    // The stream goes on, and the failed turn was not kept.
    chat.conversation.say("one").await;
    done(&chat.conversation.turn().await);
}

#[tokio::test]
async fn max_calls_per_turn_refuses_a_round_that_asks_for_too_many() {
    let (frames, chat) = turn_of("many").await;

    assert!(
        error_message(&frames).contains("more than 3 tool calls"),
        "{frames:?}"
    );
    assert_eq!(chat.calls(), 0);
}

#[tokio::test]
async fn a_blocklisted_tool_is_not_run_and_the_model_is_told_why() {
    let (frames, chat) = turn_of("blocked").await;
    let (answer, _) = done(&frames);

    assert_eq!(
        answer,
        "The delete_all tool was not run: the tool `delete_all` is blocked by the prompt's \
         tool_policy."
    );
    assert_eq!(chat.calls(), 0);
}

#[tokio::test]
async fn a_failing_tool_reaches_the_model_as_its_error() {
    let (frames, chat) = turn_of("broken").await;
    let (answer, _) = done(&frames);

    assert_eq!(answer, "The broken tool failed: the backend is down.");
    assert!(chat.runtime.metrics().encode().contains(
        r#"omnia_tool_calls_total{agent="chat",namespace="default",tool="broken",status="error"} 1"#
    ));
}

#[tokio::test]
async fn server_and_client_tools_in_one_round() {
    let mut chat = ToolChat::open("mixed").await;

    chat.conversation.say("mixed").await;
    // The server tool ran first; the client is asked for the one the executor does not run.
    let call = match chat.conversation.next().await {
        Message::ToolCall(call) => call,
        other => panic!("expected a client tool call, got {other:?}"),
    };
    assert_eq!(call.name, "get_location");
    assert_eq!(chat.calls(), 1);
    chat.conversation
        .send(ClientMessage::tool_result(
            String::new(),
            call.id.clone(),
            Utf8Bytes::from_static(r#"{"city":"Denver"}"#),
        ))
        .await;
    let (answer, _) = done(&chat.conversation.turn().await);

    assert_eq!(
        answer,
        r#"The get_time tool returned "12:00". The get_location tool returned {"city":"Denver"}."#
    );
}

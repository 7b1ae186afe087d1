//! `handler: runtime`: each turn goes to the runtime's `Converse`, and its frames come back to
//! the client as they arrive.
//!
//! One `Converse` stream serves the whole session when the runtime says it can
//! (`multi_turn_stream` in its `runtime_hello`): it is opened at the first turn and kept. A
//! runtime that does not say so (Omnia's) gets a stream per turn, closed after the turn's
//! `done` or `error`, as Omnia's facade does. Client tool calls go to the client and their
//! outcome back to the runtime, a rejection included when the client does not answer.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::server_message::Message;
use omnia_proto::runtime::v1::{
    ClientMessage, ContentPart, MediaContent, ResumeState, ServerMessage, ToolExecution,
};
use omnia_runtime::MULTI_TURN_STREAM;
use omnia_runtime::telemetry::{self, TraceHeaders};
use tokio::sync::{Mutex, mpsc};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use super::super::protocol::ErrorCode;
use super::super::protocol::outbound::{ToolCall, Usage};
use super::super::tools::ToolOutcome;
use super::{Conversation, Handler, Outcome, ResumeError, SessionInfo, Sink, Turn};
use crate::runtime_client::RuntimeClient;

/// A turn whose runtime sends nothing for this long is ended with an error (Omnia's
/// `defaultStreamInactivityTimeout`).
const INACTIVITY: Duration = Duration::from_secs(120);

/// How long the runtime has to say whether it can resume a session.
const RESUME_DEADLINE: Duration = Duration::from_secs(3);

/// Messages queued toward the runtime on one stream.
const TO_RUNTIME: usize = 8;

/// The runtime handler of one agent.
pub struct Runtime {
    client: RuntimeClient,
    ack_timeout: Duration,
    result_timeout: Duration,
    per_turn: bool,
}

impl Runtime {
    /// A handler calling `client`, giving clients `ack_timeout` to acknowledge a tool call and
    /// `result_timeout` to answer it. With `per_turn`, every turn gets a stream of its own even
    /// from a runtime that offers `multi_turn_stream` (Omnia's way; for comparison).
    pub fn new(
        client: RuntimeClient,
        ack_timeout: Duration,
        result_timeout: Duration,
        per_turn: bool,
    ) -> Self {
        Self {
            client,
            ack_timeout,
            result_timeout,
            per_turn,
        }
    }
}

impl Handler for Runtime {
    fn name(&self) -> &'static str {
        "runtime"
    }

    fn open(&self, session: SessionInfo) -> Arc<dyn Conversation> {
        Arc::new(RuntimeConversation {
            id: parking_lot::Mutex::new(session.id.clone()),
            session,
            client: self.client.clone(),
            ack_timeout: self.ack_timeout,
            result_timeout: self.result_timeout,
            per_turn: self.per_turn,
            link: Mutex::new(None),
        })
    }
}

/// One connection's conversation with the runtime.
struct RuntimeConversation {
    session: SessionInfo,
    /// The session the turns belong to: the minted one, or the one the client resumed.
    id: parking_lot::Mutex<Arc<str>>,
    client: RuntimeClient,
    ack_timeout: Duration,
    result_timeout: Duration,
    per_turn: bool,
    /// The open stream, if any; a turn holds it while it runs.
    link: Mutex<Option<Link>>,
}

/// An open `Converse` stream.
struct Link {
    to_runtime: mpsc::Sender<ClientMessage>,
    frames: BoxStream<'static, Result<ServerMessage, tonic::Status>>,
    /// Whether the runtime keeps the stream across turns; unknown until its hello.
    multi_turn: bool,
}

/// How a turn's exchange with the runtime ended.
enum Ended {
    /// With `done` or the runtime's `error`; the stream may serve the next turn.
    Answered(Outcome),
    /// The stream broke (or went silent); it is dropped.
    Broken(String),
}

impl Conversation for RuntimeConversation {
    fn turn(self: Arc<Self>, turn: Turn, sink: Sink) -> BoxFuture<'static, Outcome> {
        Box::pin(async move {
            // This turn's span (connection.rs), or the client's context when tracing is off.
            let trace = telemetry::outgoing(&tracing::Span::current(), self.session.trace.as_ref());
            let mut link = self.link.lock().await;
            if link.is_none() {
                match self.open(trace.as_ref()).await {
                    Ok(opened) => *link = Some(opened),
                    Err(reason) => return self.failed(&sink, &reason).await,
                }
            }
            let Some(open) = link.as_mut() else {
                return Outcome::Failed;
            };
            let mut message = ClientMessage {
                metadata: turn.metadata.into_iter().collect(),
                parts: turn
                    .media
                    .into_iter()
                    .map(|part| ContentPart {
                        r#type: part.kind,
                        text: String::new(),
                        media: Some(MediaContent {
                            mime_type: part.mime_type,
                            storage_ref: part.storage_ref,
                            url: part.url,
                            ..MediaContent::default()
                        }),
                    })
                    .collect(),
                ..ClientMessage::text(self.id().to_string(), Utf8Bytes::from(turn.text))
            };
            // Per message too: a stream the runtime keeps carries many turns, each its own span.
            if let Some(trace) = &trace {
                trace.write_map(&mut message.metadata);
            }
            let ended = if open.to_runtime.send(message).await.is_err() {
                Ended::Broken("the runtime closed the conversation".to_owned())
            } else {
                self.exchange(open, &sink).await
            };
            match ended {
                Ended::Answered(outcome) => {
                    if !open.multi_turn {
                        // A stream per turn (the runtime did not offer more): close it now.
                        *link = None;
                    }
                    outcome
                }
                Ended::Broken(reason) => {
                    *link = None;
                    self.failed(&sink, &reason).await
                }
            }
        })
    }

    fn resume(self: Arc<Self>, id: Arc<str>) -> BoxFuture<'static, Result<(), ResumeError>> {
        Box::pin(async move {
            let asked = self
                .client
                .has_conversation(metadata(&self.session, &id), &id, RESUME_DEADLINE)
                .await;
            let state = match asked {
                Ok(answer) => match answer.state() {
                    ResumeState::Resumable => None,
                    ResumeState::NotFound => Some(ResumeError::Expired),
                    ResumeState::Unavailable | ResumeState::Unspecified => {
                        Some(ResumeError::Unavailable(answer.detail))
                    }
                },
                Err(status) => Some(ResumeError::Unavailable(format!(
                    "the runtime did not say whether it has the session ({:?}: {})",
                    status.code(),
                    status.message()
                ))),
            };
            if let Some(error) = state {
                return Err(error);
            }
            *self.id.lock() = id;
            // A stream opened for the old session carries its id in its metadata: the next
            // turn opens one for the resumed session.
            *self.link.lock().await = None;
            Ok(())
        })
    }

    fn hangup(&self) {
        // The conversation is over: close the stream, unless a turn is using it (the client
        // closes the socket next, which ends it anyway).
        if let Ok(mut link) = self.link.try_lock() {
            *link = None;
        }
    }
}

impl RuntimeConversation {
    fn id(&self) -> Arc<str> {
        self.id.lock().clone()
    }

    async fn open(&self, trace: Option<&TraceHeaders>) -> Result<Link, String> {
        let (to_runtime, messages) = mpsc::channel(TO_RUNTIME);
        let mut metadata = metadata(&self.session, &self.id());
        // A runtime that opens a stream per turn (Omnia's) reads the context here.
        if let Some(trace) = trace {
            trace.write_metadata(&mut metadata);
        }
        let frames = self
            .client
            .converse(metadata, messages)
            .await
            .map_err(|status| {
                tracing::warn!(session = %self.id(), %status, "Converse refused");
                format!("the runtime refused the conversation ({:?})", status.code())
            })?;
        Ok(Link {
            to_runtime,
            frames,
            multi_turn: false,
        })
    }

    /// Relays the runtime's frames for one turn to the client, until `done` or `error`.
    async fn exchange(&self, link: &mut Link, sink: &Sink) -> Ended {
        // Once the client is gone, the turn is still read to its end, so the runtime finishes
        // (and keeps) it; nothing more is sent to the client.
        let mut client_gone = false;
        loop {
            let frame = match tokio::time::timeout(INACTIVITY, link.frames.next()).await {
                Err(_) => {
                    return Ended::Broken(format!(
                        "the runtime sent nothing for {} s",
                        INACTIVITY.as_secs()
                    ));
                }
                Ok(None) => {
                    return Ended::Broken("the runtime ended the conversation mid-turn".to_owned());
                }
                Ok(Some(Err(status))) => {
                    tracing::warn!(session = %self.id(), %status, "Converse failed");
                    return Ended::Broken(format!(
                        "the conversation with the runtime failed ({:?})",
                        status.code()
                    ));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            match frame.message {
                Some(Message::RuntimeHello(hello)) => {
                    link.multi_turn =
                        !self.per_turn && hello.capabilities.iter().any(|c| c == MULTI_TURN_STREAM);
                }
                Some(Message::Chunk(chunk)) if !client_gone => {
                    let content = String::from_utf8_lossy(&chunk.content);
                    client_gone = sink.chunk(&content).await.is_err();
                }
                Some(Message::ToolCall(call)) => {
                    if call.execution() != ToolExecution::Client {
                        // Server-side tools are the runtime's to run; the WebSocket protocol
                        // has no frame for a call the client does not run.
                        continue;
                    }
                    let outcome = self.client_tool(&call, sink, client_gone).await;
                    let message = match outcome {
                        ToolOutcome::Result(result) => ClientMessage::tool_result(
                            self.id().to_string(),
                            call.id,
                            Utf8Bytes::from(result),
                        ),
                        ToolOutcome::Rejected(reason) => {
                            ClientMessage::tool_rejection(self.id().to_string(), call.id, reason)
                        }
                    };
                    if link.to_runtime.send(message).await.is_err() {
                        return Ended::Broken("the runtime closed the conversation".to_owned());
                    }
                }
                Some(Message::Done(done)) => {
                    if !client_gone {
                        let content = String::from_utf8_lossy(&done.final_content);
                        let usage = done.usage.map(|u| Usage {
                            input_tokens: u.input_tokens,
                            output_tokens: u.output_tokens,
                            cost_usd: u.cost_usd,
                        });
                        client_gone = sink.done(Some(&content), usage).await.is_err();
                    }
                    return Ended::Answered(if client_gone {
                        Outcome::Failed
                    } else {
                        Outcome::Done
                    });
                }
                Some(Message::Error(error)) => {
                    if !client_gone {
                        let _ = match ErrorCode::from_runtime(&error.code) {
                            Some(code) => sink.error(code, &error.message, None).await,
                            None => {
                                let details = serde_json::json!({"runtime_code": error.code});
                                sink.error(
                                    ErrorCode::InternalError,
                                    &error.message,
                                    Some(&details.to_string()),
                                )
                                .await
                            }
                        };
                    }
                    return Ended::Answered(Outcome::Failed);
                }
                // Media and interruptions belong to duplex sessions, which this gateway does not
                // open; a chunk after the client left is dropped.
                _ => {}
            }
        }
    }

    /// Gives the client a tool call and waits for its outcome.
    async fn client_tool(
        &self,
        call: &omnia_proto::runtime::v1::ToolCall,
        sink: &Sink,
        client_gone: bool,
    ) -> ToolOutcome {
        if client_gone {
            return ToolOutcome::Rejected("the client disconnected before answering".to_owned());
        }
        // Registered before it is sent, so an answer that comes back at once finds it.
        let wait = self.session.tools.expect(&call.id);
        let arguments = arguments(&call.arguments_json);
        let sent = sink
            .tool_call(ToolCall {
                id: &call.id,
                name: &call.name,
                arguments: arguments.as_deref(),
                consent_message: Some(&call.consent_message),
                categories: &call.categories,
            })
            .await;
        if sent.is_err() {
            return ToolOutcome::Rejected("the client disconnected before answering".to_owned());
        }
        wait.outcome(self.ack_timeout, self.result_timeout).await
    }

    /// The turn failed on the runtime's side: an `INTERNAL_ERROR` the client can act on.
    async fn failed(&self, sink: &Sink, reason: &str) -> Outcome {
        tracing::warn!(session = %self.id(), reason, "turn failed");
        let _ = sink
            .error(
                ErrorCode::InternalError,
                &format!("{reason}; the next message starts a new attempt"),
                None,
            )
            .await;
        Outcome::Failed
    }
}

/// A tool call's arguments as the `tool_call` frame carries them: a JSON object; anything else
/// the runtime sent is wrapped as `{"raw": ...}` (as Omnia does); none, no field.
fn arguments(json: &[u8]) -> Option<String> {
    if json.is_empty() {
        return None;
    }
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(value) if value.is_object() => Some(String::from_utf8_lossy(json).into_owned()),
        _ => Some(serde_json::json!({"raw": String::from_utf8_lossy(json)}).to_string()),
    }
}

/// The identity metadata of session `id`'s streams (DESIGN.md 4.4); never the bearer token.
fn metadata(session: &SessionInfo, id: &str) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    let mut put = |key: &str, value: &str| {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            metadata.insert(key, value);
        }
    };
    put("x-omnia-agent-name", &session.agent);
    put("x-omnia-namespace", &session.namespace);
    put("x-omnia-session-id", id);
    put("x-omnia-request-id", &session.request_id);
    if let Some(workspace) = &session.workspace {
        put("x-omnia-workspace", workspace);
    }
    for (key, value) in session.identity.runtime_metadata() {
        put(&key, value);
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::arguments;

    #[test]
    fn arguments_are_an_object_or_wrapped() {
        assert_eq!(arguments(b""), None);
        assert_eq!(arguments(br#"{"a":1}"#).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(arguments(b"[1,2]").as_deref(), Some(r#"{"raw":"[1,2]"}"#));
        assert_eq!(
            arguments(b"not json").as_deref(),
            Some(r#"{"raw":"not json"}"#)
        );
    }
}

//! One `Converse` stream, without the transport: `runtime_hello` first, then each message in
//! turn. A turn streams the provider's answer as `chunk`s and ends with `done` (or `error`); the
//! stream goes on reading after either, so one stream carries a whole session. A message that
//! cannot start a turn gets an `error` frame and the stream goes on too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::{ClientMessage, ServerMessage, Usage as WireUsage};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tonic::Status;

use super::Conversation;
use crate::pack::Blocked;
use crate::provider::{
    ChatMessage, ChatRequest, Deltas, Output, ProviderError, ToolCallRequest, ToolOutcome, Usage,
};
use crate::telemetry;
use crate::tools::{Limit, ToolContext, TurnBudget};
use tracing::Instrument as _;

/// The runtime gives up on a client tool call after this long without its result. The gateway
/// answers every call within its own (shorter) timeouts, with a rejection if need be; this only
/// keeps a stream from waiting forever on a peer that never answers.
const TOOL_RESULT_SAFETY: Duration = Duration::from_secs(600);

/// Pieces of an answer buffered between the provider and the stream.
const PIECES: usize = 16;

/// Codes of the `Error` frames this runtime sends (Omnia's, and the AsyncAPI enum's where the
/// client sees them).
mod code {
    pub const INVALID_MESSAGE: &str = "INVALID_MESSAGE";
    pub const DUPLEX_UNSUPPORTED: &str = "DUPLEX_UNSUPPORTED";
    pub const AGENT_UNAVAILABLE: &str = "AGENT_UNAVAILABLE";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// The stream was closed by the peer (or its messages stopped): end quietly.
struct Closed;

/// Serves one stream: reads `inbound` until it ends, writes to `out` until the peer stops
/// reading. `session` is the session a message without `session_id` belongs to.
pub(crate) async fn run<S>(
    agent: Arc<Conversation>,
    capabilities: Vec<String>,
    session: String,
    mut inbound: S,
    out: mpsc::Sender<ServerMessage>,
) where
    S: Stream<Item = Result<ClientMessage, Status>> + Unpin + Send,
{
    let mut stream = Session {
        agent,
        out,
        session,
        history: None,
    };
    if stream
        .send(ServerMessage::hello(capabilities))
        .await
        .is_err()
    {
        return;
    }
    while let Some(message) = inbound.next().await {
        let message = match message {
            Ok(message) => message,
            Err(status) => {
                // A message that does not decode ends what the stream can say, but with an
                // answer rather than a transport failure.
                let _ = stream
                    .error(
                        code::INVALID_MESSAGE,
                        format!("unreadable message: {}", status.message()),
                    )
                    .await;
                return;
            }
        };
        if stream.message(message, &mut inbound).await.is_err() {
            return;
        }
    }
}

/// A stream's state between turns.
struct Session {
    agent: Arc<Conversation>,
    out: mpsc::Sender<ServerMessage>,
    /// The session of messages that name none.
    session: String,
    /// The history of the session last served, so a long-lived stream reads the store once.
    history: Option<(String, Vec<ChatMessage>)>,
}

impl Session {
    async fn send(&self, message: ServerMessage) -> Result<(), Closed> {
        self.out.send(message).await.map_err(|_| Closed)
    }

    async fn error(&self, code: &str, message: impl Into<String>) -> Result<(), Closed> {
        self.send(ServerMessage::error(code, message)).await
    }

    /// Handles one message that arrived between turns.
    async fn message<S>(&mut self, message: ClientMessage, inbound: &mut S) -> Result<(), Closed>
    where
        S: Stream<Item = Result<ClientMessage, Status>> + Unpin + Send,
    {
        if message.duplex_start.is_some() {
            return self
                .error(
                    code::DUPLEX_UNSUPPORTED,
                    "this runtime has no duplex audio; send text turns",
                )
                .await;
        }
        if let Some(result) = &message.client_tool_result {
            let call = result.call_id.clone();
            return self
                .error(
                    code::INVALID_MESSAGE,
                    format!("no tool call is waiting for a result (call_id {call:?})"),
                )
                .await;
        }
        let text = text_of(&message);
        if text.is_empty() {
            return self
                .error(
                    code::INVALID_MESSAGE,
                    "the message has no content: send `content` or a text part",
                )
                .await;
        }
        let session = if message.session_id.is_empty() {
            self.session.clone()
        } else {
            message.session_id.clone()
        };
        let span = telemetry::turn_span(&self.agent.info.name, &session, &message.metadata);
        self.turn(&session, text, &message, inbound)
            .instrument(span)
            .await
    }

    /// One turn: the user's words, the provider's streamed answer (with any client tool calls
    /// in between), `done`; or an `error` when the turn fails.
    async fn turn<S>(
        &mut self,
        session: &str,
        text: String,
        message: &ClientMessage,
        inbound: &mut S,
    ) -> Result<(), Closed>
    where
        S: Stream<Item = Result<ClientMessage, Status>> + Unpin + Send,
    {
        let fields: Map<String, Value> = message
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect();
        let system = match self
            .agent
            .templates
            .render(Value::Object(fields).to_string().as_bytes())
        {
            Ok(rendered) => rendered.system,
            Err(error) => return self.error(code::INVALID_MESSAGE, error.to_string()).await,
        };
        let mut history = match self.history.take() {
            Some((cached, history)) if cached == session => history,
            _ => match self.agent.store.load(session).await {
                Ok(history) => history,
                Err(error) => {
                    tracing::warn!(agent = %self.agent.info.name, %error, "loading the history failed");
                    return self
                        .error(
                            code::INTERNAL_ERROR,
                            format!("the conversation history is unavailable: {error}"),
                        )
                        .await;
                }
            },
        };
        let before = history.len();
        history.push(ChatMessage::User { content: text });
        let ended = self
            .answer(session, &system, &mut history, inbound)
            .await
            .and_then(|(answer, usage)| {
                // The pieces already went out; a refused answer ends the turn with an error
                // instead of `done`, and is not kept.
                self.agent
                    .validators
                    .check(&self.agent.info.name, &answer)
                    .map_err(TurnError::Blocked)?;
                Ok((answer, usage))
            });
        let outcome = match ended {
            Ok((answer, usage)) => match self.agent.store.append(session, &history[before..]).await
            {
                Ok(()) => {
                    self.send(ServerMessage::done(Utf8Bytes::from(answer), wire(usage)))
                        .await
                }
                // A turn the store did not keep is not confirmed with `done`: the client learns
                // it failed, and the next turn starts from what the store holds.
                Err(error) => {
                    history.truncate(before);
                    tracing::warn!(agent = %self.agent.info.name, %error, "saving the turn failed");
                    self.error(
                        code::INTERNAL_ERROR,
                        format!("the turn could not be saved: {error}"),
                    )
                    .await
                }
            },
            Err(TurnError::Closed) => Err(Closed),
            Err(TurnError::Provider(error)) => {
                // The failed turn is not kept: the next one starts from the history before it.
                history.truncate(before);
                tracing::warn!(agent = %self.agent.info.name, %error, "turn failed");
                let code = if error.is_retryable() {
                    code::AGENT_UNAVAILABLE
                } else {
                    code::INTERNAL_ERROR
                };
                self.error(code, error.to_string()).await
            }
            Err(TurnError::Blocked(blocked)) => {
                history.truncate(before);
                self.error(code::INTERNAL_ERROR, blocked.to_string()).await
            }
            Err(TurnError::Limit(limit)) => {
                history.truncate(before);
                tracing::warn!(agent = %self.agent.info.name, %limit, "turn stopped");
                self.error(code::INTERNAL_ERROR, limit.to_string()).await
            }
        };
        self.history = Some((session.to_owned(), history));
        outcome
    }

    /// The provider's rounds for one turn: the whole answer and the usage of every round.
    /// Between rounds the tool calls the model asked for run here (server-side tools), on the
    /// client, or not at all (blocked), within the prompt's tool policy.
    async fn answer<S>(
        &self,
        session: &str,
        system: &str,
        history: &mut Vec<ChatMessage>,
        inbound: &mut S,
    ) -> Result<(String, Usage), TurnError>
    where
        S: Stream<Item = Result<ClientMessage, Status>> + Unpin + Send,
    {
        let agent = &*self.agent;
        let context = ToolContext {
            agent: &agent.info.name,
            namespace: &agent.info.namespace,
            session,
            deadline: None,
        };
        let mut budget = TurnBudget::new();
        let mut answer = String::new();
        let mut usage = Usage::default();
        let mut calls = 0;
        let mut round = 0;
        loop {
            let (tools, tool_choice) = agent.tools.offered(round);
            let (deltas, mut pieces) = Deltas::channel(PIECES);
            let started = Instant::now();
            let chat = agent.provider.chat(
                ChatRequest {
                    system,
                    history,
                    parameters: agent.parameters,
                    tools,
                    tool_choice,
                    output: Output::Text,
                },
                deltas,
            );
            let forward = async {
                while let Some(piece) = pieces.recv().await {
                    self.send(ServerMessage::chunk(piece)).await?;
                }
                Ok::<(), Closed>(())
            };
            let (end, forwarded) = tokio::join!(chat, forward);
            agent
                .meter
                .provider(end.as_ref().ok().map(|e| e.usage), started.elapsed());
            forwarded.map_err(|Closed| TurnError::Closed)?;
            let end = end.map_err(TurnError::Provider)?;
            usage = usage.plus(end.usage);
            answer.push_str(&end.text);
            if !end.text.is_empty() {
                history.push(ChatMessage::Assistant { content: end.text });
            }
            if end.tool_calls.is_empty() {
                return Ok((answer, usage));
            }
            agent.tools.check_round(round).map_err(TurnError::Limit)?;
            calls += end.tool_calls.len();
            agent.tools.check_calls(calls).map_err(TurnError::Limit)?;
            // Every call of the round is recorded before any result, as the providers expect
            // their history.
            history.extend(end.tool_calls.iter().cloned().map(ChatMessage::ToolCall));
            for call in end.tool_calls {
                let outcome = agent
                    .tools
                    .run(&call, context, &mut budget, &agent.meter, |span| {
                        self.client_tool(&call, inbound).instrument(span)
                    })
                    .await?;
                history.push(ChatMessage::ToolResult {
                    call_id: call.id,
                    name: call.name,
                    outcome,
                });
            }
            round += 1;
        }
    }

    /// Asks the client to run `call` and waits for what became of it.
    async fn client_tool<S>(
        &self,
        call: &ToolCallRequest,
        inbound: &mut S,
    ) -> Result<ToolOutcome, TurnError>
    where
        S: Stream<Item = Result<ClientMessage, Status>> + Unpin + Send,
    {
        // A ToolRegistry's client tool says how to ask for consent; a call that carries its own
        // (the mock's) keeps it.
        let hints = self.agent.tools.client_tool(&call.name).unwrap_or_default();
        let consent = if call.consent_message.is_empty() {
            hints.consent_message
        } else {
            call.consent_message.clone()
        };
        let categories = if call.categories.is_empty() {
            hints.categories
        } else {
            call.categories.clone()
        };
        self.send(ServerMessage::client_tool_call(
            call.id.clone(),
            call.name.clone(),
            Utf8Bytes::from(call.arguments_json.clone()),
            consent,
            categories,
        ))
        .await
        .map_err(|Closed| TurnError::Closed)?;
        self.tool_outcome(&call.id, inbound).await
    }

    /// Waits for the client's result of tool call `id`. Anything else meanwhile gets an `error`
    /// frame; the wait goes on.
    async fn tool_outcome<S>(&self, id: &str, inbound: &mut S) -> Result<ToolOutcome, TurnError>
    where
        S: Stream<Item = Result<ClientMessage, Status>> + Unpin + Send,
    {
        let deadline = tokio::time::Instant::now() + TOOL_RESULT_SAFETY;
        loop {
            let next = tokio::time::timeout_at(deadline, inbound.next()).await;
            let message = match next {
                Err(_) => {
                    return Ok(ToolOutcome::Rejected(format!(
                        "no result arrived within {} s",
                        TOOL_RESULT_SAFETY.as_secs()
                    )));
                }
                Ok(None | Some(Err(_))) => return Err(TurnError::Closed),
                Ok(Some(Ok(message))) => message,
            };
            match message.client_tool_result {
                Some(result) if result.call_id == id => {
                    return Ok(if result.is_rejected {
                        ToolOutcome::Rejected(if result.rejection_reason.is_empty() {
                            "the client rejected the call".to_owned()
                        } else {
                            result.rejection_reason
                        })
                    } else {
                        ToolOutcome::Result(
                            String::from_utf8_lossy(&result.result_json).into_owned(),
                        )
                    });
                }
                _ => {
                    self.error(
                        code::INVALID_MESSAGE,
                        format!("waiting for the result of tool call {id:?}; send it first"),
                    )
                    .await
                    .map_err(|Closed| TurnError::Closed)?;
                }
            }
        }
    }
}

/// Why a turn ended without `done`.
enum TurnError {
    Closed,
    Provider(ProviderError),
    Limit(Limit),
    Blocked(Blocked),
}

/// The turn's text as Omnia reads it: the first non-empty text part, else `content`.
fn text_of(message: &ClientMessage) -> String {
    message
        .parts
        .iter()
        .find(|part| part.r#type == "text" && !part.text.is_empty())
        .map(|part| part.text.clone())
        .unwrap_or_else(|| String::from_utf8_lossy(&message.content).into_owned())
}

fn wire(usage: Usage) -> WireUsage {
    WireUsage {
        input_tokens: i32::try_from(usage.input_tokens).unwrap_or(i32::MAX),
        output_tokens: i32::try_from(usage.output_tokens).unwrap_or(i32::MAX),
        // The wire type is a proto `float`.
        cost_usd: usage.cost_usd as f32,
    }
}

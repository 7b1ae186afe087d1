//! Conversations with a provider: the history of a session goes in, the answer streams out in
//! pieces, and the model may stop to ask for a client-side tool call.

use omnia_proto::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Parameters, Usage};

/// One entry of a conversation's history. Stored as JSON (`{"role": "user", "content": ...}`)
/// by the context stores that keep histories outside the process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    /// What the user said.
    User { content: String },
    /// What the model answered.
    Assistant { content: String },
    /// The model asked for a tool call, which the client was given to run.
    ToolCall(ToolCallRequest),
    /// What became of a tool call: the client's result, or why it did not run.
    ToolResult {
        call_id: String,
        name: String,
        outcome: ToolOutcome,
    },
}

/// A tool call the model asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRequest {
    pub id: String,
    pub name: String,
    /// The arguments, a JSON object as text.
    pub arguments_json: String,
    /// Shown to the user before the call runs, when the tool asks for consent.
    pub consent_message: String,
    /// What the call touches (`location`, `contacts`, ...), for consent.
    pub categories: Vec<String>,
}

/// How a client-side tool call ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolOutcome {
    /// The client ran it; its result as JSON text.
    Result(String),
    /// It did not run: the client refused, did not answer in time, or went away; or the
    /// prompt's tool policy does not allow it.
    Rejected(String),
    /// It ran and failed; the error as the tool reported it.
    Failed(String),
}

/// One provider round of a conversation: the system prompt, the history so far, the tools the
/// model may ask for and the shape its answer must take.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    pub system: &'a str,
    pub history: &'a [ChatMessage],
    pub parameters: Parameters,
    pub tools: &'a [ToolSpec],
    /// Whether the model must call one of `tools` (ignored when there are none).
    pub tool_choice: ToolChoice,
    pub output: Output<'a>,
}

/// Whether the model may, must, or may not call tools (a prompt's `tool_policy.tool_choice`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// The model must call a tool.
    Required,
    /// No tools are offered.
    None,
}

/// A tool the model may call, as every provider describes one: a name, what it does, and a JSON
/// schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// The arguments' JSON schema (an object schema).
    pub parameters: Value,
}

/// The form the answer must take, asked of each provider in its own way (function mode; agent
/// turns answer in text).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Output<'a> {
    /// Free text.
    #[default]
    Text,
    /// Any JSON value.
    Json,
    /// JSON that passes `schema`; `name` labels it where the provider asks for one (the agent's
    /// name, as Omnia sends it).
    JsonSchema { name: &'a str, schema: &'a Value },
}

/// Why the model stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its answer.
    #[default]
    Stop,
    /// It ran out of `max_tokens`.
    Length,
    /// It asks for tool calls.
    ToolCalls,
    /// The provider's safety filter stopped it.
    ContentFilter,
    /// A reason this runtime does not know, as the provider spelled it.
    Other(String),
}

impl FinishReason {
    /// The reason as the GenAI semantic conventions spell it (`gen_ai.response.finish_reasons`).
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(other) => other,
        }
    }
}

impl ChatRequest<'_> {
    /// The user's latest words.
    pub fn last_user_text(&self) -> &str {
        self.history
            .iter()
            .rev()
            .find_map(|m| match m {
                ChatMessage::User { content } => Some(content.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }

    /// Bytes of prompt, for providers that estimate tokens.
    pub fn prompt_bytes(&self) -> usize {
        self.system.len()
            + self
                .history
                .iter()
                .map(ChatMessage::text_len)
                .sum::<usize>()
    }
}

impl ChatMessage {
    /// Bytes of text the message carries.
    pub fn text_len(&self) -> usize {
        match self {
            ChatMessage::User { content } | ChatMessage::Assistant { content } => content.len(),
            ChatMessage::ToolCall(call) => call.name.len() + call.arguments_json.len(),
            ChatMessage::ToolResult { outcome, .. } => match outcome {
                ToolOutcome::Result(text)
                | ToolOutcome::Rejected(text)
                | ToolOutcome::Failed(text) => text.len(),
            },
        }
    }
}

/// Where a provider streams the pieces of its answer as it produces them.
#[derive(Debug, Clone)]
pub struct Deltas {
    pieces: mpsc::Sender<Utf8Bytes>,
}

/// Nobody reads the answer any more (the conversation ended); the provider may stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the conversation stopped reading the answer")]
pub struct Stopped;

impl Deltas {
    /// A sink into `pieces`, and the receiver the runtime reads them from.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Utf8Bytes>) {
        let (pieces, received) = mpsc::channel(capacity);
        (Self { pieces }, received)
    }

    /// Streams one piece, waiting while the reader is behind.
    pub async fn send(&self, piece: Utf8Bytes) -> Result<(), Stopped> {
        self.pieces.send(piece).await.map_err(|_| Stopped)
    }
}

/// How a provider round ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEnd {
    /// The whole answer text of this round (what was streamed, joined).
    pub text: String,
    /// The model stopped to ask for these tool calls (several at once with some providers).
    pub tool_calls: Vec<ToolCallRequest>,
    pub finish: FinishReason,
    pub usage: Usage,
}

//! What answers a turn: `spec.facade.handler` of an agent-mode AgentRuntime.
//!
//! A handler opens a [`Conversation`] per connection. The conversation gets each turn's input
//! and a [`Sink`] for the frames it answers with, and returns once the turn is over (after its
//! `done` or `error`). The connection writes the frames, in order, and counts the turn as in
//! flight until the conversation returns.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use omnia_middleware::auth::Identity;
use omnia_runtime::telemetry::TraceHeaders;
use tokio::sync::mpsc;

use super::protocol::outbound::{self, ToolCall, Usage};
use super::protocol::{ErrorCode, inbound};
use super::tools::ClientTools;

pub mod demo;
pub mod echo;
pub mod runtime;

/// A handler of an agent's connections.
pub trait Handler: Send + Sync + 'static {
    /// The `handler` label of `omnia_agent_request_duration_seconds`: `echo`, `demo`, `runtime`.
    fn name(&self) -> &'static str;

    /// The conversation of a new connection.
    fn open(&self, session: SessionInfo) -> Arc<dyn Conversation>;
}

/// One connection's conversation.
pub trait Conversation: Send + Sync + 'static {
    /// Runs one turn; the future ends when the turn has.
    fn turn(self: Arc<Self>, turn: Turn, sink: Sink) -> BoxFuture<'static, Outcome>;

    /// The user ended the conversation on purpose (`hangup`).
    fn hangup(&self) {}

    /// The client asks to go on with session `id`, which this connection did not start (it
    /// reconnected, perhaps to another replica). A handler with no context of its own (echo,
    /// demo) takes any id.
    fn resume(self: Arc<Self>, id: Arc<str>) -> BoxFuture<'static, Result<(), ResumeError>> {
        let _ = id;
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Why a session cannot be resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// Its context is gone (never existed, or expired).
    #[error("session context has expired; start a new session")]
    Expired,
    /// Whether it exists cannot be told now (the context store or the runtime is down).
    #[error("the session cannot be resumed now: {0}")]
    Unavailable(String),
}

/// What a conversation knows of its connection.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session id the gateway minted (`connected.session_id`).
    pub id: Arc<str>,
    /// The agent and its namespace.
    pub agent: String,
    pub namespace: String,
    /// Who authenticated, for the runtime's identity metadata.
    pub identity: Identity,
    /// A request id for the connection, carried to the runtime.
    pub request_id: String,
    /// The Workspace the client named (`?workspace=`), carried to the runtime.
    pub workspace: Option<String>,
    /// The client-side tool calls waiting on this connection.
    pub tools: ClientTools,
    /// The trace context of the upgrade request (`traceparent`), passed on to the runtime as it
    /// came when tracing is off.
    pub trace: Option<TraceHeaders>,
}

/// How a turn ended, for `omnia_agent_requests_total{status}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// With `done`.
    Done,
    /// With `error`, or the connection went away first.
    Failed,
}

impl From<Result<(), Gone>> for Outcome {
    fn from(sent: Result<(), Gone>) -> Self {
        if sent.is_ok() {
            Self::Done
        } else {
            Self::Failed
        }
    }
}

/// One user turn, owned, as the handler gets it.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// The turn's text as Omnia reads it: the first non-empty text part, else `content`.
    pub text: String,
    /// `metadata` as the client sent it.
    pub metadata: BTreeMap<String, String>,
    /// The message's media parts (`image`, `audio`, `video`, `file`), for the runtime.
    pub media: Vec<MediaPart>,
}

/// A media part of a message, as the runtime's `ContentPart` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaPart {
    /// `image`, `audio`, `video` or `file`.
    pub kind: String,
    pub mime_type: String,
    /// `omnia://sessions/{sid}/media/{mid}`, checked against the session's stored media.
    pub storage_ref: String,
    /// An HTTP(S) URL the client gave instead.
    pub url: String,
}

impl Turn {
    /// The owned input of a `message` frame.
    pub fn from_message(message: &inbound::Message<'_>) -> Self {
        let field = |media: &serde_json::Value, name: &str| {
            media
                .get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            text: message.text().to_owned(),
            media: message
                .parts
                .iter()
                .flatten()
                .filter(|part| part.kind != "text")
                .filter_map(|part| {
                    let media = part.media.as_ref()?;
                    Some(MediaPart {
                        kind: part.kind.to_string(),
                        mime_type: field(media, "mime_type"),
                        storage_ref: field(media, "storage_ref"),
                        url: field(media, "url"),
                    })
                })
                .collect(),
            metadata: message
                .metadata
                .iter()
                .flatten()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        }
    }
}

/// The connection went away; the handler should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the WebSocket connection is gone")]
pub struct Gone;

/// Where a handler's frames go: to the connection, which writes them in order. Every frame is
/// stamped with the connection's session id.
#[derive(Debug, Clone)]
pub struct Sink {
    frames: mpsc::Sender<Bytes>,
    session_id: Arc<str>,
}

impl Sink {
    /// A sink into `frames` for the session `session_id`.
    pub fn new(frames: mpsc::Sender<Bytes>, session_id: Arc<str>) -> Self {
        Self { frames, session_id }
    }

    /// A sink into the same connection, stamping `session_id` (after a resume).
    pub fn for_session(&self, session_id: Arc<str>) -> Self {
        Self {
            frames: self.frames.clone(),
            session_id,
        }
    }

    /// The session this sink belongs to.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Resolves when the connection is gone (its frame queue closed).
    pub async fn closed(&self) {
        self.frames.closed().await;
    }

    /// Queues one encoded frame, waiting while the connection's queue is full (a slow client
    /// slows the handler down rather than growing the queue).
    pub async fn send(&self, frame: Bytes) -> Result<(), Gone> {
        self.frames.send(frame).await.map_err(|_| Gone)
    }

    pub async fn chunk(&self, content: &str) -> Result<(), Gone> {
        self.send(outbound::chunk(&self.session_id, content)).await
    }

    pub async fn done(&self, content: Option<&str>, usage: Option<Usage>) -> Result<(), Gone> {
        self.send(outbound::done(&self.session_id, content, usage))
            .await
    }

    pub async fn tool_call(&self, call: ToolCall<'_>) -> Result<(), Gone> {
        self.send(outbound::tool_call(&self.session_id, call)).await
    }

    pub async fn tool_result(
        &self,
        id: &str,
        result: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), Gone> {
        self.send(outbound::tool_result(&self.session_id, id, result, error))
            .await
    }

    pub async fn error(
        &self,
        code: ErrorCode,
        message: &str,
        details: Option<&str>,
    ) -> Result<(), Gone> {
        self.send(outbound::error(&self.session_id, code, message, details))
            .await
    }
}

//! `omnia.runtime.v1.RuntimeService`: `Invoke` runs a compiled function, `Converse` a
//! conversation stream, `HasConversation` asks the agent's context store.

use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_server::RuntimeService;
use omnia_proto::runtime::v1::{
    ClientMessage, HasConversationRequest, HasConversationResponse, HealthRequest, HealthResponse,
    InvocationRequest, InvocationResponse, ResumeState, ServerMessage, Usage,
};
use std::sync::Arc;

use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument as _;

use crate::conversation::{self, Conversation};
use crate::function::{Function, InvokeError};
use crate::telemetry::{self, TraceHeaders};
use crate::{
    AGENT_NAME_METADATA, ERROR_SOURCE_METADATA, ERROR_SOURCE_PROVIDER, ERROR_SOURCE_VALIDATOR,
    Runtime,
};

#[tonic::async_trait]
impl RuntimeService for Runtime {
    type ConverseStream = BoxStream<'static, Result<ServerMessage, Status>>;

    async fn converse(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::ConverseStream>, Status> {
        let agent = metadata(&request, AGENT_NAME_METADATA).map(str::to_owned);
        let session = metadata(&request, SESSION_ID_METADATA).map(str::to_owned);
        // The stream's trace context parents each turn whose message brings none of its own.
        let trace = telemetry::enabled()
            .then(|| TraceHeaders::from_metadata(request.metadata()))
            .flatten();
        let inbound = request.into_inner().map(move |message| {
            message.map(|mut message| {
                if let Some(trace) = &trace
                    && TraceHeaders::from_map(&message.metadata).is_none()
                {
                    trace.write_map(&mut message.metadata);
                }
                message
            })
        });
        let frames = self.converse_with(agent.as_deref(), session, inbound)?;
        Ok(Response::new(ReceiverStream::new(frames).map(Ok).boxed()))
    }

    async fn invoke(
        &self,
        request: Request<InvocationRequest>,
    ) -> Result<Response<InvocationResponse>, Status> {
        // tokio's clock, so tests can pause time.
        let started = Instant::now();
        let function = self.select(&request)?;
        let trace = telemetry::enabled()
            .then(|| TraceHeaders::from_metadata(request.metadata()))
            .flatten();
        let InvocationRequest {
            input_json,
            invocation_id,
            ..
        } = request.into_inner();
        // Omnia declares `input_json` a `string`, and the echo provider hands it back as
        // `output_json`: input that is not UTF-8 would go out where a Go peer refuses it.
        let input_json = Utf8Bytes::from_utf8(input_json)
            .map_err(|e| Status::invalid_argument(format!("input_json is not valid UTF-8: {e}")))?;
        let invocation_id = if invocation_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            invocation_id
        };
        let span = telemetry::invoke_span(&function.info.name, &invocation_id, trace.as_ref());
        let invoked = function
            .invoke(&input_json, &invocation_id)
            .instrument(span.clone())
            .await;
        let completion = invoked.map_err(|e| {
            telemetry::record_error(&span, "invoke", &e);
            // The invocation id joins this line to the gateway's, which logs the same id and
            // answers the caller with it.
            tracing::warn!(
                agent = %function.info.name,
                invocation_id = %invocation_id,
                error = %e,
                "invocation failed"
            );
            status(e)
        })?;
        let usage = completion.usage;
        Ok(Response::new(InvocationResponse::new(
            completion.content,
            Usage {
                input_tokens: i32::try_from(usage.input_tokens).unwrap_or(i32::MAX),
                output_tokens: i32::try_from(usage.output_tokens).unwrap_or(i32::MAX),
                // The wire type is a proto `float`.
                cost_usd: usage.cost_usd as f32,
            },
            i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            invocation_id,
        )))
    }

    async fn health(
        &self,
        _request: Request<HealthRequest>,
    ) -> Result<Response<HealthResponse>, Status> {
        let mut health = self.inner.health.clone();
        // The compiled part cannot change; a context store outside the process can go away.
        for name in &self.inner.conversation_order {
            let Some(conversation) = self.inner.conversations.get(name) else {
                continue;
            };
            let checked = tokio::time::timeout(STORE_CHECK, conversation.store.check()).await;
            let failure = match checked {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!(
                    "{} did not answer within {} ms",
                    conversation.store.describe(),
                    STORE_CHECK.as_millis()
                ),
            };
            health.healthy = false;
            health.status = format!("agent `{name}`: {failure}");
            break;
        }
        Ok(Response::new(health))
    }

    async fn has_conversation(
        &self,
        request: Request<HasConversationRequest>,
    ) -> Result<Response<HasConversationResponse>, Status> {
        let conversation = self.conversation(metadata(&request, AGENT_NAME_METADATA))?;
        let session = &request.get_ref().session_id;
        let (state, detail) = match conversation.has(session).await {
            Ok(true) => (
                ResumeState::Resumable,
                "the session has a history".to_owned(),
            ),
            Ok(false) => (
                ResumeState::NotFound,
                "no history for this session (never seen, or expired)".to_owned(),
            ),
            Err(error) => (ResumeState::Unavailable, error.to_string()),
        };
        Ok(Response::new(HasConversationResponse {
            state: state.into(),
            detail,
        }))
    }
}

impl Runtime {
    /// Starts a conversation stream for `agent` (or the only agent-mode agent): messages from
    /// `inbound`, frames out of the returned receiver, which ends when the stream does. A
    /// message without `session_id` belongs to `session` (a new id when `None`). For the
    /// gateway's embedded runtime, which has no tonic stream to hand over.
    ///
    /// # Errors
    /// `NotFound` when no such agent-mode agent is served.
    pub fn converse_with<S>(
        &self,
        agent: Option<&str>,
        session: Option<String>,
        inbound: S,
    ) -> Result<mpsc::Receiver<ServerMessage>, Status>
    where
        S: Stream<Item = Result<ClientMessage, Status>> + Unpin + Send + 'static,
    {
        let conversation = self.conversation(agent)?.clone();
        let session = session
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let (out, frames) = mpsc::channel(FRAMES);
        let capabilities = self.inner.health.capabilities.clone();
        tokio::spawn(conversation::run(
            conversation,
            capabilities,
            session,
            inbound,
            out,
        ));
        Ok(frames)
    }

    /// The agent-mode agent named `name`, else the only one.
    fn conversation(&self, name: Option<&str>) -> Result<&Arc<Conversation>, Status> {
        let conversations = &self.inner.conversations;
        match name {
            Some(name) => conversations.get(name).ok_or_else(|| {
                Status::not_found(format!(
                    "this runtime serves no agent-mode agent named `{name}`"
                ))
            }),
            None => {
                let mut all = conversations.values();
                match (all.next(), all.next()) {
                    (Some(only), None) => Ok(only),
                    (None, _) => Err(Status::not_found(
                        "this runtime serves no agent-mode agents",
                    )),
                    (Some(_), Some(_)) => Err(Status::invalid_argument(format!(
                        "this runtime serves several agents ({}); name one in the \
                         {AGENT_NAME_METADATA} metadata",
                        self.inner.conversation_order.join(", ")
                    ))),
                }
            }
        }
    }
}

/// How long `Health` waits for a context store's answer (the gateway's probe gives it 1 s).
const STORE_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Frames of a conversation buffered toward the transport.
const FRAMES: usize = 32;

/// The gRPC metadata key that names the session a `Converse` stream is for.
const SESSION_ID_METADATA: &str = "x-omnia-session-id";

/// A metadata value as text, if present and readable.
fn metadata<'r, T>(request: &'r Request<T>, key: &str) -> Option<&'r str> {
    request.metadata().get(key).and_then(|v| v.to_str().ok())
}

impl Runtime {
    /// The function a request is for: the one named by `x-omnia-agent-name`, else the only one.
    fn select<T>(&self, request: &Request<T>) -> Result<&Function, Status> {
        let functions = &self.inner.by_name;
        match request.metadata().get(AGENT_NAME_METADATA) {
            Some(value) => {
                let name = value.to_str().map_err(|_| {
                    Status::not_found(format!("{AGENT_NAME_METADATA} is not a valid agent name"))
                })?;
                functions.get(name).ok_or_else(|| {
                    Status::not_found(format!(
                        "this runtime serves no function-mode agent named `{name}`"
                    ))
                })
            }
            None => {
                let mut all = functions.values();
                match (all.next(), all.next()) {
                    (Some(only), None) => Ok(only),
                    (None, _) => Err(Status::not_found(
                        "this runtime serves no function-mode agents",
                    )),
                    (Some(_), Some(_)) => Err(Status::invalid_argument(format!(
                        "this runtime serves several functions ({}); name one in the \
                         {AGENT_NAME_METADATA} metadata",
                        self.inner.order.join(", ")
                    ))),
                }
            }
        }
    }
}

/// Template errors are the caller's (InvalidArgument); a provider that may recover is
/// Unavailable, any other provider failure Internal. A provider failure says so in the
/// [`ERROR_SOURCE_METADATA`] metadata: its message is the provider's, never the key.
fn status(error: InvokeError) -> Status {
    let mut status = match &error {
        InvokeError::Template(_) => return Status::invalid_argument(error.to_string()),
        InvokeError::Provider(p) if p.is_retryable() => Status::unavailable(error.to_string()),
        InvokeError::Provider(_) => Status::internal(error.to_string()),
        InvokeError::Limit(_) => return Status::internal(error.to_string()),
        // The validator's message is written for the user: the caller may read it.
        InvokeError::Blocked(_) => {
            let mut status = Status::internal(error.to_string());
            status.metadata_mut().insert(
                ERROR_SOURCE_METADATA,
                MetadataValue::from_static(ERROR_SOURCE_VALIDATOR),
            );
            return status;
        }
    };
    status.metadata_mut().insert(
        ERROR_SOURCE_METADATA,
        MetadataValue::from_static(ERROR_SOURCE_PROVIDER),
    );
    status
}

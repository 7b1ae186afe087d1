//! `omnia.runtime.v1.RuntimeService` for function mode: `Invoke` runs a compiled function; the
//! conversation methods say honestly that this runtime keeps no conversations yet.

use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_server::RuntimeService;
use omnia_proto::runtime::v1::{
    ClientMessage, HasConversationRequest, HasConversationResponse, HealthRequest, HealthResponse,
    InvocationRequest, InvocationResponse, ResumeState, ServerMessage, Usage,
};
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};

use crate::function::{Function, InvokeError};
use crate::{AGENT_NAME_METADATA, Runtime};

#[tonic::async_trait]
impl RuntimeService for Runtime {
    type ConverseStream = tokio_stream::Empty<Result<ServerMessage, Status>>;

    async fn converse(
        &self,
        _request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::ConverseStream>, Status> {
        Err(Status::unimplemented(
            "this runtime serves function-mode agents through Invoke only; Converse \
             (conversations) arrives with WebSocket support",
        ))
    }

    async fn invoke(
        &self,
        request: Request<InvocationRequest>,
    ) -> Result<Response<InvocationResponse>, Status> {
        // tokio's clock, so tests can pause time.
        let started = Instant::now();
        let function = self.select(&request)?;
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
        let completion = function.invoke(&input_json).await.map_err(|e| {
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
        Ok(Response::new(self.inner.health.clone()))
    }

    async fn has_conversation(
        &self,
        _request: Request<HasConversationRequest>,
    ) -> Result<Response<HasConversationResponse>, Status> {
        Ok(Response::new(HasConversationResponse {
            state: ResumeState::NotFound.into(),
            detail: "this runtime serves function-mode agents, which keep no conversations"
                .to_owned(),
        }))
    }
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
/// Unavailable, any other provider failure Internal.
fn status(error: InvokeError) -> Status {
    match &error {
        InvokeError::Template(_) => Status::invalid_argument(error.to_string()),
        InvokeError::Provider(p) if p.is_retryable() => Status::unavailable(error.to_string()),
        InvokeError::Provider(_) => Status::internal(error.to_string()),
    }
}

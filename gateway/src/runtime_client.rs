//! The gateway's side of the link to the runtime: tonic's generated client over one lazily
//! connected, multiplexed HTTP/2 connection ([`Http2Transport`]), or our runtime linked into the
//! process (`serve --embedded-runtime`); a per-call timeout; and a background health probe that
//! drives `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use omnia_middleware::{GatewayError, Violations};
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use omnia_proto::runtime::v1::runtime_service_server::RuntimeService as _;
use omnia_proto::runtime::v1::{
    ClientMessage, HasConversationRequest, HasConversationResponse, HealthRequest,
    InvocationRequest, InvocationResponse, ServerMessage,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::codec::CompressionEncoding;

use crate::runtime_transport::{Http2Transport, RuntimeAddress};

/// The gateway's default per-call timeout (`OMNIA_FACADE_CALL_TIMEOUT_SECONDS`).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The `:authority` sent to the runtime; gRPC servers route on the path, not on this.
const ORIGIN: &str = "http://omnia-runtime";

/// A cheap-to-clone handle on the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeClient {
    link: Link,
    timeout: Duration,
}

#[derive(Debug, Clone)]
enum Link {
    /// `omnia.runtime.v1` over HTTP/2: our runtime or Omnia's, in another process.
    Grpc(RuntimeServiceClient<Http2Transport>),
    /// Our runtime in this process, called as a plain async method: no socket, no encoding.
    Embedded(Arc<omnia_runtime::Runtime>),
}

impl RuntimeClient {
    /// A client for the runtime at `address` (`host:port`, `http://host:port` or
    /// `unix:///path`). Nothing connects until the first call, so the gateway starts even when
    /// the runtime is not up yet, and a dropped connection is re-established on the next call.
    ///
    /// # Errors
    /// When `address` is none of those forms.
    pub fn new(address: &str, timeout: Duration) -> Result<Self, String> {
        let address = RuntimeAddress::parse(address)?;
        Ok(Self::from_transport(Http2Transport::new(address), timeout))
    }

    /// A client over a given transport (benches reach the runtime over an in-memory duplex).
    pub fn from_transport(transport: Http2Transport, timeout: Duration) -> Self {
        let origin = http::Uri::from_static(ORIGIN);
        Self {
            // Bodies are bounded by the gateway's own limit, not tonic's 4 MiB default. An
            // Omnia runtime may answer gzip-compressed, so gzip answers are accepted; requests
            // go out uncompressed, which every runtime reads.
            link: Link::Grpc(
                RuntimeServiceClient::with_origin(transport, origin)
                    .max_decoding_message_size(omnia_runtime::MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(omnia_runtime::MAX_MESSAGE_BYTES)
                    .accept_compressed(CompressionEncoding::Gzip),
            ),
            timeout,
        }
    }

    /// A client of `runtime` linked into this process. The request's metadata reaches it as it
    /// would over gRPC; the per-call timeout still applies.
    pub fn embedded(runtime: Arc<omnia_runtime::Runtime>, timeout: Duration) -> Self {
        Self {
            link: Link::Embedded(runtime),
            timeout,
        }
    }

    /// `Invoke`, bounded by the per-call timeout. A failure comes back as the error the caller
    /// will see (see [`failure`]).
    ///
    /// The timeout goes out as `grpc-timeout` only when it is not the default: a call that runs
    /// out of time is reset by the gateway either way (dropping the call resets its stream, which
    /// cancels it in the runtime), and one header less per call is one HPACK entry less to encode
    /// and decode on a path where HPACK shows in the profile.
    pub async fn invoke(
        &self,
        mut request: tonic::Request<InvocationRequest>,
    ) -> Result<InvocationResponse, GatewayError> {
        if self.timeout != DEFAULT_CALL_TIMEOUT {
            request.set_timeout(self.timeout);
        }
        let call = async {
            match &self.link {
                Link::Grpc(client) => client.clone().invoke(request).await,
                Link::Embedded(runtime) => runtime.invoke(request).await,
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(failure(&status, self.timeout)),
            Err(_) => Err(GatewayError::RuntimeTimeout {
                after: self.timeout,
            }),
        }
    }

    /// Opens a `Converse` stream: `messages` go to the runtime, its frames come back from the
    /// returned stream, which ends when the runtime ends it. `metadata` is the caller's identity
    /// (agent, namespace, session, user). No per-call timeout: a stream lives as long as its
    /// session; the caller bounds the silence it will wait through.
    ///
    /// # Errors
    /// The runtime's status when it refuses the stream (it does not serve the agent, or cannot
    /// be reached).
    pub async fn converse(
        &self,
        metadata: tonic::metadata::MetadataMap,
        messages: mpsc::Receiver<ClientMessage>,
    ) -> Result<BoxStream<'static, Result<ServerMessage, tonic::Status>>, tonic::Status> {
        match &self.link {
            Link::Grpc(client) => {
                let mut request = tonic::Request::new(ReceiverStream::new(messages));
                *request.metadata_mut() = metadata;
                let frames = client.clone().converse(request).await?.into_inner();
                Ok(frames.boxed())
            }
            Link::Embedded(runtime) => {
                let text = |key: &str| {
                    metadata
                        .get(key)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned)
                };
                let frames = runtime.converse_with(
                    text("x-omnia-agent-name").as_deref(),
                    text("x-omnia-session-id"),
                    ReceiverStream::new(messages).map(Ok),
                )?;
                Ok(ReceiverStream::new(frames).map(Ok).boxed())
            }
        }
    }

    /// Whether the runtime can resume `session_id` (`HasConversation`), within `deadline`.
    ///
    /// # Errors
    /// The runtime's status, or `DEADLINE_EXCEEDED` when it did not answer in time.
    pub async fn has_conversation(
        &self,
        metadata: tonic::metadata::MetadataMap,
        session_id: &str,
        deadline: Duration,
    ) -> Result<HasConversationResponse, tonic::Status> {
        let mut request = tonic::Request::new(HasConversationRequest {
            session_id: session_id.to_owned(),
        });
        *request.metadata_mut() = metadata;
        request.set_timeout(deadline);
        let call = async {
            match &self.link {
                Link::Grpc(client) => client.clone().has_conversation(request).await,
                Link::Embedded(runtime) => runtime.has_conversation(request).await,
            }
        };
        match tokio::time::timeout(deadline, call).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(
                "the runtime did not answer in time",
            )),
        }
    }

    /// Whether `Health` answers healthy within `deadline`.
    pub async fn healthy(&self, deadline: Duration) -> bool {
        let mut request = tonic::Request::new(HealthRequest {});
        request.set_timeout(deadline);
        let call = async {
            match &self.link {
                Link::Grpc(client) => client.clone().health(request).await,
                Link::Embedded(runtime) => runtime.health(request).await,
            }
        };
        matches!(
            tokio::time::timeout(deadline, call).await,
            Ok(Ok(response)) if response.get_ref().healthy
        )
    }
}

/// What a gRPC status from the runtime means to the caller. Only `INVALID_ARGUMENT` is the
/// caller's doing (the runtime says so when the input lacks a variable the prompt requires), and
/// its message is about that input, so the caller reads it. Every other status is the runtime's
/// failure: the caller learns its gRPC code, and the message (transport errors naming addresses)
/// becomes the logged cause. A model provider's failure, which our runtime marks with
/// `x-omnia-error-source: provider`, is the exception: its message is the provider's own
/// (summarised, never the key), which the caller needs to act on ("invalid x-api-key", a rate
/// limit), so the detail carries it, bounded to [`PROVIDER_MESSAGE_CHARS`]; so is an answer a
/// PromptPack validator refused (`validator`), whose message the pack wrote for the user.
fn failure(status: &tonic::Status, timeout: Duration) -> GatewayError {
    let code = status.code();
    let source = status
        .metadata()
        .get(omnia_runtime::ERROR_SOURCE_METADATA)
        .and_then(|source| source.to_str().ok());
    let said = match source {
        Some(omnia_runtime::ERROR_SOURCE_PROVIDER) => Some("the model provider failed"),
        // A PromptPack validator refused the answer; its message is written for the user.
        Some(omnia_runtime::ERROR_SOURCE_VALIDATOR) => Some("the answer was refused"),
        _ => None,
    };
    if let Some(said) = said {
        return GatewayError::RuntimeError {
            detail: format!(
                "{said} (gRPC code {code:?}): {}",
                bounded(status.message(), PROVIDER_MESSAGE_CHARS)
            ),
            cause: cause(status),
        };
    }
    let detail = match code {
        Code::InvalidArgument => {
            return GatewayError::InputInvalid {
                detail: format!("the function cannot use this input: {}", status.message()),
                errors: Violations::default(),
            };
        }
        // grpc-go answers an expired `grpc-timeout` with DEADLINE_EXCEEDED, tonic's server with
        // CANCELLED ("Timeout expired"); the gateway cancels calls for no other reason.
        Code::DeadlineExceeded | Code::Cancelled => {
            return GatewayError::RuntimeTimeout { after: timeout };
        }
        Code::Unavailable => "the runtime is unavailable",
        Code::NotFound => "the runtime does not serve this function",
        _ => "the runtime failed to run the function",
    };
    GatewayError::RuntimeError {
        detail: format!(
            "{detail} (gRPC code {code:?}); the gateway's log has the cause under this \
             invocation_id"
        ),
        cause: cause(status),
    }
}

/// The most of a provider's failure message a caller reads.
const PROVIDER_MESSAGE_CHARS: usize = 300;

/// `text` cut to at most `max` chars (on a char boundary), `...` marking a cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// The status's message and the chain of errors under it (a transport failure's message is
/// often just "transport error"; the address and the OS error are in its sources).
fn cause(status: &tonic::Status) -> String {
    let mut cause = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        cause.push_str(": ");
        cause.push_str(&error.to_string());
        source = error.source();
    }
    cause
}

/// Readiness as `/readyz` reports it.
#[derive(Debug, Default)]
pub struct Readiness {
    runtime_healthy: AtomicBool,
    draining: AtomicBool,
}

impl Readiness {
    /// Ready: the runtime answers and we are not draining.
    pub fn is_ready(&self) -> bool {
        self.runtime_healthy.load(Ordering::Acquire) && !self.is_draining()
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Shutdown has begun: report not ready from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Records the outcome of a runtime health probe; true when it changed.
    pub fn mark_runtime(&self, healthy: bool) -> bool {
        self.runtime_healthy.swap(healthy, Ordering::AcqRel) != healthy
    }

    /// Whether the runtime answered the last probe.
    pub fn runtime_healthy(&self) -> bool {
        self.runtime_healthy.load(Ordering::Acquire)
    }
}

/// Probes the runtime's `Health` until the process ends: every 250 ms while it is down (so the
/// pod turns ready quickly), every 5 s once it is up.
pub fn spawn_health_probe(
    client: RuntimeClient,
    readiness: Arc<Readiness>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let healthy = client.healthy(Duration::from_secs(1)).await;
            if readiness.mark_runtime(healthy) {
                tracing::info!(healthy, "runtime health changed");
            }
            let pause = if healthy { 5_000 } else { 250 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    })
}

//! The gateway's Tower stack, assembled in one place. Read it top to bottom as a request's path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use omnia_middleware::content_type::JsonContentType;
use omnia_middleware::header_limit::HeaderLimit;
use omnia_middleware::limit::BodyLimitLayer;
pub use omnia_middleware::load_shed::LoadShedLayer;
use omnia_middleware::method::AllowMethods;
use omnia_middleware::{BoxError, ResponseBody, ValidateRequestHeaderLayer, request_id};
use omnia_runtime::telemetry::{self, TraceHeaders};
use tower::{Layer, Service, ServiceBuilder};
use tracing::Instrument as _;

use crate::agent::{AgentService, is_agent_path};
use crate::function::openapi::DocsService;
use crate::function::{self, FunctionSpec};
use crate::media::MediaService;
use crate::metrics::{Connection, Metrics};
use crate::router::{FUNCTIONS_PREFIX, FunctionRouter, PathRouter, function_name};
use crate::runtime_client::RuntimeClient;

/// Limits that shape the stack.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, bytes (Omnia: 1 MiB).
    pub body: usize,
    /// Largest total header size, bytes.
    pub headers: usize,
    /// Function calls in flight beyond which new ones get 503 at once. A call counts once its
    /// body has arrived.
    pub max_in_flight: usize,
    /// How long a request body may take to arrive in full before the call is 408.
    pub body_timeout: Duration,
}

impl Default for Limits {
    /// Omnia's: 1 MiB bodies, 64 KiB headers, 10 s to read a body; 4096 calls in flight.
    fn default() -> Self {
        Self {
            body: omnia_middleware::limit::DEFAULT_BODY_LIMIT,
            headers: omnia_middleware::header_limit::DEFAULT_HEADER_LIMIT,
            max_in_flight: 4096,
            body_timeout: omnia_middleware::read_body::DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// The surfaces beside function calls: WebSocket agents, media and the functions' documents,
/// when served.
#[derive(Clone, Default)]
pub struct Surfaces {
    pub agents: Option<AgentService>,
    pub media: Option<MediaService>,
    /// The functions' OpenAPI documents.
    pub docs: Option<DocsService>,
}

/// Builds the facade's service for requests with body type `B` (hyper's `Incoming` when serving,
/// an in-memory body in benches and tests).
///
/// Every function of the stack takes its slot from `shed`, the in-flight budget; stacks built
/// with clones of one `shed` share it, as the facade's per-thread stacks do.
pub fn build<B>(
    functions: &[FunctionSpec],
    client: &RuntimeClient,
    limits: Limits,
    metrics: Arc<Metrics>,
    shed: &LoadShedLayer,
    surfaces: Surfaces,
) -> impl Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static
+ use<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + std::fmt::Display,
{
    // Each function takes its slot after auth and after its body has arrived (see function.rs),
    // so slow bodies hold no slot.
    let by_name: HashMap<String, function::FunctionService<B>> = functions
        .iter()
        .map(|spec| {
            let service = function::service(spec, client.clone(), limits.body_timeout, shed);
            (spec.name.clone(), service)
        })
        .collect();

    let function_calls = ServiceBuilder::new()
        // POST only, before anything reads the body.
        .layer(ValidateRequestHeaderLayer::custom(AllowMethods::post()))
        // Refuse a declared oversize body before reading it; cap chunked ones while streaming.
        .layer(BodyLimitLayer::new(limits.body))
        // A declared non-JSON body is refused before it is read.
        .layer(ValidateRequestHeaderLayer::custom(JsonContentType))
        // By name: that function's auth, body read, load shed, schemas and runtime call (see
        // function.rs).
        .service(FunctionRouter::new(by_name));

    ServiceBuilder::new()
        // Oversized header blocks get a JSON 431 before any other work.
        .layer(ValidateRequestHeaderLayer::custom(HeaderLimit::new(
            limits.headers,
        )))
        // Every response, errors included, carries the request id.
        .layer(request_id::layer())
        // Count and time everything, including requests refused below.
        .layer(MetricsLayer { metrics })
        .service(PathRouter::new(function_calls, surfaces))
}

/// Records request counts, latency and in-flight gauges against the agent named in the path,
/// and counts the request's connection under that agent.
#[derive(Debug, Clone)]
struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<Request<B>> for MetricsService<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // A WebSocket's upgrade is not a request of its agent's: its turns are (agent/).
        if is_agent_path(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let in_flight = self.metrics.start(
            function_name(request.uri().path()),
            request.extensions().get::<Connection>(),
        );
        let started = Instant::now();
        // The call's server span (none with tracing off), child of the caller's traceparent;
        // the runtime call (function.rs) passes on what `outgoing` gives.
        let incoming = TraceHeaders::from_headers(request.headers());
        let span = if request.uri().path().starts_with(FUNCTIONS_PREFIX) {
            telemetry::function_call_span(
                request.method().as_str(),
                request.uri().path(),
                incoming.as_ref(),
            )
        } else {
            tracing::Span::none()
        };
        if let Some(outgoing) = telemetry::outgoing(&span, incoming.as_ref()) {
            request.extensions_mut().insert(outgoing);
        }
        let future = self.inner.call(request);
        let recorded = span.clone();
        Box::pin(
            async move {
                let response = future.await?;
                let status = response.status().as_u16();
                in_flight.finish(status, started.elapsed());
                telemetry::record_http_status(&recorded, status);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

//! OpenTelemetry traces, as Omnia's runtime configures them (`OMNIA_TRACING_*`), for both
//! binaries: `omnia-runtime` here and `omnia-gateway`, which links this crate.
//!
//! ```text
//! OMNIA_TRACING_ENABLED      true | false (default false: no exporter, no spans of ours)
//! OMNIA_TRACING_ENDPOINT     OTLP/gRPC collector: host:port (plaintext) or http://host:port
//!                            (default localhost:4317)
//! OMNIA_TRACING_SAMPLE_RATE  0..1 (default 1): ParentBased(TraceIdRatioBased(rate))
//! OMNIA_TRACING_INSECURE     true (plaintext, what this build speaks) or unset
//! ```
//!
//! Spans are `tracing` spans that `tracing-opentelemetry` turns into OTel spans; their names and
//! kinds travel in `otel.name` / `otel.kind`. Every span helper here returns [`Span::none`] when
//! tracing is off, so the request path then pays one atomic load per would-be span.
//!
//! The spans: the gateway's `POST /functions/{name}` and `ws turn {agent}` (server), whose
//! context goes to the runtime as W3C `traceparent` / `tracestate` gRPC metadata (and, per turn,
//! in `ClientMessage.metadata`, since one `Converse` stream carries many turns); the runtime's
//! `invoke {agent}` and `turn {agent}` (server, children of that), `chat {model}` per provider
//! call (client, GenAI semantic conventions) and `execute_tool {name}` per tool call.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Array, StringValue, Value};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use tonic::metadata::{MetadataMap, MetadataValue};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The runtime's `service.name`.
pub const RUNTIME_SERVICE: &str = "omnia-runtime";

/// The gateway's `service.name` (Omnia calls its gateway the facade).
pub const FACADE_SERVICE: &str = "omnia-facade";

/// The `tracing` target of the spans made here: the OTel layer takes them, the log lines leave
/// them out (they would prefix every line inside them with their fields).
const TARGET: &str = "omnia_otel";

/// The W3C Trace Context header and metadata keys.
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// Longest `traceparent`/`tracestate` passed on: the W3C limits are 55 and 512 characters; a
/// longer value is no trace context, and bounding it keeps a caller from inflating every
/// runtime call it makes.
const MAX_TRACE_HEADER: usize = 1024;

/// How long shutdown waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Set once at start-up when an exporter is installed.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported (`OMNIA_TRACING_ENABLED=true` and [`init`] ran).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The tracing settings of the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The collector, as tonic dials it (`http://host:port`).
    pub endpoint: String,
    /// The share of new traces recorded (a caller's sampled flag decides for its own).
    pub sample_rate: f64,
}

impl Config {
    /// The settings of this process's environment; `None` when tracing is off.
    ///
    /// # Errors
    /// A message naming the variable whose value cannot be used.
    pub fn from_env() -> Result<Option<Config>, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings `lookup` gives (for tests).
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Config>, String> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if !flag("OMNIA_TRACING_ENABLED", var("OMNIA_TRACING_ENABLED"))?.unwrap_or(false) {
            return Ok(None);
        }
        // Omnia's operator sets INSECURE=true; false asks for TLS, which would be dropped here.
        if flag("OMNIA_TRACING_INSECURE", var("OMNIA_TRACING_INSECURE"))? == Some(false) {
            return Err(
                "OMNIA_TRACING_INSECURE=false asks for TLS to the collector, which this \
                        build does not speak; set it to true (plaintext) or leave it unset"
                    .to_owned(),
            );
        }
        let endpoint = endpoint(var("OMNIA_TRACING_ENDPOINT").as_deref())?;
        let sample_rate = match var("OMNIA_TRACING_SAMPLE_RATE") {
            None => 1.0,
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|rate| (0.0..=1.0).contains(rate))
                .ok_or_else(|| {
                    format!("OMNIA_TRACING_SAMPLE_RATE must be a number from 0 to 1, not {text:?}")
                })?,
        };
        Ok(Some(Config {
            endpoint,
            sample_rate,
        }))
    }
}

/// A `true`/`false` variable (`1`/`0` too, any case).
fn flag(name: &str, value: Option<String>) -> Result<Option<bool>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        _ => Err(format!("{name} must be true or false, not {value:?}")),
    }
}

/// `OMNIA_TRACING_ENDPOINT` as tonic dials it: a bare `host:port` (Omnia's form) is plaintext.
fn endpoint(value: Option<&str>) -> Result<String, String> {
    let value = value.map_or("localhost:4317", str::trim);
    let url = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let uri: http::Uri = url.parse().map_err(|e| {
        format!("OMNIA_TRACING_ENDPOINT is not host:port or a URL ({value:?}): {e}")
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "OMNIA_TRACING_ENDPOINT={value:?} asks for TLS, which this build does not speak: \
                 use host:port or http://host:port"
            ));
        }
        _ => {
            return Err(format!(
                "OMNIA_TRACING_ENDPOINT={value:?} must be host:port or http://host:port"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("OMNIA_TRACING_ENDPOINT={value:?} names no host"));
    }
    Ok(url)
}

/// The installed exporter; [`Telemetry::shutdown`] sends what is still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter. Call it inside the runtime whose
    /// handle [`init`] got (the export runs there), after the servers have drained.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK's shutdown blocks until its export thread is done, and that export runs on
        // this runtime: blocking a (possibly current-thread) runtime's own thread would stall it.
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "flushing the last spans failed"),
            Err(error) => tracing::warn!(%error, "flushing the last spans failed"),
        }
    }
}

/// Installs the process's `tracing` subscriber: log lines to `writer`, filtered by `RUST_LOG`
/// (default `info`), as before; and, when the environment turns tracing on, an OTLP exporter
/// for `service` whose exports run on `runtime`.
///
/// # Errors
/// A message naming the `OMNIA_TRACING_*` variable that cannot be used, or the exporter that
/// cannot be built.
pub fn init<W>(
    service: &'static str,
    writer: W,
    runtime: &tokio::runtime::Handle,
) -> Result<Telemetry, String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let config = Config::from_env()?;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let Some(config) = config else {
        // Exactly the subscriber the binaries had before tracing: nothing of ours on the path.
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(writer)
            .init();
        return Ok(Telemetry { provider: None });
    };
    let provider = provider(service, &config, runtime)?;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_filter(filter().and(filter_fn(|meta| meta.target() != TARGET)));
    // Our spans, and warnings and errors of our crates as events on them. RUST_LOG does not
    // apply: turning the logs down must not cut the traces.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(
            Targets::new()
                .with_target(TARGET, tracing::Level::TRACE)
                .with_target("omnia_runtime", tracing::Level::WARN)
                .with_target("omnia_gateway", tracing::Level::WARN),
        );
    Registry::default()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|e| format!("cannot install the tracing subscriber: {e}"))?;
    ENABLED.store(true, Ordering::Relaxed);
    tracing::info!(
        endpoint = %config.endpoint,
        sample_rate = config.sample_rate,
        service,
        "exporting OpenTelemetry traces over OTLP/gRPC"
    );
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// The tracer provider: a batch exporter to `config.endpoint`, sampling as configured.
fn provider(
    service: &'static str,
    config: &Config,
    runtime: &tokio::runtime::Handle,
) -> Result<SdkTracerProvider, String> {
    // tonic's lazily connected channel spawns its worker on the current runtime.
    let _entered = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(config.endpoint.clone())
        .build()
        .map_err(|e| {
            format!(
                "OMNIA_TRACING_ENDPOINT={}: cannot build the OTLP exporter: {e}",
                config.endpoint
            )
        })?;
    let exporter = OnRuntime {
        inner: Arc::new(exporter),
        runtime: runtime.clone(),
    };
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_rate)));
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}

/// Runs the OTLP exporter's calls on the Tokio runtime. The SDK's batch processor exports from a
/// thread of its own, outside any runtime, where tonic's response futures (timers, hyper's I/O)
/// cannot be polled.
#[derive(Debug)]
struct OnRuntime {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: tokio::runtime::Handle,
}

impl SpanExporter for OnRuntime {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let inner = self.inner.clone();
        let export = self.runtime.spawn(async move { inner.export(batch).await });
        async move {
            export
                .await
                .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string())))
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        // Called while the provider is built, before the exporter is shared.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// A W3C trace context as it travels: HTTP headers, gRPC metadata, or a turn's metadata map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeaders {
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceHeaders {
    /// From `lookup`'s `traceparent` (and `tracestate`); `None` without a usable traceparent.
    fn read<'a>(lookup: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        let bounded = |value: &'a str| {
            Some(value.trim()).filter(|v| !v.is_empty() && v.len() <= MAX_TRACE_HEADER)
        };
        let traceparent = lookup(TRACEPARENT).and_then(bounded)?;
        Some(Self {
            traceparent: traceparent.to_owned(),
            tracestate: lookup(TRACESTATE).and_then(bounded).map(str::to_owned),
        })
    }

    /// The context of an HTTP request's headers.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        Self::read(|key| headers.get(key).and_then(|v| v.to_str().ok()))
    }

    /// The context of a gRPC request's metadata.
    pub fn from_metadata(metadata: &MetadataMap) -> Option<Self> {
        Self::read(|key| metadata.get(key).and_then(|v| v.to_str().ok()))
    }

    /// The context of a turn's `ClientMessage.metadata`.
    pub fn from_map(map: &HashMap<String, String>) -> Option<Self> {
        Self::read(|key| map.get(key).map(String::as_str))
    }

    /// The `traceparent` value.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// Writes the context into gRPC metadata; a value metadata cannot carry is left out.
    pub fn write_metadata(&self, metadata: &mut MetadataMap) {
        if let Ok(value) = MetadataValue::try_from(self.traceparent.as_str()) {
            metadata.insert(TRACEPARENT, value);
        }
        if let Some(state) = &self.tracestate
            && let Ok(value) = MetadataValue::try_from(state.as_str())
        {
            metadata.insert(TRACESTATE, value);
        }
    }

    /// Writes the context into a turn's metadata map.
    pub fn write_map<M: Extend<(String, String)>>(&self, map: &mut M) {
        map.extend(std::iter::once((
            TRACEPARENT.to_owned(),
            self.traceparent.clone(),
        )));
        if let Some(state) = &self.tracestate {
            map.extend(std::iter::once((TRACESTATE.to_owned(), state.clone())));
        }
    }

    /// The remote span this names, as a parent.
    fn parent(&self) -> opentelemetry::Context {
        TraceContextPropagator::new().extract(self)
    }

    /// The context of `span`, to pass on; `None` when it has none (tracing off, not sampled
    /// out: a sampled-out span still passes its trace on, flagged so).
    fn of(span: &Span) -> Option<Self> {
        let mut headers = Self::default();
        TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
        (!headers.traceparent.is_empty()).then_some(headers)
    }
}

impl Extractor for TraceHeaders {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(&self.traceparent),
            TRACESTATE => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

impl Injector for TraceHeaders {
    fn set(&mut self, key: &str, value: String) {
        match key {
            TRACEPARENT => self.traceparent = value,
            TRACESTATE => self.tracestate = Some(value).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
}

/// What a gateway passes to the runtime for work done under `span`: the span's own context when
/// tracing is on; otherwise the caller's `incoming` context unchanged, so a runtime that traces
/// (Omnia's) still joins the caller's trace.
pub fn outgoing(span: &Span, incoming: Option<&TraceHeaders>) -> Option<TraceHeaders> {
    if enabled()
        && !span.is_none()
        && let Some(own) = TraceHeaders::of(span)
    {
        return Some(own);
    }
    incoming.cloned()
}

/// Makes `span` a child of the remote span `parent` names (no-op without one).
fn adopt(span: &Span, parent: Option<&TraceHeaders>) {
    if let Some(parent) = parent {
        // Only fails when the OTel layer is absent, and then there is nothing to parent.
        let _ = span.set_parent(parent.parent());
    }
}

/// The gateway's server span of one function call (`POST /functions/{name}`), child of the
/// caller's `traceparent`.
pub fn function_call_span(method: &str, path: &str, parent: Option<&TraceHeaders>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let route = "/functions/{name}";
    let span = tracing::info_span!(
        target: TARGET,
        "http_request",
        otel.name = format!("{method} {route}").as_str(),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = route,
        url.path = path,
        http.response.status_code = tracing::field::Empty,
    );
    adopt(&span, parent);
    span
}

/// Records the status of the response `span` answered with (5xx marks it failed).
pub fn record_http_status(span: &Span, status: u16) {
    if span.is_none() {
        return;
    }
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

/// The gateway's server span of one WebSocket turn of `agent`, child of the `traceparent` the
/// client sent with its upgrade request.
pub fn ws_turn_span(agent: &str, session: &str, parent: Option<&TraceHeaders>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        "ws_turn",
        otel.name = format!("ws turn {agent}").as_str(),
        otel.kind = "server",
        gen_ai.agent.name = agent,
        gen_ai.conversation.id = session,
    );
    adopt(&span, parent);
    span
}

/// The runtime's span of one `Invoke` of `agent`, child of the caller's `traceparent`.
pub fn invoke_span(agent: &str, invocation_id: &str, parent: Option<&TraceHeaders>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        "invoke",
        otel.name = format!("invoke {agent}").as_str(),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = "omnia.runtime.v1.RuntimeService",
        rpc.method = "Invoke",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = agent,
        omnia.invocation_id = invocation_id,
    );
    adopt(&span, parent);
    span
}

/// The runtime's span of one conversation turn of `agent`, child of the `traceparent` in the
/// turn's `ClientMessage.metadata` (the message's own, else its stream's; see service.rs).
pub fn turn_span(agent: &str, session: &str, metadata: &HashMap<String, String>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let parent = TraceHeaders::from_map(metadata);
    let parent = parent.as_ref();
    let span = tracing::info_span!(
        target: TARGET,
        "turn",
        otel.name = format!("turn {agent}").as_str(),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = "omnia.runtime.v1.RuntimeService",
        rpc.method = "Converse",
        gen_ai.agent.name = agent,
        gen_ai.conversation.id = session,
    );
    adopt(&span, parent);
    span
}

/// One provider call (GenAI semantic conventions): `chat {model}`, a child of the current span.
/// `system` is `gen_ai.system` (openai, anthropic, gemini, mock, echo, ...).
pub fn chat_span(system: &'static str, model: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let name = if model.is_empty() {
        "chat".to_owned()
    } else {
        format!("chat {model}")
    };
    tracing::info_span!(
        target: TARGET,
        "chat",
        otel.name = name.as_str(),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        gen_ai.operation.name = "chat",
        gen_ai.system = system,
        gen_ai.request.model = model,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Records a provider call's token counts on its span.
pub fn record_usage(span: &Span, input_tokens: u32, output_tokens: u32) {
    if span.is_none() {
        return;
    }
    // i64: tracing-opentelemetry turns u64 fields into strings.
    span.record("gen_ai.usage.input_tokens", i64::from(input_tokens));
    span.record("gen_ai.usage.output_tokens", i64::from(output_tokens));
}

/// Records why the model stopped (`gen_ai.response.finish_reasons`, an array of strings).
pub fn record_finish_reasons(span: &Span, reasons: &[&str]) {
    // Callers may pass `Span::current()`, which is some span even with tracing off.
    if !enabled() || span.is_none() {
        return;
    }
    let reasons: Vec<StringValue> = reasons
        .iter()
        .map(|reason| StringValue::from((*reason).to_owned()))
        .collect();
    span.set_attribute(
        "gen_ai.response.finish_reasons",
        Value::Array(Array::String(reasons)),
    );
}

/// Marks `span` failed with `error` (its message becomes the span status description).
pub fn record_error(span: &Span, kind: &str, error: &dyn std::fmt::Display) {
    if span.is_none() {
        return;
    }
    span.record("error.type", kind);
    span.set_status(Status::error(error.to_string()));
}

/// One tool call: `execute_tool {name}`, a child of the current span (the turn). `side` says
/// who runs it: `client` (sent over the conversation and awaited) or `server` (a
/// `ToolExecutor`, which should run each call inside this span).
pub fn tool_span(name: &str, call_id: &str, side: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "execute_tool",
        otel.name = format!("execute_tool {name}").as_str(),
        otel.kind = "internal",
        otel.status_code = tracing::field::Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = name,
        gen_ai.tool.call.id = call_id,
        omnia.tool.side = side,
        error.type = tracing::field::Empty,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Option<Config>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn tracing_is_off_unless_enabled() {
        assert_eq!(config(&[]), Ok(None));
        assert_eq!(config(&[("OMNIA_TRACING_ENABLED", "false")]), Ok(None));
        // Nothing else is read while it is off, as Omnia reads it.
        assert_eq!(
            config(&[
                ("OMNIA_TRACING_ENABLED", "false"),
                ("OMNIA_TRACING_SAMPLE_RATE", "lots")
            ]),
            Ok(None)
        );
    }

    #[test]
    fn a_bare_host_and_port_is_plaintext_and_the_rate_defaults_to_one() {
        let on = config(&[
            ("OMNIA_TRACING_ENABLED", "true"),
            ("OMNIA_TRACING_ENDPOINT", "otel-collector:4317"),
            ("OMNIA_TRACING_INSECURE", "true"),
        ]);
        assert_eq!(
            on,
            Ok(Some(Config {
                endpoint: "http://otel-collector:4317".to_owned(),
                sample_rate: 1.0
            }))
        );
        let default = config(&[("OMNIA_TRACING_ENABLED", "TRUE")])
            .unwrap()
            .unwrap();
        assert_eq!(default.endpoint, "http://localhost:4317");
        let url = config(&[
            ("OMNIA_TRACING_ENABLED", "1"),
            ("OMNIA_TRACING_ENDPOINT", "http://127.0.0.1:14317"),
            ("OMNIA_TRACING_SAMPLE_RATE", "0.25"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(url.endpoint, "http://127.0.0.1:14317");
        assert_eq!(url.sample_rate, 0.25);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (vars, named) in [
            (
                vec![("OMNIA_TRACING_ENABLED", "yes")],
                "OMNIA_TRACING_ENABLED",
            ),
            (
                vec![
                    ("OMNIA_TRACING_ENABLED", "true"),
                    ("OMNIA_TRACING_SAMPLE_RATE", "1.5"),
                ],
                "OMNIA_TRACING_SAMPLE_RATE",
            ),
            (
                vec![
                    ("OMNIA_TRACING_ENABLED", "true"),
                    ("OMNIA_TRACING_SAMPLE_RATE", "half"),
                ],
                "OMNIA_TRACING_SAMPLE_RATE",
            ),
            (
                vec![
                    ("OMNIA_TRACING_ENABLED", "true"),
                    ("OMNIA_TRACING_ENDPOINT", "https://collector:4317"),
                ],
                "OMNIA_TRACING_ENDPOINT",
            ),
            (
                vec![
                    ("OMNIA_TRACING_ENABLED", "true"),
                    ("OMNIA_TRACING_ENDPOINT", "grpc://collector:4317"),
                ],
                "OMNIA_TRACING_ENDPOINT",
            ),
            (
                vec![
                    ("OMNIA_TRACING_ENABLED", "true"),
                    ("OMNIA_TRACING_INSECURE", "false"),
                ],
                "OMNIA_TRACING_INSECURE",
            ),
            (
                vec![
                    ("OMNIA_TRACING_ENABLED", "true"),
                    ("OMNIA_TRACING_INSECURE", "maybe"),
                ],
                "OMNIA_TRACING_INSECURE",
            ),
        ] {
            let error = config(&vars).unwrap_err();
            assert!(error.contains(named), "{vars:?}: {error}");
        }
    }

    #[test]
    fn trace_headers_travel_between_headers_metadata_and_maps() {
        let mut headers = http::HeaderMap::new();
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        headers.insert("traceparent", parent.parse().unwrap());
        headers.insert("tracestate", "vendor=1".parse().unwrap());
        let trace = TraceHeaders::from_headers(&headers).unwrap();
        assert_eq!(trace.traceparent(), parent);

        let mut metadata = MetadataMap::new();
        trace.write_metadata(&mut metadata);
        assert_eq!(TraceHeaders::from_metadata(&metadata), Some(trace.clone()));

        let mut map = HashMap::new();
        trace.write_map(&mut map);
        assert_eq!(TraceHeaders::from_map(&map), Some(trace.clone()));

        // Tracing is off in unit tests: the caller's context passes on unchanged.
        assert_eq!(outgoing(&Span::none(), Some(&trace)), Some(trace));
        assert_eq!(TraceHeaders::from_headers(&http::HeaderMap::new()), None);
        let mut long = http::HeaderMap::new();
        long.insert("traceparent", "0".repeat(2000).parse().unwrap());
        assert_eq!(TraceHeaders::from_headers(&long), None);
    }
}

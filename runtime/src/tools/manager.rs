//! The Tool Manager: an agent's tools from its ToolRegistry, each with the schema its arguments
//! are checked against, its handler's timeout, its handler's circuit breaker and the adapter
//! that calls it.
//!
//! Everything that can be wrong with a registry (a schema that does not compile, a header that
//! is not a header) is found by [`ToolManager::new`], at start-up; a call then fails only for
//! reasons the model can read and act on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use omnia_api::{HandlerKind, ToolHandler, ToolRegistry};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::Instant;

use super::grpc::GrpcAdapter;
use super::http::HttpAdapter;
use super::{ClientTool, ToolContext, ToolExecutor};
use crate::provider::{ToolCallRequest, ToolSpec};

/// Consecutive failures of a handler that open its circuit (issue 15).
pub(crate) const BREAKER_FAILURES: u32 = 5;
/// How long an open circuit refuses calls before one probe call may try the handler again.
pub(crate) const BREAKER_COOL_DOWN: Duration = Duration::from_secs(30);
/// Schema violations quoted to the model; the rest are counted, so a message stays readable.
const QUOTED_VIOLATIONS: usize = 5;

/// Why a tool call failed. The `Display` is what the model reads, so it says what happened in
/// terms the model can act on, and never carries a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ToolError {
    /// The arguments are not a JSON object.
    #[error("the arguments of `{tool}` are not a JSON object: {reason}")]
    Arguments { tool: String, reason: String },
    /// The arguments break the tool's `inputSchema`.
    #[error("the arguments of `{tool}` do not match its input schema: {violations}")]
    Invalid { tool: String, violations: String },
    /// The handler failed too often lately; calls are refused until it cools down.
    #[error(
        "the tool `{tool}` is unavailable: its handler `{handler}` failed {failures} times in a \
         row, so calls are refused for {} s; try again later or do without it",
        retry_in.as_secs().max(1)
    )]
    CircuitOpen {
        tool: String,
        handler: String,
        failures: u32,
        retry_in: Duration,
    },
    /// The call did not finish in time (the handler's timeout or the turn's budget).
    #[error("the tool `{tool}` did not answer within {} ms", after.as_millis())]
    Timeout { tool: String, after: Duration },
    /// The service answered with a non-2xx status.
    #[error("the tool `{tool}` failed with HTTP status {status}: {excerpt}")]
    Status {
        tool: String,
        status: u16,
        excerpt: String,
    },
    /// The service could not be reached, or its answer broke off.
    #[error("the tool `{tool}` could not be reached: {reason}")]
    Unreachable { tool: String, reason: String },
    /// The answer is larger than the runtime reads.
    #[error(
        "the tool `{tool}` answered with more than {limit} bytes, more than the runtime reads; \
         ask for less (a narrower query, fewer fields)"
    )]
    TooLarge { tool: String, limit: usize },
    /// The request could not be built from the model's arguments (a missing template
    /// argument, a value not valid in a header or a path): the model's to fix.
    #[error("the tool `{tool}` cannot be called with these arguments: {reason}")]
    BadRequest { tool: String, reason: String },
    /// The tool ran and says this call failed (gRPC `is_error`): an answer, not a sick service.
    #[error("the tool `{tool}` reported an error: {message}")]
    Reported { tool: String, message: String },
    /// Anything else the adapter reports.
    #[error("the tool `{tool}` failed: {reason}")]
    Failed { tool: String, reason: String },
}

impl ToolError {
    /// Whether this failure says the handler is unwell (and counts towards opening its
    /// circuit), rather than that this one call was wrong: bad arguments and client errors
    /// (4xx) are the model's to fix, and a healthy service answers them.
    fn counts_against_handler(&self) -> bool {
        match self {
            ToolError::Timeout { .. }
            | ToolError::Unreachable { .. }
            | ToolError::Failed { .. } => true,
            ToolError::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            ToolError::Arguments { .. }
            | ToolError::Invalid { .. }
            | ToolError::CircuitOpen { .. }
            | ToolError::Reported { .. }
            | ToolError::BadRequest { .. }
            | ToolError::TooLarge { .. } => false,
        }
    }
}

/// One call as an adapter sees it: the arguments already checked against the schema.
#[derive(Debug)]
pub(crate) struct ToolInvocation<'a> {
    /// The tool's name as the model called it.
    pub tool: &'a str,
    /// A JSON object that satisfies the tool's `inputSchema`.
    pub arguments: &'a Value,
    pub context: ToolContext<'a>,
    /// The model's id for this call (`x-omnia-tool-call-id`).
    pub call_id: &'a str,
    /// When the call must be over: the handler's timeout or the turn's budget, whichever comes
    /// first. Adapters do not start a retry they cannot finish by then.
    pub deadline: Instant,
}

/// How the tools of one handler type are called.
pub(crate) trait Adapter: Send + Sync + std::fmt::Debug {
    /// Runs one call: the result as text for the model (JSON stays JSON), or why it failed.
    fn call<'a>(&'a self, call: &'a ToolInvocation<'a>)
    -> BoxFuture<'a, Result<String, ToolError>>;
}

/// Why a ToolRegistry cannot be used; found at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ToolRegistry `{registry}`, handler `{handler}`, {field}: {message}")]
pub struct ToolBuildError {
    /// The ToolRegistry, `namespace/name`.
    pub registry: String,
    /// The handler at fault.
    pub handler: String,
    /// The field at fault, as the manifest spells it (`httpConfig.headers`, ...).
    pub field: String,
    pub message: String,
}

/// Where one handler's failures are counted.
#[derive(Debug)]
struct Breaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    /// Failures since the last success.
    failures: u32,
    /// While set, the circuit is open until then; after it, one probe call is let through.
    open_until: Option<Instant>,
    /// A probe call is in flight: the others still fail fast.
    probing: bool,
}

/// Leave to make one call through a breaker; dropped unrecorded (the call was cancelled), it
/// frees the probe slot so the circuit cannot stay half-open for ever.
struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Breaker {
    fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            state: Mutex::new(BreakerState::default()),
        }
    }

    /// A permit, or how long the circuit stays open.
    fn admit(&self) -> Result<Permit<'_>, (u32, Duration)> {
        let mut state = self.state.lock();
        let mut probe = false;
        if let Some(until) = state.open_until {
            let now = Instant::now();
            if now < until {
                return Err((state.failures, until - now));
            }
            if state.probing {
                // The probe has not come back yet: as good as open.
                return Err((state.failures, Duration::ZERO));
            }
            state.probing = true;
            probe = true;
        }
        Ok(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }
}

impl Permit<'_> {
    fn record(mut self, healthy: bool) {
        self.recorded = true;
        let breaker = self.breaker;
        let mut state = breaker.state.lock();
        if self.probe {
            state.probing = false;
        }
        if healthy {
            state.failures = 0;
            state.open_until = None;
            return;
        }
        state.failures = state.failures.saturating_add(1);
        // A failed probe opens the circuit again at once; otherwise it takes `threshold`.
        if self.probe || state.failures >= breaker.threshold {
            state.open_until = Some(Instant::now() + breaker.cool_down);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            self.breaker.state.lock().probing = false;
        }
    }
}

/// One server-side tool.
struct Entry {
    handler: String,
    validator: jsonschema::Validator,
    timeout: Duration,
    adapter: Arc<dyn Adapter>,
    breaker: Arc<Breaker>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("handler", &self.handler)
            .field("timeout", &self.timeout)
            .field("adapter", &self.adapter)
            .finish_non_exhaustive()
    }
}

/// The executor of an agent's ToolRegistry: its http and grpc (and, as their adapters land, mcp
/// and openapi) tools run here; its client tools are described to the client.
#[derive(Debug)]
pub struct ToolManager {
    specs: Vec<ToolSpec>,
    tools: HashMap<String, Entry>,
    clients: HashMap<String, ClientTool>,
}

impl ToolManager {
    /// The tools of `registry`, with the default circuit breaker (5 failures, 30 s).
    pub fn new(registry: &ToolRegistry) -> Result<Self, ToolBuildError> {
        Self::with_breaker(registry, BREAKER_FAILURES, BREAKER_COOL_DOWN)
    }

    /// The tools of `registry`, each handler's circuit opening after `failures` consecutive
    /// failures for `cool_down` (tests shorten it).
    pub fn with_breaker(
        registry: &ToolRegistry,
        failures: u32,
        cool_down: Duration,
    ) -> Result<Self, ToolBuildError> {
        let mut manager = ToolManager {
            specs: Vec::new(),
            tools: HashMap::new(),
            clients: HashMap::new(),
        };
        let registry_name = format!("{}/{}", registry.namespace, registry.name);
        for handler in &registry.handlers {
            let error = |field: &str, message: String| ToolBuildError {
                registry: registry_name.clone(),
                handler: handler.name.clone(),
                field: field.to_owned(),
                message,
            };
            let adapter: Option<Arc<dyn Adapter>> = match &handler.kind {
                HandlerKind::Http(http) => Some(Arc::new(
                    HttpAdapter::new(&handler.name, http).map_err(|(f, m)| error(f, m))?,
                )),
                HandlerKind::Grpc(grpc) => Some(Arc::new(
                    GrpcAdapter::new(grpc).map_err(|(f, m)| error(f, m))?,
                )),
                HandlerKind::Client(_) => None,
                HandlerKind::Mcp(_) | HandlerKind::OpenApi(_) => {
                    // Their adapters come later; the other handlers still work meanwhile.
                    tracing::warn!(
                        registry = %registry_name,
                        handler = %handler.name,
                        kind = kind_name(&handler.kind),
                        "this build has no adapter for the handler's type: its tools are not \
                         offered"
                    );
                    continue;
                }
            };
            let Some(tool) = &handler.tool else {
                return Err(error(
                    "tool",
                    "this handler type needs its tool defined (name, description, inputSchema)"
                        .to_owned(),
                ));
            };
            if manager.specs.iter().any(|s| s.name == tool.name) {
                return Err(error(
                    "tool.name",
                    format!("another handler already defines the tool `{}`", tool.name),
                ));
            }
            let validator = omnia_api::json_schema_validator(&tool.input_schema).map_err(|e| {
                error(
                    "tool.inputSchema",
                    format!("the schema does not compile: {e}"),
                )
            })?;
            manager.specs.push(ToolSpec {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.input_schema.clone(),
            });
            match (adapter, &handler.kind) {
                (Some(adapter), _) => {
                    manager.tools.insert(
                        tool.name.clone(),
                        entry(handler, validator, adapter, failures, cool_down),
                    );
                }
                (None, HandlerKind::Client(client)) => {
                    manager.clients.insert(
                        tool.name.clone(),
                        ClientTool {
                            consent_message: client.consent_message.clone(),
                            categories: client.categories.clone(),
                        },
                    );
                }
                (None, _) => {}
            }
        }
        Ok(manager)
    }

    /// Runs one call: checks its arguments, asks its handler's breaker, and calls its adapter
    /// within the handler's timeout and the turn's budget.
    async fn run(
        &self,
        call: &ToolCallRequest,
        context: ToolContext<'_>,
    ) -> Result<String, ToolError> {
        let tool = call.name.as_str();
        let Some(entry) = self.tools.get(tool) else {
            return Err(ToolError::Failed {
                tool: tool.to_owned(),
                reason: "no such server-side tool is configured".to_owned(),
            });
        };
        let arguments = arguments(tool, &call.arguments_json)?;
        let violations: Vec<String> = entry
            .validator
            .iter_errors(&arguments)
            .map(|e| {
                let at = e.instance_path().to_string();
                // A violation quotes the offending value: a huge argument must not come back
                // to the model whole, several times over.
                let said = bounded(&e.to_string(), VIOLATION_CHARS);
                format!("{}: {said}", if at.is_empty() { "/" } else { &at })
            })
            .collect();
        if !violations.is_empty() {
            let mut listed = violations[..violations.len().min(QUOTED_VIOLATIONS)].join("; ");
            if violations.len() > QUOTED_VIOLATIONS {
                listed.push_str(&format!(
                    " (and {} more)",
                    violations.len() - QUOTED_VIOLATIONS
                ));
            }
            return Err(ToolError::Invalid {
                tool: tool.to_owned(),
                violations: listed,
            });
        }
        let permit =
            entry
                .breaker
                .admit()
                .map_err(|(failures, retry_in)| ToolError::CircuitOpen {
                    tool: tool.to_owned(),
                    handler: entry.handler.clone(),
                    failures,
                    retry_in,
                })?;
        let started = Instant::now();
        let mut deadline = started + entry.timeout;
        if let Some(turn) = context.deadline {
            deadline = deadline.min(turn);
        }
        let invocation = ToolInvocation {
            tool,
            arguments: &arguments,
            context,
            call_id: &call.id,
            deadline,
        };
        // Whether the turn's budget, not the handler's own timeout, bounds this call.
        let turn_limited = deadline < started + entry.timeout;
        let result = match tokio::time::timeout_at(deadline, entry.adapter.call(&invocation)).await
        {
            Ok(result) => result,
            Err(_) => Err(ToolError::Timeout {
                tool: tool.to_owned(),
                after: deadline - started,
            }),
        };
        match &result {
            // A call the turn's budget cut short says nothing about the handler's health: the
            // permit is released without a verdict.
            Err(ToolError::Timeout { .. }) if turn_limited => drop(permit),
            _ => permit.record(
                !result
                    .as_ref()
                    .is_err_and(ToolError::counts_against_handler),
            ),
        }
        result
    }
}

fn entry(
    handler: &ToolHandler,
    validator: jsonschema::Validator,
    adapter: Arc<dyn Adapter>,
    failures: u32,
    cool_down: Duration,
) -> Entry {
    Entry {
        handler: handler.name.clone(),
        validator,
        timeout: handler.timeout,
        adapter,
        breaker: Arc::new(Breaker::new(failures, cool_down)),
    }
}

/// The model's arguments as a JSON object; no arguments at all is an empty one.
fn arguments(tool: &str, json: &str) -> Result<Value, ToolError> {
    if json.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let failed = |reason: String| ToolError::Arguments {
        tool: tool.to_owned(),
        reason,
    };
    match serde_json::from_str::<Value>(json) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(failed(format!("got {}", json_kind(&other)))),
        Err(e) => Err(failed(format!("they are not JSON ({e})"))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn kind_name(kind: &HandlerKind) -> &'static str {
    match kind {
        HandlerKind::Http(_) => "http",
        HandlerKind::OpenApi(_) => "openapi",
        HandlerKind::Grpc(_) => "grpc",
        HandlerKind::Mcp(_) => "mcp",
        HandlerKind::Client(_) => "client",
    }
}

impl ToolExecutor for ToolManager {
    fn tools(&self) -> Vec<ToolSpec> {
        self.specs.clone()
    }

    fn runs(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    fn client_tool(&self, name: &str) -> Option<ClientTool> {
        self.clients.get(name).cloned()
    }

    fn execute<'a>(
        &'a self,
        call: &'a ToolCallRequest,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { self.run(call, context).await.map_err(|e| e.to_string()) })
    }
}

/// The most of one schema violation's message the model reads.
const VIOLATION_CHARS: usize = 200;

/// `text` cut to at most `max` chars on a char boundary, `...` marking a cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_half_opens_and_closes() {
        let breaker = Breaker::new(2, Duration::from_secs(30));
        breaker.admit().map(|p| p.record(false)).ok();
        assert!(breaker.admit().is_ok(), "one failure leaves it closed");
        breaker.admit().map(|p| p.record(false)).ok();
        breaker.admit().map(|p| p.record(false)).ok();
        assert!(breaker.admit().is_err(), "open after the threshold");
        tokio::time::advance(Duration::from_secs(31)).await;
        let probe = breaker.admit();
        assert!(probe.is_ok(), "half-open after the cool-down");
        assert!(breaker.admit().is_err(), "one probe at a time");
        probe.map(|p| p.record(false)).ok();
        assert!(breaker.admit().is_err(), "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(31)).await;
        breaker.admit().map(|p| p.record(true)).ok();
        assert!(
            breaker.admit().is_ok() && breaker.admit().is_ok(),
            "closed after a success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_frees_the_slot() {
        let breaker = Breaker::new(1, Duration::from_secs(1));
        breaker.admit().map(|p| p.record(false)).ok();
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(breaker.admit());
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert!(arguments("t", "").is_ok());
        assert!(arguments("t", r#"{"a": 1}"#).is_ok());
        let err = arguments("t", "[1]").map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("an array"), "{err}");
        let err = arguments("t", "{oops").map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }
}

//! The Tool Manager: an agent's tools from its ToolRegistry, each with the schema its arguments
//! are checked against, its handler's timeout, its handler's circuit breaker and the adapter
//! that calls it.
//!
//! Everything that can be wrong with a registry (a schema that does not compile, a header that
//! is not a header) is found by [`ToolManager::new`], at start-up; a call then fails only for
//! reasons the model can read and act on.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use omnia_api::{HandlerKind, ToolRegistry};
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

    /// The tools the handler's server offers (MCP `tools/list`, an OpenAPI document's
    /// operations, gRPC `ListTools`), for handlers whose tools the registry does not spell out;
    /// asked once at start-up, to be answered by `deadline`. The error says why the server
    /// could not be asked, for the handler's `Degraded` report.
    fn discover(&self, _deadline: Instant) -> BoxFuture<'_, Result<Vec<FoundTool>, String>> {
        Box::pin(async { Err("this handler type does not list its tools".to_owned()) })
    }
}

/// A tool a handler's server describes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FoundTool {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments; checked before each call like a registry's own.
    pub input_schema: Value,
}

/// One handler of an agent's ToolRegistry as the runtime found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerReport {
    /// The ToolRegistry, `namespace/name`.
    pub registry: String,
    pub handler: String,
    /// `http`, `grpc`, `mcp`, `openapi` or `client`.
    pub kind: &'static str,
    pub state: HandlerState,
    /// The tools it offers the model, in the order found.
    pub tools: Vec<String>,
    /// Whether the tools were asked of its server rather than written in the registry.
    pub discovered: bool,
}

/// Whether a handler's tools can be offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerState {
    /// Its tools are offered (a registry's own tools are, from start-up).
    Ready,
    /// Its server has not been asked yet (the runtime was not connected).
    Pending,
    /// Its tools are not offered, for this reason; the other handlers work.
    Degraded(String),
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

/// The executor of an agent's ToolRegistry: its http, grpc, mcp and openapi tools run here;
/// its client tools are described to the client.
#[derive(Debug)]
pub struct ToolManager {
    registry: String,
    /// The tools the registry spells out.
    specs: Vec<ToolSpec>,
    tools: HashMap<String, Entry>,
    clients: HashMap<String, ClientTool>,
    /// Handlers whose tools their servers list, asked by [`ToolExecutor::discover`].
    pending: Vec<Pending>,
    /// What discovery found; set once.
    discovered: OnceLock<Discovered>,
    reports: Mutex<Vec<HandlerReport>>,
}

/// A handler waiting to be asked for its tools.
#[derive(Debug)]
struct Pending {
    handler: String,
    kind: &'static str,
    timeout: Duration,
    adapter: Arc<dyn Adapter>,
    breaker: Arc<Breaker>,
}

#[derive(Debug, Default)]
struct Discovered {
    specs: Vec<ToolSpec>,
    tools: HashMap<String, Entry>,
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
        let registry_name = format!("{}/{}", registry.namespace, registry.name);
        let mut manager = ToolManager {
            registry: registry_name.clone(),
            specs: Vec::new(),
            tools: HashMap::new(),
            clients: HashMap::new(),
            pending: Vec::new(),
            discovered: OnceLock::new(),
            reports: Mutex::new(Vec::new()),
        };
        let mut reports = Vec::new();
        for handler in &registry.handlers {
            let error = |field: &str, message: String| ToolBuildError {
                registry: registry_name.clone(),
                handler: handler.name.clone(),
                field: field.to_owned(),
                message,
            };
            let kind = kind_name(&handler.kind);
            let report =
                |state: HandlerState, tools: Vec<String>, discovered: bool| HandlerReport {
                    registry: registry_name.clone(),
                    handler: handler.name.clone(),
                    kind,
                    state,
                    tools,
                    discovered,
                };
            let adapter: Arc<dyn Adapter> = match &handler.kind {
                HandlerKind::Http(http) => {
                    Arc::new(HttpAdapter::new(&handler.name, http).map_err(|(f, m)| error(f, m))?)
                }
                HandlerKind::Grpc(grpc) => {
                    Arc::new(GrpcAdapter::new(grpc).map_err(|(f, m)| error(f, m))?)
                }
                HandlerKind::Mcp(mcp) => Arc::new(
                    super::mcp::McpAdapter::new(&handler.name, mcp)
                        .map_err(|(f, m)| error(f, m))?,
                ),
                HandlerKind::OpenApi(openapi) => Arc::new(
                    super::openapi::OpenApiAdapter::new(&handler.name, openapi)
                        .map_err(|(f, m)| error(f, m))?,
                ),
                HandlerKind::Client(client) => {
                    let tool = handler
                        .tool
                        .as_ref()
                        .ok_or_else(|| error("tool", NEEDS_TOOL.to_owned()))?;
                    manager.define(tool).map_err(|(f, m)| error(f, m))?;
                    manager.clients.insert(
                        tool.name.clone(),
                        ClientTool {
                            consent_message: client.consent_message.clone(),
                            categories: client.categories.clone(),
                        },
                    );
                    reports.push(report(HandlerState::Ready, vec![tool.name.clone()], false));
                    continue;
                }
            };
            let breaker = Arc::new(Breaker::new(failures, cool_down));
            // MCP and OpenAPI handlers always list their tools; a gRPC one does when the
            // registry does not define its tool.
            let tool = match (&handler.kind, &handler.tool) {
                (HandlerKind::Mcp(_) | HandlerKind::OpenApi(_), _)
                | (HandlerKind::Grpc(_), None) => {
                    manager.pending.push(Pending {
                        handler: handler.name.clone(),
                        kind,
                        timeout: handler.timeout,
                        adapter,
                        breaker,
                    });
                    reports.push(report(HandlerState::Pending, Vec::new(), true));
                    continue;
                }
                (_, Some(tool)) => tool,
                (_, None) => return Err(error("tool", NEEDS_TOOL.to_owned())),
            };
            let validator = manager.define(tool).map_err(|(f, m)| error(f, m))?;
            manager.tools.insert(
                tool.name.clone(),
                Entry {
                    handler: handler.name.clone(),
                    validator,
                    timeout: handler.timeout,
                    adapter,
                    breaker,
                },
            );
            reports.push(report(HandlerState::Ready, vec![tool.name.clone()], false));
        }
        *manager.reports.get_mut() = reports;
        Ok(manager)
    }

    /// Adds `tool` to those offered: its name must be new and its schema must compile.
    fn define(
        &mut self,
        tool: &omnia_api::ToolDefinition,
    ) -> Result<jsonschema::Validator, (&'static str, String)> {
        if self.specs.iter().any(|s| s.name == tool.name) {
            return Err((
                "tool.name",
                format!("another handler already defines the tool `{}`", tool.name),
            ));
        }
        let validator = omnia_api::json_schema_validator(&tool.input_schema).map_err(|e| {
            (
                "tool.inputSchema",
                format!("the schema does not compile: {e}"),
            )
        })?;
        self.specs.push(ToolSpec {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters: tool.input_schema.clone(),
        });
        Ok(validator)
    }

    /// Asks each pending handler's server for its tools, all at once, each within its
    /// handler's timeout; what they offer joins the registry's own tools. A tool whose name is
    /// taken or not a name every provider accepts, or whose schema does not compile, is left
    /// out and logged.
    async fn discover_all(&self) {
        if self.pending.is_empty() || self.discovered.get().is_some() {
            return;
        }
        let answers = futures_util::future::join_all(self.pending.iter().map(|p| async move {
            let deadline = Instant::now() + p.timeout;
            let found = tokio::time::timeout_at(deadline, p.adapter.discover(deadline))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "its server did not list its tools within {} ms",
                        p.timeout.as_millis()
                    ))
                });
            (p, found)
        }))
        .await;
        let mut discovered = Discovered::default();
        let mut reports = self.reports.lock().clone();
        for (pending, found) in answers {
            let mut names = Vec::new();
            let state = match found {
                Err(reason) => {
                    tracing::warn!(
                        registry = %self.registry,
                        handler = %pending.handler,
                        kind = pending.kind,
                        %reason,
                        "the handler's tools could not be discovered: they are not offered"
                    );
                    HandlerState::Degraded(reason)
                }
                Ok(found) => {
                    for tool in found {
                        match self.admit(&discovered, &tool) {
                            Ok(validator) => {
                                names.push(tool.name.clone());
                                discovered.specs.push(ToolSpec {
                                    name: tool.name.clone(),
                                    description: tool.description,
                                    parameters: tool.input_schema,
                                });
                                discovered.tools.insert(
                                    tool.name,
                                    Entry {
                                        handler: pending.handler.clone(),
                                        validator,
                                        timeout: pending.timeout,
                                        adapter: pending.adapter.clone(),
                                        breaker: pending.breaker.clone(),
                                    },
                                );
                            }
                            Err(reason) => tracing::warn!(
                                registry = %self.registry,
                                handler = %pending.handler,
                                tool = %tool.name,
                                %reason,
                                "a discovered tool is left out"
                            ),
                        }
                    }
                    tracing::info!(
                        registry = %self.registry,
                        handler = %pending.handler,
                        tools = ?names,
                        "discovered the handler's tools"
                    );
                    HandlerState::Ready
                }
            };
            if let Some(report) = reports.iter_mut().find(|r| r.handler == pending.handler) {
                report.state = state;
                report.tools = names;
            }
        }
        if self.discovered.set(discovered).is_ok() {
            *self.reports.lock() = reports;
        }
    }

    /// `tool`'s validator, when it may join the tools offered.
    fn admit(
        &self,
        discovered: &Discovered,
        tool: &FoundTool,
    ) -> Result<jsonschema::Validator, String> {
        if !is_tool_name(&tool.name) {
            return Err(
                "its name is not 1 to 64 letters, digits, `_` or `-`, which every \
                        provider accepts"
                    .to_owned(),
            );
        }
        if self.specs.iter().any(|s| s.name == tool.name)
            || discovered.tools.contains_key(&tool.name)
        {
            return Err("another handler already offers a tool of that name".to_owned());
        }
        omnia_api::json_schema_validator(&tool.input_schema)
            .map_err(|e| format!("its input schema does not compile: {e}"))
    }

    /// The tool `name`, of the registry or discovered.
    fn entry(&self, name: &str) -> Option<&Entry> {
        self.tools
            .get(name)
            .or_else(|| self.discovered.get()?.tools.get(name))
    }

    /// Runs one call: checks its arguments, asks its handler's breaker, and calls its adapter
    /// within the handler's timeout and the turn's budget.
    async fn run(
        &self,
        call: &ToolCallRequest,
        context: ToolContext<'_>,
    ) -> Result<String, ToolError> {
        let tool = call.name.as_str();
        let Some(entry) = self.entry(tool) else {
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
        let mut specs = self.specs.clone();
        if let Some(discovered) = self.discovered.get() {
            specs.extend(discovered.specs.iter().cloned());
        }
        specs
    }

    fn runs(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    fn discover(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.discover_all())
    }

    fn report(&self) -> Vec<HandlerReport> {
        self.reports.lock().clone()
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

/// What a handler without its tool defined is told.
const NEEDS_TOOL: &str =
    "this handler type needs its tool defined (name, description, inputSchema)";

/// Whether `name` is a function name OpenAI, Anthropic and Gemini all accept.
fn is_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
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

//! Tools in the runtime: the [`ToolExecutor`] that runs server-side tools, and the [`Toolbox`]
//! that decides, for each call a model asks for, whether it runs here, on the client, or not at
//! all, within the prompt's `tool_policy` and the turn's tool time budget. The [`ToolManager`]
//! is the executor built from an agent's ToolRegistry.

mod grpc;
mod http;
mod identity;
mod manager;
mod mcp;
mod openapi;
mod retry;
mod tls;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use tracing::{Instrument as _, Span};

use crate::metrics::Meter;
use crate::pack::ToolPolicy;
use crate::provider::{ToolCallRequest, ToolChoice, ToolOutcome, ToolSpec};
use crate::telemetry;

pub(crate) use manager::{Adapter, FoundTool, ToolError, ToolInvocation};
pub use manager::{HandlerReport, HandlerState, ToolBuildError, ToolManager};

/// Total time the server-side tools of one turn may take (issue 15: "a per-turn budget (120 s)"),
/// so a model calling slow tools round after round cannot hold a turn for ever. Client-side
/// calls do not count: they wait on a person.
pub(crate) const TURN_TOOL_BUDGET: Duration = Duration::from_secs(120);

/// Who a tool call is made for: what adapters send along as identity metadata
/// (`x-omnia-agent-name`, `x-omnia-session-id`, ...). Never the end user's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolContext<'a> {
    /// The AgentRuntime.
    pub agent: &'a str,
    pub namespace: &'a str,
    /// The conversation's session id; in function mode the invocation id.
    pub session: &'a str,
    /// The latest this call may end: what is left of the turn's tool budget. `None` outside a
    /// turn (the caller sets no budget); executors stop the call by then.
    pub deadline: Option<tokio::time::Instant>,
}

/// How the client is asked to run a client-side tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTool {
    /// Shown to the user before the call runs; empty for no consent prompt.
    pub consent_message: String,
    /// What the call touches (`location`, `camera`, ...), for remembered consent.
    pub categories: Vec<String>,
}

/// Runs the tools that live beside the runtime (HTTP, gRPC, MCP, ... from a ToolRegistry).
pub trait ToolExecutor: std::fmt::Debug + Send + Sync + 'static {
    /// Tools this executor offers the model besides the pack's own.
    fn tools(&self) -> Vec<ToolSpec> {
        Vec::new()
    }

    /// Whether this executor runs the tool `name`. Calls to tools it does not run go to the
    /// client in agent mode.
    fn runs(&self, name: &str) -> bool;

    /// How to ask the client for `name`, when it is a client-side tool this executor knows.
    fn client_tool(&self, _name: &str) -> Option<ClientTool> {
        None
    }

    /// Asks the servers of the handlers that list their own tools (MCP, OpenAPI, gRPC without
    /// a `tool`) what they offer. [`crate::Runtime::connect`] calls it once, before serving;
    /// a server that cannot be asked leaves its handler degraded, not the runtime down.
    fn discover(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Each handler's state and the tools it offers, for `dev` and (later) the operator's
    /// `status.discoveredTools`.
    fn report(&self) -> Vec<HandlerReport> {
        Vec::new()
    }

    /// Runs one call: its result as JSON text, or the error to tell the model.
    fn execute<'a>(
        &'a self,
        call: &'a ToolCallRequest,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, String>>;
}

/// The executor of an agent with no server-side tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTools;

impl ToolExecutor for NoTools {
    fn runs(&self, _name: &str) -> bool {
        false
    }

    fn execute<'a>(
        &'a self,
        call: &'a ToolCallRequest,
        _context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, String>> {
        let error = format!("no server-side tool `{}` is configured", call.name);
        Box::pin(async move { Err(error) })
    }
}

/// Where one call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// The policy forbids it; the model is told why.
    Blocked(String),
    /// The executor runs it.
    Server,
    /// The client runs it (agent mode).
    Client,
}

/// A limit of the tool policy that a turn reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Limit {
    #[error(
        "the model asked for tools in more than {0} rounds in one turn (the prompt's \
         tool_policy.max_rounds)"
    )]
    Rounds(u32),
    #[error(
        "the model asked for more than {0} tool calls in one turn (the prompt's \
         tool_policy.max_tool_calls_per_turn)"
    )]
    Calls(u32),
}

/// When the circuit breaker of a ToolRegistry handler opens and for how long: after `failures`
/// consecutive failing calls (5xx, timeouts, unreachable; not a model's bad arguments) its
/// calls are refused without reaching the service for `cool_down`, then one probe call may
/// try it, and a success closes the circuit. Each handler has its own breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit; 0 counts as 1.
    pub failures: u32,
    /// How long an open circuit refuses calls before a probe.
    pub cool_down: Duration,
}

impl Default for BreakerSettings {
    /// 5 failures, 30 s.
    fn default() -> Self {
        Self {
            failures: manager::BREAKER_FAILURES,
            cool_down: manager::BREAKER_COOL_DOWN,
        }
    }
}

/// The executor of `agent`: a [`ToolManager`] of its resolved ToolRegistry, with the breaker
/// of `options.tool_breaker`, when it has one; else the runtime's `options.tool_executor`.
pub(crate) fn executor_for(
    agent: &omnia_api::Agent,
    options: &crate::RuntimeOptions,
) -> Result<Arc<dyn ToolExecutor>, ToolBuildError> {
    match &agent.tools {
        Some(registry) => {
            let breaker = options.tool_breaker;
            Ok(Arc::new(ToolManager::with_breaker(
                registry,
                breaker.failures,
                breaker.cool_down,
            )?))
        }
        None => Ok(options.tool_executor.clone()),
    }
}

/// What is left of one turn's tool time budget; each turn starts a new one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TurnBudget {
    left: Duration,
}

impl TurnBudget {
    /// A whole [`TURN_TOOL_BUDGET`].
    pub(crate) fn new() -> Self {
        Self::of(TURN_TOOL_BUDGET)
    }

    pub(crate) fn of(left: Duration) -> Self {
        Self { left }
    }
}

/// One agent's tools: what the model is offered, the policy, and the executor.
#[derive(Clone)]
pub(crate) struct Toolbox {
    /// The pack's own tools.
    pack: Vec<ToolSpec>,
    /// The pack's and the executor's, merged once: after discovery, or at the first turn of a
    /// runtime that was never connected.
    specs: OnceLock<Vec<ToolSpec>>,
    policy: ToolPolicy,
    executor: Arc<dyn ToolExecutor>,
}

impl Toolbox {
    /// The pack's tools and the executor's; a name both offer is the pack's definition.
    pub(crate) fn new(
        pack: Vec<ToolSpec>,
        policy: ToolPolicy,
        executor: Arc<dyn ToolExecutor>,
    ) -> Self {
        Toolbox {
            pack,
            specs: OnceLock::new(),
            policy,
            executor,
        }
    }

    /// Runs the executor's discovery, then fixes the set of tools offered.
    pub(crate) async fn discover(&self) {
        self.executor.discover().await;
        self.specs();
    }

    /// Each handler's state and tools.
    pub(crate) fn report(&self) -> Vec<HandlerReport> {
        self.executor.report()
    }

    fn specs(&self) -> &[ToolSpec] {
        self.specs.get_or_init(|| {
            let mut specs = self.pack.clone();
            for tool in self.executor.tools() {
                let blocked = self.policy.blocklist.contains(&tool.name);
                if !blocked && !specs.iter().any(|s| s.name == tool.name) {
                    specs.push(tool);
                }
            }
            specs
        })
    }

    /// The tools offered in round `round` (0-based) of a turn, and whether one must be called.
    pub(crate) fn offered(&self, round: u32) -> (&[ToolSpec], ToolChoice) {
        match self.policy.choice {
            ToolChoice::None => (&[], ToolChoice::None),
            ToolChoice::Required if round == 0 => (self.specs(), ToolChoice::Required),
            _ => (self.specs(), ToolChoice::Auto),
        }
    }

    /// Whether a turn that has run `rounds` tool rounds may run another.
    pub(crate) fn check_round(&self, rounds: u32) -> Result<(), Limit> {
        if rounds >= self.policy.max_rounds {
            return Err(Limit::Rounds(self.policy.max_rounds));
        }
        Ok(())
    }

    /// Whether a turn may make `calls` tool calls in all.
    pub(crate) fn check_calls(&self, calls: usize) -> Result<(), Limit> {
        let max = self.policy.max_calls_per_turn;
        if calls > usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(Limit::Calls(max));
        }
        Ok(())
    }

    /// How the client is asked to run `name`, when the executor describes it.
    pub(crate) fn client_tool(&self, name: &str) -> Option<ClientTool> {
        self.executor.client_tool(name)
    }

    fn route(&self, name: &str) -> Route {
        if self.policy.blocklist.iter().any(|b| b == name) {
            return Route::Blocked(format!(
                "the tool `{name}` is blocked by the prompt's tool_policy"
            ));
        }
        if self.executor.runs(name) {
            Route::Server
        } else {
            Route::Client
        }
    }

    /// Where `call` goes and what became of it: run here, or refused by the policy. A call
    /// for the client is handed to `client`, which asks it and waits. Each call has its
    /// `execute_tool` span; calls that ran (here or on the client) are counted in `meter`.
    /// A call run here spends the turn's `budget`, and once it is spent is refused.
    pub(crate) async fn run<F, E>(
        &self,
        call: &ToolCallRequest,
        context: ToolContext<'_>,
        budget: &mut TurnBudget,
        meter: &Meter,
        client: impl FnOnce(Span) -> F,
    ) -> Result<ToolOutcome, E>
    where
        F: Future<Output = Result<ToolOutcome, E>>,
    {
        let started = Instant::now();
        let route = self.route(&call.name);
        let side = match &route {
            Route::Server => "server",
            Route::Client => "client",
            Route::Blocked(_) => "blocked",
        };
        let span = telemetry::tool_span(&call.name, &call.id, side);
        let outcome = match route {
            Route::Blocked(reason) => ToolOutcome::Rejected(reason),
            Route::Server if budget.left.is_zero() => ToolOutcome::Failed(format!(
                "the turn's tool time budget of {} s is spent: no more server-side tool calls \
                 this turn",
                TURN_TOOL_BUDGET.as_secs()
            )),
            Route::Server => {
                let context = ToolContext {
                    deadline: Some(tokio::time::Instant::now() + budget.left),
                    ..context
                };
                let outcome = match self
                    .executor
                    .execute(call, context)
                    .instrument(span.clone())
                    .await
                {
                    Ok(result) => ToolOutcome::Result(result),
                    Err(error) => ToolOutcome::Failed(error),
                };
                budget.left = budget.left.saturating_sub(started.elapsed());
                outcome
            }
            Route::Client => client(span.clone()).await?,
        };
        if side != "blocked" {
            let ok = matches!(outcome, ToolOutcome::Result(_));
            meter.tool(&call.name, ok, started.elapsed());
        }
        if let ToolOutcome::Rejected(why) | ToolOutcome::Failed(why) = &outcome {
            telemetry::record_error(&span, side, why);
        }
        Ok(outcome)
    }
}

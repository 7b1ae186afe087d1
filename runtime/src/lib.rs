//! The Omnia runtime: serves `omnia.runtime.v1.RuntimeService`: `Invoke` for function-mode
//! agents, `Converse` for agent-mode ones.
//!
//! Start-up does all the work that can fail: [`Runtime::compile`] validates every PromptPack,
//! picks each prompt, compiles its templates and builds its provider, so a bad pack stops the
//! process before any port is bound. A request then only renders two templates and calls the
//! provider.
//!
//! ```no_run
//! # async fn run(config: &omnia_api::ResolvedConfig) -> Result<(), omnia_runtime::RuntimeError> {
//! use omnia_runtime::{Runtime, RuntimeOptions};
//!
//! let runtime = Runtime::compile(config, RuntimeOptions { dev: true, ..Default::default() })?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! omnia_runtime::serve(runtime, listener, std::future::pending()).await
//! # }
//! ```

pub mod context;
pub mod conversation;
pub mod executor;
mod function;
mod health;
pub mod metrics;
pub mod pack;
pub mod provider;
mod service;
pub mod telemetry;
pub mod template;
mod tools;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use omnia_api::{Mode, ResolvedConfig};
use omnia_proto::runtime::v1::HealthResponse;
use omnia_proto::runtime::v1::runtime_service_server::RuntimeServiceServer;
use tokio::net::{TcpListener, UnixListener};
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use conversation::Conversation;
pub use conversation::ConversationInfo;
use function::Function;
pub use function::{CompileError, FunctionInfo};
pub use health::MULTI_TURN_STREAM;
pub use metrics::{CallLabels, CallUsage, Metrics, serve_metrics};
pub use tools::{
    BreakerSettings, ClientTool, HandlerReport, HandlerState, NoTools, ToolBuildError, ToolContext,
    ToolExecutor, ToolManager,
};

/// Largest gRPC message either side accepts: inputs and outputs are bounded by the gateway's
/// body limit, not by the transport.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The gRPC metadata key that names the agent an `Invoke` is for.
pub const AGENT_NAME_METADATA: &str = "x-omnia-agent-name";

/// The metadata key of an error status that says where the failure came from; its value
/// [`ERROR_SOURCE_PROVIDER`] marks a model provider's failure, whose message (the provider's own,
/// summarised; never its key) the gateway may show its caller.
pub const ERROR_SOURCE_METADATA: &str = "x-omnia-error-source";

/// The [`ERROR_SOURCE_METADATA`] value of a model provider's failure.
pub const ERROR_SOURCE_PROVIDER: &str = "provider";

/// The [`ERROR_SOURCE_METADATA`] value of an answer a PromptPack validator refused; its message
/// is the validator's, written for the user.
pub const ERROR_SOURCE_VALIDATOR: &str = "validator";

/// How the runtime treats providers it cannot run, how much conversation it keeps, and where it
/// records its metrics.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Dev mode: a provider this build cannot call (an LLM without credentials, or not yet
    /// supported) is replaced by the mock provider instead of failing start-up.
    pub dev: bool,
    /// How long the mock provider pauses between the words it streams in a conversation
    /// (zero: no pause), so streaming can be watched and measured with no API key.
    pub mock_stream_delay: std::time::Duration,
    /// Messages kept per session, and bytes per message, by every context store.
    pub context_limits: context::Limits,
    /// Bytes of histories an in-memory context store holds (least recently used go first).
    pub context_memory_bytes: u64,
    /// Where provider and tool calls are recorded; the runtime marks each agent it serves in it
    /// (`omnia_runtime_info`). Serve it with [`serve_metrics`].
    pub metrics: Metrics,
    /// Runs the server-side tools models ask for; calls to tools it does not run go to the
    /// client (agent mode). [`NoTools`] runs none. An agent with a ToolRegistry uses a
    /// [`ToolManager`] of it instead.
    pub tool_executor: Arc<dyn ToolExecutor>,
    /// The circuit breaker of each ToolRegistry handler: how many consecutive failures open
    /// it and how long it then refuses calls. An embedder tunes it here (tests shorten the
    /// cool-down); the binaries keep the default of 5 failures and 30 s.
    pub tool_breaker: BreakerSettings,
}

impl Default for RuntimeOptions {
    /// Not dev mode, no streaming pause, 1,000 messages of 256 KiB kept per session, 256 MiB of
    /// histories per in-memory store, metrics of its own, no server-side tools but a
    /// ToolRegistry's, and the breaker's 5 failures and 30 s cool-down.
    fn default() -> Self {
        Self {
            dev: false,
            mock_stream_delay: std::time::Duration::ZERO,
            context_limits: context::Limits::default(),
            context_memory_bytes: 256 * 1024 * 1024,
            metrics: Metrics::new(),
            tool_executor: Arc::new(NoTools),
            tool_breaker: BreakerSettings::default(),
        }
    }
}

/// Why the runtime could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// One agent's pack or provider is unusable.
    #[error("AgentRuntime `{agent}` ({}): {source}", file.display())]
    Function {
        /// The AgentRuntime's name.
        agent: String,
        /// The manifest it came from.
        file: PathBuf,
        /// What is wrong (boxed: start-up errors are rare, `Result`s are everywhere).
        source: Box<CompileError>,
    },
    /// Two function-mode agents share a name, so `x-omnia-agent-name` could not tell them apart.
    #[error(
        "two function-mode AgentRuntimes are named `{name}` ({} and {}); one runtime serves each \
         name once",
        first.display(),
        second.display()
    )]
    DuplicateFunction {
        /// The shared name.
        name: String,
        /// Where the first one came from.
        first: PathBuf,
        /// Where the second one came from.
        second: PathBuf,
    },
    /// An agent's context store cannot be used.
    #[error("AgentRuntime `{agent}`: {source}")]
    Store {
        /// The AgentRuntime's name.
        agent: String,
        /// Why.
        source: context::StoreError,
    },
    /// The listener could not be set up.
    #[error("the runtime's listener failed: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("the runtime's gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Every function-mode agent of a configuration, compiled and ready to serve. Cloning is cheap
/// (one `Arc`).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Functions>,
}

/// The compiled functions and conversations, by agent name.
struct Functions {
    by_name: HashMap<String, Function>,
    /// File order, for listing.
    order: Vec<String>,
    /// Agent-mode agents, by name.
    conversations: HashMap<String, Arc<Conversation>>,
    /// File order of the agent-mode agents.
    conversation_order: Vec<String>,
    /// The `Health` answer, decided at start-up.
    health: HealthResponse,
    /// Where provider and tool calls are recorded.
    metrics: Metrics,
}

impl Runtime {
    /// Compiles every function-mode agent of `config`; fails on the first unusable one.
    ///
    /// Agent-mode agents are compiled too, for `Converse`. A configuration with no function
    /// compiles to a runtime that answers every `Invoke` with NotFound.
    pub fn compile(
        config: &ResolvedConfig,
        options: RuntimeOptions,
    ) -> Result<Runtime, RuntimeError> {
        let mut by_name: HashMap<String, Function> = HashMap::new();
        let mut files: HashMap<&str, &std::path::Path> = HashMap::new();
        let mut order = Vec::new();
        for agent in config.functions() {
            if let Some(first) = files.insert(&agent.name, &agent.source) {
                return Err(RuntimeError::DuplicateFunction {
                    name: agent.name.clone(),
                    first: first.to_path_buf(),
                    second: agent.source.clone(),
                });
            }
            let function =
                Function::compile(agent, &options).map_err(|source| RuntimeError::Function {
                    agent: agent.name.clone(),
                    file: agent.source.clone(),
                    source: Box::new(source),
                })?;
            order.push(agent.name.clone());
            by_name.insert(agent.name.clone(), function);
        }
        let mut conversations = HashMap::new();
        let mut conversation_order = Vec::new();
        for agent in config.agents.iter().filter(|a| a.mode == Mode::Agent) {
            if conversations.contains_key(&agent.name) {
                continue;
            }
            let conversation = Conversation::compile(agent, &options).map_err(|source| {
                RuntimeError::Function {
                    agent: agent.name.clone(),
                    file: agent.source.clone(),
                    source: Box::new(source),
                }
            })?;
            conversation_order.push(agent.name.clone());
            conversations.insert(agent.name.clone(), Arc::new(conversation));
        }
        let health = health::report(
            order.iter().filter_map(|n| by_name.get(n).map(|f| &f.info)),
            conversation_order
                .iter()
                .filter_map(|n| conversations.get(n).map(|c| &c.info)),
        );
        let runtime = Runtime {
            inner: Arc::new(Functions {
                by_name,
                order,
                conversations,
                conversation_order,
                health,
                metrics: options.metrics,
            }),
        };
        // One `omnia_runtime_info` series per agent, as Omnia's one-agent runtime has one.
        let metrics = runtime.metrics();
        for agent in runtime.functions().chain(runtime.conversations()) {
            metrics.runtime_info(&agent.name, &agent.namespace);
        }
        Ok(runtime)
    }

    /// The metrics provider and tool calls are recorded in (those of [`RuntimeOptions::metrics`]).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The functions served, in manifest order.
    pub fn functions(&self) -> impl Iterator<Item = &FunctionInfo> {
        self.inner
            .order
            .iter()
            .filter_map(|name| self.inner.by_name.get(name).map(|f| &f.info))
    }

    /// Connects every context store that lives outside the process (Redis), so bad credentials
    /// or an unreachable store stop start-up instead of the first turn; then asks the tool
    /// servers of every agent (MCP, OpenAPI, gRPC `ListTools`) what they offer. A tool server
    /// that cannot be asked does not stop start-up: its handler is reported degraded.
    ///
    /// # Errors
    /// The first store that cannot be used, naming its agent and Secret.
    pub async fn connect(&self) -> Result<(), RuntimeError> {
        for name in &self.inner.conversation_order {
            if let Some(conversation) = self.inner.conversations.get(name) {
                conversation
                    .store
                    .check()
                    .await
                    .map_err(|error| RuntimeError::Store {
                        agent: name.clone(),
                        source: error,
                    })?;
            }
        }
        let toolboxes = self
            .inner
            .by_name
            .values()
            .map(|f| &f.tools)
            .chain(self.inner.conversations.values().map(|c| &c.tools));
        futures_util::future::join_all(toolboxes.map(tools::Toolbox::discover)).await;
        Ok(())
    }

    /// The ToolRegistry handlers of agent `name` (function or agent mode), with their state
    /// and tools; empty for an agent without a registry or one not served.
    pub fn tool_report(&self, name: &str) -> Vec<HandlerReport> {
        if let Some(function) = self.inner.by_name.get(name) {
            return function.tools.report();
        }
        self.inner
            .conversations
            .get(name)
            .map(|c| c.tools.report())
            .unwrap_or_default()
    }

    /// The agent-mode agents served, in manifest order.
    pub fn conversations(&self) -> impl Iterator<Item = &ConversationInfo> {
        self.inner
            .conversation_order
            .iter()
            .filter_map(|name| self.inner.conversations.get(name).map(|c| &c.info))
    }

    /// The tonic service, for callers that run their own server.
    pub fn into_service(self) -> RuntimeServiceServer<Runtime> {
        // tonic's 4 MiB default would refuse bodies a gateway configured above it accepts.
        // Omnia's facade sends `Invoke` and `Converse` gzip-compressed, so gzip requests are
        // accepted; answers stay uncompressed, which every gRPC client reads.
        RuntimeServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .accept_compressed(CompressionEncoding::Gzip)
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("functions", &self.functions().collect::<Vec<_>>())
            .finish()
    }
}

/// Serves `runtime` on `listener` until `shutdown` completes, then lets in-flight calls finish.
///
/// Bind the listener first (for tests and in-process use: `127.0.0.1:0`), then connect: the
/// socket accepts connections from the moment it is bound, so no one has to wait for the server.
pub async fn serve(
    runtime: Runtime,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RuntimeError> {
    // The builder's `tcp_nodelay` only applies to listeners it binds itself; with our own
    // listener the accepted sockets get it from `TcpIncoming`. Small gRPC frames must not wait
    // for Nagle's algorithm.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .tcp_nodelay(true)
        .serve_with_incoming_shutdown(runtime.into_service(), incoming, shutdown)
        .await?;
    Ok(())
}

/// Serves `runtime` on a Unix domain socket until `shutdown` completes, then lets in-flight calls
/// finish. For a gateway in the same pod (a shared `emptyDir`): no TCP stack on the path.
pub async fn serve_unix(
    runtime: Runtime,
    listener: UnixListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RuntimeError> {
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    Server::builder()
        .serve_with_incoming_shutdown(runtime.into_service(), incoming, shutdown)
        .await?;
    Ok(())
}

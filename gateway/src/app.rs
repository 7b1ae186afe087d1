//! The gateway process: turns the resolved manifests into function routes, binds the facade,
//! internal (management-plane) and health ports, and runs until shutdown, draining in-flight calls.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use omnia_api::{Agent, FacadeType, Handler as ApiHandler, Mode, ResolvedConfig};
use omnia_middleware::schema::JsonSchema;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::util::BoxCloneSyncService;

use crate::agent::handler::Handler;
use crate::agent::handler::demo::Demo;
use crate::agent::handler::echo::Echo;
use crate::agent::handler::runtime::Runtime as RuntimeHandler;
use crate::agent::hub::Hub;
use crate::agent::{AgentService, AgentSpec, WsLimits};
use crate::auth_config;
use crate::function::FunctionSpec;
use crate::function::openapi::{Catalog, Described, DocsService};
use crate::management;
use crate::mcp::tools::FunctionTool;
use crate::mcp::{McpFunction, McpService};
use crate::media::{MediaAgent, MediaService};
use crate::metrics::{Metrics, Served};
use crate::runtime_client::{Readiness, RuntimeClient, spawn_health_probe};
use crate::server::{self, ConnectionLimits, ServeOptions};
use crate::stack::{self, Limits, LoadShedLayer, Surfaces};

/// Everything the gateway is told on its command line and environment.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub listen: SocketAddr,
    pub health_listen: SocketAddr,
    /// The internal listener, which admits management-plane tokens only; `None` for none.
    pub internal_listen: Option<SocketAddr>,
    /// Where the runtime's gRPC server listens: `host:port`, or `unix:///path`.
    pub runtime_address: String,
    /// `serve --embedded-runtime`: our runtime in this process, called without a socket;
    /// `runtime_address` is then unused.
    pub embedded_runtime: Option<Arc<omnia_runtime::Runtime>>,
    pub limits: Limits,
    /// Connection cap, HTTP/2 streams per connection and idle timeout, for each of the facade,
    /// internal and health listeners.
    pub connections: ConnectionLimits,
    /// Threads serving the facade port. 0 or 1: the facade runs on the process's Tokio runtime
    /// like every other port. N > 1: the calling runtime plus N - 1 threads, each running a
    /// current-thread Tokio runtime with its own `SO_REUSEPORT` listener on the facade address
    /// and its own connection to the runtime, so a request stays on the thread (and core) the
    /// kernel handed its connection to. The in-flight budget and the metrics stay shared.
    pub facade_threads: usize,
    /// WebSocket limits and allowed origins, for agent-mode agents.
    pub ws: WsLimits,
    /// `handler: demo`'s delays, as a multiple of Omnia's (0: none).
    pub demo_pace: f64,
    /// Open a `Converse` stream per WebSocket turn even when the runtime could keep one per
    /// session (Omnia's facade does the former; for comparison).
    pub converse_per_turn: bool,
    /// `dev` and `--embedded-runtime`: the mock provider's pause between streamed words.
    pub mock_stream_delay: Duration,
    /// Per-call deadline for `Invoke` (60 s by default).
    pub call_timeout: Duration,
    /// How long in-flight calls may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// `OMNIA_FACADE_ALLOW_UNAUTHENTICATED=true`: functions that configure no validator admit
    /// every caller. No effect on functions with validators, nor on the internal listener.
    pub allow_unauthenticated: bool,
    /// `dev` only: functions with no `externalAuth` at all are open to anonymous callers, so the
    /// examples answer out of the box; functions that configure validators still enforce them.
    pub open_when_unconfigured: bool,
    /// PEM public key of the management plane (the dashboard), if any.
    pub management_plane_key: Option<PathBuf>,
    /// `OMNIA_MGMT_PLANE_JWKS_URL`: the dashboard's JWKS, if any (exclusive with the PEM key).
    pub management_plane_jwks_url: Option<String>,
    /// `OMNIA_WORKSPACE_NAME`: the Workspace these agents belong to, which a management-plane
    /// token's `workspace` claim must name when it has one. Unknown: the claim is not checked.
    pub workspace_name: Option<String>,
    /// Serve every function as an MCP tool on this address (`dev`). Without it, only the
    /// functions with an `mcp` facade are, on that facade's port (9998 by default).
    pub mcp_listen: Option<SocketAddr>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("function {function}: {field} is not a usable JSON Schema: {reason}")]
    Schema {
        function: String,
        field: &'static str,
        reason: String,
    },
    #[error("agent {function}: authentication: {reason}")]
    Auth { function: String, reason: String },
    #[error("management plane: {0}")]
    ManagementPlane(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bad runtime address {address:?}: {reason}")]
    RuntimeAddress { address: String, reason: String },
    #[error("no AgentRuntime the gateway can serve in the configuration; nothing to serve")]
    NothingToServe,
    #[error("media storage: {0}")]
    Media(String),
}

/// The internal listener and the functions it serves.
struct Internal {
    listener: TcpListener,
    functions: Vec<FunctionSpec>,
}

/// A gateway with its ports bound, ready to serve.
pub struct Gateway {
    facade: TcpListener,
    /// With `facade_threads` > 1: the other threads' listeners on the facade address (detached
    /// from any Tokio runtime until their thread takes them) and runtime clients.
    more_facades: Vec<(std::net::TcpListener, RuntimeClient)>,
    health: TcpListener,
    internal: Option<Internal>,
    functions: Vec<FunctionSpec>,
    /// Agent-mode agents, served over WebSocket on the facade port.
    agents: Option<AgentService>,
    /// `/media/...`, when any agent stores media.
    media: Option<MediaService>,
    /// The functions' OpenAPI documents, when there are functions.
    docs: Option<DocsService>,
    /// The MCP listener and the functions it serves as tools.
    mcp: Option<(TcpListener, Vec<McpFunction>)>,
    hub: Arc<Hub>,
    client: RuntimeClient,
    options: GatewayOptions,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
}

impl Gateway {
    /// Compiles every function's schemas and auth chains, then binds the ports. Fails before
    /// binding anything when the configuration is unusable.
    pub async fn bind(
        config: &ResolvedConfig,
        options: GatewayOptions,
    ) -> Result<Self, StartError> {
        let mut functions = Vec::new();
        for agent in config.functions() {
            functions.push(FunctionSpec {
                name: agent.name.clone(),
                namespace: agent.namespace.clone(),
                input_schema: compile(
                    &agent.name,
                    "spec.inputSchema",
                    agent.input_schema.as_ref(),
                )?,
                output_schema: compile(
                    &agent.name,
                    "spec.outputSchema",
                    agent.output_schema.as_ref(),
                )?,
                auth: Arc::new(auth_config::chain_for(agent, &options).await.map_err(
                    |reason| StartError::Auth {
                        function: agent.name.clone(),
                        reason,
                    },
                )?),
            });
        }
        let docs = (!functions.is_empty()).then(|| {
            let described = config
                .functions()
                .zip(&functions)
                .map(|(agent, f)| Described {
                    name: f.name.clone(),
                    input_schema: agent.input_schema.clone().unwrap_or_default(),
                    output_schema: agent.output_schema.clone().unwrap_or_default(),
                    description: agent.pack.document["description"]
                        .as_str()
                        .map(str::to_owned),
                    auth: f.auth.clone(),
                });
            DocsService::new(Arc::new(Catalog::new(described)))
        });
        let mcp = mcp_listener(config, &functions, &options).await?;
        let client = runtime_client(&options)?;
        let agents = agent_specs(config, &options, &client).await?;
        if functions.is_empty() && agents.is_empty() {
            return Err(StartError::NothingToServe);
        }
        let metrics = Arc::new(Metrics::serving(
            functions
                .iter()
                .map(|f| Served {
                    name: &f.name,
                    namespace: &f.namespace,
                    handler: None,
                })
                .chain(agents.iter().map(|a| Served {
                    name: &a.name,
                    namespace: &a.namespace,
                    handler: Some(a.handler.name()),
                })),
        ));
        let media = media_service(config, &functions, &agents)?;
        let mut agents = agents;
        if let Some(media) = &media {
            for agent in &mut agents {
                agent.media = media.agent_named(&agent.name, &agent.namespace);
            }
        }
        let hub = Arc::new(Hub::new(options.ws.max_connections));
        let agents = (!agents.is_empty())
            .then(|| AgentService::new(agents, hub.clone(), options.ws.clone(), &metrics));
        let internal_functions = match options.internal_listen {
            Some(_) => internal_functions(config, &options, &functions).await?,
            None => Vec::new(),
        };
        let (facade, more_facades) = if options.facade_threads > 1 {
            let (first, others) = bind_shared(options.listen, options.facade_threads)?;
            let mut more = Vec::with_capacity(others.len());
            for listener in others {
                // Each thread its own connection, driven on its own runtime.
                more.push((listener, runtime_client(&options)?));
            }
            (first, more)
        } else {
            (bind(options.listen).await?, Vec::new())
        };
        let health = bind(options.health_listen).await?;
        // No agent served, no listener (Omnia allocates no internal port then either).
        let internal = match options.internal_listen {
            Some(addr) if !internal_functions.is_empty() => Some(Internal {
                listener: bind(addr).await?,
                functions: internal_functions,
            }),
            _ => None,
        };
        Ok(Self {
            facade,
            more_facades,
            health,
            internal,
            functions,
            agents,
            media,
            docs,
            mcp,
            hub,
            client,
            options,
            readiness: Arc::new(Readiness::default()),
            metrics,
        })
    }

    /// The facade's bound address.
    pub fn facade_addr(&self) -> SocketAddr {
        self.facade.local_addr().unwrap_or(self.options.listen)
    }

    /// The internal (management-plane) listener's bound address, when there is one.
    pub fn internal_addr(&self) -> Option<SocketAddr> {
        let internal = self.internal.as_ref()?;
        internal
            .listener
            .local_addr()
            .ok()
            .or(self.options.internal_listen)
    }

    /// The MCP listener's bound address, when functions are served as tools.
    pub fn mcp_addr(&self) -> Option<SocketAddr> {
        self.mcp
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// The health port's bound address.
    pub fn health_addr(&self) -> SocketAddr {
        self.health
            .local_addr()
            .unwrap_or(self.options.health_listen)
    }

    /// The names of the agents served over WebSocket.
    pub fn agent_names(&self) -> Vec<&str> {
        self.agents
            .as_ref()
            .map(AgentService::names)
            .unwrap_or_default()
    }

    /// The names of the functions served.
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions.iter().map(|f| f.name.as_str())
    }

    /// Serves until `shutdown` resolves; then `/readyz` turns 503, the facade and internal ports
    /// stop accepting, in-flight calls finish (up to the drain timeout), and the health port
    /// closes last.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let probe = spawn_health_probe(self.client.clone(), self.readiness.clone());
        // One in-flight budget for the facade, however many threads serve it.
        let shed = LoadShedLayer::new(self.options.limits.max_in_flight);
        let facade_service = stack::build(
            &self.functions,
            &self.client,
            self.options.limits,
            self.metrics.clone(),
            &shed,
            Surfaces {
                agents: self.agents.clone(),
                media: self.media.clone(),
                docs: self.docs.clone(),
            },
        );
        let _sweeper = self
            .media
            .as_ref()
            .and_then(|m| crate::media::sweep::spawn(m.agents().to_vec()))
            .map(AbortOnDrop);
        let health_service = crate::health::service(self.readiness.clone(), self.metrics.clone());

        let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
        let health = tokio::spawn(server::serve(
            self.health,
            health_service,
            async {
                let _ = health_stopped.await;
            },
            ServeOptions {
                connections: self.options.connections,
                drain: Duration::from_secs(1),
                ..ServeOptions::default()
            },
        ));
        let facade_options = ServeOptions {
            connections: self.options.connections,
            header_limit: self.options.limits.headers,
            drain: self.options.drain_timeout,
            metrics: Some(self.metrics.clone()),
        };
        // The facade's shutdown also stops the internal listener, which drains alongside it.
        let (draining, drain_started) = watch::channel(false);
        let internal = self.internal.map(|internal| {
            let service = stack::build(
                &internal.functions,
                &self.client,
                self.options.limits,
                self.metrics.clone(),
                &LoadShedLayer::new(self.options.limits.max_in_flight),
                Surfaces::default(),
            );
            let mut drain_started = drain_started.clone();
            tokio::spawn(server::serve(
                internal.listener,
                service,
                async move {
                    // An error means the sender is gone, which is shutdown too.
                    let _ = drain_started.wait_for(|started| *started).await;
                },
                facade_options.clone(),
            ))
        });
        let mcp = self.mcp.map(|(listener, functions)| {
            // Tool calls go through a stack of their own over the same functions, sharing the
            // facade's in-flight budget: the same auth, limits, schemas and runtime call.
            let facade = BoxCloneSyncService::new(stack::build::<Full<Bytes>>(
                &self.functions,
                &self.client,
                self.options.limits,
                self.metrics.clone(),
                &shed,
                Surfaces::default(),
            ));
            let mut drain_started = drain_started.clone();
            tokio::spawn(server::serve(
                listener,
                McpService::new(functions, facade),
                async move {
                    let _ = drain_started.wait_for(|started| *started).await;
                },
                facade_options.clone(),
            ))
        });
        let mut threads = Vec::new();
        for (index, (listener, client)) in self.more_facades.into_iter().enumerate() {
            let thread = FacadeThread {
                listener,
                functions: self.functions.clone(),
                client,
                limits: self.options.limits,
                metrics: self.metrics.clone(),
                shed: shed.clone(),
                agents: self.agents.clone(),
                media: self.media.clone(),
                docs: self.docs.clone(),
                options: facade_options.clone(),
                drain_started: drain_started.clone(),
            };
            match thread.spawn(index + 1) {
                Ok(ended) => threads.push(ended),
                Err(error) => tracing::error!(%error, "cannot start a facade thread"),
            }
        }
        // WebSockets left hyper at their upgrade: the hub tells them to close (1001) once the
        // drain starts, letting turns in flight finish within the drain timeout.
        let websockets = {
            let hub = self.hub.clone();
            let timeout = self.options.drain_timeout;
            let mut drain_started = drain_started.clone();
            tokio::spawn(async move {
                let _ = drain_started.wait_for(|started| *started).await;
                hub.drain(timeout).await;
            })
        };
        let readiness = self.readiness.clone();
        let facade_shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            readiness.start_draining();
            let _ = draining.send(true);
        };
        server::serve(self.facade, facade_service, facade_shutdown, facade_options).await;
        let _ = websockets.await;
        for ended in threads {
            // An error means the thread ended without saying so (a panic), which is an end too.
            let _ = ended.await;
        }
        if let Some(internal) = internal {
            let _ = internal.await;
        }
        if let Some(mcp) = mcp {
            let _ = mcp.await;
        }
        let _ = stop_health.send(());
        let _ = health.await;
        probe.abort();
    }
}

/// The agent-mode agents served over WebSocket.
async fn agent_specs(
    config: &ResolvedConfig,
    options: &GatewayOptions,
    client: &RuntimeClient,
) -> Result<Vec<AgentSpec>, StartError> {
    let mut specs = Vec::new();
    for agent in config
        .agents
        .iter()
        .filter(|agent| agent.mode == Mode::Agent && agent.facade.kind == FacadeType::Websocket)
    {
        let handler: Arc<dyn Handler> = match agent.facade.handler {
            ApiHandler::Echo => Arc::new(Echo),
            ApiHandler::Demo => Arc::new(Demo::new(options.demo_pace)),
            ApiHandler::Runtime => Arc::new(RuntimeHandler::new(
                client.clone(),
                options.ws.tool_ack_timeout,
                agent
                    .facade
                    .client_tool_timeout
                    .unwrap_or(options.ws.tool_result_timeout),
                options.converse_per_turn,
            )),
        };
        let auth = auth_config::chain_for(agent, options)
            .await
            .map_err(|reason| StartError::Auth {
                function: agent.name.clone(),
                reason,
            })?;
        specs.push(AgentSpec {
            name: agent.name.clone(),
            namespace: agent.namespace.clone(),
            auth: Arc::new(auth),
            handler,
            media: None,
        });
    }
    Ok(specs)
}

/// A thread serving the facade on its own listener, runtime and runtime connection.
struct FacadeThread {
    listener: std::net::TcpListener,
    functions: Vec<FunctionSpec>,
    client: RuntimeClient,
    limits: Limits,
    metrics: Arc<Metrics>,
    shed: LoadShedLayer,
    agents: Option<AgentService>,
    media: Option<MediaService>,
    docs: Option<DocsService>,
    options: ServeOptions,
    drain_started: watch::Receiver<bool>,
}

impl FacadeThread {
    /// Starts the thread; the receiver resolves when it has drained and ended.
    fn spawn(self, index: usize) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
        let (ended, on_end) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("omnia-facade-{index}"))
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(self.serve()),
                    Err(error) => tracing::error!(%error, "facade thread: no Tokio runtime"),
                }
                let _ = ended.send(());
            })?;
        Ok(on_end)
    }

    async fn serve(self) {
        let listener = match TcpListener::from_std(self.listener) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "facade thread: cannot register its listener");
                return;
            }
        };
        let service = stack::build(
            &self.functions,
            &self.client,
            self.limits,
            self.metrics,
            &self.shed,
            Surfaces {
                agents: self.agents,
                media: self.media,
                docs: self.docs,
            },
        );
        let mut drain_started = self.drain_started;
        let shutdown = async move {
            let _ = drain_started.wait_for(|started| *started).await;
        };
        server::serve(listener, service, shutdown, self.options).await;
    }
}

/// The functions of the internal listener: the external ones, behind the management plane.
async fn internal_functions(
    config: &ResolvedConfig,
    options: &GatewayOptions,
    external: &[FunctionSpec],
) -> Result<Vec<FunctionSpec>, StartError> {
    // As Omnia, a facade with `managementPlane: false` has no internal twin; an empty set leaves
    // the internal port unbound.
    let served: Vec<&Agent> = config
        .functions()
        .filter(|agent| agent.facade.management_plane)
        .collect();
    let plane = auth_config::management_plane(options)
        .await
        .map_err(StartError::ManagementPlane)?;
    if plane.is_none() {
        tracing::warn!(
            "no management-plane key (--management-plane-key or OMNIA_MGMT_PLANE_JWKS_URL): \
             the internal listener refuses every call"
        );
    }
    Ok(management::functions(
        external,
        &served,
        plane.as_ref(),
        options.workspace_name.as_deref(),
    ))
}

/// The MCP listener, bound, with the functions it serves: every function on
/// `options.mcp_listen`, else those with an `mcp` facade on its port (all such facades of one
/// gateway share the first one's port).
async fn mcp_listener(
    config: &ResolvedConfig,
    functions: &[FunctionSpec],
    options: &GatewayOptions,
) -> Result<Option<(TcpListener, Vec<McpFunction>)>, StartError> {
    let mcp_facade = |agent: &Agent| {
        agent
            .facades
            .iter()
            .find(|f| f.kind == FacadeType::Mcp)
            .map(|f| f.port)
    };
    let served: Vec<(&Agent, &FunctionSpec)> = config
        .functions()
        .zip(functions)
        .filter(|(agent, _)| options.mcp_listen.is_some() || mcp_facade(agent).is_some())
        .collect();
    let Some(addr) = options.mcp_listen.or_else(|| {
        let port = served.iter().find_map(|(agent, _)| mcp_facade(agent))?;
        Some(SocketAddr::from(([0, 0, 0, 0], port)))
    }) else {
        return Ok(None);
    };
    if served.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Bind { addr, source: e })?;
    let tools = served
        .into_iter()
        .map(|(agent, spec)| McpFunction {
            tool: FunctionTool::new(
                &spec.name,
                agent.pack.document["description"].as_str(),
                agent
                    .input_schema
                    .as_ref()
                    .unwrap_or(&serde_json::Value::Null),
                agent
                    .output_schema
                    .as_ref()
                    .unwrap_or(&serde_json::Value::Null),
            ),
            auth: spec.auth.clone(),
        })
        .collect();
    Ok(Some((listener, tools)))
}

fn compile(
    function: &str,
    field: &'static str,
    schema: Option<&serde_json::Value>,
) -> Result<Arc<JsonSchema>, StartError> {
    let error = |reason: String| StartError::Schema {
        function: function.to_owned(),
        field,
        reason,
    };
    let schema = schema.ok_or_else(|| error("missing (function mode requires it)".to_owned()))?;
    JsonSchema::compile(schema).map(Arc::new).map_err(error)
}

/// A client of the runtime the options name; nothing connects until its first call.
fn runtime_client(options: &GatewayOptions) -> Result<RuntimeClient, StartError> {
    match &options.embedded_runtime {
        Some(runtime) => Ok(RuntimeClient::embedded(
            runtime.clone(),
            options.call_timeout,
        )),
        None => {
            RuntimeClient::new(&options.runtime_address, options.call_timeout).map_err(|reason| {
                StartError::RuntimeAddress {
                    address: options.runtime_address.clone(),
                    reason,
                }
            })
        }
    }
}

/// `count` listeners on one address with `SO_REUSEPORT`, among which the kernel spreads new
/// connections: the first for the calling runtime, the others detached for their threads. When
/// `addr` asks for any free port, the others bind to the one the first was given.
fn bind_shared(
    addr: SocketAddr,
    count: usize,
) -> Result<(TcpListener, Vec<std::net::TcpListener>), StartError> {
    let first = bind_reusing(addr)?;
    let shared = first.local_addr().unwrap_or(addr);
    let mut others = Vec::with_capacity(count - 1);
    for _ in 1..count {
        let listener = bind_reusing(shared)?;
        others.push(
            listener
                .into_std()
                .map_err(|source| StartError::Bind { addr, source })?,
        );
    }
    Ok((first, others))
}

fn bind_reusing(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let error = |source| StartError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(error)?;
    socket.set_reuseaddr(true).map_err(error)?;
    socket.set_reuseport(true).map_err(error)?;
    socket.bind(addr).map_err(error)?;
    // Tokio's own `TcpListener::bind` backlog.
    socket.listen(1024).map_err(error)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when the
/// future is first polled: a signal arriving in between would otherwise meet its default action
/// and end the process at once, without draining.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn received(signal: std::io::Result<Signal>, name: &'static str) {
        match signal {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for {name}");
                std::future::pending::<()>().await;
            }
        }
    }
    let terminate = received(signal(SignalKind::terminate()), "SIGTERM");
    let interrupt = received(signal(SignalKind::interrupt()), "SIGINT");
    async move {
        tokio::select! {
            () = terminate => {}
            () = interrupt => {}
        }
    }
}

/// The media surface of every served agent that stores media; `None` when none does.
fn media_service(
    config: &ResolvedConfig,
    functions: &[FunctionSpec],
    agents: &[AgentSpec],
) -> Result<Option<MediaService>, StartError> {
    let mut with = Vec::new();
    let mut without = Vec::new();
    for agent in &config.agents {
        // The agent's own auth chain, as its function or WebSocket uses it.
        let auth = functions
            .iter()
            .find(|f| f.name == agent.name && f.namespace == agent.namespace)
            .map(|f| f.auth.clone())
            .or_else(|| {
                agents
                    .iter()
                    .find(|a| a.name == agent.name && a.namespace == agent.namespace)
                    .map(|a| a.auth.clone())
            });
        let Some(auth) = auth else {
            continue;
        };
        match MediaAgent::build(agent, auth).map_err(StartError::Media)? {
            Some(media) => with.push(media),
            None => without.push((agent.name.clone(), agent.namespace.clone())),
        }
    }
    Ok((!with.is_empty()).then(|| MediaService::new(with, without)))
}

/// Aborts a background task when dropped (the media sweeper ends with the gateway).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sigterm_sent_before_the_shutdown_future_is_polled_is_not_lost() {
        let shutdown = shutdown_signal();
        // Were the handler installed lazily, this would end the test process.
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());

        tokio::time::timeout(Duration::from_secs(10), shutdown)
            .await
            .expect("the SIGTERM was not seen");
    }
}

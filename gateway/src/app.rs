//! The gateway process: turns the resolved manifests into function routes, binds the facade and
//! health ports, and runs until shutdown, draining in-flight calls.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use omnia_api::ResolvedConfig;
use omnia_middleware::schema::JsonSchema;
use tokio::net::TcpListener;

use crate::auth_config;
use crate::function::FunctionSpec;
use crate::metrics::Metrics;
use crate::runtime_client::{Readiness, RuntimeClient, spawn_health_probe};
use crate::server;
use crate::stack::{self, Limits};

/// Everything the gateway is told on its command line and environment.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub listen: SocketAddr,
    pub health_listen: SocketAddr,
    /// `host:port` of the runtime's gRPC server.
    pub runtime_address: String,
    pub limits: Limits,
    /// Per-call deadline for `Invoke` (60 s by default).
    pub call_timeout: Duration,
    /// How long in-flight calls may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// `OMNIA_FACADE_ALLOW_UNAUTHENTICATED=true`: admit callers no validator recognises.
    pub allow_unauthenticated: bool,
    /// `dev` only: functions with no `externalAuth` at all are open to anonymous callers, so the
    /// examples answer out of the box; functions that configure validators still enforce them.
    pub open_when_unconfigured: bool,
    /// PEM public key of the management plane (the dashboard), if any.
    pub management_plane_key: Option<PathBuf>,
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
    #[error("function {function}: authentication: {reason}")]
    Auth { function: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bad runtime address {address:?}: {reason}")]
    RuntimeAddress { address: String, reason: String },
    #[error("no function-mode AgentRuntime in the configuration; nothing to serve")]
    NoFunctions,
}

/// A gateway with its ports bound, ready to serve.
pub struct Gateway {
    facade: TcpListener,
    health: TcpListener,
    functions: Vec<FunctionSpec>,
    client: RuntimeClient,
    options: GatewayOptions,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
}

impl Gateway {
    /// Compiles every function's schemas and auth chain, then binds both ports. Fails before
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
        if functions.is_empty() {
            return Err(StartError::NoFunctions);
        }
        let client =
            RuntimeClient::new(&options.runtime_address, options.call_timeout).map_err(|e| {
                StartError::RuntimeAddress {
                    address: options.runtime_address.clone(),
                    reason: e.to_string(),
                }
            })?;
        let facade = bind(options.listen).await?;
        let health = bind(options.health_listen).await?;
        let metrics = Arc::new(Metrics::new(
            functions
                .iter()
                .map(|f| (f.name.as_str(), f.namespace.as_str())),
        ));
        Ok(Self {
            facade,
            health,
            functions,
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

    /// The health port's bound address.
    pub fn health_addr(&self) -> SocketAddr {
        self.health
            .local_addr()
            .unwrap_or(self.options.health_listen)
    }

    /// The names of the functions served.
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions.iter().map(|f| f.name.as_str())
    }

    /// Serves until `shutdown` resolves; then `/readyz` turns 503, the facade stops accepting,
    /// in-flight calls finish (up to the drain timeout), and the health port closes last.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let probe = spawn_health_probe(self.client.clone(), self.readiness.clone());
        let facade_service = stack::build(
            &self.functions,
            &self.client,
            self.options.limits,
            self.metrics.clone(),
        );
        let health_service = crate::health::service(self.readiness.clone(), self.metrics.clone());

        let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
        let health = tokio::spawn(server::serve(
            self.health,
            health_service,
            async {
                let _ = health_stopped.await;
            },
            Duration::from_secs(1),
            None,
        ));
        let readiness = self.readiness.clone();
        let facade_shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            readiness.start_draining();
        };
        server::serve(
            self.facade,
            facade_service,
            facade_shutdown,
            self.options.drain_timeout,
            Some(self.metrics.clone()),
        )
        .await;
        let _ = stop_health.send(());
        let _ = health.await;
        probe.abort();
    }
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

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

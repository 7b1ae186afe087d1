//! The gateway process: turns the resolved manifests into function routes, binds the facade,
//! internal (management-plane) and health ports, and runs until shutdown, draining in-flight calls.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use omnia_api::{Agent, ResolvedConfig};
use omnia_middleware::schema::JsonSchema;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth_config;
use crate::function::FunctionSpec;
use crate::management;
use crate::metrics::Metrics;
use crate::runtime_client::{Readiness, RuntimeClient, spawn_health_probe};
use crate::server::{self, ConnectionLimits, ServeOptions};
use crate::stack::{self, Limits};

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
    #[error("management plane: {0}")]
    ManagementPlane(String),
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

/// The internal listener and the functions it serves.
struct Internal {
    listener: TcpListener,
    functions: Vec<FunctionSpec>,
}

/// A gateway with its ports bound, ready to serve.
pub struct Gateway {
    facade: TcpListener,
    health: TcpListener,
    internal: Option<Internal>,
    functions: Vec<FunctionSpec>,
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
        if functions.is_empty() {
            return Err(StartError::NoFunctions);
        }
        let internal_functions = match options.internal_listen {
            Some(_) => internal_functions(config, &options, &functions).await?,
            None => Vec::new(),
        };
        let client =
            match &options.embedded_runtime {
                Some(runtime) => RuntimeClient::embedded(runtime.clone(), options.call_timeout),
                None => RuntimeClient::new(&options.runtime_address, options.call_timeout)
                    .map_err(|e| StartError::RuntimeAddress {
                        address: options.runtime_address.clone(),
                        reason: e,
                    })?,
            };
        let facade = bind(options.listen).await?;
        let health = bind(options.health_listen).await?;
        // No agent served, no listener (Omnia allocates no internal port then either).
        let internal = match options.internal_listen {
            Some(addr) if !internal_functions.is_empty() => Some(Internal {
                listener: bind(addr).await?,
                functions: internal_functions,
            }),
            _ => None,
        };
        let metrics = Arc::new(Metrics::new(
            functions
                .iter()
                .map(|f| (f.name.as_str(), f.namespace.as_str())),
        ));
        Ok(Self {
            facade,
            health,
            internal,
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

    /// The internal (management-plane) listener's bound address, when there is one.
    pub fn internal_addr(&self) -> Option<SocketAddr> {
        let internal = self.internal.as_ref()?;
        internal
            .listener
            .local_addr()
            .ok()
            .or(self.options.internal_listen)
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

    /// Serves until `shutdown` resolves; then `/readyz` turns 503, the facade and internal ports
    /// stop accepting, in-flight calls finish (up to the drain timeout), and the health port
    /// closes last.
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
        let readiness = self.readiness.clone();
        let facade_shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            readiness.start_draining();
            let _ = draining.send(true);
        };
        server::serve(self.facade, facade_service, facade_shutdown, facade_options).await;
        if let Some(internal) = internal {
            let _ = internal.await;
        }
        let _ = stop_health.send(());
        let _ = health.await;
        probe.abort();
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

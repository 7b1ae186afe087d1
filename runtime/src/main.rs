//! `omnia-runtime`: serves the agents of some manifests over `omnia.runtime.v1.RuntimeService`
//! (functions through `Invoke`, agent-mode agents through `Converse`).
//!
//! ```text
//! omnia-runtime --config PATH... [--listen ADDR] [--metrics-listen ADDR|off] [--dev]
//! ```
//! Without `--listen` (or `OMNIA_RUNTIME_LISTEN`) it binds `127.0.0.1:$OMNIA_RUNTIME_PORT`
//! (default 9000): the runtime has no authentication of its own, and in the sidecar layout the
//! gateway reaches it over the pod's loopback. Any other address is logged as a warning at
//! start-up. Prometheus metrics are served on `GET /metrics` at `0.0.0.0:$OMNIA_METRICS_PORT`
//! (default 9001) unless `--metrics-listen` says otherwise. It stops on SIGTERM or SIGINT after
//! in-flight calls finish.

/// mimalloc: the request path allocates many small, short-lived buffers (hyper, h2, tonic),
/// where it measured faster than glibc malloc (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use omnia_runtime::{Metrics, Runtime, RuntimeOptions};

/// The runtime's gRPC port when neither `--listen` nor `OMNIA_RUNTIME_PORT` says otherwise.
const DEFAULT_PORT: u16 = 9000;

/// The metrics port when neither `--metrics-listen` nor `OMNIA_METRICS_PORT` says otherwise.
const DEFAULT_METRICS_PORT: u16 = 9001;

/// `--metrics-listen`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
enum MetricsListen {
    Off,
    At(SocketAddr),
}

fn parse_metrics_listen(value: &str) -> Result<MetricsListen, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(MetricsListen::Off);
    }
    value
        .parse()
        .map(MetricsListen::At)
        .map_err(|_| format!("expected ADDR:PORT or `off`, not {value:?}"))
}

/// Runs PromptPacks as `omnia.runtime.v1` functions.
#[derive(Debug, Parser)]
#[command(name = "omnia-runtime", version, about)]
struct Cli {
    /// Manifest files or directories (AgentRuntime, PromptPack, Provider, ConfigMap, Secret).
    #[arg(long = "config", value_name = "PATH", required = true, num_args = 1..)]
    config: Vec<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:$OMNIA_RUNTIME_PORT, port 9000]. The runtime
    /// trusts every caller, so listen beyond loopback only where the network keeps others out.
    #[arg(long, env = "OMNIA_RUNTIME_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve on this Unix domain socket instead of TCP (for a gateway in the same pod, which then
    /// uses `OMNIA_RUNTIME_ADDRESS=unix:///PATH`). A stale socket file is replaced.
    #[arg(
        long,
        value_name = "PATH",
        env = "OMNIA_RUNTIME_SOCKET",
        conflicts_with = "listen"
    )]
    socket: Option<PathBuf>,
    /// Address of the Prometheus `/metrics` listener, or `off` [default:
    /// 0.0.0.0:$OMNIA_METRICS_PORT, port 9001]. Metrics carry no secrets, so the default is every
    /// interface, for Prometheus to scrape the pod. If the default address is taken the runtime
    /// warns and runs without it; an address given here (or a port in OMNIA_METRICS_PORT) must
    /// bind.
    #[arg(long, env = "OMNIA_METRICS_LISTEN", value_name = "ADDR",
          value_parser = parse_metrics_listen)]
    metrics_listen: Option<MetricsListen>,
    /// Answer with the mock provider wherever a real one cannot run (no credentials, or a type
    /// this build does not support).
    #[arg(long)]
    dev: bool,
    /// Milliseconds the mock provider pauses between the words it streams in a conversation.
    #[arg(long, env = "OMNIA_MOCK_STREAM_DELAY_MS", default_value_t = 0)]
    mock_stream_delay_ms: u64,
    /// Messages a context store keeps per session; the oldest go first.
    #[arg(long, env = "OMNIA_CONTEXT_MAX_MESSAGES", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    context_max_messages: u64,
    /// Bytes of text a context store keeps per message; a longer one is cut.
    #[arg(long, env = "OMNIA_CONTEXT_MAX_MESSAGE_BYTES", default_value_t = 256 * 1024)]
    context_max_message_bytes: usize,
    /// Bytes of histories each in-memory context store holds (least recently used go first).
    #[arg(long, env = "OMNIA_CONTEXT_MEMORY_BYTES", default_value_t = 256 * 1024 * 1024)]
    context_memory_bytes: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // rediss:// context stores need a TLS provider; ring is the one this build carries.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let executor = match omnia_runtime::executor::build() {
        Ok(executor) => executor,
        Err(error) => {
            eprintln!("omnia-runtime: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Log lines (and, with OMNIA_TRACING_ENABLED=true, OTLP traces exported on this runtime).
    let telemetry = match omnia_runtime::telemetry::init(
        omnia_runtime::telemetry::RUNTIME_SERVICE,
        std::io::stdout,
        executor.handle(),
    ) {
        Ok(telemetry) => telemetry,
        Err(message) => {
            eprintln!("omnia-runtime: {message}");
            return ExitCode::FAILURE;
        }
    };
    let ran = executor.block_on(async {
        let ran = run(cli).await;
        // After the drain, so the spans of the last calls are sent too.
        telemetry.shutdown().await;
        ran
    });
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("omnia-runtime: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = omnia_api::load(&cli.config).map_err(|e| e.to_string())?;
    config.log_notices();
    let options = RuntimeOptions {
        dev: cli.dev,
        mock_stream_delay: std::time::Duration::from_millis(cli.mock_stream_delay_ms),
        context_limits: omnia_runtime::context::Limits {
            max_messages: usize::try_from(cli.context_max_messages).unwrap_or(usize::MAX),
            max_message_bytes: cli.context_max_message_bytes,
        },
        context_memory_bytes: cli.context_memory_bytes,
        metrics: Metrics::new(),
        // Server-side tools arrive with ToolRegistry support; until then every call a model
        // makes goes to the client (agent mode).
        ..RuntimeOptions::default()
    };
    let runtime = Runtime::compile(&config, options).map_err(|e| e.to_string())?;
    // Redis-backed context stores are connected now: bad credentials stop start-up here.
    runtime.connect().await.map_err(|e| e.to_string())?;
    let mut served = 0;
    for function in runtime.functions() {
        served += 1;
        tracing::info!(
            function = %function.name,
            namespace = %function.namespace,
            pack = %function.pack,
            prompt = %function.prompt,
            provider = %function.provider,
            "serving function"
        );
    }
    for agent in runtime.conversations() {
        served += 1;
        tracing::info!(
            agent = %agent.name,
            namespace = %agent.namespace,
            pack = %agent.pack,
            prompt = %agent.prompt,
            provider = %agent.provider,
            "serving agent"
        );
    }
    if served == 0 {
        tracing::warn!("no AgentRuntime in the configuration: every call will answer NotFound");
    }
    // Bind only after everything compiled: a bad pack never opens the port.
    let metrics = start_metrics(cli.metrics_listen, runtime.metrics()).await?;
    if let Some(path) = &cli.socket {
        // A socket file left by a previous run would make bind fail.
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        tracing::info!(socket = %path.display(), dev = cli.dev, "omnia-runtime listening");
        omnia_runtime::serve_unix(runtime, listener, shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
    } else {
        let address = match cli.listen {
            Some(address) => address,
            None => SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                port_from_env("OMNIA_RUNTIME_PORT", DEFAULT_PORT)?,
            )),
        };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let local = listener.local_addr().unwrap_or(address);
        if !local.ip().is_loopback() {
            tracing::warn!(
                %local,
                "omnia-runtime listens beyond loopback: it authenticates no one, so anything that \
                 reaches {local} can call Invoke directly, bypassing the gateway's authentication \
                 and both schemas, and claim any x-omnia-user-id; keep the default 127.0.0.1 \
                 unless the network admits only the gateway"
            );
        }
        tracing::info!(%local, dev = cli.dev, "omnia-runtime listening");
        omnia_runtime::serve(runtime, listener, shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
    }
    // Metrics stay up while in-flight calls finish, so their last scrape still sees them.
    if let Some((stop, task)) = metrics {
        let _ = stop.send(());
        let _ = task.await;
    }
    tracing::info!("omnia-runtime stopped");
    Ok(())
}

/// The running metrics listener: send on the channel to stop it, then await the task.
type MetricsTask = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// Binds and starts the `/metrics` listener as `--metrics-listen` says; `None` when off, or when
/// the default address cannot be bound (a warning: metrics are not worth failing a runtime that
/// nobody asked to serve them, and a second runtime on one host would otherwise never start).
async fn start_metrics(
    flag: Option<MetricsListen>,
    metrics: &Metrics,
) -> Result<Option<MetricsTask>, String> {
    let (address, explicit) = match flag {
        Some(MetricsListen::Off) => return Ok(None),
        Some(MetricsListen::At(address)) => (address, true),
        None => {
            let explicit = std::env::var_os("OMNIA_METRICS_PORT").is_some();
            let port = port_from_env("OMNIA_METRICS_PORT", DEFAULT_METRICS_PORT)?;
            (SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), explicit)
        }
    };
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) if explicit => return Err(format!("cannot serve metrics on {address}: {e}")),
        Err(e) => {
            tracing::warn!(
                "cannot serve metrics on {address}: {e}; running without /metrics (set \
                 --metrics-listen or OMNIA_METRICS_PORT to choose another address)"
            );
            return Ok(None);
        }
    };
    let local = listener.local_addr().unwrap_or(address);
    tracing::info!(%local, "serving Prometheus metrics on /metrics");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(omnia_runtime::serve_metrics(
        metrics.clone(),
        listener,
        async move {
            // A dropped sender (start-up failed later) stops the listener too.
            let _ = stopped.await;
        },
    ));
    Ok(Some((stop, task)))
}

/// The port in the environment variable `name`, or `default` when it is not set.
fn port_from_env(name: &str, default: u16) -> Result<u16, String> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a port number, not {value:?}")),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} must be a port number")),
    }
}

/// Completes on SIGINT or SIGTERM (Kubernetes stops pods with SIGTERM).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for SIGINT: {e}");
            // Without the handler this branch must not end the server.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight calls");
}

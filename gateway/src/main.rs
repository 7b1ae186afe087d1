//! `omnia-gateway`: `dev` (gateway + runtime in one process) and `serve` (the facade container).

/// mimalloc: the request path allocates many small, short-lived buffers (hyper, h2, tonic),
/// where it measured faster than glibc malloc (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use omnia_gateway::agent::WsLimits;
use omnia_gateway::agent::origin::OriginPolicy;
use omnia_gateway::app::{Gateway, GatewayOptions, shutdown_signal};
use omnia_gateway::dev;
use omnia_gateway::management::DEFAULT_INTERNAL_PORT;
use omnia_gateway::server::ConnectionLimits;
use omnia_gateway::stack::Limits;
use omnia_middleware::header_limit::DEFAULT_HEADER_LIMIT;
use omnia_middleware::limit::DEFAULT_BODY_LIMIT;

#[derive(Parser)]
#[command(
    name = "omnia-gateway",
    version,
    about = "The Omnia facade: AI functions over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gateway and runtime in one process, over a real gRPC connection; mock provider when no
    /// credentials are given. With no PATH, serves examples/.
    Dev {
        /// Manifest files or directories.
        paths: Vec<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8081")]
        health_listen: SocketAddr,
        /// Internal listener: management-plane (dashboard) tokens only.
        #[arg(long, default_value = "127.0.0.1:18080")]
        internal_listen: SocketAddr,
        /// Every function as an MCP tool (streamable HTTP, `/mcp`).
        #[arg(long, default_value = "127.0.0.1:9998")]
        mcp_listen: SocketAddr,
        #[command(flatten)]
        common: Common,
    },
    /// The facade container: talks to a separate `omnia-runtime`.
    Serve {
        /// Manifest files or directories.
        #[arg(long = "config", required = true, num_args = 1..)]
        config: Vec<PathBuf>,
        /// Facade address (default 0.0.0.0:$OMNIA_FACADE_PORT, port 8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Health and metrics address (default 0.0.0.0:$OMNIA_HEALTH_PORT, port 8081).
        #[arg(long)]
        health_listen: Option<SocketAddr>,
        /// Internal listener, management-plane (dashboard) tokens only (default
        /// 0.0.0.0:$OMNIA_INTERNAL_FACADE_PORT, port 18080; that variable set to 0 turns it off).
        #[arg(long)]
        internal_listen: Option<SocketAddr>,
        /// The runtime's gRPC address: host:port, or unix:///path for a Unix socket.
        #[arg(long, env = "OMNIA_RUNTIME_ADDRESS", default_value = "127.0.0.1:9000")]
        runtime_address: String,
        /// Run our runtime inside this process and call it without a socket (no separate
        /// runtime container); --runtime-address is then ignored.
        #[arg(long, env = "OMNIA_EMBEDDED_RUNTIME")]
        embedded_runtime: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// Largest request body in bytes.
    #[arg(long, env = "OMNIA_FACADE_MAX_BODY_BYTES", default_value_t = DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Largest total request header size in bytes.
    #[arg(long, env = "OMNIA_FACADE_MAX_HEADER_BYTES", default_value_t = DEFAULT_HEADER_LIMIT)]
    header_limit: usize,
    /// Function calls in flight beyond which new calls get 503 `unavailable` (a call counts once
    /// its body has arrived).
    #[arg(long, env = "OMNIA_FACADE_MAX_IN_FLIGHT", default_value_t = 4096)]
    max_in_flight: usize,
    /// How long a request body may take to arrive in full, in seconds; later is 408.
    #[arg(
        long,
        env = "OMNIA_FACADE_BODY_TIMEOUT_SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    body_timeout: u64,
    /// Open connections per listener beyond which new ones are closed at accept.
    #[arg(
        long,
        env = "OMNIA_FACADE_MAX_CONNECTIONS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    max_connections: u32,
    /// Concurrent HTTP/2 streams per connection.
    #[arg(
        long,
        env = "OMNIA_FACADE_MAX_CONCURRENT_STREAMS",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    max_concurrent_streams: u32,
    /// Seconds a connection may go without a request in progress before it is closed (HTTP/1
    /// keep-alive and HTTP/2 alike; also how long an HTTP/1 request head may take to arrive).
    #[arg(
        long,
        env = "OMNIA_FACADE_IDLE_TIMEOUT_SECONDS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    idle_timeout: u64,
    /// Open WebSockets per process; more are refused with 503 before the upgrade.
    #[arg(long, env = "OMNIA_FACADE_WS_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    ws_max_connections: u32,
    /// Largest WebSocket message (all its fragments), in bytes; larger closes with 1009.
    #[arg(long, env = "OMNIA_FACADE_WS_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    ws_max_message_bytes: usize,
    /// WebSocket messages per second per connection; more get `RATE_LIMITED`.
    #[arg(long, env = "OMNIA_FACADE_WS_MESSAGE_RATE", default_value_t = 50)]
    ws_message_rate: u32,
    /// The burst of messages allowed above that rate.
    #[arg(long, env = "OMNIA_FACADE_WS_MESSAGE_BURST", default_value_t = 100)]
    ws_message_burst: u32,
    /// Turns in flight per WebSocket; a `message` beyond it gets `RATE_LIMITED`.
    #[arg(long, env = "OMNIA_FACADE_WS_MAX_IN_FLIGHT_TURNS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    ws_max_in_flight_turns: u64,
    /// Seconds a client has to acknowledge a client-side tool call.
    #[arg(
        long,
        env = "OMNIA_FACADE_WS_TOOL_ACK_TIMEOUT_SECONDS",
        default_value_t = 5
    )]
    ws_tool_ack_timeout: u64,
    /// Seconds a client has to answer a client-side tool call (the AgentRuntime's
    /// `clientToolTimeout` overrides it).
    #[arg(
        long,
        env = "OMNIA_FACADE_WS_TOOL_RESULT_TIMEOUT_SECONDS",
        default_value_t = 60
    )]
    ws_tool_result_timeout: u64,
    /// Seconds between pings on a WebSocket.
    #[arg(long, env = "OMNIA_FACADE_WS_PING_INTERVAL_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    ws_ping_interval: u64,
    /// Seconds without a pong after which a WebSocket is closed.
    #[arg(long, env = "OMNIA_FACADE_WS_PONG_TIMEOUT_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    ws_pong_timeout: u64,
    /// Origins allowed to open WebSockets, comma-separated (`scheme://host[:port]`); unset or
    /// empty allows the same origin only. Requests without `Origin` (not browsers) are allowed.
    #[arg(long, env = "OMNIA_ALLOWED_ORIGINS", default_value = "")]
    allowed_origins: String,
    /// Milliseconds the mock provider pauses between the words it streams (dev and
    /// --embedded-runtime; a separate runtime takes its own flag).
    #[arg(long, env = "OMNIA_MOCK_STREAM_DELAY_MS", default_value_t = 0)]
    mock_stream_delay_ms: u64,
    /// Open a runtime stream per WebSocket turn, as Omnia's facade does, even when the runtime
    /// could serve the whole session on one (for comparing the two).
    #[arg(long, env = "OMNIA_FACADE_WS_STREAM_PER_TURN", default_value_t = false)]
    ws_stream_per_turn: bool,
    /// `handler: demo`'s delays as a multiple of Omnia's demo pacing (0 for none).
    #[arg(long, env = "OMNIA_DEMO_PACE", default_value_t = 1.0)]
    demo_pace: f64,
    /// Threads serving the facade port, each a current-thread runtime with its own SO_REUSEPORT
    /// listener and runtime connection; 0 or 1 serves it from the process's Tokio runtime.
    #[arg(long, env = "OMNIA_FACADE_THREADS", default_value_t = 0)]
    facade_threads: usize,
    /// Deadline for one runtime call, in seconds.
    #[arg(
        long,
        env = "OMNIA_FACADE_CALL_TIMEOUT_SECONDS",
        default_value_t = omnia_gateway::runtime_client::DEFAULT_CALL_TIMEOUT.as_secs()
    )]
    call_timeout: u64,
    /// How long in-flight calls may take to finish after SIGTERM, in seconds.
    #[arg(long, env = "OMNIA_FACADE_DRAIN_TIMEOUT_SECONDS", default_value_t = 30)]
    drain_timeout: u64,
    /// Admit every caller of a function that configures no validator (never in production).
    #[arg(
        long,
        env = "OMNIA_FACADE_ALLOW_UNAUTHENTICATED",
        default_value_t = false
    )]
    allow_unauthenticated: bool,
    /// PEM file with the management plane's RSA public key.
    #[arg(long, env = "OMNIA_MGMT_PLANE_PUBLIC_KEY_FILE")]
    management_plane_key: Option<PathBuf>,
    /// The dashboard's JWKS URL, for management-plane tokens.
    #[arg(long, env = "OMNIA_MGMT_PLANE_JWKS_URL")]
    management_plane_jwks_url: Option<String>,
    /// The Workspace these agents belong to: a management-plane token's `workspace` claim must
    /// name it.
    #[arg(long, env = "OMNIA_WORKSPACE_NAME")]
    workspace_name: Option<String>,
}

fn env_port(name: &str, default: u16) -> Result<u16, String> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a port number")),
        Err(_) => Ok(default),
    }
}

/// `serve`'s internal listener: the flag, else `OMNIA_INTERNAL_FACADE_PORT` (default 18080), where
/// 0 means none, as in Omnia.
fn internal_listen(flag: Option<SocketAddr>) -> Result<Option<SocketAddr>, String> {
    if flag.is_some() {
        return Ok(flag);
    }
    let port = env_port("OMNIA_INTERNAL_FACADE_PORT", DEFAULT_INTERNAL_PORT)?;
    Ok((port != 0).then(|| SocketAddr::from(([0, 0, 0, 0], port))))
}

/// An empty value reads as unset, as Omnia reads its environment.
fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.trim().is_empty())
}

fn options(
    common: &Common,
    listen: SocketAddr,
    health: SocketAddr,
    internal: Option<SocketAddr>,
    runtime: String,
) -> GatewayOptions {
    GatewayOptions {
        listen,
        health_listen: health,
        internal_listen: internal,
        runtime_address: runtime,
        embedded_runtime: None,
        limits: Limits {
            body: common.body_limit,
            headers: common.header_limit,
            max_in_flight: common.max_in_flight,
            body_timeout: Duration::from_secs(common.body_timeout),
        },
        connections: ConnectionLimits {
            max_connections: common.max_connections,
            max_streams: common.max_concurrent_streams,
            idle_timeout: Duration::from_secs(common.idle_timeout),
        },
        facade_threads: common.facade_threads,
        demo_pace: common.demo_pace,
        converse_per_turn: common.ws_stream_per_turn,
        mock_stream_delay: Duration::from_millis(common.mock_stream_delay_ms),
        ws: WsLimits {
            max_connections: common.ws_max_connections,
            max_message_bytes: common.ws_max_message_bytes,
            messages_per_second: common.ws_message_rate,
            message_burst: common.ws_message_burst,
            max_in_flight_turns: usize::try_from(common.ws_max_in_flight_turns)
                .unwrap_or(usize::MAX),
            tool_ack_timeout: Duration::from_secs(common.ws_tool_ack_timeout),
            tool_result_timeout: Duration::from_secs(common.ws_tool_result_timeout),
            ping_interval: Duration::from_secs(common.ws_ping_interval),
            pong_timeout: Duration::from_secs(common.ws_pong_timeout),
            origins: OriginPolicy::from_list(&common.allowed_origins),
        },
        call_timeout: Duration::from_secs(common.call_timeout),
        drain_timeout: Duration::from_secs(common.drain_timeout),
        allow_unauthenticated: common.allow_unauthenticated,
        open_when_unconfigured: false,
        management_plane_key: common.management_plane_key.clone(),
        management_plane_jwks_url: non_empty(&common.management_plane_jwks_url),
        workspace_name: non_empty(&common.workspace_name),
        mcp_listen: None,
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Dev {
            paths,
            listen,
            health_listen,
            internal_listen,
            mcp_listen,
            common,
        } => {
            let options = GatewayOptions {
                mcp_listen: Some(mcp_listen),
                ..options(
                    &common,
                    listen,
                    health_listen,
                    Some(internal_listen),
                    String::new(),
                )
            };
            dev::run(paths, options, shutdown_signal()).await
        }
        Command::Serve {
            config,
            listen,
            health_listen,
            internal_listen: internal_flag,
            runtime_address,
            embedded_runtime,
            common,
        } => {
            let listen = match listen {
                Some(addr) => addr,
                None => SocketAddr::from(([0, 0, 0, 0], env_port("OMNIA_FACADE_PORT", 8080)?)),
            };
            let health = match health_listen {
                Some(addr) => addr,
                None => SocketAddr::from(([0, 0, 0, 0], env_port("OMNIA_HEALTH_PORT", 8081)?)),
            };
            let internal = internal_listen(internal_flag)?;
            let resolved = omnia_api::load(&config).map_err(|e| e.to_string())?;
            resolved.log_notices();
            let mut options = options(&common, listen, health, internal, runtime_address);
            if embedded_runtime {
                let runtime_options = omnia_runtime::RuntimeOptions {
                    dev: false,
                    mock_stream_delay: options.mock_stream_delay,
                    ..Default::default()
                };
                let runtime = omnia_runtime::Runtime::compile(&resolved, runtime_options)
                    .map_err(|e| format!("embedded runtime: {e}"))?;
                runtime
                    .connect()
                    .await
                    .map_err(|e| format!("embedded runtime: {e}"))?;
                options.embedded_runtime = Some(std::sync::Arc::new(runtime));
            }
            let gateway = Gateway::bind(&resolved, options)
                .await
                .map_err(|e| e.to_string())?;
            // Listening for signals before saying "serving", which is when callers may send one.
            let shutdown = shutdown_signal();
            tracing::info!(
                facade = %gateway.facade_addr(),
                internal = ?gateway.internal_addr(),
                health = %gateway.health_addr(),
                "omnia-gateway serving"
            );
            gateway.serve(shutdown).await;
            Ok(())
        }
    }
}

fn facade_threads(cli: &Cli) -> usize {
    match &cli.command {
        Command::Dev { common, .. } | Command::Serve { common, .. } => common.facade_threads,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // https JWKS URLs need a TLS provider; ring is the one this build carries.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // With facade threads, this thread is the first of them and runs a current-thread runtime
    // like the others.
    let runtime = match if facade_threads(&cli) > 1 {
        omnia_runtime::executor::current_thread()
    } else {
        omnia_runtime::executor::build()
    } {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("omnia-gateway: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Log lines to stderr (and, with OMNIA_TRACING_ENABLED=true, OTLP traces exported on this
    // runtime).
    let telemetry = match omnia_runtime::telemetry::init(
        omnia_runtime::telemetry::FACADE_SERVICE,
        std::io::stderr,
        runtime.handle(),
    ) {
        Ok(telemetry) => telemetry,
        Err(message) => {
            eprintln!("omnia-gateway: {message}");
            return ExitCode::FAILURE;
        }
    };
    let ran = runtime.block_on(async {
        let ran = run(cli).await;
        // After the drain, so the spans of the last calls are sent too.
        telemetry.shutdown().await;
        ran
    });
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("omnia-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

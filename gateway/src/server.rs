//! Listeners: accept up to a cap of open connections, set `TCP_NODELAY`, serve HTTP/1.1 and h2c
//! on one port with transport limits that follow the configured ones, close idle connections,
//! and drain on shutdown (stop accepting, let in-flight requests finish, close idle connections).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use omnia_middleware::ResponseBody;
use omnia_middleware::header_limit::{DEFAULT_HEADER_LIMIT, transport_cap};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::Service;

use crate::connection::{self, Activity, Phase, Tracked};
use crate::metrics::{CountConnection, Metrics};

/// HTTP/2 keep-alive: ping a connection every 30 s (Omnia pings its WebSockets as often), and
/// close it when a ping goes unanswered for 20 s (hyper's default), so a peer that vanished
/// without a FIN does not hold its streams until the call deadline.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How many connections a listener keeps open and what each may do.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections beyond which new ones are accepted and closed at once.
    pub max_connections: u32,
    /// Concurrent HTTP/2 streams per connection (`SETTINGS_MAX_CONCURRENT_STREAMS`); a stream
    /// opened beyond it is refused with `REFUSED_STREAM`.
    pub max_streams: u32,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 10 000 connections; 100 streams each (Go's HTTP/2 server default); 120 s idle (Omnia's
    /// facade `IdleTimeout`).
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_streams: 100,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// How one listener serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub connections: ConnectionLimits,
    /// The header limit the stack answers 431 for; the transport's own cap follows it.
    pub header_limit: usize,
    /// How long in-flight requests may take to finish after shutdown.
    pub drain: Duration,
    /// Count connections (and refused ones) here, if any.
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            connections: ConnectionLimits::default(),
            header_limit: DEFAULT_HEADER_LIMIT,
            drain: Duration::from_secs(30),
            metrics: None,
        }
    }
}

/// hyper, configured from `options`.
fn builder(options: &ServeOptions) -> auto::Builder<TokioExecutor> {
    let limits = &options.connections;
    // Both transports refuse a header block past the cap before parsing it whole; between the
    // configured limit and the cap, the stack's header layer answers a JSON 431
    // (see omnia_middleware::header_limit for the relation).
    let header_cap = transport_cap(options.header_limit);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(header_cap)
        // hyper starts this clock whenever an HTTP/1 connection waits for a request head: on
        // accept and after each response. So it is HTTP/1's keep-alive idle timeout and its
        // slowloris bound at once: a client trickling its head holds the connection no longer
        // than a silent one. Go's net/http, which Omnia uses, waits IdleTimeout for a request's
        // first bytes and its read timeout after, so it bounds both about as long.
        .header_read_timeout(limits.idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(header_cap).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.max_streams)
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
    builder
}

/// Serves `service` on `listener` until `shutdown` resolves, then drains for at most
/// `options.drain`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) where
    S: Service<Request<Incoming>, Response = Response<ResponseBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let builder = builder(&options);
    let limits = options.connections;
    let max = limits.max_connections.max(1);
    // One permit per open connection, held by its task until the connection ends.
    let open = Arc::new(Semaphore::new(max as usize));
    let (phase, phases) = watch::channel(Phase::Serving);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = open.clone().try_acquire_owned() else {
                    // Over the cap: accepted only to be closed at once, so the client (or its
                    // load balancer) learns now instead of waiting in the kernel's backlog.
                    tracing::debug!(max, "connection refused: too many open connections");
                    if let Some(metrics) = &options.metrics {
                        metrics.connection_refused();
                    }
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let activity = Activity::new();
                // The connection's metrics handle lives in its service, which hyper drops when
                // the connection ends however it ends (or when it hands an upgraded one over).
                let counted = CountConnection::new(
                    service.clone(),
                    options.metrics.as_ref().map(|m| m.connection()),
                );
                let service = TowerToHyperService::new(Tracked::new(counted, activity.clone()));
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let phases = phases.clone();
                tokio::spawn(async move {
                    let ended = connection::drive(
                        connection,
                        |connection| connection.graceful_shutdown(),
                        &activity,
                        limits.idle_timeout,
                        phases,
                    )
                    .await;
                    if let Err(error) = ended {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    // Closing the listener refuses new connections from here on.
    drop(listener);
    phase.send_replace(Phase::Draining);
    // Every permit back means every connection has ended.
    tokio::select! {
        _ = open.acquire_many(max) => tracing::info!("all connections drained"),
        () = tokio::time::sleep(options.drain) => {
            tracing::warn!(drain = ?options.drain, "drain timed out; closing remaining connections");
            phase.send_replace(Phase::Closed);
        }
    }
}

//! Listeners: accept, set `TCP_NODELAY`, serve HTTP/1.1 and h2c on one port, and drain on
//! shutdown (stop accepting, let in-flight requests finish, close idle connections).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use omnia_middleware::ResponseBody;
use tokio::net::TcpListener;
use tower::Service;

use crate::metrics::{CountConnection, Metrics};

/// hyper's own header buffer: well above our JSON-answered header limit, so oversized headers
/// get our 431 body, while a truly absurd header block is still refused by hyper.
const HYPER_MAX_BUF: usize = 4 * 1024 * 1024;

/// Serves `service` on `listener` until `shutdown` resolves, then drains for at most `drain`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    metrics: Option<Arc<Metrics>>,
) where
    S: Service<Request<Incoming>, Response = Response<ResponseBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(HYPER_MAX_BUF)
        // A client that never finishes its headers must not hold a connection forever.
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(HYPER_MAX_BUF as u32);
    let graceful = GracefulShutdown::new();
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
                let _ = stream.set_nodelay(true);
                // The connection's metrics handle lives in its service, which hyper drops when
                // the connection ends however it ends (or when it hands an upgraded one over).
                let counted = CountConnection::new(
                    service.clone(),
                    metrics.as_ref().map(|m| m.connection()),
                );
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(counted))
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    // Closing the listener refuses new connections from here on.
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!(?drain, "drain timed out; closing remaining connections"),
    }
}

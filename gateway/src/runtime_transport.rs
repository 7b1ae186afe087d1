//! The HTTP/2 connection under the gateway's gRPC client to the runtime.
//!
//! tonic's `Channel` puts every call through a `Buffer`: a channel to a worker task that owns the
//! connection, so each call costs a task hop and a cross-task wake-up. hyper's HTTP/2
//! `SendRequest` is already a cloneable handle on one multiplexed connection, so here each call
//! clones it and sends directly. The current connection sits in an `ArcSwap`: a call reads it
//! without a lock. Only a call that finds it missing or closed takes the connect lock, so one
//! reconnect runs at a time and later calls reuse its result.
//!
//! The runtime is reached over TCP (`host:port`, Omnia's layout) or a Unix domain socket
//! (`unix:///path`, for two containers of one pod sharing an `emptyDir`).

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::body::Body;

/// How long a connection attempt to the runtime may take before the call fails fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Keep-alive pings on an idle link, so a runtime that vanished is noticed before a call needs it.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Flow-control windows for a peer on the same host: large enough that a 1 MiB body (the default
/// limit) never waits for a WINDOW_UPDATE round trip.
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// Where the runtime listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeAddress {
    /// `host:port` (also written `http://host:port`).
    Tcp(String),
    /// `unix:///path/to/socket`.
    Unix(PathBuf),
}

impl RuntimeAddress {
    /// Parses `host:port`, `http://host:port` or `unix:///path`.
    ///
    /// # Errors
    /// A message naming what is wrong with `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "`{text}`: a unix socket address needs an absolute path (unix:///path)"
                ));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let authority = text.strip_prefix("http://").unwrap_or(text);
        let authority = authority.trim_end_matches('/');
        if authority.contains("://") || authority.contains('/') || !authority.contains(':') {
            return Err(format!(
                "`{text}`: expected host:port, http://host:port or unix:///path"
            ));
        }
        Ok(Self::Tcp(authority.to_owned()))
    }

    async fn connect(&self) -> io::Result<Box<dyn Io>> {
        match self {
            Self::Tcp(authority) => {
                let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            Self::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        }
    }
}

impl std::fmt::Display for RuntimeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(authority) => f.write_str(authority),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// A byte stream the connection runs over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Opens a new byte stream to the runtime; tests and benches supply in-memory ones.
pub type Connector =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Io>>> + Send>> + Send + Sync>;

/// Errors of the transport, as tonic wants them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A cheap-to-clone `tower::Service` sending gRPC requests over one HTTP/2 connection.
#[derive(Clone)]
pub struct Http2Transport {
    shared: Arc<Shared>,
}

struct Shared {
    connect: Connector,
    current: ArcSwapOption<SendRequest<Body>>,
    /// Held only while (re)connecting, never on the path of a call that finds a live connection.
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Http2Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Transport").finish_non_exhaustive()
    }
}

impl Http2Transport {
    /// A transport to `address`; nothing connects until the first call.
    pub fn new(address: RuntimeAddress) -> Self {
        let address = Arc::new(address);
        Self::with_connector(Arc::new(move || {
            let address = address.clone();
            Box::pin(async move {
                match tokio::time::timeout(CONNECT_TIMEOUT, address.connect()).await {
                    Ok(result) => result,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "connecting to the runtime at {address} took over {CONNECT_TIMEOUT:?}"
                        ),
                    )),
                }
            })
        }))
    }

    /// A transport whose connections come from `connect`.
    pub fn with_connector(connect: Connector) -> Self {
        Self {
            shared: Arc::new(Shared {
                connect,
                current: ArcSwapOption::empty(),
                connecting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The live connection, or a new one when there is none or it has closed.
    async fn sender(&self) -> Result<SendRequest<Body>, BoxError> {
        if let Some(sender) = live(&self.shared.current) {
            return Ok(sender);
        }
        let _connecting = self.shared.connecting.lock().await;
        // Whoever held the lock before may have connected already.
        if let Some(sender) = live(&self.shared.current) {
            return Ok(sender);
        }
        let io = (self.shared.connect)().await?;
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .keep_alive_interval(KEEP_ALIVE)
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(io))
            .await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "runtime connection ended with an error");
            }
        });
        self.shared.current.store(Some(Arc::new(sender.clone())));
        Ok(sender)
    }
}

fn live(current: &ArcSwapOption<SendRequest<Body>>) -> Option<SendRequest<Body>> {
    let guard = current.load();
    let sender = guard.as_deref()?;
    (!sender.is_closed()).then(|| sender.clone())
}

impl tower::Service<Request<Body>> for Http2Transport {
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the connection's, checked per call: an HTTP/2 connection takes any number
        // of streams up to the peer's limit, and a closed one is replaced in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut sender = this.sender().await?;
            sender.ready().await?;
            Ok(sender.send_request(request).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_tcp_or_unix() {
        assert_eq!(
            RuntimeAddress::parse("127.0.0.1:9000"),
            Ok(RuntimeAddress::Tcp("127.0.0.1:9000".into()))
        );
        assert_eq!(
            RuntimeAddress::parse("http://runtime:9000/"),
            Ok(RuntimeAddress::Tcp("runtime:9000".into()))
        );
        assert_eq!(
            RuntimeAddress::parse("unix:///var/run/omnia/runtime.sock"),
            Ok(RuntimeAddress::Unix("/var/run/omnia/runtime.sock".into()))
        );
        for bad in [
            "unix://relative.sock",
            "runtime",
            "https://x:1/path",
            "ftp://x:1",
        ] {
            assert!(RuntimeAddress::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The HTTP/2 connection under the gateway's gRPC client to the runtime.
//!
//! tonic's `Channel` puts every call through a `Buffer` (a channel to a worker task that owns the
//! connection), and hyper's HTTP/2 client does the same in its own way: each request crosses a
//! channel to the connection task, which spawns one task per request to await the response and
//! answers through a oneshot. Here the call opens its stream itself on h2's `SendRequest`, a
//! cloneable handle on one multiplexed connection: the caller's task writes the request into the
//! connection's shared state and awaits the response, and the connection task only does the I/O.
//! A unary call's body (one encoded message) goes out with its headers; only a request that
//! streams (one whose body is not ready at once) gets a task pumping it.
//!
//! The current connection sits in an `ArcSwap`: a call reads it without a lock. Only a call that
//! finds it missing or closed takes the connect lock, so one reconnect runs at a time and later
//! calls reuse its result.
//!
//! The runtime is reached over TCP (`host:port`, Omnia's layout) or a Unix domain socket
//! (`unix:///path`, for two containers of one pod sharing an `emptyDir`).

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use futures_util::FutureExt as _;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Ping, PingPong, RecvStream, SendStream};
use http::{HeaderMap, Request, Response};
use http_body::{Body as _, Frame};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::body::Body;

/// How long a connection attempt to the runtime may take before the call fails fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Keep-alive pings on the link, so a runtime that vanished without a FIN is noticed before a call
/// needs it; a ping unanswered for `KEEP_ALIVE_TIMEOUT` closes the connection (hyper's defaults).
const KEEP_ALIVE: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
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
    current: ArcSwapOption<Link>,
    /// Held only while (re)connecting, never on the path of a call that finds a live connection.
    connecting: tokio::sync::Mutex<()>,
}

/// One connection: the handle calls open streams on, and whether its connection task still runs.
struct Link {
    sender: SendRequest<Bytes>,
    open: Arc<AtomicBool>,
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
    async fn link(&self) -> Result<Arc<Link>, BoxError> {
        if let Some(link) = live(&self.shared.current) {
            return Ok(link);
        }
        let _connecting = self.shared.connecting.lock().await;
        // Whoever held the lock before may have connected already.
        if let Some(link) = live(&self.shared.current) {
            return Ok(link);
        }
        let io = (self.shared.connect)().await?;
        let (sender, mut connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(io)
            .await?;
        let open = Arc::new(AtomicBool::new(true));
        let pings = connection.ping_pong();
        let flag = open.clone();
        tokio::spawn(async move {
            let ended = match pings {
                Some(pings) => tokio::select! {
                    ended = &mut connection => ended.map_err(BoxError::from),
                    dead = keep_alive(pings) => Err(dead),
                },
                None => connection.await.map_err(BoxError::from),
            };
            flag.store(false, Ordering::Release);
            if let Err(error) = ended {
                tracing::debug!(%error, "runtime connection ended with an error");
            }
        });
        let link = Arc::new(Link { sender, open });
        self.shared.current.store(Some(link.clone()));
        Ok(link)
    }
}

fn live(current: &ArcSwapOption<Link>) -> Option<Arc<Link>> {
    current
        .load_full()
        .filter(|link| link.open.load(Ordering::Acquire))
}

/// Pings every `KEEP_ALIVE`; returns when a ping goes unanswered, which ends the connection.
async fn keep_alive(mut pings: PingPong) -> BoxError {
    loop {
        tokio::time::sleep(KEEP_ALIVE).await;
        match tokio::time::timeout(KEEP_ALIVE_TIMEOUT, pings.ping(Ping::opaque())).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return error.into(),
            Err(_) => {
                return format!("the runtime left a ping unanswered for {KEEP_ALIVE_TIMEOUT:?}")
                    .into();
            }
        }
    }
}

impl tower::Service<Request<Body>> for Http2Transport {
    type Response = Response<ResponseBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the connection's, checked per call: an HTTP/2 connection takes any number
        // of streams up to the peer's limit (h2 queues the rest), and a closed one is replaced
        // in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let sender = this.link().await?.sender.clone().ready().await?;
            let response = send(sender, request)?.await?;
            Ok(response.map(|body| ResponseBody {
                body,
                data_done: false,
            }))
        })
    }
}

/// Opens the request's stream and sends what of its body is ready now; a body that is not
/// finished by then is left to a task that pumps the rest.
fn send(
    mut sender: SendRequest<Bytes>,
    request: Request<Body>,
) -> Result<ResponseFuture, h2::Error> {
    let (head, mut body) = request.into_parts();
    let head = Request::from_parts(head, ());
    if body.is_end_stream() {
        return Ok(sender.send_request(head, true)?.0);
    }
    let (response, mut stream) = sender.send_request(head, false)?;
    // The last data frame seen is held back one step, so that when the body ends right after it
    // (a unary call: one message), it carries END_STREAM itself instead of an empty frame after.
    let mut held: Option<Bytes> = None;
    loop {
        match body.frame().now_or_never() {
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    if let Some(previous) = held.replace(data) {
                        stream.send_data(previous, false)?;
                    }
                }
                Err(frame) => {
                    if let Some(previous) = held.take() {
                        stream.send_data(previous, false)?;
                    }
                    stream.send_trailers(
                        frame.into_trailers().unwrap_or_else(|_| HeaderMap::new()),
                    )?;
                    return Ok(response);
                }
            },
            Some(None) => {
                stream.send_data(held.unwrap_or_default(), true)?;
                return Ok(response);
            }
            Some(Some(Err(status))) => {
                tracing::debug!(%status, "request body failed before it was sent");
                stream.send_reset(h2::Reason::CANCEL);
                return Ok(response);
            }
            None => {
                if let Some(previous) = held.take() {
                    stream.send_data(previous, false)?;
                }
                tokio::spawn(pump(body, stream));
                return Ok(response);
            }
        }
    }
}

/// Sends the rest of a streaming request body as it comes, within the stream's flow-control
/// window, until the body ends or the runtime resets the stream.
async fn pump(mut body: Body, mut stream: SendStream<Bytes>) {
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => return,
        };
        let (sent, last) = match frame {
            None => (stream.send_data(Bytes::new(), true), true),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => match capacity(&mut stream, data.len()).await {
                    Ok(()) => (stream.send_data(data, false), false),
                    Err(error) => (Err(error), true),
                },
                Err(frame) => (
                    stream
                        .send_trailers(frame.into_trailers().unwrap_or_else(|_| HeaderMap::new())),
                    true,
                ),
            },
            Some(Err(status)) => {
                tracing::debug!(%status, "request body failed while streaming");
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
        };
        if sent.is_err() || last {
            return;
        }
    }
}

/// Waits until the stream may send `len` more bytes, so a fast producer is held back by the
/// runtime's window instead of growing h2's send buffer without bound.
async fn capacity(stream: &mut SendStream<Bytes>, len: usize) -> Result<(), h2::Error> {
    stream.reserve_capacity(len);
    while stream.capacity() < len {
        match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error),
            None => return Ok(()),
        }
    }
    Ok(())
}

/// A response body: the stream's data frames, then its trailers (where gRPC puts the status).
/// Each frame's bytes are handed back to the connection's window as they are read.
pub struct ResponseBody {
    body: RecvStream,
    data_done: bool,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if !self.data_done {
            match ready!(self.body.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.body.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => self.data_done = true,
            }
        }
        match ready!(self.body.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(error))),
        }
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

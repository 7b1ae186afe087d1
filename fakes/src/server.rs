//! The listener: one hyper HTTP/1.1 server on `127.0.0.1:0` that records every request and answers
//! it with the next scripted [`Reply`]. Everything it spawns lives in one task, so dropping the
//! [`FakeServer`] closes the listener and every open connection (stalled streams included).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::reply::{Reply, StreamEnd, StreamReply};

type Body = UnsyncBoxBody<Bytes, io::Error>;

/// How long [`FakeServer::request`] waits before failing the test.
const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// A scripted fake provider; serves until dropped.
pub struct FakeServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// One request as the server received it (body read in full).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub arrived: Instant,
}

impl Recorded {
    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON: the client under test sent something no provider accepts.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "omnia-fakes: request body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

struct Shared {
    /// Replies and requests under one lock, so the n-th request always gets the n-th reply.
    script: Mutex<Script>,
    /// Number of requests recorded so far, for [`FakeServer::request`] to wait on.
    arrived: watch::Sender<usize>,
    /// One permit per [`FakeServer::release`]; a held stream takes one.
    release: Semaphore,
    /// One entry per streamed reply, in the order their first events went out.
    streams: Mutex<Vec<StreamTimes>>,
    /// `TCP_NODELAY` on connections accepted from now on.
    nodelay: AtomicBool,
}

/// When one streamed reply's events went out.
struct StreamTimes {
    /// When its first event was handed to hyper.
    first: Instant,
    /// When it ended (clean end or reset).
    end: Option<Instant>,
    /// Per event, when the socket write that carried it returned (see [`Stamped`]).
    events: Vec<Instant>,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    requests: Vec<Recorded>,
}

impl FakeServer {
    /// Plain HTTP on `127.0.0.1`, an ephemeral port.
    pub async fn start() -> FakeServer {
        Self::listen(None).await
    }

    /// HTTPS with the given PEM certificate chain and private key (base URL host `localhost`, so
    /// the certificate should name it).
    ///
    /// # Panics
    /// On PEM or certificate errors.
    pub async fn start_tls(cert_chain_pem: &[u8], key_pem: &[u8]) -> FakeServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|err| panic!("omnia-fakes: bad certificate PEM: {err}"));
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .unwrap_or_else(|err| panic!("omnia-fakes: bad private key PEM: {err}"));
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap_or_else(|err| panic!("omnia-fakes: unusable certificate: {err}"));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::listen(Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn listen(tls: Option<TlsAcceptor>) -> FakeServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|err| panic!("omnia-fakes: cannot bind 127.0.0.1:0: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("omnia-fakes: no local address: {err}"));
        let shared = Arc::new(Shared {
            script: Mutex::new(Script::default()),
            arrived: watch::Sender::new(0),
            release: Semaphore::new(0),
            streams: Mutex::new(Vec::new()),
            nodelay: AtomicBool::new(true),
        });
        let is_tls = tls.is_some();
        let task = tokio::spawn(accept(listener, tls, shared.clone()));
        FakeServer {
            addr,
            tls: is_tls,
            shared,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS (certificates name hosts).
    pub fn base_url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// Queues the answer to a later request (first in, first out).
    pub fn push(&self, reply: impl Into<Reply>) {
        self.shared.script.lock().replies.push_back(reply.into());
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.script.lock().requests.clone()
    }

    /// The `n`-th request (0-based), waiting for it to arrive.
    ///
    /// # Panics
    /// When it has not arrived within 10 s.
    pub async fn request(&self, n: usize) -> Recorded {
        let mut arrived = self.shared.arrived.subscribe();
        // The watch guard is dropped inside the closure, before the script lock is taken.
        let ok = tokio::time::timeout(REQUEST_WAIT, arrived.wait_for(|count| *count > n))
            .await
            .is_ok_and(|got| got.is_ok());
        let script = self.shared.script.lock();
        match script.requests.get(n) {
            Some(request) if ok => request.clone(),
            _ => panic!(
                "omnia-fakes: request {n} did not arrive within {REQUEST_WAIT:?} ({} received)",
                script.requests.len()
            ),
        }
    }

    /// Whether connections accepted from now on set `TCP_NODELAY` (the default: `true`, as most
    /// HTTP servers do). With `false`, Nagle's algorithm holds each small event written while an
    /// earlier one is unacknowledged, and against a client's delayed ACK that is up to ~40 ms on
    /// Linux: streams then arrive in bursts, whatever the client does.
    pub fn set_nodelay(&self, nodelay: bool) {
        self.shared.nodelay.store(nodelay, Ordering::Relaxed);
    }

    /// Lets one held stream go on. A release before the stream reaches its hold is kept, so the
    /// stream then does not stop at all.
    pub fn release(&self) {
        self.shared.release.add_permits(1);
    }

    /// Per streamed reply, in the order they started: when the first event went out and when the
    /// stream ended (clean end or reset; `None` while running or stalled).
    pub fn stream_times(&self) -> Vec<(Instant, Option<Instant>)> {
        let streams = self.shared.streams.lock();
        streams.iter().map(|s| (s.first, s.end)).collect()
    }

    /// Per streamed reply, in the order they started: when each of its events was written, one
    /// `Instant` per event in order, taken when the flush that carried the event to the socket
    /// returned (the write syscall done, so the bytes are in the kernel). Events written together
    /// (no `gap`) share an instant; events not yet written (held, stalled, or lost to a reset)
    /// have none yet.
    pub fn event_times(&self) -> Vec<Vec<Instant>> {
        let streams = self.shared.streams.lock();
        streams.iter().map(|s| s.events.clone()).collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections; they run in a set owned by this task, so aborting it ends them all.
async fn accept(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let _ = tcp.set_nodelay(shared.nodelay.load(Ordering::Relaxed));
        let shared = shared.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve(tcp, shared).await,
                Some(tls) => {
                    if let Ok(stream) = tls.accept(tcp).await {
                        serve(stream, shared).await;
                    }
                }
            }
        });
    }
}

async fn serve<I>(io: I, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let unwritten = Arc::new(Mutex::new(Vec::new()));
    let io = Stamped {
        io,
        unwritten: unwritten.clone(),
        shared: shared.clone(),
    };
    let service = service_fn(move |request| {
        let shared = shared.clone();
        let unwritten = unwritten.clone();
        async move { Ok::<_, Infallible>(answer(request, shared, unwritten).await) }
    });
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// Slots (in `Shared::streams`) of events handed to hyper on one connection and not yet written.
type Unwritten = Arc<Mutex<Vec<usize>>>;

/// A connection's I/O that stamps events as written: hyper buffers a body frame, writes the
/// buffer when the body has nothing more ready, then calls `poll_flush` on the I/O, so a flush
/// that returns `Ready(Ok)` follows the socket writes of every event handed over before it.
struct Stamped<I> {
    io: I,
    unwritten: Unwritten,
    shared: Arc<Shared>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Stamped<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Stamped<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.io).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            let now = Instant::now();
            let slots = std::mem::take(&mut *self.unwritten.lock());
            if !slots.is_empty() {
                let mut streams = self.shared.streams.lock();
                for slot in slots {
                    if let Some(stream) = streams.get_mut(slot) {
                        stream.events.push(now);
                    }
                }
            }
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Records the request, then answers with the next scripted reply (or the 500 default).
async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    unwritten: Unwritten,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        arrived: Instant::now(),
    };
    let reply = {
        let mut script = shared.script.lock();
        script.requests.push(recorded);
        shared.arrived.send_replace(script.requests.len());
        script.replies.pop_front()
    };
    match reply {
        None => whole(
            500,
            &json_header(),
            r#"{"error":"omnia-fakes: no scripted reply"}"#.into(),
        ),
        Some(Reply::Body {
            status,
            headers,
            body,
        }) => whole(status, &headers, body),
        Some(Reply::Stream(stream)) => streamed(stream, shared, unwritten),
    }
}

fn json_header() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

/// A whole-body response; a script error (bad status or header) becomes a 500 naming it.
fn whole(status: u16, headers: &[(String, String)], body: String) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .unwrap_or_else(|err| script_error(&err))
}

fn script_error(err: &http::Error) -> Response<Body> {
    let body = serde_json::json!({ "error": format!("omnia-fakes: bad scripted reply: {err}") });
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|n| match n {})
            .boxed_unsync(),
    );
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// Where a streamed body is between polls.
struct Streaming {
    reply: StreamReply,
    next: usize,
    held: bool,
    done: bool,
    /// This stream's entry in `Shared::streams`, once its first event went out.
    slot: Option<usize>,
    shared: Arc<Shared>,
    /// Where its events wait to be stamped as written.
    unwritten: Unwritten,
}

impl Streaming {
    /// This stream's slot, taken when its first event goes out.
    fn started(&mut self) -> usize {
        match self.slot {
            Some(slot) => slot,
            None => {
                let mut streams = self.shared.streams.lock();
                streams.push(StreamTimes {
                    first: Instant::now(),
                    end: None,
                    events: Vec::with_capacity(self.reply.events.len()),
                });
                let slot = streams.len() - 1;
                self.slot = Some(slot);
                slot
            }
        }
    }

    fn finished(&mut self) {
        let slot = self.started();
        self.shared.streams.lock()[slot].end = Some(Instant::now());
    }

    /// The next body frame: an event, the end (`None`), a stall (never returns) or the reset error.
    async fn step(mut self) -> Option<(Result<Frame<Bytes>, io::Error>, Self)> {
        if self.done {
            return None;
        }
        let index = self.next;
        if self.reply.hold_after == Some(index) && !self.held {
            self.held = true;
            if let Ok(permit) = self.shared.release.acquire().await {
                permit.forget();
            }
        }
        if index < self.reply.events.len() {
            if index > 0 && !self.reply.gap.is_zero() {
                tokio::time::sleep(self.reply.gap).await;
            }
            let event = std::mem::take(&mut self.reply.events[index]);
            let slot = self.started();
            // Stamped by the connection's I/O once hyper has written it.
            self.unwritten.lock().push(slot);
            self.next += 1;
            return Some((Ok(Frame::data(Bytes::from(event))), self));
        }
        self.done = true;
        match self.reply.end {
            StreamEnd::Finish => {
                self.finished();
                None
            }
            StreamEnd::Stall => std::future::pending().await,
            StreamEnd::Reset => {
                // Let hyper flush the events already written before the connection is dropped.
                tokio::time::sleep(Duration::from_millis(5)).await;
                self.finished();
                let reset = io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "omnia-fakes: scripted reset",
                );
                Some((Err(reset), self))
            }
        }
    }
}

/// A 200 whose body yields the events one frame at a time (hyper writes each as its own chunk and
/// flushes when the next one is not ready); a body error makes hyper drop the connection mid-body.
fn streamed(reply: StreamReply, shared: Arc<Shared>, unwritten: Unwritten) -> Response<Body> {
    let content_type = reply.content_type.clone();
    let state = Streaming {
        reply,
        next: 0,
        held: false,
        done: false,
        slot: None,
        shared,
        unwritten,
    };
    let body = StreamBody::new(stream::unfold(state, Streaming::step));
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(body.boxed_unsync())
        .unwrap_or_else(|err| script_error(&err))
}

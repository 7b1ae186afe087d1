//! Test fixtures: a tiny real hyper server on 127.0.0.1:0 and a fake in-process scenario.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::scenario::{Exchange, Outcome, Scenario};

/// What the server answers to the request with a given index (0-based, across connections).
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
}

impl Reply {
    pub fn ok() -> Self {
        Self {
            status: 200,
            delay: Duration::ZERO,
        }
    }
}

/// What the server saw of one request.
#[derive(Debug)]
pub struct Seen {
    pub path: String,
    pub version: Version,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// A running test server; dropping it stops accepting.
pub struct TestServer {
    pub url: String,
    pub seen: mpsc::UnboundedReceiver<Seen>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Binds first (so the port is ready before any client starts), then serves in the background.
pub async fn serve<F>(http2: bool, behave: F) -> TestServer
where
    F: Fn(u64) -> Reply + Send + Sync + 'static,
{
    serve_with(http2, true, behave).await
}

/// Like `serve`; with `keep_alive` false (HTTP/1 only) every reply closes its connection.
pub async fn serve_with<F>(http2: bool, keep_alive: bool, behave: F) -> TestServer
where
    F: Fn(u64) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let behave = Arc::new(behave);
    let count = Arc::new(AtomicU64::new(0));
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            stream.set_nodelay(true).unwrap();
            let behave = Arc::clone(&behave);
            let count = Arc::clone(&count);
            let seen_tx = seen_tx.clone();
            let service = service_fn(move |request: Request<Incoming>| {
                let behave = Arc::clone(&behave);
                let count = Arc::clone(&count);
                let seen_tx = seen_tx.clone();
                async move {
                    let index = count.fetch_add(1, Ordering::SeqCst);
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let header = |name| {
                        parts
                            .headers
                            .get(name)
                            .map(|v: &hyper::header::HeaderValue| v.to_str().unwrap().to_owned())
                    };
                    let _ = seen_tx.send(Seen {
                        path: parts.uri.path().to_owned(),
                        version: parts.version,
                        authorization: header(hyper::header::AUTHORIZATION),
                        content_type: header(hyper::header::CONTENT_TYPE),
                        body,
                    });
                    let reply = behave(index);
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    let response = Response::builder()
                        .status(reply.status)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(b"{\"result\":\"ok\"}")))
                        .unwrap();
                    Ok::<_, hyper::Error>(response)
                }
            });
            let io = TokioIo::new(stream);
            tokio::spawn(async move {
                if http2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(io, service)
                        .await;
                }
            });
        }
    });
    TestServer {
        url: format!("http://{addr}"),
        seen,
        accept,
    }
}

/// An in-process "server": every exchange takes `service`, except exchange number `stall_at`
/// (counted across workers), which takes `stall`. Used with tokio's paused clock, so timings are
/// exact.
#[derive(Debug, Clone)]
pub struct FakeScenario {
    pub calls: Arc<AtomicU64>,
    pub stall_at: u64,
    pub stall: Duration,
    pub service: Duration,
    /// Receives the instant each exchange starts, when set.
    pub starts: Option<mpsc::UnboundedSender<tokio::time::Instant>>,
}

impl FakeScenario {
    pub fn new(service: Duration, stall_at: u64, stall: Duration) -> Self {
        Self {
            calls: Arc::new(AtomicU64::new(0)),
            stall_at,
            stall,
            service,
            starts: None,
        }
    }
}

impl Scenario for FakeScenario {
    type Worker = FakeScenario;

    fn name(&self) -> &'static str {
        "fake"
    }

    fn worker(&self) -> FakeScenario {
        self.clone()
    }
}

impl Exchange for FakeScenario {
    async fn exchange(&mut self) -> Outcome {
        if let Some(starts) = &self.starts {
            let _ = starts.send(tokio::time::Instant::now());
        }
        let index = self.calls.fetch_add(1, Ordering::SeqCst);
        let time = if index == self.stall_at {
            self.stall
        } else {
            self.service
        };
        tokio::time::sleep(time).await;
        Outcome::Reply { status: 200 }
    }

    fn abandon(&mut self) {}
}

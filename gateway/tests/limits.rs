#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Abuse and limits, over real sockets: slow bodies, oversized and HPACK-expanded headers, idle
//! connections, the HTTP/2 stream cap and the connection cap. Each test configures small limits
//! and timeouts so it runs fast; none asserts how long anything took.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use omnia_gateway::server::ConnectionLimits;
use omnia_middleware::header_limit::transport_cap;
use support::h2_frames::*;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

const ECHO_PATH: &str = "/functions/echo-function";

async fn gateway(runtime: &FakeRuntime, options: Options) -> TestGateway {
    TestGateway::start(&echo_yaml(), runtime.address(), options).await
}

fn idle_after(timeout: Duration) -> ConnectionLimits {
    ConnectionLimits {
        idle_timeout: timeout,
        ..ConnectionLimits::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Slow bodies
// ---------------------------------------------------------------------------------------------

/// An HTTP/1.1 connection that sends a POST head announcing a 100-byte body, then 11 bytes of
/// it, then nothing.
async fn stalled_http1(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {ECHO_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"message\":"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// A request body that yields what is sent on its channel, and ends when the channel closes.
type Trickle = StreamBody<
    futures_util::stream::Map<ReceiverStream<Bytes>, fn(Bytes) -> Result<Frame<Bytes>, Infallible>>,
>;

fn data(chunk: Bytes) -> Result<Frame<Bytes>, Infallible> {
    Ok(Frame::data(chunk))
}

fn trickle() -> (mpsc::Sender<Bytes>, Trickle) {
    let (tx, rx) = mpsc::channel(4);
    let frames = futures_util::StreamExt::map(ReceiverStream::new(rx), data as fn(_) -> _);
    (tx, StreamBody::new(frames))
}

/// One h2c connection (hyper's client) whose streams send a little of their body and stall.
struct StalledH2 {
    sender: hyper::client::conn::http2::SendRequest<Trickle>,
    /// Keeps each stream's body open.
    bodies: Vec<mpsc::Sender<Bytes>>,
}

impl StalledH2 {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        Self {
            sender,
            bodies: Vec::new(),
        }
    }

    /// Opens a stream that sends `{"message":` and stalls; resolves to its response.
    async fn stall(&mut self) -> JoinHandle<Reply> {
        let (tx, body) = trickle();
        tx.send(Bytes::from_static(b"{\"message\":")).await.unwrap();
        self.bodies.push(tx);
        let request = http::Request::post(format!("http://localhost{ECHO_PATH}"))
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        self.sender.ready().await.unwrap();
        let response = self.sender.send_request(request);
        tokio::spawn(async move {
            let (parts, body) = response.await.unwrap().into_parts();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: body.collect().await.unwrap().to_bytes(),
            }
        })
    }
}

/// `omnia_agent_requests_inflight` for the echo function, from `/metrics`.
async fn in_flight(health: SocketAddr) -> u64 {
    let text = String::from_utf8(get(health, "/metrics").await.body.to_vec()).unwrap();
    text.lines()
        .find(|line| line.starts_with("omnia_agent_requests_inflight{agent=\"echo-function\""))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no in-flight gauge for the echo function:\n{text}"))
}

/// Polls `/metrics` until `n` requests are in flight at the gateway.
async fn wait_in_flight(health: SocketAddr, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = in_flight(health).await;
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{now} requests in flight, never {n}: some were refused or never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn slow_bodies_over_http1_and_h2c_cannot_starve_a_normal_call() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    // Two slots and six stalled requests: were slots taken before the body, all would be gone.
    let gateway = gateway(
        &runtime,
        Options {
            max_in_flight: 2,
            body_timeout: Duration::from_secs(600),
            ..Options::default()
        },
    )
    .await;
    let mut http1 = Vec::new();
    for _ in 0..3 {
        http1.push(stalled_http1(gateway.facade).await);
    }
    let mut h2 = StalledH2::connect(gateway.facade).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(h2.stall().await);
    }
    wait_in_flight(gateway.health, 6).await;

    let reply = gateway.call(ECHO, r#"{"message":"not starved"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "not starved");
    assert!(
        streams.iter().all(|s| !s.is_finished()),
        "a stalled call was answered"
    );
}

#[tokio::test]
async fn a_body_that_stalls_is_408_request_timeout_over_http1_and_h2c() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = gateway(
        &runtime,
        Options {
            body_timeout: Duration::from_millis(200),
            ..Options::default()
        },
    )
    .await;

    let mut http1 = stalled_http1(gateway.facade).await;
    let reply = tokio::time::timeout(PATIENCE, read_response(&mut http1))
        .await
        .expect("a stalled HTTP/1 body was never answered");
    let body = reply.expect_error(408, "request_timeout");
    assert!(body["detail"].as_str().unwrap().contains("0.2 s"), "{body}");

    let mut h2 = StalledH2::connect(gateway.facade).await;
    let stream = h2.stall().await;
    let reply = tokio::time::timeout(PATIENCE, stream)
        .await
        .expect("a stalled h2c body was never answered")
        .unwrap();
    reply.expect_error(408, "request_timeout");

    assert!(
        runtime.seen().await.is_empty(),
        "a stalled call reached the runtime"
    );
    assert_still_serving(&gateway).await;
}

// ---------------------------------------------------------------------------------------------
// Header limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_hpack_expanded_header_list_over_h2c_is_refused_and_the_connection_keeps_serving() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let limit = 16 * 1024;
    let gateway = gateway(
        &runtime,
        Options {
            header_limit: limit,
            ..Options::default()
        },
    )
    .await;
    let mut h2 = RawH2::connect(gateway.facade).await;
    // The cap the gateway advertises follows the configured limit.
    let cap = transport_cap(limit);
    assert_eq!(
        h2.setting(SETTINGS_MAX_HEADER_LIST_SIZE),
        Some(u32::try_from(cap).unwrap())
    );

    // Under 5 KiB on the wire, twice the cap once decoded.
    let mut block = post_headers(ECHO_PATH);
    expanding_header(&mut block, "x-big", &[b'a'; 4000], 15);
    assert!(block.len() < 5 * 1024);
    h2.send(HEADERS, END_HEADERS | END_STREAM, 1, &block).await;
    let refused = h2.next_on(1).await;
    assert_eq!(refused.kind, HEADERS, "{refused:?}");
    assert_eq!(status(&refused.payload), 431);
    // Refused by the transport before it became a request: an empty 431, no JSON body.
    assert_ne!(refused.flags & END_STREAM, 0, "{refused:?}");

    h2.send(HEADERS, END_HEADERS, 3, &post_headers(ECHO_PATH))
        .await;
    h2.send(DATA, END_STREAM, 3, br#"{"message":"next"}"#).await;
    assert_eq!(h2.status_on(3).await, 200);
}

#[tokio::test]
async fn an_http1_header_block_past_the_transport_cap_is_cut_off_before_it_ends() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let limit = 16 * 1024;
    let gateway = gateway(
        &runtime,
        Options {
            header_limit: limit,
            ..Options::default()
        },
    )
    .await;
    let stream = TcpStream::connect(gateway.facade).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Twice the cap of header bytes and no end to the block: the gateway must not wait for one.
    let head = format!(
        "POST {ECHO_PATH} HTTP/1.1\r\nHost: localhost\r\nX-Big: {}",
        "a".repeat(2 * transport_cap(limit))
    );
    let write = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        writer
    });

    // Whatever came back before the close (a reset may swallow hyper's 431).
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;

    assert!(
        closed.is_ok(),
        "the gateway waited for the end of an oversized header block"
    );
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    write.abort();
    assert_still_serving(&gateway).await;
}

// ---------------------------------------------------------------------------------------------
// Idle connections
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_idle_h2c_connection_is_closed_by_the_gateway_after_the_idle_timeout() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = gateway(
        &runtime,
        Options {
            connections: idle_after(Duration::from_millis(300)),
            ..Options::default()
        },
    )
    .await;
    let stream = TcpStream::connect(gateway.facade).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::post(format!("http://localhost{ECHO_PATH}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(
            br#"{"message":"then idle"}"#,
        )))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);

    let ended = tokio::time::timeout(PATIENCE, connection)
        .await
        .expect("the gateway kept an idle h2c connection open");

    // Closed with GOAWAY, not torn down.
    ended.unwrap().unwrap();
    assert!(sender.is_closed());
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = gateway(
        &runtime,
        Options {
            connections: idle_after(Duration::from_millis(300)),
            ..Options::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(gateway.facade).await.unwrap();
    let body = r#"{"message":"then idle"}"#;
    let request = format!(
        "POST {ECHO_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await.status, 200);

    let mut rest = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;

    assert!(
        closed.is_ok(),
        "the gateway kept an idle keep-alive connection open"
    );
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

// ---------------------------------------------------------------------------------------------
// Stream and connection caps
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_h2c_stream_beyond_the_per_connection_cap_is_refused_and_the_open_ones_still_answer() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = gateway(
        &runtime,
        Options {
            connections: ConnectionLimits {
                max_streams: 2,
                ..ConnectionLimits::default()
            },
            body_timeout: Duration::from_secs(600),
            ..Options::default()
        },
    )
    .await;
    let mut h2 = RawH2::connect(gateway.facade).await;
    assert_eq!(h2.setting(SETTINGS_MAX_CONCURRENT_STREAMS), Some(2));

    // Three streams whose bodies have not arrived yet: the third is one too many.
    for stream in [1, 3, 5] {
        h2.send(HEADERS, END_HEADERS, stream, &post_headers(ECHO_PATH))
            .await;
    }
    let refused = h2.next_on(5).await;

    assert_eq!(refused.kind, RST_STREAM, "{refused:?}");
    assert_eq!(refused.payload, REFUSED_STREAM.to_be_bytes());
    h2.send(DATA, END_STREAM, 1, br#"{"message":"first"}"#)
        .await;
    assert_eq!(h2.status_on(1).await, 200);
}

/// `omnia_gateway_connections_refused_total`, from `/metrics`.
async fn refused_connections(health: SocketAddr) -> String {
    let text = String::from_utf8(get(health, "/metrics").await.body.to_vec()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("omnia_gateway_connections_refused_total "))
        .unwrap_or_else(|| panic!("no refused-connections counter:\n{text}"))
        .to_owned()
}

/// An HTTP/1.1 keep-alive connection that has been served one call, held open.
async fn held_connection(
    addr: SocketAddr,
) -> hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let reply = sender
        .send_request(post_request(ECHO_PATH, r#"{"message":"held"}"#))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    reply.into_body().collect().await.unwrap();
    sender
}

#[tokio::test]
async fn the_connection_cap_refuses_the_next_connection_and_counts_it() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = gateway(
        &runtime,
        Options {
            connections: ConnectionLimits {
                max_connections: 2,
                ..ConnectionLimits::default()
            },
            ..Options::default()
        },
    )
    .await;
    let first = held_connection(gateway.facade).await;
    let _second = held_connection(gateway.facade).await;
    assert_eq!(refused_connections(gateway.health).await, "0");

    let third = try_send(
        gateway.facade,
        post_request(ECHO_PATH, r#"{"message":"one too many"}"#),
    )
    .await;

    assert!(
        third.is_err(),
        "the connection over the cap was served: {third:?}"
    );
    assert_eq!(refused_connections(gateway.health).await, "1");
    // Once one closes, a new connection is served again.
    drop(first);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let request = post_request(ECHO_PATH, r#"{"message":"room again"}"#);
        if let Ok(reply) = try_send(gateway.facade, request).await {
            assert_eq!(reply.status, 200, "{reply:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the cap never freed up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ws-stream` and `ws-idle` end to end, through the command line, against a tiny WebSocket
//! server written here with fastwebsockets: it checks the agent and the key, sends `connected`
//! and a ping, and answers each message with three chunks and a `done`. The tests assert
//! counts, never a speed.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use omnia_loadtest::cli::{Cli, Command, WsIdleArgs, WsStreamArgs};
use omnia_loadtest::run;

const CONNECTED: &[u8] = br#"{"type":"connected","session_id":"0b0e6a36-2f1c-4f55-9d43-31c1f64f1c6e","connected":{"capabilities":{"binary_frames":false,"max_payload_size":16777216,"protocol_version":1}},"timestamp":"2025-01-01T00:00:00Z"}"#;
const CHUNK: &[u8] = br#"{"type":"chunk","session_id":"0b0e6a36-2f1c-4f55-9d43-31c1f64f1c6e","content":"a \"quoted\" piece","timestamp":"2025-01-01T00:00:00Z"}"#;
const DONE: &[u8] = br#"{"type":"done","session_id":"0b0e6a36-2f1c-4f55-9d43-31c1f64f1c6e","content":"all of it","usage":{"input_tokens":3,"output_tokens":9,"cost_usd":0.0001},"timestamp":"2025-01-01T00:00:00Z"}"#;
const CHUNKS_PER_TURN: u64 = 3;

/// What the server saw, across its connections.
#[derive(Debug, Default)]
struct Stats {
    connections: AtomicU64,
    messages: AtomicU64,
    /// Messages that were not `{"type":"message","content":"hi"}`.
    bad_messages: AtomicU64,
    pongs: AtomicU64,
}

struct Server {
    url: String,
    stats: Arc<Stats>,
}

/// Binds on 127.0.0.1:0 and serves on a thread of its own (the scenarios under test build and
/// block on their own runtime, which cannot nest in a test runtime).
fn serve() -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(Stats::default());
    let served = Arc::clone(&stats);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let stats = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(request, Arc::clone(&stats)));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
    });
    Server {
        url: format!("ws://{addr}"),
        stats,
    }
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = code;
    response
}

/// The upgrade, with the gateway's refusals: 404 for another agent, 401 without the key.
/// `agent=stray` sends one chunk too many, after `done`.
async fn handle(
    mut request: Request<Incoming>,
    stats: Arc<Stats>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let query = request.uri().query().unwrap_or_default();
    let stray = query == "agent=stray";
    if request.uri().path() != "/ws" || !(query == "agent=echo" || stray) {
        return Ok(status(StatusCode::NOT_FOUND));
    }
    if request.headers().get(AUTHORIZATION).map(|v| v.as_bytes()) != Some(b"Bearer KEY") {
        return Ok(status(StatusCode::UNAUTHORIZED));
    }
    let Ok((response, upgrade)) = fastwebsockets::upgrade::upgrade(&mut request) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    tokio::spawn(async move {
        if let Ok(socket) = upgrade.await {
            converse(socket, &stats, stray).await;
        }
    });
    Ok(response)
}

async fn send(socket: &mut WebSocket<TokioIo<Upgraded>>, text: &'static [u8]) -> bool {
    socket
        .write_frame(Frame::text(Payload::Borrowed(text)))
        .await
        .is_ok()
}

async fn converse(mut socket: WebSocket<TokioIo<Upgraded>>, stats: &Stats, stray: bool) {
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let ping = Frame::new(true, OpCode::Ping, None, Payload::Borrowed(b"still there?"));
    if !send(&mut socket, CONNECTED).await || socket.write_frame(ping).await.is_err() {
        return;
    }
    while let Ok(frame) = socket.read_frame().await {
        match frame.opcode {
            OpCode::Text => {
                stats.messages.fetch_add(1, Ordering::Relaxed);
                let message: serde_json::Value =
                    serde_json::from_slice(&frame.payload).unwrap_or_default();
                if message != serde_json::json!({"type": "message", "content": "hi"}) {
                    stats.bad_messages.fetch_add(1, Ordering::Relaxed);
                }
                for _ in 0..CHUNKS_PER_TURN {
                    if !send(&mut socket, CHUNK).await {
                        return;
                    }
                }
                if !send(&mut socket, DONE).await {
                    return;
                }
                if stray {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if !send(&mut socket, CHUNK).await {
                        return;
                    }
                }
            }
            OpCode::Pong => {
                stats.pongs.fetch_add(1, Ordering::Relaxed);
            }
            // fastwebsockets has answered the close.
            OpCode::Close => return,
            _ => {}
        }
    }
}

fn stream_args(url: &str, extra: &[&str]) -> WsStreamArgs {
    let mut argv = vec![
        "omnia-loadtest",
        "ws-stream",
        "--url",
        url,
        "--message",
        "hi",
        "--quiet",
    ];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::WsStream(args) => *args,
        other => panic!("expected ws-stream, got {other:?}"),
    }
}

fn idle_args(url: &str, extra: &[&str]) -> WsIdleArgs {
    let mut argv = vec!["omnia-loadtest", "ws-idle", "--url", url, "--quiet"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::WsIdle(args) => *args,
        other => panic!("expected ws-idle, got {other:?}"),
    }
}

const AUTH: [&str; 2] = ["-H", "Authorization: Bearer KEY"];

#[test]
fn ws_stream_counts_every_frame_of_every_turn() {
    let server = serve();
    let plot = std::env::temp_dir().join(format!("ws-stream-{}.svg", std::process::id()));
    let plot_arg = plot.to_str().unwrap();
    let mut extra = vec![
        "--agent", "echo", "-c", "2", "--turns", "5", "--plot", plot_arg,
    ];
    extra.extend_from_slice(&AUTH);
    let report = run::ws_stream(&stream_args(&server.url, &extra)).unwrap();

    assert_eq!(report.errors, 0, "{report:#?}");
    assert_eq!(report.connections, 2);
    assert_eq!(
        (
            report.turns,
            report.turns_ok,
            report.turns_error,
            report.turns_lost
        ),
        (10, 10, 0, 0)
    );
    let turns = report.turns;
    assert_eq!(report.frames_by_type["connected"], 2);
    assert_eq!(report.frames_by_type["chunk"], turns * CHUNKS_PER_TURN);
    assert_eq!(report.frames_by_type["done"], turns);
    assert_eq!(report.frames, 2 + turns * (CHUNKS_PER_TURN + 1));
    assert_eq!(report.first_chunk_us.count, turns);
    // chunk→chunk twice and chunk→done once per turn.
    assert_eq!(report.chunk_gap_us.count, turns * CHUNKS_PER_TURN);
    assert_eq!(report.turn_us.count, turns);
    assert_eq!(report.setup_us.count, 2);
    assert!(report.turns_per_s > 0.0 && report.frames_per_s > report.turns_per_s);
    assert!(report.first_chunk_us.max <= report.turn_us.max);
    assert_eq!(report.target, format!("{}/ws?agent=echo", server.url));

    let stats = &server.stats;
    assert_eq!(stats.messages.load(Ordering::Relaxed), turns);
    assert_eq!(stats.bad_messages.load(Ordering::Relaxed), 0);
    // Each connection's ping was answered (the session closes only after the server's close,
    // which the server sends after reading everything before it).
    assert_eq!(stats.pongs.load(Ordering::Relaxed), 2);

    let svg = std::fs::read_to_string(&plot).unwrap();
    let _ = std::fs::remove_file(&plot);
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
}

#[test]
fn ws_stream_for_a_duration_keeps_going_without_errors() {
    let server = serve();
    let mut extra = vec!["--agent", "echo", "-c", "2", "-d", "200ms"];
    extra.extend_from_slice(&AUTH);
    let report = run::ws_stream(&stream_args(&server.url, &extra)).unwrap();
    assert_eq!(report.errors, 0, "{report:#?}");
    assert!(report.turns >= 2, "{report:#?}");
    assert_eq!(report.turns, report.turns_ok);
    assert_eq!(report.duration_us, Some(200_000));
    assert_eq!(report.turns_per_session, None);
}

#[test]
fn ws_stream_counts_refused_upgrades_by_status() {
    let server = serve();
    // No key: every attempt is a 401, and each one uses up a turn, so the run ends.
    let report = run::ws_stream(&stream_args(
        &server.url,
        &["--agent", "echo", "-c", "1", "--turns", "3"],
    ))
    .unwrap();
    assert_eq!(report.errors_by_kind.get("handshake_401"), Some(&3));
    assert_eq!((report.turns, report.connections), (0, 0));
    // Another agent: 404.
    let mut extra = vec!["--agent", "nobody", "-c", "1", "--turns", "1"];
    extra.extend_from_slice(&AUTH);
    let report = run::ws_stream(&stream_args(&server.url, &extra)).unwrap();
    assert_eq!(report.errors_by_kind.get("handshake_404"), Some(&1));
}

#[test]
fn ws_stream_flags_a_chunk_after_done() {
    let server = serve();
    // One turn per session: the stray chunk arrives while the session waits for the close.
    let mut extra = vec!["--agent", "stray", "-c", "2", "--turns", "1"];
    extra.extend_from_slice(&AUTH);
    let report = run::ws_stream(&stream_args(&server.url, &extra)).unwrap();
    assert_eq!(report.turns_ok, 2);
    assert_eq!(
        report.errors_by_kind.get("frame_after_done"),
        Some(&2),
        "{report:#?}"
    );
    assert_eq!(report.errors, 2);
}

#[test]
fn ws_idle_holds_every_connection_and_reads_memory() {
    let server = serve();
    let pid = std::process::id().to_string();
    let mut extra = vec![
        "--agent",
        "echo",
        "-c",
        "20",
        "--hold",
        "300ms",
        "--concurrency",
        "5",
        "--pid",
        &pid,
    ];
    extra.extend_from_slice(&AUTH);
    let report = run::ws_idle(&idle_args(&server.url, &extra)).unwrap();

    assert_eq!(report.errors, 0, "{report:#?}");
    assert_eq!((report.opened, report.held, report.dropped), (20, 20, 0));
    assert_eq!(report.setup_us.count, 20);
    assert_eq!(report.pings_answered, 20);
    assert_eq!(report.frames, 0);
    assert!(report.held_us >= 300_000, "{}", report.held_us);
    assert!(report.fd_limit.is_some_and(|limit| limit >= 64));
    let rss = report.rss.unwrap();
    assert_eq!(rss.pid, std::process::id());
    assert!(rss.before_kib > 0 && rss.after_open_kib > 0 && rss.end_kib > 0);
    assert!(rss.per_connection_kib.is_some() && rss.per_connection_end_kib.is_some());

    assert_eq!(server.stats.connections.load(Ordering::Relaxed), 20);
    // The pongs were read by the server while the connections were held.
    assert_eq!(server.stats.pongs.load(Ordering::Relaxed), 20);
}

#[test]
fn ws_idle_reports_connections_that_cannot_open() {
    let server = serve();
    let report = run::ws_idle(&idle_args(
        &server.url,
        &["--agent", "echo", "-c", "3", "--hold", "10ms"],
    ))
    .unwrap();
    assert_eq!(report.opened, 0);
    assert_eq!(report.open_failed, 3);
    assert_eq!(report.open_errors_by_kind.get("handshake_401"), Some(&3));
    assert!(report.rss.is_none());
}

//! The scripted server: reply order, request recording, stream timing, holds, and the three ways a
//! stream can end, seen from a real HTTP/1.1 client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use omnia_fakes::{FakeServer, Reply, StreamReply};
use serde_json::json;
use support::{frames, get, next_text, post, send, send_over, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVENTS: [&str; 3] = [
    "data: {\"n\":1}\n\n",
    "data: {\"n\":2}\n\n",
    "data: {\"n\":3}\n\n",
];

#[tokio::test]
async fn scripted_replies_come_in_order_and_requests_are_recorded() {
    let server = FakeServer::start().await;
    server.push(Reply::json(200, &json!({ "answer": 1 })));
    server.push(Reply::status(429, "slow down").with_header("retry-after", "2"));

    let mut request = post(
        "/v1/chat/completions?alt=sse",
        r#"{"model":"m","stream":true}"#,
    );
    request
        .headers_mut()
        .insert("authorization", "Bearer sk-test".parse().unwrap());
    let first = send(server.addr(), request).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "application/json");
    assert_eq!(text(first).await, r#"{"answer":1}"#);

    let second = send(server.addr(), get("/second")).await;
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "2");
    assert_eq!(second.headers()["content-type"], "text/plain");
    assert_eq!(text(second).await, "slow down");

    let recorded = server.requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].method, http::Method::POST);
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert_eq!(recorded[0].query.as_deref(), Some("alt=sse"));
    assert_eq!(recorded[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded[0].json(), json!({ "model": "m", "stream": true }));
    assert_eq!(recorded[1].method, http::Method::GET);
    assert_eq!(recorded[1].path, "/second");
    assert_eq!(recorded[1].query, None);
    assert!(recorded[0].arrived <= recorded[1].arrived);
    assert_eq!(server.request(1).await.path, "/second");
}

#[tokio::test]
async fn request_waits_for_a_late_request() {
    let server = Arc::new(FakeServer::start().await);
    server.push(Reply::status(204, ""));
    let addr = server.addr();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        send(addr, post("/late", "{}")).await;
    });
    assert_eq!(server.request(0).await.path, "/late");
}

#[tokio::test]
async fn without_a_script_the_answer_is_500_and_the_request_is_recorded() {
    let server = FakeServer::start().await;
    let response = send(server.addr(), post("/v1/messages", r#"{"x":1}"#)).await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        text(response).await,
        r#"{"error":"omnia-fakes: no scripted reply"}"#
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].json(), json!({ "x": 1 }));
}

#[tokio::test]
async fn a_stream_arrives_as_separate_chunks_the_gap_apart() {
    let server = FakeServer::start().await;
    let gap = Duration::from_millis(100);
    server.push(StreamReply::sse(EVENTS).gap(gap));
    let response = send(server.addr(), post("/s", "{}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let (got, end) = frames(&mut response.into_body()).await;
    end.unwrap();
    let texts: Vec<_> = got
        .iter()
        .map(|(_, data)| String::from_utf8(data.to_vec()).unwrap())
        .collect();
    assert_eq!(texts, EVENTS);
    for pair in got.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= gap - Duration::from_millis(10),
            "events came too close"
        );
    }
    let times = server.stream_times();
    assert_eq!(times.len(), 1);
    let (first, finished) = times[0];
    assert!(finished.unwrap() - first >= 2 * gap - Duration::from_millis(10));
}

#[tokio::test]
async fn event_times_stamp_each_event_when_written_and_before_it_arrives() {
    let server = FakeServer::start().await;
    let gap = Duration::from_millis(50);
    server.push(StreamReply::sse(EVENTS).gap(gap));
    server.push(StreamReply::sse(EVENTS).hold_after(1));
    assert!(server.event_times().is_empty());

    let response = send(server.addr(), post("/s", "{}")).await;
    let (got, end) = frames(&mut response.into_body()).await;
    end.unwrap();
    let times = server.event_times();
    assert_eq!(times.len(), 1);
    assert_eq!(times[0].len(), EVENTS.len());
    // One thread runs the server and this client: the stamp is taken before the client reads.
    for ((arrived, _), written) in got.iter().zip(&times[0]) {
        assert!(written <= arrived, "stamped after the client had the event");
    }
    for pair in times[0].windows(2) {
        assert!(pair[1] - pair[0] >= gap - Duration::from_millis(10));
    }
    // `stream_times` still says when the first event was handed to hyper.
    assert!(server.stream_times()[0].0 <= times[0][0]);

    // A held stream: only the events written so far have a time.
    let mut body = send(server.addr(), post("/s", "{}")).await.into_body();
    assert_eq!(next_text(&mut body).await, EVENTS[0]);
    assert_eq!(server.event_times()[1].len(), 1);
    server.release();
    frames(&mut body).await.1.unwrap();
    let times = server.event_times();
    assert_eq!(times.len(), 2);
    assert_eq!(times[1].len(), EVENTS.len());
    assert!(times[1].windows(2).all(|pair| pair[0] <= pair[1]));
}

#[tokio::test]
async fn hold_after_waits_for_release() {
    let server = FakeServer::start().await;
    server.push(StreamReply::sse(EVENTS).hold_after(1));
    let mut body = send(server.addr(), post("/s", "{}")).await.into_body();
    assert_eq!(next_text(&mut body).await, EVENTS[0]);
    let held = tokio::time::timeout(Duration::from_millis(300), next_text(&mut body)).await;
    assert!(held.is_err(), "the stream went on before release");
    assert_eq!(server.stream_times()[0].1, None);
    let released = Instant::now();
    server.release();
    let (rest, end) = frames(&mut body).await;
    end.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest[0].0 >= released);
    assert!(server.stream_times()[0].1.is_some());
}

#[tokio::test]
async fn reset_ends_the_body_with_an_error() {
    let server = FakeServer::start().await;
    server.push(StreamReply::sse(EVENTS).reset());
    let response = send(server.addr(), post("/s", "{}")).await;
    let (got, end) = frames(&mut response.into_body()).await;
    assert_eq!(got.len(), 3, "the events before the reset arrive");
    let err = end.expect_err("a reset must not look like a clean end");
    // hyper reports "unexpected EOF during chunk size line": the body was cut, not finished.
    let cause =
        std::error::Error::source(&err).and_then(|cause| cause.downcast_ref::<std::io::Error>());
    assert_eq!(
        cause.map(std::io::Error::kind),
        Some(std::io::ErrorKind::UnexpectedEof),
        "{err:?}"
    );

    // On the wire: the events, then the connection closes with no terminating chunk.
    server.push(StreamReply::sse(EVENTS).reset());
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"POST /s HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .ok();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("data: {\"n\":3}"), "{raw}");
    assert!(!raw.ends_with("0\r\n\r\n"), "terminating chunk sent: {raw}");
    assert!(server.stream_times()[0].1.is_some());
}

#[tokio::test]
async fn stall_keeps_the_connection_open_until_the_server_is_dropped() {
    let server = FakeServer::start().await;
    server.push(StreamReply::sse(EVENTS[..1].iter().copied()).stall());
    let mut body = send(server.addr(), post("/s", "{}")).await.into_body();
    assert_eq!(next_text(&mut body).await, EVENTS[0]);
    let stalled = tokio::time::timeout(
        Duration::from_millis(300),
        http_body_util::BodyExt::frame(&mut body),
    )
    .await;
    assert!(
        stalled.is_err(),
        "a stalled stream must send nothing and not end"
    );
    assert_eq!(server.stream_times()[0].1, None);
    drop(server);
    let ended = tokio::time::timeout(
        Duration::from_secs(5),
        http_body_util::BodyExt::frame(&mut body),
    )
    .await;
    assert!(
        matches!(ended, Ok(Some(Err(_)) | None)),
        "dropping the server must close the stream"
    );
}

#[tokio::test]
async fn tls_serves_with_the_given_certificate() {
    let cert = include_bytes!("data/localhost.cert.pem");
    let key = include_bytes!("data/localhost.key.pem");
    let server = FakeServer::start_tls(cert, key).await;
    assert!(server.base_url().starts_with("https://localhost:"));
    server.push(Reply::json(200, &json!({ "ok": true })));

    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(cert).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let response = send_over(tls, post("/v1/chat/completions", "{}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(text(response).await, r#"{"ok":true}"#);
    assert_eq!(server.requests()[0].path, "/v1/chat/completions");
}

#[test]
#[should_panic(expected = "with_header is for Reply::Body only")]
fn with_header_on_a_stream_is_refused() {
    let _ = Reply::from(StreamReply::sse(EVENTS)).with_header("a", "b");
}

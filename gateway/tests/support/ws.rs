//! A WebSocket client for the tests: fastwebsockets' client handshake over a real socket, frames
//! read with a deadline so a test never hangs on a frame that does not come.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http::Request;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;

use super::{PATIENCE, Reply, send};

/// The upgrade request for `path_and_query` with the handshake headers, plus `extra`.
pub fn upgrade_request(path_and_query: &str, extra: &[(&str, &str)]) -> Request<Empty<Bytes>> {
    let mut request = Request::get(path_and_query)
        .header("host", "localhost")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header(
            "sec-websocket-key",
            fastwebsockets::handshake::generate_key(),
        );
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.body(Empty::new()).unwrap()
}

/// Sends an upgrade request as plain HTTP, for the refusals answered before any upgrade.
pub async fn refused(addr: SocketAddr, path_and_query: &str, extra: &[(&str, &str)]) -> Reply {
    let request = upgrade_request(path_and_query, extra);
    let (parts, _) = request.into_parts();
    send(
        addr,
        Request::from_parts(parts, http_body_util::Full::new(Bytes::new())),
    )
    .await
}

/// What the client read.
#[derive(Debug)]
pub enum Received {
    Text(Value),
    Close(Option<u16>),
    Ping,
    Pong,
    /// The connection ended with no close frame.
    Gone,
}

/// An open WebSocket to the gateway.
pub struct Client {
    ws: WebSocket<TokioIo<Upgraded>>,
    /// The `101`'s `Sec-WebSocket-Protocol`, if any.
    pub protocol: Option<String>,
}

impl Client {
    /// Opens `/ws?...` on `addr`; panics unless the gateway answers `101`.
    pub async fn connect(addr: SocketAddr, path_and_query: &str, extra: &[(&str, &str)]) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let request = upgrade_request(path_and_query, extra);
        let (ws, response) = tokio::time::timeout(
            PATIENCE,
            fastwebsockets::handshake::client(&TokioExecutor::new(), request, stream),
        )
        .await
        .expect("no handshake answer")
        .unwrap_or_else(|e| panic!("the upgrade of {path_and_query} failed: {e}"));
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        Self { ws, protocol }
    }

    /// Lets pings through to [`Client::recv`] instead of answering them.
    pub fn stop_answering_pings(&mut self) {
        self.ws.set_auto_pong(false);
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .write_frame(Frame::text(Payload::Borrowed(text.as_bytes())))
            .await
            .unwrap();
    }

    pub async fn send_frame(&mut self, frame: Frame<'_>) {
        self.ws.write_frame(frame).await.unwrap();
    }

    /// The next frame, within `PATIENCE`.
    pub async fn recv(&mut self) -> Received {
        self.recv_within(PATIENCE)
            .await
            .expect("no frame from the gateway in time")
    }

    /// The next frame, or `None` when none comes within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Received> {
        let frame = tokio::time::timeout(wait, self.ws.read_frame())
            .await
            .ok()?;
        Some(match frame {
            Ok(frame) => match frame.opcode {
                OpCode::Text => Received::Text(
                    serde_json::from_slice(&frame.payload)
                        .unwrap_or_else(|e| panic!("a text frame that is not JSON: {e}")),
                ),
                OpCode::Close => Received::Close(
                    (frame.payload.len() >= 2)
                        .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]])),
                ),
                OpCode::Ping => Received::Ping,
                OpCode::Pong => Received::Pong,
                other => panic!("unexpected {other:?} frame"),
            },
            Err(_) => Received::Gone,
        })
    }

    /// Reads (answering pings, which fastwebsockets does while reading) for `period`, expecting
    /// no data frame.
    pub async fn idle(&mut self, period: Duration) {
        let until = tokio::time::Instant::now() + period;
        while tokio::time::Instant::now() < until {
            if let Some(frame) = self.recv_within(Duration::from_millis(20)).await {
                panic!("expected nothing while idle, got {frame:?}");
            }
        }
    }

    /// The next frame, which must be a JSON text frame.
    pub async fn json(&mut self) -> Value {
        match self.recv().await {
            Received::Text(value) => value,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Sends a JSON text frame and reads the next frame back as JSON.
    pub async fn ask(&mut self, text: &str) -> Value {
        self.send_text(text).await;
        self.json().await
    }

    /// Reads frames until a close, which it returns with its code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match self.recv().await {
                Received::Close(code) => return code,
                Received::Gone => return None,
                Received::Text(_) | Received::Ping | Received::Pong => {}
            }
        }
    }
}

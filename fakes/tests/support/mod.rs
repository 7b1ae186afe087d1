//! A minimal HTTP/1.1 client for the tests: hyper's connection API over a `TcpStream` (or TLS),
//! so the fake is checked by the same parser a real client uses, with no extra dependency.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Sends one request on a new connection.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Response<Incoming> {
    send_over(TcpStream::connect(addr).await.unwrap(), request).await
}

pub async fn send_over<I>(io: I, request: Request<Full<Bytes>>) -> Response<Incoming>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = http1::handshake(TokioIo::new(io)).await.unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

pub fn post(path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

pub fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The body's data frames with their arrival times, and how the body ended.
pub async fn frames(body: &mut Incoming) -> (Vec<(Instant, Bytes)>, Result<(), hyper::Error>) {
    let mut frames = Vec::new();
    loop {
        match body.frame().await {
            None => return (frames, Ok(())),
            Some(Err(err)) => return (frames, Err(err)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    frames.push((Instant::now(), data));
                }
            }
        }
    }
}

/// The next data frame, as text.
pub async fn next_text(body: &mut Incoming) -> String {
    loop {
        let frame = body
            .frame()
            .await
            .expect("body ended")
            .expect("body failed");
        if let Ok(data) = frame.into_data() {
            return String::from_utf8(data.to_vec()).unwrap();
        }
    }
}

pub async fn text(response: Response<Incoming>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

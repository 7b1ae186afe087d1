//! A minimal local target for trying the generator: echoes every request's body, over HTTP/1.1 or HTTP/2 prior knowledge (h2c).
//!
//! `cargo run --release -p omnia-loadtest --example echo_server -- 127.0.0.1:8089`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8089".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("echo server on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        // Same as the gateway: small replies must not wait for Nagle.
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = service_fn(|request: Request<Incoming>| async move {
                // Echoes the body, so a proxy in front of it returns what the client sent, as an
                // echo function does (the side-by-side comparison relies on that).
                let body = match request.into_body().collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => Bytes::from_static(b"{}"),
                };
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(body))
                        .unwrap_or_default(),
                )
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

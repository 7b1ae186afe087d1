#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The gRPC wire to the runtime as Omnia's runtimes speak it, over real sockets.

mod support;

use support::*;

/// A runtime that compresses its answers (grpc-go can be configured to) still serves calls, and
/// its compressed `Health` answers make the gateway ready.
#[tokio::test]
async fn a_runtime_answering_gzip_compressed_serves_the_call() {
    let runtime = FakeRuntime::start_gzip(Behaviour::Echo).await;
    // Not waiting for readiness first, so a refused answer shows as the call's status.
    let gateway = TestGateway::bind(&echo_yaml(), runtime.address(), Options::default()).await;

    let reply = gateway.call(ECHO, r#"{"message":"zipped"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "zipped");
    wait_ready(gateway.health).await;
}

/// Gateway and runtime in one pod can share a Unix domain socket (`unix:///path`) instead of TCP;
/// calls, readiness, and a runtime restart on the same path all work over it.
#[tokio::test]
async fn the_runtime_is_reached_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("runtime.sock");
    let yaml = echo_yaml();
    let serve = |socket: std::path::PathBuf| {
        let runtime = omnia_runtime::Runtime::compile(&load(&yaml), Default::default()).unwrap();
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(omnia_runtime::serve_unix(runtime, listener, async {
            let _ = stopped.await;
        }));
        (stop, task)
    };
    let (stop, task) = serve(socket.clone());
    let address = format!("unix://{}", socket.display());
    let gateway = TestGateway::start(&yaml, address, Options::default()).await;

    let reply = gateway.call(ECHO, r#"{"message":"over a socket"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "over a socket");
    // The runtime goes away and comes back on the same path: the next calls reconnect.
    let _ = stop.send(());
    let _ = task.await;
    std::fs::remove_file(&socket).unwrap();
    let _running = serve(socket.clone());
    let mut status = http::StatusCode::BAD_GATEWAY;
    for _ in 0..50 {
        status = gateway.call(ECHO, r#"{"message":"again"}"#).await.status;
        if status == http::StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "no call succeeded after the runtime came back");
}

/// `serve --embedded-runtime`: our runtime linked into the gateway answers calls and makes the
/// gateway ready, with no socket between them, and sees the caller's identity as over gRPC.
#[tokio::test]
async fn an_embedded_runtime_answers_without_a_socket() {
    let yaml = echo_yaml();
    let runtime = omnia_runtime::Runtime::compile(&load(&yaml), Default::default()).unwrap();
    let options = Options {
        embedded_runtime: Some(std::sync::Arc::new(runtime)),
        ..Options::default()
    };
    let gateway = TestGateway::start(&yaml, "unix:///nowhere.sock".to_owned(), options).await;

    let reply = gateway.call(ECHO, r#"{"message":"in process"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "in process");
}

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

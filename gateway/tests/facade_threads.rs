//! `--facade-threads`: the facade served from several current-thread runtimes, each with its own
//! `SO_REUSEPORT` listener and runtime connection, sharing one in-flight budget.
//!
//! One test, in a binary of its own: it counts this process's `omnia-facade-*` threads, which
//! another test running alongside would disturb.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;

/// Names of this process's threads that serve the facade.
fn facade_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("omnia-facade-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_threads_serve_every_connection_share_one_budget_and_end_on_shutdown() {
    let runtime = FakeRuntime::start(Behaviour::Hold).await;
    let options = Options {
        facade_threads: 4,
        max_in_flight: 1,
        ..Options::default()
    };
    let gateway = TestGateway::start(&echo_yaml(), runtime.address(), options).await;
    // A thread names itself once it runs, which may be a moment after it was spawned.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut names = facade_threads();
    while names.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        names = facade_threads();
    }
    names.sort();
    assert_eq!(
        names,
        ["omnia-facade-1", "omnia-facade-2", "omnia-facade-3"],
        "the calling runtime serves as the first thread"
    );

    // One call holds the only slot; calls on new connections, which the kernel spreads over
    // the four listeners, find it taken whichever thread accepted them.
    let facade = gateway.facade;
    let held = tokio::spawn(async move {
        post_json(
            facade,
            &format!("/functions/{ECHO}"),
            r#"{"message":"held"}"#,
        )
        .await
    });
    runtime.wait_for_calls(1).await;
    for n in 0..16 {
        let shed = gateway
            .call(ECHO, format!(r#"{{"message":"shed {n}"}}"#))
            .await;
        shed.expect_error(503, "unavailable");
    }
    runtime.release();
    assert_eq!(held.await.unwrap().status, 200);

    // With the slot free, every connection is served, on whichever thread took it (one at a
    // time: the budget is one call).
    for n in 0..32 {
        let reply = gateway
            .call(ECHO, format!(r#"{{"message":"call {n}"}}"#))
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    assert_eq!(runtime.seen().await.len(), 33);

    gateway.shutdown().await;
    // A thread ends once its runtime has drained; give the last of them a moment to exit.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !facade_threads().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "facade threads outlived shutdown: {:?}",
            facade_threads()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

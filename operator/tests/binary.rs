#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `omnia-operator` binary, started against a stand-in API server (plain HTTP on loopback,
//! reached through a kubeconfig): it serves its health port, lists and watches every kind it
//! reconciles or owns, and stops cleanly on SIGTERM.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;

/// Answers every list with no items and holds every watch open; records each path and query.
async fn api_server(seen: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let query = req.uri().query().unwrap_or_default().to_owned();
                        seen.lock().push(format!("{}?{query}", req.uri().path()));
                        let body: BoxBody<Bytes, Infallible> = if query.contains("watch=true") {
                            StreamBody::new(futures_util::stream::pending::<
                                Result<Frame<Bytes>, Infallible>,
                            >())
                            .boxed()
                        } else {
                            Full::new(Bytes::from_static(
                            br#"{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":"1"},"items":[]}"#,
                        ))
                        .boxed()
                        };
                        let response = hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(body)
                            .unwrap();
                        std::future::ready(Ok::<_, Infallible>(response))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "127.0.0.1")
        .body(http_body_util::Empty::<Bytes>::new())
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Kills the child if the test fails before it stopped it.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_starts_watches_everything_and_stops_on_sigterm() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let api = api_server(seen.clone()).await;
    let dir = std::env::temp_dir().join(format!("omnia-operator-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster: {{server: \"http://127.0.0.1:{api}\"}}\n\
             users:\n- name: me\n  user: {{token: t}}\ncontexts:\n- name: local\n  context: {{cluster: local, user: me, namespace: default}}\n\
             current-context: local\n"
        ),
    )
    .unwrap();
    let health = free_port();
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_omnia-operator"))
            .env("KUBECONFIG", &kubeconfig)
            .env(
                "OMNIA_OPERATOR_HEALTH_LISTEN",
                format!("127.0.0.1:{health}"),
            )
            .env("OMNIA_TUNER_INTERVAL", "1s")
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        if let Some((200, body)) = get(health, "/readyz").await {
            break body;
        }
        assert!(Instant::now() < deadline, "the health port never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready, "ok\n");
    let (status, _) = get(health, "/healthz").await.unwrap();
    assert_eq!(status, 200);

    let wanted = [
        "/apis/omnia.altairalabs.ai/v1alpha1/agentruntimes",
        "/apis/omnia.altairalabs.ai/v1alpha1/promptpacks",
        "/apis/omnia.altairalabs.ai/v1alpha1/providers",
        "/apis/omnia.altairalabs.ai/v1alpha1/toolregistries",
        "/apis/apps/v1/deployments",
        "/api/v1/services",
        "/apis/policy/v1/poddisruptionbudgets",
        "/apis/autoscaling/v2/horizontalpodautoscalers",
        "/api/v1/configmaps",
        "/api/v1/secrets",
    ];
    let watched = loop {
        let watched: BTreeSet<String> = seen
            .lock()
            .iter()
            .filter(|r| r.contains("watch=true"))
            .map(|r| r.split('?').next().unwrap_or_default().to_owned())
            .collect();
        if wanted.iter().all(|w| watched.contains(*w)) || Instant::now() > deadline {
            break watched;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for path in wanted {
        assert!(
            watched.contains(path),
            "{path} is not watched; watched: {watched:?}"
        );
    }
    // The tuner lists the agents every interval.
    let tuner_lists = || {
        seen.lock()
            .iter()
            .filter(|r| {
                r.starts_with("/apis/omnia.altairalabs.ai/v1alpha1/agentruntimes?")
                    && !r.contains("watch")
            })
            .count()
    };
    let before = tuner_lists();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        tuner_lists() > before,
        "the tuner did not list the agents again"
    );

    let (status, metrics) = get(health, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    // OpenMetrics text; the families have no samples until something is reconciled or tuned.
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");

    let pid = child.0.id();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stop_by = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < stop_by,
            "the operator did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

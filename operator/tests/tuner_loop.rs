#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The tuner's loop end to end, without a cluster: the API server is the mocked one, the pods are
//! real local HTTP servers serving gateway metrics, and the assertion is what the loop writes.

mod mock_api;

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mock_api::{NS, World, lines, serve};
use omnia_operator::health::Metrics;
use omnia_operator::tune::{MANAGER, TunerLoop};
use serde_json::{Value, json};

/// A "pod": serves `connections` open WebSocket connections as gateway metrics on 127.0.0.1.
async fn pod(connections: u32) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = format!(
        "# HELP omnia_agent_connections_active Open connections.\n\
         # TYPE omnia_agent_connections_active gauge\n\
         omnia_agent_connections_active{{agent=\"chat\",namespace=\"{NS}\"}} {connections}\n\
         omnia_agent_requests_inflight 2\n"
    );
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
}

fn world(autoscaling: Value, replicas: i32, pods: usize, hpas: Vec<Value>) -> World {
    let mut world = World::default();
    let agent = json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "AgentRuntime",
        "metadata": {"name": "chat", "namespace": NS},
        "spec": {"promptPackRef": {"name": "pack"}, "runtime": {"autoscaling": autoscaling}}});
    world.objects.insert(
        "/apis/omnia.altairalabs.ai/v1alpha1/agentruntimes".to_owned(),
        json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "AgentRuntimeList",
               "metadata": {"resourceVersion": "1"}, "items": [agent]}),
    );
    world.objects.insert(
        format!("/apis/apps/v1/namespaces/{NS}/deployments/chat"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat", "namespace": NS},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"omnia.altairalabs.ai/agent": "chat"}},
                        "template": {"spec": {"containers": []}}}}),
    );
    world.objects.insert(
        format!("/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers"),
        list("HorizontalPodAutoscalerList", hpas),
    );
    let items = (0..pods)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("chat-{i}"), "namespace": NS},
            "status": {"phase": "Running", "podIP": "127.0.0.1"}})
        })
        .collect();
    world.objects.insert(
        format!("/api/v1/namespaces/{NS}/pods"),
        list("PodList", items),
    );
    world
}

async fn one_round(world: World, port: u16) -> Vec<mock_api::Seen> {
    let (client, server) = serve(world);
    let mut tuner =
        TunerLoop::new(client, Arc::new(Metrics::default()), None).with_metrics_port(port);
    tuner.round().await.unwrap();
    drop(tuner);
    server.await.unwrap()
}

#[tokio::test]
async fn the_tuner_writes_the_replicas_the_load_needs() {
    let port = pod(150).await;
    let tuned = json!({"enabled": true, "type": "tuner", "minReplicas": 1, "maxReplicas": 10,
                       "targetConnectionsPerPod": 100});
    // Two pods each carrying 150 connections: 300 against 100 per pod is 3 pods.
    let seen = one_round(world(tuned, 2, 2, Vec::new()), port).await;
    let pods = seen.iter().find(|s| s.path.ends_with("/pods")).unwrap();
    assert!(
        pods.query
            .contains("labelSelector=omnia.altairalabs.ai%2Fagent%3Dchat"),
        "{}",
        pods.query
    );
    let write = seen.last().unwrap();
    assert_eq!(
        write.line(),
        format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/chat")
    );
    assert!(write.content_type.starts_with("application/apply-patch"));
    assert!(
        write.query.contains(&format!("fieldManager={MANAGER}")),
        "{}",
        write.query
    );
    assert_eq!(
        write.body["spec"],
        json!({"replicas": 3}),
        "the tuner owns replicas and nothing else"
    );
}

#[tokio::test]
async fn the_tuner_leaves_a_deployment_an_hpa_scales_alone() {
    let port = pod(500).await;
    let tuned = json!({"enabled": true, "type": "tuner", "targetConnectionsPerPod": 100});
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "someone-elses", "namespace": NS},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"},
                 "maxReplicas": 4}});
    let seen = one_round(world(tuned, 1, 1, vec![hpa]), port).await;
    assert!(
        !lines(&seen).iter().any(|l| l.starts_with("PATCH")),
        "{:#?}",
        lines(&seen)
    );
    assert!(
        !lines(&seen).iter().any(|l| l.ends_with("/pods")),
        "not even scraped"
    );
}

#[tokio::test]
async fn agents_not_tuned_are_not_touched() {
    let port = pod(500).await;
    let hpa_scaled = json!({"enabled": true, "minReplicas": 1, "maxReplicas": 4});
    let seen = one_round(world(hpa_scaled, 1, 1, Vec::new()), port).await;
    assert_eq!(
        lines(&seen),
        ["GET /apis/omnia.altairalabs.ai/v1alpha1/agentruntimes"]
    );
}

#[tokio::test]
async fn a_load_the_pods_are_sized_for_changes_nothing() {
    let port = pod(100).await;
    let tuned = json!({"enabled": true, "type": "tuner", "targetConnectionsPerPod": 100});
    let seen = one_round(world(tuned, 2, 2, Vec::new()), port).await;
    assert!(
        !lines(&seen).iter().any(|l| l.starts_with("PATCH")),
        "{:#?}",
        lines(&seen)
    );
}

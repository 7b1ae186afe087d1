//! A fake API server for kube's mocked client (the controller-rs `ApiServerVerifier` way):
//! every request is recorded with its method, path and body, and answered from a table of
//! objects, so a test asserts exactly what a reconciler asked for.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::controller::Action;
use omnia_operator::reconcile::{Context, Error};
use omnia_operator::render::Settings;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub const NS: &str = "my-workspace";
pub const OMNIA: &str = "/apis/omnia.altairalabs.ai/v1alpha1/namespaces/my-workspace";
pub const CORE: &str = "/api/v1/namespaces/my-workspace";

/// One request as the API server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

impl Seen {
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The fake API server's objects, by path; a path not in it is 404.
#[derive(Default)]
pub struct World {
    pub objects: HashMap<String, Value>,
    /// What a server-side apply of a Deployment answers with as its `status`.
    pub deployment_status: Option<Value>,
    /// A path the server answers 500 for.
    pub failing: Option<String>,
}

fn not_found(path: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "reason": "NotFound", "code": 404, "message": format!("{path} not found")}),
    )
}

impl World {
    fn answer(&self, seen: &Seen) -> (StatusCode, Value) {
        if self.failing.as_deref() == Some(seen.path.as_str()) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "reason": "InternalError", "code": 500, "message": "etcd is down"}),
            );
        }
        match seen.method {
            Method::GET => match self.objects.get(&seen.path) {
                Some(object) => (StatusCode::OK, object.clone()),
                None => not_found(&seen.path),
            },
            Method::PATCH if seen.content_type.starts_with("application/apply-patch") => {
                let mut object = seen.body.clone();
                if seen.path.contains("/deployments/") {
                    object["metadata"]["generation"] = json!(1);
                    if let Some(status) = &self.deployment_status {
                        object["status"] = status.clone();
                    }
                }
                (StatusCode::OK, object)
            }
            // Status and finalizer patches answer the object (the reconciler does not read the
            // patched fields back).
            Method::PATCH => {
                let path = seen.path.trim_end_matches("/status");
                match self.objects.get(path) {
                    Some(object) => (StatusCode::OK, object.clone()),
                    None => not_found(path),
                }
            }
            Method::DELETE => match self.objects.get(&seen.path) {
                Some(_) => (
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                ),
                None => not_found(&seen.path),
            },
            _ => (StatusCode::METHOD_NOT_ALLOWED, json!({})),
        }
    }
}

/// A client whose requests `world` answers; the task ends, with every request seen, once the
/// client (and every clone of it) is dropped.
pub fn serve(world: World) -> (kube::Client, tokio::task::JoinHandle<Vec<Seen>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let request = Seen {
                method: parts.method.clone(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, reply) = world.answer(&request);
            seen.push(request);
            let response = Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap();
            send.send_response(response);
        }
        seen
    });
    (client, server)
}

/// Reconciles `object` (served at `path`) once with `reconcile` against `world`; every
/// request made, in order.
pub async fn run<K, F, Fut>(
    mut world: World,
    path: String,
    object: Value,
    reconcile: F,
) -> (Result<Action, Error>, Vec<Seen>)
where
    K: DeserializeOwned,
    F: FnOnce(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    world.objects.insert(path, object.clone());
    let (client, server) = serve(world);
    let settings = Settings {
        gateway_image: "registry.example/omnia-gateway:1.2.3".to_owned(),
        runtime_image: "registry.example/omnia-runtime:1.2.3".to_owned(),
    };
    let ctx = Arc::new(Context::with_clock(client, settings, || {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-12-02T12:00:00Z".parse().unwrap(),
        )
    }));
    let parsed: K = serde_json::from_value(object).unwrap();
    let result = reconcile(Arc::new(parsed), ctx.clone()).await;
    drop(ctx);
    let seen = server.await.unwrap();
    (result, seen)
}

pub fn lines(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(Seen::line).collect()
}

pub fn find<'a>(seen: &'a [Seen], line: &str) -> &'a Seen {
    seen.iter()
        .find(|s| s.line() == line)
        .unwrap_or_else(|| panic!("no `{line}` in {:#?}", lines(seen)))
}

pub fn condition<'a>(status_patch: &'a Seen, kind: &str) -> &'a Value {
    status_patch.body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} condition in {}", status_patch.body))
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Who the caller is, end to end: an OIDC issuer whose keys are found by discovery, and the role,
//! e-mail and scopes of every kind of caller reaching the runtime as Omnia's metadata.

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const OIDC: &str = "oidc-function";
const AUDIENCE: &str = "omnia-agents";

/// An identity provider in Keycloak's layout on a loopback port: its discovery document names
/// a JWKS at `/protocol/openid-connect/certs`, not `/.well-known/jwks.json`.
struct Issuer {
    url: String,
    task: JoinHandle<()>,
}

impl Issuer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let jwk: Value = serde_json::from_str(DASHBOARD_JWK).unwrap();
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/protocol/openid-connect/certs"),
        })
        .to_string();
        let certs = json!({ "keys": [jwk] }).to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = match path {
                    "/.well-known/openid-configuration" => ("200 OK", discovery.as_str()),
                    "/protocol/openid-connect/certs" => ("200 OK", certs.as_str()),
                    _ => ("404 Not Found", ""),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Self { url, task }
    }

    /// A token for [`AUDIENCE`] signed with the key the JWKS publishes.
    fn token(&self, extra: Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims = json!({
            "iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
        });
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        sign_dashboard(&claims, Some(DASHBOARD_KID))
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The echo example plus [`OIDC`], which admits tokens of `issuer` and names no JWKS.
fn oidc_yaml(issuer: &str) -> String {
    let agent = format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata:
  name: {OIDC}
spec:
  mode: function
  promptPackRef: {{name: echo-pack}}
  providers: [{{name: default, providerRef: {{name: echo-provider}}}}]
  externalAuth:
    oidc: {{issuer: '{issuer}', audience: {AUDIENCE}}}
  inputSchema:
    type: object
    properties: {{message: {{type: string}}}}
  outputSchema:
    type: object
    properties: {{echo: {{type: string}}}}
"
    );
    [echo_yaml(), agent].join("\n---\n")
}

fn call(function: &str, headers: &[(&'static str, &str)]) -> Request<Full<Bytes>> {
    let mut request = post_request(&format!("/functions/{function}"), r#"{"message":"hi"}"#);
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn oidc_issuer_found_by_discovery_admits_its_tokens_and_the_runtime_sees_role_and_scopes() {
    let issuer = Issuer::start().await;
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(
        &oidc_yaml(&issuer.url),
        runtime.address(),
        Options::default(),
    )
    .await;
    let token = issuer.token(json!({
        "omnia.role": "editor",
        "email": "alice@example.test",
        "scope": "functions:invoke reports:read",
    }));

    let reply = send(
        gateway.facade,
        call(OIDC, &[("authorization", &format!("Bearer {token}"))]),
    )
    .await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = runtime.seen().await;
    let call = &seen[0];
    assert_eq!(call.meta("x-omnia-user-id"), Some("alice"));
    assert_eq!(call.meta("x-omnia-user-roles"), Some("editor"));
    assert_eq!(call.meta("x-omnia-user-email"), Some("alice@example.test"));
    assert_eq!(call.meta("x-omnia-claim-omnia.role"), Some("editor"));
    assert_eq!(
        call.meta("x-omnia-claim-scope"),
        Some("functions:invoke reports:read")
    );
}

#[tokio::test]
async fn client_key_without_a_role_claim_reaches_the_runtime_with_the_default_role() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(&keyed_yaml(), runtime.address(), Options::default()).await;

    let reply = send(
        gateway.facade,
        call(KEYED, &[("authorization", &format!("Bearer {GOOD_KEY}"))]),
    )
    .await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        runtime.seen().await[0].meta("x-omnia-user-roles"),
        Some("viewer"),
        "Omnia's default role for client keys"
    );
}

#[tokio::test]
async fn edge_role_and_email_headers_reach_the_runtime() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(&edge_yaml(), runtime.address(), Options::default()).await;

    let reply = send(
        gateway.facade,
        call(
            EDGE,
            &[
                ("x-user-id", "bob"),
                ("x-user-roles", "admin,editor"),
                ("x-user-email", "bob@example.test"),
            ],
        ),
    )
    .await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = runtime.seen().await;
    assert_eq!(seen[0].meta("x-omnia-user-roles"), Some("admin,editor"));
    assert_eq!(seen[0].meta("x-omnia-user-email"), Some("bob@example.test"));
}

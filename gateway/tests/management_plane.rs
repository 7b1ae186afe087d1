#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The management plane over real sockets (Omnia #1620): dashboard tokens, signed with a test RSA
//! key whose JWKS a local HTTP server hands out, are admitted on the internal listener only, and
//! the internal listener admits nothing else.

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::json;
use support::*;

fn call(function: &str, authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = post_request(
        &format!("/functions/{function}"),
        r#"{"message":"from the console"}"#,
    );
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    request
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The keyed example (client keys on [`KEYED`], nothing on [`ECHO`]) with the dashboard's JWKS.
async fn gateway(runtime: &FakeRuntime, jwks: &JwksServer, options: Options) -> TestGateway {
    let options = Options {
        open_when_unconfigured: false,
        management_plane_jwks_url: Some(jwks.url()),
        ..options
    };
    TestGateway::start(&keyed_yaml(), runtime.address(), options).await
}

#[tokio::test]
async fn management_plane_token_is_admitted_on_the_internal_port_and_refused_on_the_external_port()
{
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let gateway = gateway(&runtime, &jwks, Options::default()).await;
    let token = bearer(&dashboard_token(&dashboard_claims()));

    let internal = send(gateway.internal, call(KEYED, Some(&token))).await;
    let external = send(gateway.facade, call(KEYED, Some(&token))).await;

    assert_eq!(internal.status, 200, "{internal:?}");
    assert_eq!(internal.json()["output"]["echo"], "from the console");
    let body = external.expect_error(401, "unauthorized");
    assert_eq!(
        body["detail"],
        "no validator accepts tokens from issuer \"omnia-dashboard\""
    );
    let seen = runtime.seen().await;
    assert_eq!(seen.len(), 1, "only the internal call reaches the runtime");
    assert_eq!(seen[0].meta("x-omnia-user-id"), Some("admin@example.test"));
    assert_eq!(
        seen[0].meta("x-omnia-claim-origin"),
        Some("management-plane")
    );
}

#[tokio::test]
async fn management_plane_token_without_kid_is_401_on_the_internal_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let gateway = gateway(&runtime, &jwks, Options::default()).await;
    let token = bearer(&sign_dashboard(&dashboard_claims(), None));

    let reply = send(gateway.internal, call(KEYED, Some(&token))).await;

    let body = reply.expect_error(401, "unauthorized");
    assert_eq!(body["detail"], "management-plane token has no kid header");
    assert!(runtime.seen().await.is_empty(), "the runtime was called");
}

#[tokio::test]
async fn management_plane_token_with_another_origin_is_401_on_the_internal_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let gateway = gateway(&runtime, &jwks, Options::default()).await;
    let mut claims = dashboard_claims();
    claims["origin"] = json!("data-plane");

    let reply = send(
        gateway.internal,
        call(KEYED, Some(&bearer(&dashboard_token(&claims)))),
    )
    .await;

    let body = reply.expect_error(401, "unauthorized");
    assert_eq!(body["detail"], "token origin is not \"management-plane\"");
}

#[tokio::test]
async fn management_plane_token_for_another_agent_is_401_on_the_internal_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let gateway = gateway(&runtime, &jwks, Options::default()).await;
    let mut claims = dashboard_claims();
    claims["agent"] = json!(ECHO);
    let token = bearer(&dashboard_token(&claims));

    let other = send(gateway.internal, call(KEYED, Some(&token))).await;
    let named = send(gateway.internal, call(ECHO, Some(&token))).await;

    let body = other.expect_error(401, "unauthorized");
    assert_eq!(
        body["detail"],
        format!("token is for agent \"{ECHO}\", not \"{KEYED}\"")
    );
    assert_eq!(named.status, 200, "{named:?}");
}

#[tokio::test]
async fn management_plane_token_for_another_workspace_is_401_on_the_internal_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let options = Options {
        workspace_name: Some("team-a".into()),
        ..Options::default()
    };
    let gateway = gateway(&runtime, &jwks, options).await;
    let mut claims = dashboard_claims();
    claims["workspace"] = json!("team-b");
    let foreign = bearer(&dashboard_token(&claims));
    claims["workspace"] = json!("team-a");
    let own = bearer(&dashboard_token(&claims));

    let refused = send(gateway.internal, call(KEYED, Some(&foreign))).await;
    let admitted = send(gateway.internal, call(KEYED, Some(&own))).await;

    let body = refused.expect_error(401, "unauthorized");
    assert_eq!(
        body["detail"],
        "token is for workspace \"team-b\", not \"team-a\""
    );
    assert_eq!(admitted.status, 200, "{admitted:?}");
}

#[tokio::test]
async fn client_key_valid_on_the_external_port_is_401_on_the_internal_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let gateway = gateway(&runtime, &jwks, Options::default()).await;
    let key = bearer(GOOD_KEY);

    let external = send(gateway.facade, call(KEYED, Some(&key))).await;
    let internal = send(gateway.internal, call(KEYED, Some(&key))).await;

    assert_eq!(external.status, 200, "{external:?}");
    internal.expect_error(401, "unauthorized");
    assert_eq!(internal.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn internal_port_refuses_anonymous_callers_even_when_unauthenticated_is_allowed() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let options = Options {
        allow_unauthenticated: true,
        ..Options::default()
    };
    let gateway = gateway(&runtime, &jwks, options).await;

    let external = send(gateway.facade, call(ECHO, None)).await;
    let internal = send(gateway.internal, call(ECHO, None)).await;

    assert_eq!(external.status, 200, "{external:?}");
    internal.expect_error(401, "unauthorized");
}

#[tokio::test]
async fn internal_port_without_a_management_key_refuses_every_call() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        open_when_unconfigured: false,
        ..Options::default()
    };
    let gateway = TestGateway::start(&keyed_yaml(), runtime.address(), options).await;
    let token = bearer(&dashboard_token(&dashboard_claims()));

    let reply = send(gateway.internal, call(KEYED, Some(&token))).await;

    reply.expect_error(401, "unauthorized");
}

#[tokio::test]
async fn gateway_starts_while_the_dashboard_jwks_is_unreachable() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let options = Options {
        open_when_unconfigured: false,
        management_plane_jwks_url: Some(format!("http://{}/api/auth/jwks", closed_address().await)),
        ..Options::default()
    };
    let gateway = TestGateway::start(&keyed_yaml(), runtime.address(), options).await;
    let token = bearer(&dashboard_token(&dashboard_claims()));

    let internal = send(gateway.internal, call(KEYED, Some(&token))).await;
    let external = send(gateway.facade, call(KEYED, Some(&bearer(GOOD_KEY)))).await;

    let body = internal.expect_error(401, "unauthorized");
    assert_eq!(body["detail"], "no key with kid \"rsa-1\"");
    assert_eq!(external.status, 200, "{external:?}");
}

#[tokio::test]
async fn internal_port_answers_unknown_functions_like_the_external_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let gateway = gateway(&runtime, &jwks, Options::default()).await;

    let reply = send(gateway.internal, call("no-such-function", None)).await;

    reply.expect_error(404, "function_not_found");
}

#[tokio::test]
async fn function_whose_facade_opts_out_of_the_management_plane_is_not_on_the_internal_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let yaml = keyed_yaml().replacen(
        "    type: grpc\n",
        "    type: grpc\n    managementPlane: false\n",
        1,
    );
    assert_ne!(
        yaml,
        keyed_yaml(),
        "the echo example no longer has facade.type"
    );
    let options = Options {
        open_when_unconfigured: false,
        management_plane_jwks_url: Some(jwks.url()),
        ..Options::default()
    };
    let gateway = TestGateway::start(&yaml, runtime.address(), options).await;
    let token = bearer(&dashboard_token(&dashboard_claims()));

    let opted_out = send(gateway.internal, call(ECHO, Some(&token))).await;

    opted_out.expect_error(404, "function_not_found");
    let still_there = send(gateway.internal, call(KEYED, Some(&token))).await;
    assert_eq!(still_there.status, 200, "{still_there:?}");
}

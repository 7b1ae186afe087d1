//! Tests of the chain's ordering and ownership rules.

use jsonwebtoken::Algorithm;

use super::*;
use crate::auth::client_keys::ClientKey;
use crate::auth::identity::AuthMethod;
use crate::auth::jwks::JwksSource;
use crate::auth::jwt::JwtConfig;
use crate::auth::management::{
    MANAGEMENT_AUDIENCE, MANAGEMENT_ISSUER, MANAGEMENT_ORIGIN, ManagementKey,
};
use crate::auth::test_support::*;

const EDGE_HEADERS: &[(&str, &str)] = &[("x-user-id", "edge-alice")];

async fn oidc() -> JwtValidator {
    let source = JwksSource::Static(jwk_set(&[RSA1_JWK, EC1_JWK]));
    JwtValidator::new(JwtConfig::new(ISSUER, AUDIENCE, source))
        .await
        .unwrap()
}

async fn management() -> ManagementPlane {
    ManagementPlane::new(ManagementKey::Pem(RSA1_PUB.into()))
        .await
        .unwrap()
}

/// Every external validator enabled.
async fn full_chain() -> AuthChain {
    AuthChain::builder()
        .client_keys(ClientKeys::new(vec![ClientKey::from_plaintext(
            "ci", "sk-ci",
        )]))
        .oidc(oidc().await)
        .edge_trust(EdgeTrust::default())
        .build()
        .unwrap()
}

/// A token as the dashboard mints it.
fn dashboard_token() -> String {
    let mut claims = claims(MANAGEMENT_ISSUER, MANAGEMENT_AUDIENCE, 300);
    claims["origin"] = serde_json::json!(MANAGEMENT_ORIGIN);
    sign(Algorithm::RS256, RSA1_KEY, Some("rsa-1"), &claims)
}

fn rejected(result: Result<Identity, GatewayError>) -> String {
    match result {
        Err(GatewayError::Unauthorized { detail }) => detail,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn client_key_admits_before_edge_trust() {
    let chain = full_chain().await;
    let identity = chain
        .authenticate(&parts(Some("sk-ci"), EDGE_HEADERS))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::ClientKey);
    assert_eq!(identity.subject, "ci");
}

#[tokio::test]
async fn bad_client_key_rejects_even_though_edge_trust_would_admit() {
    let chain = full_chain().await;
    let detail = rejected(
        chain
            .authenticate(&parts(Some("sk-wrong"), EDGE_HEADERS))
            .await,
    );
    assert_eq!(detail, "unknown client key");
}

#[tokio::test]
async fn bad_oidc_token_rejects_even_though_edge_trust_would_admit() {
    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims(ISSUER, AUDIENCE, -300),
    );
    let chain = full_chain().await;
    let detail = rejected(chain.authenticate(&parts(Some(&token), EDGE_HEADERS)).await);
    assert_eq!(detail, "token expired");
}

#[tokio::test]
async fn oidc_token_is_routed_to_its_issuer() {
    let token = sign(
        Algorithm::ES256,
        EC1_KEY,
        Some("ec-1"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    let identity = full_chain()
        .await
        .authenticate(&parts(Some(&token), &[]))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::Oidc);
}

#[tokio::test]
async fn edge_headers_admit_without_a_bearer_token() {
    let identity = full_chain()
        .await
        .authenticate(&parts(None, EDGE_HEADERS))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::EdgeTrust);
    assert_eq!(identity.subject, "edge-alice");
}

#[tokio::test]
async fn dashboard_token_is_refused_by_the_external_chain() {
    let detail = rejected(
        full_chain()
            .await
            .authenticate(&parts(Some(&dashboard_token()), &[]))
            .await,
    );
    assert_eq!(
        detail,
        "no validator accepts tokens from issuer \"omnia-dashboard\""
    );
}

#[tokio::test]
async fn management_chain_admits_a_dashboard_token() {
    let chain = AuthChain::management(Some(management().await));
    let identity = chain
        .authenticate(&parts(Some(&dashboard_token()), &[]))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::ManagementPlane);
}

#[tokio::test]
async fn management_chain_refuses_client_keys_oidc_tokens_and_edge_headers() {
    let chain = AuthChain::management(Some(management().await));
    let oidc_token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    for token in [Some("sk-ci"), Some(oidc_token.as_str()), None] {
        let result = chain.authenticate(&parts(token, EDGE_HEADERS)).await;
        assert!(
            matches!(result, Err(GatewayError::Unauthorized { .. })),
            "{token:?} was not refused: {result:?}"
        );
    }
}

#[tokio::test]
async fn management_chain_without_a_plane_refuses_everything() {
    let chain = AuthChain::management(None);
    assert!(chain.has_no_validators());
    assert!(
        chain
            .authenticate(&parts(Some(&dashboard_token()), &[]))
            .await
            .is_err()
    );
    assert!(chain.authenticate(&parts(None, &[])).await.is_err());
}

#[tokio::test]
async fn jwt_from_an_unknown_issuer_is_rejected_even_when_unauthenticated_is_allowed() {
    let chain = AuthChain::builder()
        .oidc(oidc().await)
        .allow_unauthenticated(true)
        .build()
        .unwrap();
    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims("https://evil.test", AUDIENCE, 300),
    );
    let detail = rejected(chain.authenticate(&parts(Some(&token), &[])).await);
    assert_eq!(
        detail,
        "no validator accepts tokens from issuer \"https://evil.test\""
    );
}

#[tokio::test]
async fn unsecured_jwt_is_rejected_by_the_chain() {
    let token = unsecured(None, &claims(ISSUER, AUDIENCE, 300));
    let detail = rejected(
        full_chain()
            .await
            .authenticate(&parts(Some(&token), &[]))
            .await,
    );
    assert!(detail.contains("\"none\" is not accepted"), "{detail}");
}

#[tokio::test]
async fn opaque_token_without_client_keys_is_rejected() {
    let chain = AuthChain::builder().oidc(oidc().await).build().unwrap();
    let detail = rejected(chain.authenticate(&parts(Some("sk-ci"), &[])).await);
    assert_eq!(detail, "client API keys are not accepted here");
}

#[tokio::test]
async fn empty_chain_rejects_requests_without_credentials() {
    let chain = AuthChain::deny_all();
    assert!(chain.has_no_validators());
    let detail = rejected(chain.authenticate(&parts(None, EDGE_HEADERS)).await);
    assert!(detail.starts_with("authentication required"), "{detail}");
}

#[tokio::test]
async fn configured_chain_rejects_requests_without_credentials() {
    assert!(
        full_chain()
            .await
            .authenticate(&parts(None, &[]))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn allow_unauthenticated_admits_an_anonymous_identity() {
    let chain = AuthChain::builder()
        .allow_unauthenticated(true)
        .build()
        .unwrap();
    let identity = chain.authenticate(&parts(None, &[])).await.unwrap();
    assert_eq!(identity.method, AuthMethod::Unauthenticated);
    assert_eq!(identity.subject, "anonymous");
}

#[tokio::test]
async fn non_bearer_scheme_is_no_credential() {
    let mut request = parts(None, EDGE_HEADERS);
    request.headers.insert(
        http::header::AUTHORIZATION,
        "Basic dXNlcjpwYXNz".parse().unwrap(),
    );
    let identity = edge_only().authenticate(&request).await.unwrap();
    assert_eq!(identity.method, AuthMethod::EdgeTrust);
}

#[tokio::test]
async fn two_validators_claiming_one_issuer_is_a_config_error() {
    let result = AuthChain::builder()
        .oidc(oidc().await)
        .oidc(oidc().await)
        .build();
    assert!(matches!(result, Err(AuthConfigError::Invalid(_))));
}

// --- OMNIA_FACADE_ALLOW_UNAUTHENTICATED applies to an empty chain only (Omnia's middleware) ---

#[tokio::test]
async fn allow_unauthenticated_does_not_admit_credential_less_callers_once_a_validator_is_configured()
 {
    let chain = AuthChain::builder()
        .client_keys(ClientKeys::new(vec![ClientKey::from_plaintext(
            "ci", "sk-ci",
        )]))
        .allow_unauthenticated(true)
        .build()
        .unwrap();
    let detail = rejected(chain.authenticate(&parts(None, &[])).await);
    assert!(detail.starts_with("authentication required"), "{detail}");
}

#[tokio::test]
async fn empty_chain_with_allow_unauthenticated_admits_a_token_bearing_caller_anonymously() {
    // Omnia's middleware skips an empty chain altogether: nothing could check the token.
    let chain = AuthChain::builder()
        .allow_unauthenticated(true)
        .build()
        .unwrap();
    let identity = chain
        .authenticate(&parts(Some("sk-anything"), &[]))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::Unauthenticated);
}

// --- Edge trust and a bearer token the chain cannot place ---

fn edge_only() -> AuthChain {
    AuthChain::builder()
        .edge_trust(EdgeTrust::default())
        .build()
        .unwrap()
}

#[tokio::test]
async fn opaque_bearer_nobody_owns_is_refused_even_with_edge_headers() {
    let detail = rejected(
        edge_only()
            .authenticate(&parts(Some("garbage"), EDGE_HEADERS))
            .await,
    );
    assert_eq!(detail, "client API keys are not accepted here");
}

#[tokio::test]
async fn unreadable_jwt_is_refused_even_with_edge_headers() {
    let detail = rejected(
        edge_only()
            .authenticate(&parts(Some("abc.def.ghi"), EDGE_HEADERS))
            .await,
    );
    assert_eq!(detail, "the token is not a readable JWT");
}

#[tokio::test]
async fn jwt_from_another_issuer_is_refused_with_edge_headers_when_oidc_is_configured() {
    // Omnia's OIDC validator runs before edge trust and refuses every bearer it cannot verify.
    let chain = AuthChain::builder()
        .oidc(oidc().await)
        .edge_trust(EdgeTrust::default())
        .build()
        .unwrap();
    let token = sign(
        Algorithm::RS256,
        RSA2_KEY,
        Some("rsa-2"),
        &claims("https://other-idp.test", AUDIENCE, 300),
    );
    let detail = rejected(chain.authenticate(&parts(Some(&token), EDGE_HEADERS)).await);
    assert_eq!(
        detail,
        "no validator accepts tokens from issuer \"https://other-idp.test\""
    );
}

#[tokio::test]
async fn edge_forwarded_jwt_is_admitted_as_the_edge_user_when_no_oidc_is_configured() {
    // Istio `forwardOriginalToken: true`: the JWT the edge verified arrives with its headers.
    let token = sign(
        Algorithm::RS256,
        RSA2_KEY,
        Some("rsa-2"),
        &claims("https://other-idp.test", AUDIENCE, 300),
    );
    let identity = edge_only()
        .authenticate(&parts(Some(&token), EDGE_HEADERS))
        .await
        .unwrap();
    assert_eq!(identity.method, AuthMethod::EdgeTrust);
    assert_eq!(identity.subject, "edge-alice");
}

//! Tests of the OIDC JWT validator (kept apart from `jwt.rs` to keep both files short).

use super::*;
use crate::auth::credential::{Credential, classify};
use crate::auth::test_support::*;
use serde_json::json;
use std::time::Duration;

async fn validator(jwks: &[&str]) -> JwtValidator {
    let config = JwtConfig::new(ISSUER, AUDIENCE, JwksSource::Static(jwk_set(jwks)));
    JwtValidator::new(config).await.unwrap()
}

async fn check(validator: &JwtValidator, token: &str) -> Result<Identity, GatewayError> {
    let Credential::Jwt(jwt) = classify(token) else {
        panic!("not JWT-shaped");
    };
    validator.validate(&jwt).await
}

fn rejected(result: Result<Identity, GatewayError>) -> String {
    match result {
        Err(GatewayError::Unauthorized { detail }) => detail,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn rs256_token_admits_with_mapped_claims() {
    let mut claims = claims(ISSUER, AUDIENCE, 300);
    claims["omnia.role"] = json!("editor");
    claims["email"] = json!("user-1@example.test");
    claims["groups"] = json!(["finance", "platform"]);
    claims["tenant"] = json!("acme");
    claims["scope"] = json!("functions:invoke agents:chat");
    let token = sign(Algorithm::RS256, RSA1_KEY, Some("rsa-1"), &claims);
    let identity = check(&validator(&[RSA1_JWK]).await, &token).await.unwrap();
    assert_eq!(identity.method, AuthMethod::Oidc);
    assert_eq!(identity.subject, "user-1");
    assert_eq!(identity.role.as_deref(), Some("editor"));
    assert_eq!(identity.end_user.as_deref(), Some("user-1"));
    assert_eq!(identity.email.as_deref(), Some("user-1@example.test"));
    assert_eq!(identity.claims["groups"], "finance,platform");
    assert_eq!(identity.claims["tenant"], "acme");
    assert_eq!(identity.claims["scope"], "functions:invoke agents:chat");
    assert_eq!(identity.claims["omnia.role"], "editor", "as in Omnia");
    assert_eq!(identity.claims["email"], "user-1@example.test");
    assert!(
        !identity.claims.contains_key("sub"),
        "the subject is not repeated"
    );
    assert!(
        !identity.claims.contains_key("exp"),
        "numbers are not claims"
    );
}

#[tokio::test]
async fn es256_token_admits() {
    let token = sign(
        Algorithm::ES256,
        EC1_KEY,
        Some("ec-1"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    let identity = check(&validator(&[RSA1_JWK, EC1_JWK]).await, &token)
        .await
        .unwrap();
    assert_eq!(identity.subject, "user-1");
}

#[tokio::test]
async fn kid_selects_the_key_among_two() {
    let token = sign(
        Algorithm::RS256,
        RSA2_KEY,
        Some("rsa-2"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    let validator = validator(&[RSA1_JWK, RSA2_JWK]).await;
    assert!(check(&validator, &token).await.is_ok());
}

#[tokio::test]
async fn token_without_kid_uses_the_only_key_of_its_type() {
    // The set holds one RSA and one EC key; an RS256 token can only mean the RSA one.
    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        None,
        &claims(ISSUER, AUDIENCE, 300),
    );
    assert!(
        check(&validator(&[RSA1_JWK, EC1_JWK]).await, &token)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unknown_kid_is_rejected() {
    let token = sign(
        Algorithm::RS256,
        RSA2_KEY,
        Some("rsa-2"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    let detail = rejected(check(&validator(&[RSA1_JWK]).await, &token).await);
    assert_eq!(detail, "no key with kid \"rsa-2\"");
}

#[tokio::test]
async fn token_signed_by_another_key_is_rejected() {
    // Signed by key 2 but claiming key 1's kid.
    let token = sign(
        Algorithm::RS256,
        RSA2_KEY,
        Some("rsa-1"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    let detail = rejected(check(&validator(&[RSA1_JWK]).await, &token).await);
    assert_eq!(detail, "token signature does not verify");
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims(ISSUER, AUDIENCE, -120),
    );
    assert_eq!(
        rejected(check(&validator(&[RSA1_JWK]).await, &token).await),
        "token expired"
    );
}

#[tokio::test]
async fn token_expired_within_the_leeway_is_admitted() {
    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims(ISSUER, AUDIENCE, -10),
    );
    assert!(check(&validator(&[RSA1_JWK]).await, &token).await.is_ok());
}

#[tokio::test]
async fn token_without_exp_is_rejected() {
    let mut claims = claims(ISSUER, AUDIENCE, 300);
    claims.as_object_mut().unwrap().remove("exp");
    let token = sign(Algorithm::RS256, RSA1_KEY, Some("rsa-1"), &claims);
    assert_eq!(
        rejected(check(&validator(&[RSA1_JWK]).await, &token).await),
        "token has no exp claim"
    );
}

#[tokio::test]
async fn wrong_audience_is_rejected() {
    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims(ISSUER, "other-app", 300),
    );
    let detail = rejected(check(&validator(&[RSA1_JWK]).await, &token).await);
    assert_eq!(detail, "token audience is not accepted");
}

#[tokio::test]
async fn missing_audience_is_rejected() {
    let mut claims = claims(ISSUER, AUDIENCE, 300);
    claims.as_object_mut().unwrap().remove("aud");
    let token = sign(Algorithm::RS256, RSA1_KEY, Some("rsa-1"), &claims);
    assert_eq!(
        rejected(check(&validator(&[RSA1_JWK]).await, &token).await),
        "token has no aud claim"
    );
}

#[tokio::test]
async fn unsecured_token_is_rejected() {
    let token = unsecured(Some("rsa-1"), &claims(ISSUER, AUDIENCE, 300));
    let detail = rejected(check(&validator(&[RSA1_JWK]).await, &token).await);
    assert_eq!(
        detail,
        "token algorithm \"none\" is not accepted; use RS256 or ES256"
    );
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    // Key confusion: an HMAC over the token using the RSA public key (PEM and raw JWK `n`) as
    // the shared secret must not verify against that public key.
    let validator = validator(&[RSA1_JWK]).await;
    let claims = claims(ISSUER, AUDIENCE, 300);
    let n: serde_json::Value = serde_json::from_str(RSA1_JWK).unwrap();
    for secret in [RSA1_PUB.as_bytes(), n["n"].as_str().unwrap().as_bytes()] {
        let token = sign_hs256(secret, Some("rsa-1"), &claims);
        let detail = rejected(check(&validator, &token).await);
        assert!(detail.contains("\"HS256\" is not accepted"), "{detail}");
    }
}

#[tokio::test]
async fn token_without_subject_is_rejected() {
    let mut claims = claims(ISSUER, AUDIENCE, 300);
    claims.as_object_mut().unwrap().remove("sub");
    let token = sign(Algorithm::RS256, RSA1_KEY, Some("rsa-1"), &claims);
    assert_eq!(
        rejected(check(&validator(&[RSA1_JWK]).await, &token).await),
        "token has no sub claim"
    );
}

#[tokio::test]
async fn custom_claim_names_map_subject_role_and_end_user() {
    let mut config = JwtConfig::new(ISSUER, AUDIENCE, JwksSource::Static(jwk_set(&[RSA1_JWK])));
    config.claims = ClaimNames {
        subject: "client_id".into(),
        role: "roles".into(),
        end_user: "preferred_username".into(),
        email: "mail".into(),
    };
    let validator = JwtValidator::new(config).await.unwrap();
    let mut claims = claims(ISSUER, AUDIENCE, 300);
    claims["client_id"] = json!("portal");
    claims["roles"] = json!("admin");
    claims["preferred_username"] = json!("alice");
    let token = sign(Algorithm::RS256, RSA1_KEY, Some("rsa-1"), &claims);
    let identity = check(&validator, &token).await.unwrap();
    assert_eq!(identity.subject, "portal");
    assert_eq!(identity.role.as_deref(), Some("admin"));
    assert_eq!(identity.end_user.as_deref(), Some("alice"));
    assert_eq!(
        identity.claims["sub"], "user-1",
        "an unmapped sub is an ordinary claim"
    );
}

#[tokio::test]
async fn jwks_file_is_read_at_construction() {
    let config = JwtConfig::new(ISSUER, AUDIENCE, JwksSource::File(testdata("jwks.json")));
    let validator = JwtValidator::new(config).await.unwrap();
    let token = sign(
        Algorithm::ES256,
        EC1_KEY,
        Some("ec-1"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    assert!(check(&validator, &token).await.is_ok());
}

#[tokio::test]
async fn jwks_url_rotation_admits_tokens_from_the_new_key() {
    install_crypto_provider();
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let config = JwtConfig::new(ISSUER, AUDIENCE, JwksSource::Url(server.url()));
    let validator = JwtValidator::new(config).await.unwrap();
    let token = sign(
        Algorithm::RS256,
        RSA2_KEY,
        Some("rsa-2"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    server.serve(jwks_json(&[RSA2_JWK]));
    assert_eq!(check(&validator, &token).await.unwrap().subject, "user-1");
    assert_eq!(
        server.hits(),
        2,
        "one fetch at construction, one for the unknown kid"
    );
}

#[tokio::test]
async fn token_of_a_revoked_key_is_refused_after_the_scheduled_refresh() {
    install_crypto_provider();
    let server = JwksServer::start(jwks_json(&[RSA1_JWK, RSA2_JWK])).await;
    let mut config = JwtConfig::new(ISSUER, AUDIENCE, JwksSource::Url(server.url()));
    config.refresh = JwksRefresh {
        default_interval: Duration::from_millis(10),
        min_interval: Duration::from_millis(10),
        ..JwksRefresh::default()
    };
    let validator = JwtValidator::new(config).await.unwrap();
    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims(ISSUER, AUDIENCE, 300),
    );
    assert!(check(&validator, &token).await.is_ok());

    // The identity provider revokes rsa-1; nobody restarts the gateway.
    server.serve(jwks_json(&[RSA2_JWK]));
    eventually("the revoked key was dropped", || {
        !validator.verifier.jwks.current().has_kid("rsa-1")
    })
    .await;

    assert_eq!(
        rejected(check(&validator, &token).await),
        "no key with kid \"rsa-1\""
    );
}

#[tokio::test]
async fn tokens_of_an_issuer_found_by_oidc_discovery_are_admitted() {
    install_crypto_provider();
    // Keycloak's layout: the keys are not at {issuer}/.well-known/jwks.json.
    let server = JwksServer::empty().await;
    let issuer = format!("{}/realms/omnia", server.base());
    let metadata = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
    });
    server.serve_at(
        "/realms/omnia/.well-known/openid-configuration",
        metadata.to_string(),
    );
    server.serve_at(
        "/realms/omnia/protocol/openid-connect/certs",
        jwks_json(&[RSA1_JWK]),
    );
    let config = JwtConfig::new(issuer.clone(), AUDIENCE, JwksSource::Discover);
    let validator = JwtValidator::new(config).await.unwrap();

    let token = sign(
        Algorithm::RS256,
        RSA1_KEY,
        Some("rsa-1"),
        &claims(&issuer, AUDIENCE, 300),
    );

    assert_eq!(check(&validator, &token).await.unwrap().subject, "user-1");
}

#[tokio::test]
async fn empty_issuer_or_audience_is_a_config_error() {
    let source = JwksSource::Static(jwk_set(&[RSA1_JWK]));
    assert!(
        JwtValidator::new(JwtConfig::new("", AUDIENCE, source.clone()))
            .await
            .is_err()
    );
    assert!(
        JwtValidator::new(JwtConfig::new(ISSUER, "", source))
            .await
            .is_err()
    );
}

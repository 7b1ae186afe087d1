//! The management plane: RS256 JWTs minted by the Omnia dashboard (issuer `omnia-dashboard`,
//! audience `omnia-facade`, `origin: management-plane`) for admins and tools calling an agent
//! from the console.
//!
//! As in Omnia (#1620) these tokens are accepted only on the gateway's internal listener, never in
//! the external chain (see [`AuthChain::management`](super::AuthChain::management)). Checks are
//! those of the OIDC validator restricted to RS256, plus Omnia's: a `kid` header is required, the
//! `origin` claim must be `management-plane`, and the optional `agent` and `workspace` claims,
//! when present, must name the agent being called and its workspace.
//!
//! The key is the dashboard's public key: a JWKS URL (`OMNIA_MGMT_PLANE_JWKS_URL`, the dashboard's
//! `/api/auth/jwks`), refreshed on the same schedule as an OIDC issuer's and fetched again when a
//! token names an unknown key, or a PEM. One [`ManagementPlane`] holds the keys;
//! [`ManagementPlane::for_agent`] shares them with the validator of each agent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::credential::UnverifiedJwt;
use super::identity::{AuthMethod, Identity};
use super::jwks::{Jwks, JwksRefresh, JwksSource, KeySet, truncate};
use super::jwt::{ClaimLookup, Verifier, identity_from_claims};
use super::{AuthConfigError, unauthorized};
use crate::error::GatewayError;

/// The `iss` of dashboard-minted tokens.
pub const MANAGEMENT_ISSUER: &str = "omnia-dashboard";
/// The `aud` of dashboard-minted tokens.
pub const MANAGEMENT_AUDIENCE: &str = "omnia-facade";
/// The `origin` claim every dashboard-minted token carries.
pub const MANAGEMENT_ORIGIN: &str = "management-plane";
/// Shortest time between two fetches of the dashboard's JWKS URL for tokens naming unknown keys,
/// as in Omnia's facade: the dashboard is an in-cluster service, so a rotation is picked up within
/// seconds.
pub const MANAGEMENT_UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(2);

const ALGORITHMS: &[Algorithm] = &[Algorithm::RS256];

/// Where the dashboard's public key comes from.
#[derive(Debug, Clone)]
pub enum ManagementKey {
    /// A PEM file holding the RSA public key (`-----BEGIN PUBLIC KEY-----`), read at construction.
    PemFile(PathBuf),
    /// The RSA public key PEM itself.
    Pem(String),
    /// A JWKS; RSA keys only are used. A URL is fetched at construction, but unlike an OIDC
    /// JWKS a failed fetch does not fail start-up (Omnia's facade starts while the dashboard is
    /// down): it is logged, and retried on schedule and when a token arrives.
    Jwks(JwksSource),
}

/// Validates dashboard-minted management-plane JWTs for one agent (or, before
/// [`ManagementPlane::for_agent`], for any agent).
#[derive(Clone)]
pub struct ManagementPlane {
    verifier: Arc<Verifier>,
    agent: Option<String>,
    workspace: Option<String>,
}

impl ManagementPlane {
    /// Builds the validator; files are read and URLs fetched now. A JWKS URL is refreshed with
    /// [`JwksRefresh::default`], except that tokens naming unknown keys may refetch it every
    /// [`MANAGEMENT_UNKNOWN_KID_INTERVAL`].
    pub async fn new(key: ManagementKey) -> Result<Self, AuthConfigError> {
        let refresh = JwksRefresh {
            unknown_kid_interval: MANAGEMENT_UNKNOWN_KID_INTERVAL,
            ..JwksRefresh::default()
        };
        Self::with_refresh(key, refresh).await
    }

    /// [`ManagementPlane::new`] with another refresh schedule for a JWKS URL.
    pub async fn with_refresh(
        key: ManagementKey,
        refresh: JwksRefresh,
    ) -> Result<Self, AuthConfigError> {
        let jwks = match key {
            ManagementKey::PemFile(path) => {
                let pem = tokio::fs::read(&path)
                    .await
                    .map_err(|source| AuthConfigError::Read {
                        path: path.clone(),
                        source,
                    })?;
                Jwks::fixed(pem_key(&pem, &path.display().to_string())?)
            }
            ManagementKey::Pem(pem) => {
                Jwks::fixed(pem_key(pem.as_bytes(), "management-plane PEM")?)
            }
            ManagementKey::Jwks(JwksSource::Url(url)) => {
                Jwks::load_url_lenient(url, ALGORITHMS, refresh).await?
            }
            ManagementKey::Jwks(source) => {
                Jwks::load(source, ALGORITHMS, refresh, MANAGEMENT_ISSUER).await?
            }
        };
        let verifier = Verifier::new(jwks, MANAGEMENT_ISSUER, MANAGEMENT_AUDIENCE, ALGORITHMS)?;
        Ok(Self {
            verifier: Arc::new(verifier),
            agent: None,
            workspace: None,
        })
    }

    /// The validator for calls to `agent`, sharing these keys: a token's `agent` claim, when
    /// present, must be `agent`, and its `workspace` claim, when present and `workspace` is
    /// known, must be `workspace`. Omnia compares the latter with the Workspace's name
    /// (`OMNIA_WORKSPACE_NAME`), which is not the namespace the workspace owns.
    pub fn for_agent(&self, agent: impl Into<String>, workspace: Option<&str>) -> Self {
        Self {
            verifier: self.verifier.clone(),
            agent: Some(agent.into()),
            workspace: workspace.map(str::to_owned),
        }
    }

    /// The issuer whose tokens this validator owns (`omnia-dashboard`).
    pub fn issuer(&self) -> &str {
        &self.verifier.issuer
    }

    pub(crate) async fn validate(&self, jwt: &UnverifiedJwt<'_>) -> Result<Identity, GatewayError> {
        // Omnia resolves keys by kid only; without one there is nothing to look up.
        if jwt.kid.as_deref().is_none_or(str::is_empty) {
            return Err(unauthorized("management-plane token has no kid header"));
        }
        let claims = self.verifier.verify(jwt).await?;
        if claims.get("origin").and_then(Value::as_str) != Some(MANAGEMENT_ORIGIN) {
            return Err(unauthorized(format!(
                "token origin is not {MANAGEMENT_ORIGIN:?}"
            )));
        }
        expect_claim(&claims, "agent", self.agent.as_deref())?;
        expect_claim(&claims, "workspace", self.workspace.as_deref())?;
        identity_from_claims(
            claims,
            &ClaimLookup {
                subject: "sub",
                roles: &["omnia.role", "role"],
                end_user: "sub",
                email: "email",
            },
            AuthMethod::ManagementPlane,
        )
    }
}

/// A scoping claim (`agent`, `workspace`): absent or empty is accepted (tokens minted before the
/// claim existed), otherwise it must equal `expected` when that is known.
fn expect_claim(
    claims: &Map<String, Value>,
    name: &str,
    expected: Option<&str>,
) -> Result<(), GatewayError> {
    let (Some(expected), Some(value)) = (expected, claims.get(name)) else {
        return Ok(());
    };
    match value.as_str() {
        Some("") => Ok(()),
        Some(found) if found == expected => Ok(()),
        Some(found) => Err(unauthorized(format!(
            "token is for {name} {:?}, not {expected:?}",
            truncate(found)
        ))),
        None => Err(unauthorized(format!("token claim {name} is malformed"))),
    }
}

impl std::fmt::Debug for ManagementPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementPlane")
            .field("issuer", &self.verifier.issuer)
            .field("agent", &self.agent)
            .field("workspace", &self.workspace)
            .finish_non_exhaustive()
    }
}

fn pem_key(pem: &[u8], origin: &str) -> Result<KeySet, AuthConfigError> {
    let key = DecodingKey::from_rsa_pem(pem).map_err(|err| AuthConfigError::Keys {
        origin: origin.to_owned(),
        detail: format!("not an RSA public key PEM: {err}"),
    })?;
    Ok(KeySet::single(key, Algorithm::RS256))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credential::{Credential, classify};
    use crate::auth::test_support::*;
    use serde_json::json;

    async fn validator() -> ManagementPlane {
        ManagementPlane::new(ManagementKey::Pem(RSA1_PUB.into()))
            .await
            .unwrap()
    }

    /// What the dashboard mints: its issuer, audience and origin, a role and a workspace.
    fn dashboard_claims(exp_in: i64) -> serde_json::Value {
        let mut claims = claims(MANAGEMENT_ISSUER, MANAGEMENT_AUDIENCE, exp_in);
        claims["origin"] = json!(MANAGEMENT_ORIGIN);
        claims["omnia.role"] = json!("admin");
        claims["workspace"] = json!("team-a");
        claims
    }

    /// Signed with RSA1 under a kid, as the dashboard signs.
    fn dashboard_token(claims: &serde_json::Value) -> String {
        sign(Algorithm::RS256, RSA1_KEY, Some("rsa-1"), claims)
    }

    async fn check(plane: &ManagementPlane, token: &str) -> Result<Identity, GatewayError> {
        let Credential::Jwt(jwt) = classify(token) else {
            panic!("not JWT-shaped");
        };
        plane.validate(&jwt).await
    }

    fn rejected(result: Result<Identity, GatewayError>) -> String {
        match result {
            Err(GatewayError::Unauthorized { detail }) => detail,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn valid_dashboard_token_admits_with_role_and_claims() {
        let token = dashboard_token(&dashboard_claims(300));
        let identity = check(&validator().await, &token).await.unwrap();
        assert_eq!(identity.method, AuthMethod::ManagementPlane);
        assert_eq!(identity.subject, "user-1");
        assert_eq!(identity.role.as_deref(), Some("admin"));
        assert_eq!(identity.claims["workspace"], "team-a");
        assert_eq!(identity.claims["origin"], MANAGEMENT_ORIGIN);
    }

    #[tokio::test]
    async fn role_claim_is_the_fallback_for_omnia_role() {
        let mut claims = dashboard_claims(300);
        claims.as_object_mut().unwrap().remove("omnia.role");
        claims["role"] = json!("editor");
        let identity = check(&validator().await, &dashboard_token(&claims))
            .await
            .unwrap();
        assert_eq!(identity.role.as_deref(), Some("editor"));
    }

    #[tokio::test]
    async fn pem_file_key_is_read_at_construction() {
        let plane = ManagementPlane::new(ManagementKey::PemFile(testdata("rsa1.pub.pem")))
            .await
            .unwrap();
        let token = dashboard_token(&dashboard_claims(300));
        assert!(check(&plane, &token).await.is_ok());
    }

    #[tokio::test]
    async fn jwks_key_selects_by_kid() {
        let source = JwksSource::Static(jwk_set(&[RSA1_JWK, RSA2_JWK]));
        let plane = ManagementPlane::new(ManagementKey::Jwks(source))
            .await
            .unwrap();
        let token = sign(
            Algorithm::RS256,
            RSA2_KEY,
            Some("rsa-2"),
            &dashboard_claims(300),
        );
        assert_eq!(check(&plane, &token).await.unwrap().subject, "user-1");
    }

    #[tokio::test]
    async fn ec_public_key_is_a_config_error() {
        let pem = std::fs::read_to_string(testdata("ec1.pub.pem")).unwrap();
        assert!(ManagementPlane::new(ManagementKey::Pem(pem)).await.is_err());
    }

    #[tokio::test]
    async fn token_without_kid_is_rejected() {
        let token = sign(Algorithm::RS256, RSA1_KEY, None, &dashboard_claims(300));
        assert_eq!(
            rejected(check(&validator().await, &token).await),
            "management-plane token has no kid header"
        );
    }

    #[tokio::test]
    async fn token_with_another_origin_is_rejected() {
        let mut claims = dashboard_claims(300);
        claims["origin"] = json!("data-plane");
        assert_eq!(
            rejected(check(&validator().await, &dashboard_token(&claims)).await),
            "token origin is not \"management-plane\""
        );
    }

    #[tokio::test]
    async fn token_without_origin_is_rejected() {
        let mut claims = dashboard_claims(300);
        claims.as_object_mut().unwrap().remove("origin");
        assert!(
            check(&validator().await, &dashboard_token(&claims))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn agent_claim_must_name_the_called_agent() {
        let plane = validator().await.for_agent("summarizer", None);
        let mut claims = dashboard_claims(300);
        claims["agent"] = json!("summarizer");
        assert!(check(&plane, &dashboard_token(&claims)).await.is_ok());
        claims["agent"] = json!("billing");
        assert_eq!(
            rejected(check(&plane, &dashboard_token(&claims)).await),
            "token is for agent \"billing\", not \"summarizer\""
        );
    }

    #[tokio::test]
    async fn token_without_agent_claim_is_accepted_for_any_agent() {
        let plane = validator().await.for_agent("summarizer", Some("team-a"));
        assert!(
            check(&plane, &dashboard_token(&dashboard_claims(300)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn workspace_claim_must_name_the_workspace_when_it_is_known() {
        let token = dashboard_token(&dashboard_claims(300));
        let other = validator().await.for_agent("summarizer", Some("team-b"));
        assert_eq!(
            rejected(check(&other, &token).await),
            "token is for workspace \"team-a\", not \"team-b\""
        );
        let unknown = validator().await.for_agent("summarizer", None);
        assert!(check(&unknown, &token).await.is_ok());
    }

    #[tokio::test]
    async fn non_string_agent_claim_is_rejected() {
        let plane = validator().await.for_agent("summarizer", None);
        let mut claims = dashboard_claims(300);
        claims["agent"] = json!(7);
        assert_eq!(
            rejected(check(&plane, &dashboard_token(&claims)).await),
            "token claim agent is malformed"
        );
    }

    #[tokio::test]
    async fn jwks_url_is_refetched_when_a_token_names_an_unknown_kid() {
        install_crypto_provider();
        let server = JwksServer::start(jwks_json(&[RSA2_JWK])).await;
        let plane = ManagementPlane::new(ManagementKey::Jwks(JwksSource::Url(server.url())))
            .await
            .unwrap();
        server.serve(jwks_json(&[RSA1_JWK, RSA2_JWK]));
        let identity = check(&plane, &dashboard_token(&dashboard_claims(300)))
            .await
            .unwrap();
        assert_eq!(identity.method, AuthMethod::ManagementPlane);
        assert_eq!(server.hits(), 2);
    }

    #[tokio::test]
    async fn dashboard_key_removed_from_its_jwks_is_refused_after_the_scheduled_refresh() {
        install_crypto_provider();
        let server = JwksServer::start(jwks_json(&[RSA1_JWK, RSA2_JWK])).await;
        let refresh = JwksRefresh {
            default_interval: Duration::from_millis(10),
            min_interval: Duration::from_millis(10),
            ..JwksRefresh::default()
        };
        let source = ManagementKey::Jwks(JwksSource::Url(server.url()));
        let plane = ManagementPlane::with_refresh(source, refresh)
            .await
            .unwrap();
        let token = dashboard_token(&dashboard_claims(300));
        assert!(check(&plane, &token).await.is_ok());

        server.serve(jwks_json(&[RSA2_JWK]));
        eventually("the dashboard's old key was dropped", || {
            !plane.verifier.jwks.current().has_kid("rsa-1")
        })
        .await;

        assert_eq!(
            rejected(check(&plane, &token).await),
            "no key with kid \"rsa-1\""
        );
    }

    #[tokio::test]
    async fn unreachable_jwks_url_does_not_fail_start_up() {
        install_crypto_provider();
        let plane = ManagementPlane::new(ManagementKey::Jwks(JwksSource::Url(
            closed_port_url().await,
        )))
        .await
        .unwrap();
        let token = dashboard_token(&dashboard_claims(300));
        assert_eq!(
            rejected(check(&plane, &token).await),
            "no key with kid \"rsa-1\""
        );
    }

    #[tokio::test]
    async fn expired_token_is_rejected() {
        let token = dashboard_token(&dashboard_claims(-120));
        assert_eq!(
            rejected(check(&validator().await, &token).await),
            "token expired"
        );
    }

    #[tokio::test]
    async fn wrong_audience_is_rejected() {
        let mut claims = dashboard_claims(300);
        claims["aud"] = json!("someone-else");
        assert_eq!(
            rejected(check(&validator().await, &dashboard_token(&claims)).await),
            "token audience is not accepted"
        );
    }

    #[tokio::test]
    async fn unsecured_token_is_rejected() {
        let token = unsecured(Some("rsa-1"), &dashboard_claims(300));
        assert!(
            rejected(check(&validator().await, &token).await).contains("\"none\" is not accepted")
        );
    }

    #[tokio::test]
    async fn token_signed_by_another_key_is_rejected() {
        let token = sign(
            Algorithm::RS256,
            RSA2_KEY,
            Some("rsa-1"),
            &dashboard_claims(300),
        );
        assert_eq!(
            rejected(check(&validator().await, &token).await),
            "token signature does not verify"
        );
    }

    #[tokio::test]
    async fn es256_token_is_rejected() {
        let token = sign(
            Algorithm::ES256,
            EC1_KEY,
            Some("rsa-1"),
            &dashboard_claims(300),
        );
        assert!(
            rejected(check(&validator().await, &token).await).contains("\"ES256\" is not accepted")
        );
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_rejected() {
        let token = sign_hs256(RSA1_PUB.as_bytes(), Some("rsa-1"), &dashboard_claims(300));
        assert!(
            rejected(check(&validator().await, &token).await).contains("\"HS256\" is not accepted")
        );
    }
}

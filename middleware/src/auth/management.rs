//! The management plane: RS256 JWTs minted by the Omnia dashboard (issuer `omnia-dashboard`,
//! audience `omnia-facade`) for admins trying an agent from the console.
//!
//! The key is the dashboard's public key, as a PEM (file or text) or a JWKS (the dashboard serves
//! one at `/api/auth/jwks`). Checks are those of the OIDC validator, restricted to RS256.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::AuthConfigError;
use super::credential::UnverifiedJwt;
use super::identity::{AuthMethod, Identity};
use super::jwks::{Jwks, JwksSource, KeySet};
use super::jwt::{ClaimLookup, Verifier, identity_from_claims};
use crate::error::GatewayError;

/// The `iss` of dashboard-minted tokens.
pub const MANAGEMENT_ISSUER: &str = "omnia-dashboard";
/// The `aud` of dashboard-minted tokens.
pub const MANAGEMENT_AUDIENCE: &str = "omnia-facade";

const ALGORITHMS: &[Algorithm] = &[Algorithm::RS256];

/// Where the dashboard's public key comes from.
#[derive(Debug, Clone)]
pub enum ManagementKey {
    /// A PEM file holding the RSA public key (`-----BEGIN PUBLIC KEY-----`), read at construction.
    PemFile(PathBuf),
    /// The RSA public key PEM itself.
    Pem(String),
    /// A JWKS; RSA keys only are used.
    Jwks(JwksSource),
}

/// Validates dashboard-minted management-plane JWTs.
pub struct ManagementPlane {
    verifier: Verifier,
}

impl ManagementPlane {
    /// Builds the validator; files are read and URLs fetched now.
    pub async fn new(key: ManagementKey) -> Result<Self, AuthConfigError> {
        let jwks = match key {
            ManagementKey::PemFile(path) => {
                let pem = tokio::fs::read(&path)
                    .await
                    .map_err(|source| AuthConfigError::Read {
                        path: path.clone(),
                        source,
                    })?;
                Jwks::fixed(pem_key(&pem, &path.display().to_string())?, ALGORITHMS)
            }
            ManagementKey::Pem(pem) => {
                Jwks::fixed(pem_key(pem.as_bytes(), "management-plane PEM")?, ALGORITHMS)
            }
            ManagementKey::Jwks(source) => Jwks::load(source, ALGORITHMS).await?,
        };
        let verifier = Verifier::new(jwks, MANAGEMENT_ISSUER, MANAGEMENT_AUDIENCE, ALGORITHMS)?;
        Ok(Self { verifier })
    }

    /// Changes the shortest time between two fetches of a JWKS URL (default 30 s).
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.verifier.jwks.set_min_refresh_interval(interval);
        self
    }

    /// The issuer whose tokens this validator owns (`omnia-dashboard`).
    pub fn issuer(&self) -> &str {
        &self.verifier.issuer
    }

    pub(crate) async fn validate(&self, jwt: &UnverifiedJwt<'_>) -> Result<Identity, GatewayError> {
        let claims = self.verifier.verify(jwt).await?;
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

impl std::fmt::Debug for ManagementPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementPlane")
            .field("issuer", &self.verifier.issuer)
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

    fn dashboard_claims(exp_in: i64) -> serde_json::Value {
        let mut claims = claims(MANAGEMENT_ISSUER, MANAGEMENT_AUDIENCE, exp_in);
        claims["omnia.role"] = json!("admin");
        claims["workspace"] = json!("team-a");
        claims
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
        let token = sign(
            Algorithm::RS256,
            RSA1_KEY,
            Some("dash-1"),
            &dashboard_claims(300),
        );
        let identity = check(&validator().await, &token).await.unwrap();
        assert_eq!(identity.method, AuthMethod::ManagementPlane);
        assert_eq!(identity.subject, "user-1");
        assert_eq!(identity.role.as_deref(), Some("admin"));
        assert_eq!(identity.claims["workspace"], "team-a");
    }

    #[tokio::test]
    async fn role_claim_is_the_fallback_for_omnia_role() {
        let mut claims = claims(MANAGEMENT_ISSUER, MANAGEMENT_AUDIENCE, 300);
        claims["role"] = json!("editor");
        let token = sign(Algorithm::RS256, RSA1_KEY, None, &claims);
        let identity = check(&validator().await, &token).await.unwrap();
        assert_eq!(identity.role.as_deref(), Some("editor"));
    }

    #[tokio::test]
    async fn pem_file_key_is_read_at_construction() {
        let plane = ManagementPlane::new(ManagementKey::PemFile(testdata("rsa1.pub.pem")))
            .await
            .unwrap();
        let token = sign(Algorithm::RS256, RSA1_KEY, None, &dashboard_claims(300));
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
    async fn expired_token_is_rejected() {
        let token = sign(Algorithm::RS256, RSA1_KEY, None, &dashboard_claims(-120));
        assert_eq!(
            rejected(check(&validator().await, &token).await),
            "token expired"
        );
    }

    #[tokio::test]
    async fn wrong_audience_is_rejected() {
        let claims = claims(MANAGEMENT_ISSUER, "someone-else", 300);
        let token = sign(Algorithm::RS256, RSA1_KEY, None, &claims);
        assert_eq!(
            rejected(check(&validator().await, &token).await),
            "token audience is not accepted"
        );
    }

    #[tokio::test]
    async fn unsecured_token_is_rejected() {
        let token = unsecured(None, &dashboard_claims(300));
        assert!(
            rejected(check(&validator().await, &token).await).contains("\"none\" is not accepted")
        );
    }

    #[tokio::test]
    async fn token_signed_by_another_key_is_rejected() {
        let token = sign(Algorithm::RS256, RSA2_KEY, None, &dashboard_claims(300));
        assert_eq!(
            rejected(check(&validator().await, &token).await),
            "token signature does not verify"
        );
    }

    #[tokio::test]
    async fn es256_token_is_rejected() {
        let token = sign(Algorithm::ES256, EC1_KEY, None, &dashboard_claims(300));
        assert!(
            rejected(check(&validator().await, &token).await).contains("\"ES256\" is not accepted")
        );
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_rejected() {
        let token = sign_hs256(RSA1_PUB.as_bytes(), None, &dashboard_claims(300));
        assert!(
            rejected(check(&validator().await, &token).await).contains("\"HS256\" is not accepted")
        );
    }
}

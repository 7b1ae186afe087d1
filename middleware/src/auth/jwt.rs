//! JWT validation: the OIDC validator, and the signature and claim checks it shares with the
//! management plane.
//!
//! Only asymmetric algorithms are accepted (RS256, ES256; the management plane RS256 only), so a
//! token signed with HMAC using the public key as the secret (the classic key-confusion attack)
//! and unsecured `alg: none` tokens are refused before any key is looked at. Issuer, audience and
//! `exp` are required; clocks may disagree by [`JWT_LEEWAY_SECS`].

use std::collections::BTreeMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::credential::UnverifiedJwt;
use super::identity::{AuthMethod, Identity};
use super::jwks::{Jwks, JwksRefresh, JwksSource, truncate};
use super::{AuthConfigError, unauthorized};
use crate::error::GatewayError;

/// Tolerated clock difference between the gateway and a token issuer, for `exp` and `nbf`.
pub const JWT_LEEWAY_SECS: u64 = 30;

/// The algorithms an OIDC issuer may sign with.
pub(crate) const OIDC_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];

/// Which claims of an OIDC token fill which fields of the [`Identity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// The caller's stable id (default `sub`).
    pub subject: String,
    /// The caller's role (default `omnia.role`, a flat claim name containing a dot).
    pub role: String,
    /// The end user (default `sub`); falls back to the subject when absent.
    pub end_user: String,
    /// The caller's e-mail (default `email`).
    pub email: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            role: "omnia.role".into(),
            end_user: "sub".into(),
            email: "email".into(),
        }
    }
}

/// Configuration of one OIDC issuer.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The exact `iss` of accepted tokens; also how the chain routes tokens to this validator.
    pub issuer: String,
    /// The `aud` accepted tokens must carry.
    pub audience: String,
    /// Where the issuer's public keys come from.
    pub jwks: JwksSource,
    /// Claim-to-identity mapping.
    pub claims: ClaimNames,
    /// How keys fetched over HTTP are kept fresh.
    pub refresh: JwksRefresh,
}

impl JwtConfig {
    /// A configuration with the default claim names.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, jwks: JwksSource) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks,
            claims: ClaimNames::default(),
            refresh: JwksRefresh::default(),
        }
    }
}

/// Validates JWTs from one OIDC issuer against its JWKS.
pub struct JwtValidator {
    verifier: Verifier,
    claims: ClaimNames,
}

impl JwtValidator {
    /// Builds the validator; a JWKS file is read, and a JWKS URL (or the issuer's discovery
    /// document and the JWKS it names) fetched now, so a bad key source fails at start-up. Keys
    /// fetched over HTTP are then refreshed in the background for as long as the validator lives.
    pub async fn new(config: JwtConfig) -> Result<Self, AuthConfigError> {
        let jwks = Jwks::load(config.jwks, OIDC_ALGORITHMS, config.refresh, &config.issuer).await?;
        let verifier = Verifier::new(jwks, &config.issuer, &config.audience, OIDC_ALGORITHMS)?;
        Ok(Self {
            verifier,
            claims: config.claims,
        })
    }

    /// The issuer whose tokens this validator owns.
    pub fn issuer(&self) -> &str {
        &self.verifier.issuer
    }

    pub(crate) async fn validate(&self, jwt: &UnverifiedJwt<'_>) -> Result<Identity, GatewayError> {
        let claims = self.verifier.verify(jwt).await?;
        let names = &self.claims;
        identity_from_claims(
            claims,
            &ClaimLookup {
                subject: &names.subject,
                roles: &[&names.role],
                end_user: &names.end_user,
                email: &names.email,
            },
            AuthMethod::Oidc,
        )
    }
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("issuer", &self.verifier.issuer)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Signature, algorithm and registered-claim checks for one issuer and audience.
pub(crate) struct Verifier {
    pub(crate) jwks: Jwks,
    pub(crate) issuer: String,
    /// One validation per accepted algorithm: jsonwebtoken requires every algorithm of a
    /// validation to match the key's family.
    validations: Vec<(Algorithm, Validation)>,
}

impl Verifier {
    pub(crate) fn new(
        jwks: Jwks,
        issuer: &str,
        audience: &str,
        accepted: &[Algorithm],
    ) -> Result<Self, AuthConfigError> {
        if issuer.is_empty() || audience.is_empty() {
            return Err(AuthConfigError::Invalid(
                "a JWT validator needs both an issuer and an audience".into(),
            ));
        }
        let validations = accepted
            .iter()
            .map(|&alg| {
                let mut v = Validation::new(alg);
                v.leeway = JWT_LEEWAY_SECS;
                v.validate_exp = true;
                v.validate_nbf = true;
                v.validate_aud = true;
                v.set_required_spec_claims(&["exp", "iss", "aud"]);
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                (alg, v)
            })
            .collect();
        Ok(Self {
            jwks,
            issuer: issuer.to_owned(),
            validations,
        })
    }

    /// Verifies the token and returns its claims.
    pub(crate) async fn verify(
        &self,
        jwt: &UnverifiedJwt<'_>,
    ) -> Result<Map<String, Value>, GatewayError> {
        let alg = jwt.alg.as_deref().unwrap_or_default();
        let Some((alg, validation)) = self.validations.iter().find(|(a, _)| alg_name(*a) == alg)
        else {
            let accepted: Vec<&str> = self.validations.iter().map(|(a, _)| alg_name(*a)).collect();
            return Err(unauthorized(format!(
                "token algorithm {:?} is not accepted; use {}",
                truncate(alg),
                accepted.join(" or ")
            )));
        };
        let kid = jwt.kid.as_deref();
        let keys = self.jwks.keys_for(kid).await;
        let key = keys.select(kid, *alg)?;
        jsonwebtoken::decode::<Map<String, Value>>(jwt.token, key, validation)
            .map(|data| data.claims)
            .map_err(|err| unauthorized(describe(err.kind())))
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        // Only the two above are ever configured.
        _ => "",
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::ImmatureSignature => "token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "token audience is not accepted".into(),
        ErrorKind::InvalidIssuer => "token issuer is not accepted".into(),
        ErrorKind::InvalidSignature => "token signature does not verify".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("token has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("token claim {claim} is malformed"),
        ErrorKind::InvalidAlgorithm => "token algorithm does not match the key".into(),
        _ => "token is malformed".into(),
    }
}

/// Which claims map to which identity fields.
pub(crate) struct ClaimLookup<'a> {
    pub subject: &'a str,
    /// Tried in order; the first string claim wins.
    pub roles: &'a [&'a str],
    pub end_user: &'a str,
    pub email: &'a str,
}

/// Builds the identity from verified claims. Every claim but the subject and the end user, if it
/// is a string or a list of strings (joined with commas, as Omnia does for `groups`), lands in
/// `claims`: as in Omnia, the role and e-mail claims stay there under their own names too, and so
/// do OAuth scopes (`scope`, `scp`), for the runtime's tool policies to read.
pub(crate) fn identity_from_claims(
    mut claims: Map<String, Value>,
    lookup: &ClaimLookup<'_>,
    method: AuthMethod,
) -> Result<Identity, GatewayError> {
    let string = |claims: &Map<String, Value>, name: &str| match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let Some(subject) = string(&claims, lookup.subject) else {
        return Err(unauthorized(format!(
            "token has no {} claim",
            lookup.subject
        )));
    };
    let role = lookup.roles.iter().find_map(|name| string(&claims, name));
    let end_user = string(&claims, lookup.end_user).unwrap_or_else(|| subject.clone());
    let email = string(&claims, lookup.email);
    for name in [lookup.subject, lookup.end_user] {
        claims.remove(name);
    }
    let claims: BTreeMap<String, String> = claims
        .into_iter()
        .filter_map(|(name, value)| claim_text(value).map(|text| (name, text)))
        .collect();
    Ok(Identity {
        subject,
        role,
        end_user: Some(end_user),
        email,
        claims,
        method,
    })
}

fn claim_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Array(items) => {
            let parts: Vec<&str> = items
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;

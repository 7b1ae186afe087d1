//! The ordered chains of validators (DESIGN.md 4.5).
//!
//! The external chain runs client keys, OIDC, edge trust in that order. Each validator owns one
//! kind of credential: client keys own opaque bearer tokens, an OIDC validator owns JWTs whose
//! (unverified) `iss` is its issuer, edge trust owns its subject header. The first validator that
//! admits wins; one that sees no credential it owns passes; one that owns a bad credential rejects
//! at once, so a later validator can never admit a request whose credential was refused. A bearer
//! token nobody owns is refused at the end of the chain rather than ignored, edge headers or not
//! (one exception: a JWT the edge forwarded, see [`AuthChain::authenticate`]), and so is a request
//! with no credential at all. Unauthenticated access, when allowed, opens an empty chain only.
//!
//! The management chain ([`AuthChain::management`]) runs the management plane alone: as in
//! Omnia (#1620), dashboard tokens are accepted on the internal listener only, which accepts
//! nothing else.

use http::request::Parts;

use super::client_keys::ClientKeys;
use super::credential::{self, Credential, UnverifiedJwt};
use super::edge::EdgeTrust;
use super::identity::Identity;
use super::jwks::truncate;
use super::jwt::JwtValidator;
use super::management::ManagementPlane;
use super::{AuthConfigError, unauthorized};
use crate::error::GatewayError;

/// The environment variable the gateway reads into [`AuthChainBuilder::allow_unauthenticated`].
pub const ALLOW_UNAUTHENTICATED_ENV: &str = "OMNIA_FACADE_ALLOW_UNAUTHENTICATED";

/// The authentication chain. With no validators it refuses every request, unless
/// unauthenticated access is allowed, which then admits every request.
#[derive(Default)]
pub struct AuthChain {
    client_keys: Option<ClientKeys>,
    oidc: Vec<JwtValidator>,
    edge_trust: Option<EdgeTrust>,
    management_plane: Option<ManagementPlane>,
    allow_unauthenticated: bool,
}

impl AuthChain {
    /// Starts a chain with no validators and unauthenticated access off.
    pub fn builder() -> AuthChainBuilder {
        AuthChainBuilder {
            chain: Self::default(),
        }
    }

    /// A chain that refuses every request.
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// Whether unauthenticated access was asked for (it only applies when no validator is
    /// configured).
    pub fn allows_unauthenticated(&self) -> bool {
        self.allow_unauthenticated
    }

    /// The chain of the internal (management-plane) listener: dashboard tokens only. With no
    /// management plane configured it refuses every request; it never admits anonymous callers.
    pub fn management(plane: Option<ManagementPlane>) -> Self {
        Self {
            management_plane: plane,
            ..Self::default()
        }
    }

    /// What the chain accepts, for describing it (an OpenAPI document's security schemes).
    pub fn accepts(&self) -> Accepts {
        Accepts {
            client_keys: self.client_keys.is_some(),
            oidc_issuers: self.oidc.iter().map(|v| v.issuer().to_owned()).collect(),
            edge_trust: self.edge_trust.is_some(),
            management_plane: self.management_plane.is_some(),
            anonymous: self.has_no_validators() && self.allow_unauthenticated,
        }
    }

    /// Whether no validator is configured.
    pub fn has_no_validators(&self) -> bool {
        self.client_keys.is_none()
            && self.oidc.is_empty()
            && self.edge_trust.is_none()
            && self.management_plane.is_none()
    }

    /// Runs the chain over a request's head: the admitted identity, or the 401 to answer.
    ///
    /// Edge trust admits a request that also carries a bearer token no validator owns only when
    /// that token is a readable JWT and no OIDC validator is configured: the edge's own forwarded
    /// token.
    pub async fn authenticate(&self, parts: &Parts) -> Result<Identity, GatewayError> {
        // As Omnia's middleware: the flag opens an empty chain only, and then nothing is read,
        // since no validator could judge a credential. Once any validator is configured it has
        // no effect at all.
        if self.has_no_validators() {
            return if self.allow_unauthenticated {
                Ok(Identity::anonymous())
            } else {
                Err(unauthorized(AUTHENTICATION_REQUIRED))
            };
        }
        let credential = credential::read(parts)?;

        if let (Credential::Opaque(token), Some(keys)) = (&credential, &self.client_keys) {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            return keys.validate(token, parts, now);
        }
        if let Credential::Jwt(jwt) = &credential
            && let Some(oidc) = self
                .oidc
                .iter()
                .find(|v| jwt.iss.as_deref() == Some(v.issuer()))
        {
            return oidc.validate(jwt).await;
        }
        if let (Credential::Jwt(jwt), Some(plane)) = (&credential, &self.management_plane)
            && jwt.iss.as_deref() == Some(plane.issuer())
        {
            return plane.validate(jwt).await;
        }
        if self.edge_accepts_alongside(&credential)
            && let Some(identity) = self.edge_trust.as_ref().and_then(|edge| edge.admit(parts))
        {
            return Ok(identity);
        }

        match credential {
            Credential::None => Err(unauthorized(AUTHENTICATION_REQUIRED)),
            Credential::Opaque(_) => Err(unauthorized("client API keys are not accepted here")),
            Credential::Jwt(jwt) => Err(unowned_jwt(&jwt)),
        }
    }

    /// Whether edge trust may admit a request that carries `credential`, which no earlier
    /// validator owned. With no bearer token, yes. With a readable JWT and no OIDC validator,
    /// yes: that is the token the edge itself verified and forwarded (Istio
    /// `forwardOriginalToken: true`), which Omnia's edge trust admits too. Anything else is a
    /// credential nobody here can verify, refused rather than ignored: a proxy that validates
    /// tokens never forwards an opaque or unreadable one. Omnia's edge trust never looks at the
    /// bearer, but its OIDC validator, when configured, refuses every bearer it cannot verify.
    fn edge_accepts_alongside(&self, credential: &Credential<'_>) -> bool {
        match credential {
            Credential::None => true,
            Credential::Jwt(jwt) => jwt.readable && self.oidc.is_empty(),
            Credential::Opaque(_) => false,
        }
    }
}

const AUTHENTICATION_REQUIRED: &str = "authentication required: send Authorization: Bearer <token>";

fn unowned_jwt(jwt: &UnverifiedJwt<'_>) -> GatewayError {
    match (&jwt.iss, jwt.readable) {
        (Some(iss), _) => unauthorized(format!(
            "no validator accepts tokens from issuer {:?}",
            truncate(iss)
        )),
        (None, true) => unauthorized("the token has no iss claim"),
        (None, false) => unauthorized("the token is not a readable JWT"),
    }
}

impl std::fmt::Debug for AuthChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthChain")
            .field(
                "client_keys",
                &self.client_keys.as_ref().map(|k| k.keys.len()),
            )
            .field("oidc", &self.oidc)
            .field("edge_trust", &self.edge_trust.is_some())
            .field("management_plane", &self.management_plane)
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .finish()
    }
}

/// What an [`AuthChain`] accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepts {
    /// Client keys as `Authorization: Bearer <key>`.
    pub client_keys: bool,
    /// JWTs from these OIDC issuers as `Authorization: Bearer <jwt>`.
    pub oidc_issuers: Vec<String>,
    /// An identity a trusted edge proxy put in headers.
    pub edge_trust: bool,
    /// Dashboard (management-plane) tokens.
    pub management_plane: bool,
    /// Anyone: no validator, and unauthenticated access allowed.
    pub anonymous: bool,
}

/// Assembles an external [`AuthChain`]. The chain runs validators in its fixed order whatever the
/// order of the builder calls.
#[derive(Debug)]
pub struct AuthChainBuilder {
    chain: AuthChain,
}

impl AuthChainBuilder {
    /// Enables client API keys.
    pub fn client_keys(mut self, keys: ClientKeys) -> Self {
        self.chain.client_keys = Some(keys);
        self
    }

    /// Adds an OIDC issuer; call once per issuer.
    pub fn oidc(mut self, validator: JwtValidator) -> Self {
        self.chain.oidc.push(validator);
        self
    }

    /// Enables edge trust (only behind a proxy that strips these headers from clients).
    pub fn edge_trust(mut self, edge: EdgeTrust) -> Self {
        self.chain.edge_trust = Some(edge);
        self
    }

    /// With no validator configured, admits every request as [`Identity::anonymous`]
    /// (`OMNIA_FACADE_ALLOW_UNAUTHENTICATED`, for development). Once any validator is configured
    /// this has no effect: a request no validator admits is refused.
    pub fn allow_unauthenticated(mut self, allow: bool) -> Self {
        self.chain.allow_unauthenticated = allow;
        self
    }

    /// The chain; fails when two JWT validators would claim the same issuer.
    pub fn build(self) -> Result<AuthChain, AuthConfigError> {
        let chain = self.chain;
        let mut issuers: Vec<&str> = chain.oidc.iter().map(JwtValidator::issuer).collect();
        issuers.sort_unstable();
        if let Some(pair) = issuers.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(AuthConfigError::Invalid(format!(
                "two JWT validators claim issuer {:?}",
                pair[0]
            )));
        }
        Ok(chain)
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;

//! The authentication chain (DESIGN.md 4.5) as a Tower layer.
//!
//! Validators run in a fixed order: client API keys, OIDC/JWT, edge trust. The management plane
//! (dashboard tokens) has a chain of its own, for the gateway's internal listener
//! ([`AuthChain::management`]). The first validator that admits wins and its [`Identity`] goes
//! into the request extensions; a validator that sees no credential it owns passes to the next;
//! one that owns a bad credential rejects at once with `GatewayError::Unauthorized` (401,
//! `WWW-Authenticate: Bearer`). With nothing admitted the request is refused. Unauthenticated
//! access, when allowed, only opens a chain with no validator.
//!
//! Configuration is plain structs ([`ClientKeys`], [`JwtConfig`], [`EdgeTrust`],
//! [`ManagementKey`]); the gateway converts its manifests into them. Key material is loaded when a
//! validator is built, so a bad key file or unreachable JWKS URL fails at start-up (except the
//! dashboard's JWKS URL, which Omnia's facade does not need at start-up either). Keys fetched
//! over HTTP are then refreshed in the background ([`JwksRefresh`]).
//!
//! ```
//! use omnia_middleware::auth::{AuthChain, AuthLayer, ClientKey, ClientKeys, EdgeTrust};
//!
//! let chain = AuthChain::builder()
//!     .client_keys(ClientKeys::new(vec![ClientKey::from_plaintext("ci", "sk-ci")]))
//!     .edge_trust(EdgeTrust::default())
//!     .build()
//!     .expect("distinct issuers");
//! let layer = AuthLayer::new(chain);
//! # let _ = layer;
//! ```

mod chain;
mod client_keys;
mod credential;
mod edge;
mod identity;
mod jwks;
mod jwt;
mod layer;
mod management;
#[cfg(test)]
mod test_support;

use std::path::PathBuf;

pub use chain::{ALLOW_UNAUTHENTICATED_ENV, Accepts, AuthChain, AuthChainBuilder};
pub use client_keys::{ClientKey, ClientKeys, END_USER_HEADER};
pub use edge::EdgeTrust;
pub use identity::{
    AuthMethod, CLAIM_METADATA_PREFIX, Identity, USER_EMAIL_METADATA, USER_ID_METADATA,
    USER_ROLES_METADATA,
};
pub use jwks::{JwksRefresh, JwksSource};
pub use jwt::{ClaimNames, JWT_LEEWAY_SECS, JwtConfig, JwtValidator};
pub use layer::{AuthLayer, AuthService};
pub use management::{
    MANAGEMENT_AUDIENCE, MANAGEMENT_ISSUER, MANAGEMENT_ORIGIN, MANAGEMENT_UNKNOWN_KID_INTERVAL,
    ManagementKey, ManagementPlane,
};

use crate::error::GatewayError;

/// Why an authentication validator could not be built (a start-up error).
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// A key file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JWKS URL could not be fetched.
    #[error("cannot fetch the JWKS from {url}: {detail}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// Key material is malformed or holds no usable key.
    #[error("{origin}: {detail}")]
    Keys {
        /// Where the keys came from (a path, a URL, "static JWKS").
        origin: String,
        /// What is wrong with them.
        detail: String,
    },
    /// Any other invalid setting.
    #[error("{0}")]
    Invalid(String),
}

/// The rejection every validator answers a bad credential with.
pub(crate) fn unauthorized(detail: impl Into<String>) -> GatewayError {
    GatewayError::Unauthorized {
        detail: detail.into(),
    }
}

//! Who the caller is, as the authentication chain admitted them.
//!
//! The chain inserts one [`Identity`] into the request extensions; later layers read it to build
//! the runtime metadata of DESIGN.md 4.4 (`x-omnia-user-id`, `x-omnia-claim-<name>`, ...). The raw
//! credential never lands here: nothing downstream should be able to replay it.

use std::collections::BTreeMap;

/// The caller admitted by the authentication chain, stored in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable caller id: the client key's name, the JWT subject, or the edge subject header.
    pub subject: String,
    /// The caller's role (`admin`, `editor`, `viewer`, ...), when one is known.
    pub role: Option<String>,
    /// The end user on whose behalf the caller acts, when known.
    pub end_user: Option<String>,
    /// The caller's e-mail address, when known.
    pub email: Option<String>,
    /// Scopes granted to the caller (client key scopes, or the JWT `scope`/`scp` claim).
    pub scopes: Vec<String>,
    /// Further claims; later forwarded as `x-omnia-claim-<name>` metadata.
    pub claims: BTreeMap<String, String>,
    /// Which validator admitted the caller.
    pub method: AuthMethod,
}

impl Identity {
    /// The subject given to callers admitted without credentials.
    pub const ANONYMOUS_SUBJECT: &'static str = "anonymous";

    /// An identity with only a subject and a method; the other fields empty.
    pub fn new(subject: impl Into<String>, method: AuthMethod) -> Self {
        Self {
            subject: subject.into(),
            role: None,
            end_user: None,
            email: None,
            scopes: Vec::new(),
            claims: BTreeMap::new(),
            method,
        }
    }

    /// The identity of a caller admitted without credentials (`allow_unauthenticated`).
    pub fn anonymous() -> Self {
        Self::new(Self::ANONYMOUS_SUBJECT, AuthMethod::Unauthenticated)
    }

    /// Whether the caller was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Which validator admitted a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A client API key presented as a bearer token.
    ClientKey,
    /// A JWT from a configured OIDC issuer.
    Oidc,
    /// Identity headers set by a trusted proxy in front of the gateway.
    EdgeTrust,
    /// A JWT minted by the Omnia dashboard.
    ManagementPlane,
    /// No credential; admitted because the gateway allows unauthenticated callers.
    Unauthenticated,
}

impl AuthMethod {
    /// A stable lowercase name, fit for logs and low-cardinality metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientKey => "client_key",
            Self::Oidc => "oidc",
            Self::EdgeTrust => "edge_trust",
            Self::ManagementPlane => "management_plane",
            Self::Unauthenticated => "unauthenticated",
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_identity_is_unauthenticated_with_fixed_subject() {
        let identity = Identity::anonymous();
        assert_eq!(identity.subject, "anonymous");
        assert_eq!(identity.method, AuthMethod::Unauthenticated);
        assert!(identity.scopes.is_empty() && identity.claims.is_empty());
    }
}

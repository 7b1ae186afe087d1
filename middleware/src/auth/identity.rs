//! Who the caller is, as the authentication chain admitted them.
//!
//! The chain inserts one [`Identity`] into the request extensions; the function handler turns it
//! into the runtime metadata of DESIGN.md 4.4 ([`Identity::runtime_metadata`]). The raw credential
//! never lands here: nothing downstream should be able to replay it.
//!
//! The gateway makes no authorisation decision of its own from roles or scopes (Omnia's facade
//! makes none either): it hands them to the runtime, whose tool policies decide.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// The caller's end user (else subject), as Omnia's `policy.HeaderUserID`.
pub const USER_ID_METADATA: &str = "x-omnia-user-id";
/// The caller's role, as Omnia's `policy.HeaderUserRoles` (edge trust passes a comma-separated
/// list through as it came).
pub const USER_ROLES_METADATA: &str = "x-omnia-user-roles";
/// The caller's e-mail, as Omnia's `policy.HeaderUserEmail`.
pub const USER_EMAIL_METADATA: &str = "x-omnia-user-email";
/// Each claim travels as `x-omnia-claim-<name>` (the name in lower case), as Omnia's
/// `policy.HeaderClaimPrefix`.
pub const CLAIM_METADATA_PREFIX: &str = "x-omnia-claim-";

/// The caller admitted by the authentication chain, stored in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable caller id: the client key's name, the JWT subject, or the edge subject header.
    pub subject: String,
    /// The caller's role (`admin`, `editor`, `viewer`, ...), when one is known: a client key's
    /// `role` claim or its default role, the OIDC role claim, the edge's role header.
    pub role: Option<String>,
    /// The end user on whose behalf the caller acts, when known.
    pub end_user: Option<String>,
    /// The caller's e-mail address, when known.
    pub email: Option<String>,
    /// Further claims: a client key's `data.scopes`; a JWT's claims but its subject and end-user
    /// claims (so its role, e-mail and OAuth `scope`/`scp` too); edge headers mapped to claims.
    /// Forwarded as `x-omnia-claim-<name>` metadata.
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
            claims: BTreeMap::new(),
            method,
        }
    }

    /// The identity of a caller admitted without credentials (`allow_unauthenticated`).
    pub fn anonymous() -> Self {
        Self::new(Self::ANONYMOUS_SUBJECT, AuthMethod::Unauthenticated)
    }

    /// What the runtime is told about the caller, as gRPC metadata names and values: the user id
    /// (end user, else subject), the role and the e-mail when known, and every claim.
    pub fn runtime_metadata(&self) -> impl Iterator<Item = (Cow<'static, str>, &str)> + '_ {
        let user = self.end_user.as_deref().unwrap_or(&self.subject);
        [
            (USER_ID_METADATA, Some(user)),
            (USER_ROLES_METADATA, self.role.as_deref()),
            (USER_EMAIL_METADATA, self.email.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (Cow::Borrowed(name), value)))
        .chain(self.claims.iter().map(|(name, value)| {
            let name = format!("{CLAIM_METADATA_PREFIX}{}", name.to_ascii_lowercase());
            (Cow::Owned(name), value.as_str())
        }))
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
        assert!(identity.claims.is_empty());
    }

    fn metadata(identity: &Identity) -> Vec<(String, String)> {
        identity
            .runtime_metadata()
            .map(|(name, value)| (name.into_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn runtime_is_told_the_user_role_email_and_every_claim() {
        let mut identity = Identity::new("ci-bot", AuthMethod::ClientKey);
        identity.end_user = Some("alice".into());
        identity.role = Some("editor".into());
        identity.email = Some("alice@example.test".into());
        identity.claims.insert("Tenant".into(), "acme".into());
        assert_eq!(
            metadata(&identity),
            [
                ("x-omnia-user-id", "alice"),
                ("x-omnia-user-roles", "editor"),
                ("x-omnia-user-email", "alice@example.test"),
                ("x-omnia-claim-tenant", "acme"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn runtime_is_told_the_subject_when_there_is_no_end_user_and_nothing_unknown() {
        let identity = Identity::new("ci-bot", AuthMethod::ClientKey);
        assert_eq!(
            metadata(&identity),
            [("x-omnia-user-id".to_owned(), "ci-bot".to_owned())]
        );
    }
}

//! Client API keys: opaque bearer tokens, stored only as SHA-256 digests.
//!
//! The presented key is hashed and compared against every stored digest in constant time, and
//! the scan never stops early, so neither the comparison nor the position of a match leaks through
//! timing. An unknown or expired key is a rejection: opaque bearer tokens belong to this validator
//! alone (JWT-shaped tokens go to the JWT validators), so there is nobody else to ask.

use std::collections::BTreeMap;

use http::HeaderName;
use http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::identity::{AuthMethod, Identity};
use super::unauthorized;
use crate::error::GatewayError;

/// The header naming the end user when [`ClientKeys::trust_end_user_header`] is on.
pub const END_USER_HEADER: HeaderName = HeaderName::from_static("x-end-user-id");

/// One client API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    /// The key's name: the caller's subject when it is presented.
    pub name: String,
    /// SHA-256 of the key as presented in `Authorization: Bearer <key>`.
    pub sha256: [u8; 32],
    /// Unix time (seconds) from which the key is refused; `None` never expires.
    pub expires_at_unix: Option<i64>,
    /// Claims of callers presenting the key (Omnia's `data.scopes`); forwarded to the runtime as
    /// `x-omnia-claim-<name>`. The `role` claim is the caller's role, else
    /// [`ClientKeys::default_role`].
    pub claims: BTreeMap<String, String>,
}

impl ClientKey {
    /// A key from its plaintext; only the digest is kept.
    pub fn from_plaintext(name: impl Into<String>, key: &str) -> Self {
        Self::from_digest(name, Self::digest(key))
    }

    /// A key from its SHA-256 digest.
    pub fn from_digest(name: impl Into<String>, sha256: [u8; 32]) -> Self {
        Self {
            name: name.into(),
            sha256,
            expires_at_unix: None,
            claims: BTreeMap::new(),
        }
    }

    /// The SHA-256 digest of a plaintext key.
    pub fn digest(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }
}

// The digest is not secret, but there is no reason to print it in logs either.
impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("name", &self.name)
            .field("expires_at_unix", &self.expires_at_unix)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// The client-key validator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientKeys {
    /// The accepted keys.
    pub keys: Vec<ClientKey>,
    /// The role of keys that name none.
    pub default_role: Option<String>,
    /// Take the end user from `x-end-user-id` (only when the callers are trusted backends that
    /// act for their own users).
    pub trust_end_user_header: bool,
}

impl ClientKeys {
    /// A validator for `keys` with no default role and the end-user header ignored.
    pub fn new(keys: Vec<ClientKey>) -> Self {
        Self {
            keys,
            ..Self::default()
        }
    }

    /// Admits the holder of `token` or rejects it; `now_unix` is the current Unix time.
    pub(crate) fn validate(
        &self,
        token: &str,
        parts: &Parts,
        now_unix: i64,
    ) -> Result<Identity, GatewayError> {
        let presented = ClientKey::digest(token);
        // 0 means no match, i + 1 means key i; selected without branching on secret data.
        let mut matched = 0u64;
        for (i, key) in self.keys.iter().enumerate() {
            let candidate = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
            let is_match = presented.ct_eq(&key.sha256) & matched.ct_eq(&0);
            matched = u64::conditional_select(&matched, &candidate, is_match);
        }
        let key = usize::try_from(matched)
            .ok()
            .and_then(|m| m.checked_sub(1))
            .and_then(|i| self.keys.get(i))
            .ok_or_else(|| unauthorized("unknown client key"))?;
        if key
            .expires_at_unix
            .is_some_and(|expires| now_unix >= expires)
        {
            return Err(unauthorized("client key expired"));
        }
        let mut identity = Identity::new(key.name.clone(), AuthMethod::ClientKey);
        identity.role = key
            .claims
            .get("role")
            .cloned()
            .or_else(|| self.default_role.clone());
        identity.claims = key.claims.clone();
        if self.trust_end_user_header {
            identity.end_user = parts
                .headers
                .get(END_USER_HEADER)
                .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
        }
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::parts;

    const NOW: i64 = 1_700_000_000;

    fn keys() -> ClientKeys {
        let mut reader = ClientKey::from_plaintext("reader", "sk-reader");
        reader.claims = BTreeMap::from([
            ("role".to_owned(), "viewer".to_owned()),
            ("tenant".to_owned(), "acme".to_owned()),
        ]);
        let mut old = ClientKey::from_plaintext("old", "sk-old");
        old.expires_at_unix = Some(NOW - 1);
        let mut soon = ClientKey::from_plaintext("soon", "sk-soon");
        soon.expires_at_unix = Some(NOW + 60);
        let mut keys = ClientKeys::new(vec![
            reader,
            old,
            soon,
            ClientKey::from_plaintext("plain", "sk-plain"),
        ]);
        keys.default_role = Some("editor".into());
        keys
    }

    fn detail(err: GatewayError) -> String {
        match err {
            GatewayError::Unauthorized { detail } => detail,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn valid_key_admits_with_name_claims_and_role_claim() {
        let identity = keys()
            .validate("sk-reader", &parts(None, &[]), NOW)
            .unwrap();
        assert_eq!(identity.subject, "reader");
        assert_eq!(identity.method, AuthMethod::ClientKey);
        assert_eq!(identity.claims["tenant"], "acme");
        assert_eq!(identity.role.as_deref(), Some("viewer"));
        assert_eq!(identity.end_user, None);
    }

    #[test]
    fn key_without_role_gets_the_default_role() {
        let identity = keys().validate("sk-plain", &parts(None, &[]), NOW).unwrap();
        assert_eq!(identity.role.as_deref(), Some("editor"));
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = keys()
            .validate("sk-nobody", &parts(None, &[]), NOW)
            .unwrap_err();
        assert_eq!(detail(err), "unknown client key");
    }

    #[test]
    fn expired_key_is_rejected() {
        let err = keys()
            .validate("sk-old", &parts(None, &[]), NOW)
            .unwrap_err();
        assert_eq!(detail(err), "client key expired");
    }

    #[test]
    fn key_before_its_expiry_is_admitted() {
        let identity = keys().validate("sk-soon", &parts(None, &[]), NOW).unwrap();
        assert_eq!(identity.subject, "soon");
    }

    #[test]
    fn end_user_header_is_ignored_unless_trusted() {
        let request = parts(None, &[("x-end-user-id", "alice")]);
        assert_eq!(
            keys()
                .validate("sk-reader", &request, NOW)
                .unwrap()
                .end_user,
            None
        );
    }

    #[test]
    fn trusted_end_user_header_sets_the_end_user() {
        let mut keys = keys();
        keys.trust_end_user_header = true;
        let request = parts(None, &[("x-end-user-id", "alice")]);
        let identity = keys.validate("sk-reader", &request, NOW).unwrap();
        assert_eq!(identity.end_user.as_deref(), Some("alice"));
    }
}

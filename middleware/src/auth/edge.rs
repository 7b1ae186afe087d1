//! Edge trust: identity headers set by a trusted proxy in front of the gateway (Istio
//! `outputClaimToHeaders`, an API gateway, oauth2-proxy).
//!
//! Nothing is verified here: the proxy is trusted to authenticate callers and to strip these
//! headers from client requests. Enable this validator only behind such a proxy. It admits when
//! the subject header is present and non-empty; otherwise it has no credential to judge.

use std::collections::HashMap;

use http::request::Parts;
use http::{HeaderMap, HeaderName};

use super::identity::{AuthMethod, Identity};

/// The edge-trust validator: which headers carry which identity fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeTrust {
    /// The caller's subject (default `x-user-id`); its presence is what admits a request.
    pub subject_header: HeaderName,
    /// The caller's role (default `x-user-roles`), taken verbatim.
    pub role_header: HeaderName,
    /// The end user (default `x-user-id`); falls back to the subject.
    pub end_user_header: HeaderName,
    /// The caller's e-mail (default `x-user-email`).
    pub email_header: HeaderName,
    /// The role when the role header is absent.
    pub default_role: Option<String>,
    /// Further headers copied into [`Identity::claims`]: header name to claim name.
    pub claims_from_headers: HashMap<HeaderName, String>,
}

impl Default for EdgeTrust {
    /// The header names of Omnia's Helm chart (Istio `outputClaimToHeaders`).
    fn default() -> Self {
        Self {
            subject_header: HeaderName::from_static("x-user-id"),
            role_header: HeaderName::from_static("x-user-roles"),
            end_user_header: HeaderName::from_static("x-user-id"),
            email_header: HeaderName::from_static("x-user-email"),
            default_role: None,
            claims_from_headers: HashMap::new(),
        }
    }
}

impl EdgeTrust {
    /// The caller's identity when the subject header is present; `None` passes to the next
    /// validator.
    pub(crate) fn admit(&self, parts: &Parts) -> Option<Identity> {
        let headers = &parts.headers;
        let subject = text(headers, &self.subject_header)?;
        let mut identity = Identity::new(subject, AuthMethod::EdgeTrust);
        identity.role = text(headers, &self.role_header).or_else(|| self.default_role.clone());
        identity.end_user =
            Some(text(headers, &self.end_user_header).unwrap_or_else(|| identity.subject.clone()));
        identity.email = text(headers, &self.email_header);
        for (header, claim) in &self.claims_from_headers {
            if let Some(value) = text(headers, header) {
                identity.claims.insert(claim.clone(), value);
            }
        }
        Some(identity)
    }
}

/// A header as text: UTF-8 is accepted (names and e-mails are not always ASCII), blank is absent.
fn text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let value = std::str::from_utf8(headers.get(name)?.as_bytes())
        .ok()?
        .trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::parts;

    #[test]
    fn subject_header_admits_with_role_email_and_claims() {
        let mut edge = EdgeTrust::default();
        edge.claims_from_headers
            .insert(HeaderName::from_static("x-user-groups"), "groups".into());
        let request = parts(
            None,
            &[
                ("x-user-id", "alice"),
                ("x-user-roles", "admin"),
                ("x-user-email", "alice@example.test"),
                ("x-user-groups", "finance,platform"),
            ],
        );
        let identity = edge.admit(&request).unwrap();
        assert_eq!(identity.subject, "alice");
        assert_eq!(identity.method, AuthMethod::EdgeTrust);
        assert_eq!(identity.role.as_deref(), Some("admin"));
        assert_eq!(identity.email.as_deref(), Some("alice@example.test"));
        assert_eq!(identity.end_user.as_deref(), Some("alice"));
        assert_eq!(identity.claims["groups"], "finance,platform");
    }

    #[test]
    fn absent_subject_header_passes() {
        let request = parts(None, &[("x-user-roles", "admin")]);
        assert!(EdgeTrust::default().admit(&request).is_none());
    }

    #[test]
    fn blank_subject_header_passes() {
        let request = parts(None, &[("x-user-id", "  ")]);
        assert!(EdgeTrust::default().admit(&request).is_none());
    }

    #[test]
    fn separate_end_user_header_and_default_role_apply() {
        let edge = EdgeTrust {
            end_user_header: HeaderName::from_static("x-end-user"),
            default_role: Some("viewer".into()),
            ..EdgeTrust::default()
        };
        let request = parts(None, &[("x-user-id", "svc-portal"), ("x-end-user", "bob")]);
        let identity = edge.admit(&request).unwrap();
        assert_eq!(identity.end_user.as_deref(), Some("bob"));
        assert_eq!(identity.role.as_deref(), Some("viewer"));
    }
}

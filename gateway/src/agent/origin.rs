//! The `Origin` check of a WebSocket upgrade, with Omnia's semantics (`OMNIA_ALLOWED_ORIGINS`).
//!
//! Browsers send `Origin` on every WebSocket handshake and let any page open a socket to any
//! host, so without this check a page elsewhere could talk to an agent with the cookies or
//! network position of its visitor. Clients that are not browsers send no `Origin` and are let
//! through, as Omnia does: the auth chain, not this check, is what keeps them out.

/// Which origins may open a WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Exact origins (`scheme://host[:port]`), compared ignoring ASCII case. Empty: same origin
    /// only.
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// From `OMNIA_ALLOWED_ORIGINS`: a comma-separated list; entries are trimmed and empty ones
    /// dropped, so an unset, empty or all-commas value means same origin.
    pub fn from_list(list: &str) -> Self {
        Self {
            allowed: list
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Whether a handshake with this `Origin` header (if any) to this `host` (the `Host` header,
    /// or the HTTP/2 `:authority`) may proceed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if self.allowed.is_empty() {
            // Same origin: the origin's host[:port] is the host the request was sent to. An
            // origin without a scheme (or the opaque `null`) names no host and is refused.
            return match (origin_host(origin), host) {
                (Some(origin_host), Some(host)) => origin_host.eq_ignore_ascii_case(host),
                _ => false,
            };
        }
        self.allowed
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }
}

/// The `host[:port]` of `scheme://host[:port][/...]`.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::OriginPolicy;

    #[test]
    fn no_origin_header_is_allowed_whatever_the_list() {
        assert!(OriginPolicy::default().allows(None, Some("agents.example.com")));
        assert!(OriginPolicy::from_list("https://a.example").allows(None, None));
    }

    #[test]
    fn without_a_list_only_the_same_host_and_port_is_allowed() {
        let same = OriginPolicy::from_list(" , ,");
        assert_eq!(same, OriginPolicy::default());
        assert!(same.allows(
            Some("https://agents.example.com"),
            Some("agents.example.com")
        ));
        assert!(same.allows(
            Some("http://AGENTS.example.com:8080"),
            Some("agents.example.com:8080")
        ));
        assert!(!same.allows(
            Some("https://agents.example.com"),
            Some("agents.example.com:8080")
        ));
        assert!(!same.allows(Some("https://evil.example"), Some("agents.example.com")));
        assert!(!same.allows(Some("null"), Some("agents.example.com")));
        assert!(!same.allows(Some("agents.example.com"), Some("agents.example.com")));
        assert!(!same.allows(Some("https://agents.example.com"), None));
    }

    #[test]
    fn a_list_allows_exactly_its_entries_ignoring_case() {
        let list = OriginPolicy::from_list("https://app.example.com, http://localhost:3000");
        assert!(list.allows(Some("https://APP.example.com"), Some("gateway:8080")));
        assert!(list.allows(Some("http://localhost:3000"), Some("gateway:8080")));
        assert!(!list.allows(Some("http://localhost:3001"), Some("gateway:8080")));
        assert!(!list.allows(Some("https://app.example.com.evil"), Some("gateway:8080")));
        // With a list, the same origin is no longer implied.
        assert!(!list.allows(Some("http://gateway:8080"), Some("gateway:8080")));
    }
}

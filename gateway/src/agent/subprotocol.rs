//! A bearer credential carried in `Sec-WebSocket-Protocol`, for browsers.
//!
//! Browsers cannot set `Authorization` on a WebSocket handshake; the one header a page controls is
//! the list of subprotocols (`new WebSocket(url, ["bearer." + token])`). A browser fails the
//! handshake when it offered protocols and the `101` selects none of them, so the gateway selects
//! the `bearer.<token>` entry it read the credential from, exactly as offered, and nothing else.
//! Omnia reads no credential here; clients that send `Authorization` are unaffected.

use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue, SEC_WEBSOCKET_PROTOCOL};

/// The prefix of the subprotocol entry that carries a token.
pub const BEARER_PREFIX: &str = "bearer.";

/// The first `bearer.<token>` entry offered, over every `Sec-WebSocket-Protocol` header: the
/// whole entry (to echo back) and the token.
pub fn offered_bearer(headers: &HeaderMap) -> Option<(&str, &str)> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .find_map(|entry| {
            let token = entry.strip_prefix(BEARER_PREFIX)?;
            (!token.is_empty()).then_some((entry, token))
        })
}

/// Puts the subprotocol's token where the auth chain reads credentials, unless the request has an
/// `Authorization` header of its own (which then wins). Returns the entry to select in the `101`.
pub fn lift_bearer(headers: &mut HeaderMap) -> Option<HeaderValue> {
    let (entry, token) = offered_bearer(headers)?;
    let selected = HeaderValue::from_str(entry).ok()?;
    let authorization = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    if !headers.contains_key(AUTHORIZATION) {
        headers.insert(AUTHORIZATION, authorization);
    }
    Some(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(protocols: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in protocols {
            headers.append(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn the_first_bearer_entry_in_any_header_is_found() {
        let offered = headers(&["chat, json", "bearer.key-1, bearer.key-2"]);
        assert_eq!(offered_bearer(&offered), Some(("bearer.key-1", "key-1")));
        assert_eq!(offered_bearer(&headers(&["chat", "bearer."])), None);
        assert_eq!(offered_bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn the_token_becomes_an_authorization_header_unless_one_is_present() {
        let mut lifted = headers(&["bearer.abc.def"]);
        assert_eq!(
            lift_bearer(&mut lifted).unwrap(),
            HeaderValue::from_static("bearer.abc.def")
        );
        assert_eq!(lifted[AUTHORIZATION], "Bearer abc.def");

        let mut own = headers(&["bearer.abc"]);
        own.insert(AUTHORIZATION, HeaderValue::from_static("Bearer mine"));
        assert!(lift_bearer(&mut own).is_some());
        assert_eq!(own[AUTHORIZATION], "Bearer mine");

        assert_eq!(lift_bearer(&mut headers(&["chat"])), None);
    }
}

//! Reading the credential a request carries, before any validator looks at it.
//!
//! Ownership in the chain is decided here, once per request: an `Authorization: Bearer` token is
//! either a JWT (three base64url segments) or an opaque client key. For a JWT the header and the
//! issuer are read *unverified*: they only pick which validator checks the signature, and that
//! validator trusts nothing it has not verified.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::AUTHORIZATION;
use http::request::Parts;
use serde::Deserialize;

use super::unauthorized;
use crate::error::GatewayError;

/// The credential found in a request's `Authorization` header.
#[derive(Debug)]
pub(crate) enum Credential<'a> {
    /// No `Authorization` header, or a scheme other than Bearer (not ours to judge).
    None,
    /// A bearer token that is not JWT-shaped: a client API key.
    Opaque(&'a str),
    /// A JWT-shaped bearer token.
    Jwt(UnverifiedJwt<'a>),
}

/// A JWT-shaped token with its header and issuer read but nothing verified.
#[derive(Debug)]
pub(crate) struct UnverifiedJwt<'a> {
    /// The compact token, exactly as presented.
    pub token: &'a str,
    /// The `alg` header, as written (it may name an algorithm we refuse, such as `none`).
    pub alg: Option<String>,
    /// The `kid` header.
    pub kid: Option<String>,
    /// The `iss` claim, unverified.
    pub iss: Option<String>,
    /// Whether the header and payload decoded as JSON objects at all.
    pub readable: bool,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct RawPayload {
    // A non-string `iss` is not a valid JWT; it reads as absent and so no validator owns it.
    #[serde(default, deserialize_with = "string_or_none")]
    iss: Option<String>,
}

fn string_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// Reads the credential of a request. Errors are credentials that are present but unusable.
pub(crate) fn read(parts: &Parts) -> Result<Credential<'_>, GatewayError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Credential::None);
    };
    // Two Authorization headers could be read differently by a proxy and by us; refuse both.
    if values.next().is_some() {
        return Err(unauthorized("more than one Authorization header"));
    }
    let Ok(value) = value.to_str() else {
        return Err(unauthorized("the Authorization header is not valid text"));
    };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    // The scheme is case-insensitive (RFC 9110 11.1); other schemes belong to nobody here.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credential::None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(unauthorized("empty bearer token"));
    }
    Ok(classify(token))
}

/// Splits bearer tokens into JWTs and opaque keys.
pub(crate) fn classify(token: &str) -> Credential<'_> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Credential::Opaque(token);
    };
    // An unsecured JWT (`alg: none`) has an empty signature; it is still a JWT, and is refused
    // by the validator that owns its issuer rather than mistaken for a client key.
    let shaped = !header.is_empty()
        && !payload.is_empty()
        && [header, payload, signature]
            .iter()
            .all(|s| s.bytes().all(is_base64url));
    if !shaped {
        return Credential::Opaque(token);
    }
    let raw_header = decode_json::<RawHeader>(header);
    let raw_payload = decode_json::<RawPayload>(payload);
    let readable = raw_header.is_some() && raw_payload.is_some();
    let (alg, kid) = raw_header.map(|h| (h.alg, h.kid)).unwrap_or_default();
    Credential::Jwt(UnverifiedJwt {
        token,
        alg,
        kid,
        iss: raw_payload.and_then(|p| p.iss),
        readable,
    })
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_with(values: &[&str]) -> Parts {
        let mut builder = http::Request::builder();
        for v in values {
            builder = builder.header(AUTHORIZATION, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn opaque_bearer_is_a_client_key() {
        let parts = parts_with(&["Bearer sk-live-123"]);
        assert!(matches!(
            read(&parts).unwrap(),
            Credential::Opaque("sk-live-123")
        ));
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let parts = parts_with(&["bearer abc"]);
        assert!(matches!(read(&parts).unwrap(), Credential::Opaque("abc")));
    }

    #[test]
    fn other_schemes_are_no_credential() {
        let parts = parts_with(&["Basic dXNlcjpwYXNz"]);
        assert!(matches!(read(&parts).unwrap(), Credential::None));
    }

    #[test]
    fn empty_bearer_is_rejected() {
        let parts = parts_with(&["Bearer   "]);
        assert!(matches!(
            read(&parts),
            Err(GatewayError::Unauthorized { .. })
        ));
    }

    #[test]
    fn two_authorization_headers_are_rejected() {
        let parts = parts_with(&["Bearer a", "Bearer b"]);
        assert!(matches!(
            read(&parts),
            Err(GatewayError::Unauthorized { .. })
        ));
    }

    #[test]
    fn jwt_shape_reads_alg_kid_and_issuer_unverified() {
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","kid":"k1"}"#),
            b64(r#"{"iss":"https://idp","aud":"x"}"#)
        );
        let Credential::Jwt(jwt) = classify(&token) else {
            panic!("not classified as a JWT");
        };
        assert_eq!(jwt.alg.as_deref(), Some("none"));
        assert_eq!(jwt.kid.as_deref(), Some("k1"));
        assert_eq!(jwt.iss.as_deref(), Some("https://idp"));
        assert!(jwt.readable);
    }

    #[test]
    fn three_segments_with_non_base64url_bytes_are_opaque() {
        assert!(matches!(classify("a+b.c.d"), Credential::Opaque(_)));
        assert!(matches!(classify(".c.d"), Credential::Opaque(_)));
    }
}

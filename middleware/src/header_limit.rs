//! Header limit: requests whose headers add up to more than the limit get a JSON 431.
//!
//! The transport enforces a cap of its own, [`transport_cap`], derived from the same limit: the
//! HTTP/1 read buffer a request head must fit in, and the HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`
//! the gateway advertises (which also bounds what HPACK may expand a small frame into, per
//! stream). The cap sits a small margin above the limit, because the two count differently (this
//! layer counts names and values; the transport also counts the request line or pseudo-headers,
//! and per-field framing: 4 bytes per field on HTTP/1, 32 on HTTP/2). So:
//!
//! - headers within the limit pass;
//! - between the limit and the cap, this layer answers a JSON 431 `headers_too_large`;
//! - past the cap, the transport refuses the request before it is parsed whole: hyper answers an
//!   empty 431 and closes an HTTP/1 connection; on HTTP/2 that stream gets an empty 431 while the
//!   connection carries on, and a header list more than four times the cap ends the connection
//!   (the `h2` crate's rule).

use http::{Request, Response};
use tower_http::validate_request::ValidateRequest;

use crate::{GatewayError, ResponseBody};

/// Default total header size: 64 KiB, far above any legitimate request.
pub const DEFAULT_HEADER_LIMIT: usize = 64 * 1024;

/// Headers the transport may accept beyond the limit before refusing on its own: room for a
/// request line or pseudo-headers with a long path, and per-field framing (100 fields, hyper's
/// HTTP/1 maximum, cost 3.2 KiB of HTTP/2 accounting). Also keeps the cap above hyper's 8 KiB
/// minimum HTTP/1 buffer whatever the limit.
pub const TRANSPORT_MARGIN: usize = 16 * 1024;

/// The header bytes the transport accepts for a configured `limit`: `limit` plus
/// [`TRANSPORT_MARGIN`].
pub const fn transport_cap(limit: usize) -> usize {
    limit.saturating_add(TRANSPORT_MARGIN)
}

/// Refuses requests whose header names and values exceed `limit` bytes in total; a
/// [`ValidateRequest`] for tower-http's `ValidateRequestHeaderLayer::custom`.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimit {
    limit: usize,
}

impl HeaderLimit {
    /// A check with the given total limit in bytes.
    pub const fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl Default for HeaderLimit {
    fn default() -> Self {
        Self::new(DEFAULT_HEADER_LIMIT)
    }
}

impl<B> ValidateRequest<B> for HeaderLimit {
    type ResponseBody = ResponseBody;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<ResponseBody>> {
        let total: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if total > self.limit {
            return Err(GatewayError::HeadersTooLarge { limit: self.limit }.into_response());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};
    use tower_http::validate_request::ValidateRequestHeaderLayer;

    async fn ok(_: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::empty()))
    }

    #[test]
    fn the_transport_cap_follows_the_limit_with_a_small_margin() {
        assert_eq!(transport_cap(DEFAULT_HEADER_LIMIT), 80 * 1024);
        assert_eq!(transport_cap(0), 16 * 1024);
        assert_eq!(transport_cap(usize::MAX), usize::MAX);
    }

    #[tokio::test]
    async fn small_headers_pass() {
        let service = ServiceBuilder::new()
            .layer(ValidateRequestHeaderLayer::custom(HeaderLimit::new(100)))
            .service_fn(ok);
        let request = Request::builder().header("x-a", "b").body(()).unwrap();
        assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn oversized_headers_are_431_json() {
        let service = ServiceBuilder::new()
            .layer(ValidateRequestHeaderLayer::custom(HeaderLimit::new(100)))
            .service_fn(ok);
        let request = Request::builder()
            .header("x-big", "v".repeat(200))
            .body(())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 431);
        assert_eq!(response.headers()["content-type"], "application/json");
    }
}

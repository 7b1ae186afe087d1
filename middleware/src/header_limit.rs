//! Header limit: requests whose headers add up to more than the limit get a JSON 431.
//!
//! hyper refuses truly enormous header blocks itself (past its read buffer, with an empty 431);
//! the server sets that buffer well above this limit so every client sees our JSON error instead.

use http::{Request, Response};
use tower_http::validate_request::ValidateRequest;

use crate::{GatewayError, ResponseBody};

/// Default total header size: 64 KiB, far above any legitimate request.
pub const DEFAULT_HEADER_LIMIT: usize = 64 * 1024;

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

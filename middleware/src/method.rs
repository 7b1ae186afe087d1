//! Method guard: one route, one set of methods; anything else is a 405 with `Allow`.
//!
//! A [`ValidateRequest`] for tower-http's `ValidateRequestHeaderLayer::custom`.

use http::{Method, Request, Response};
use tower_http::validate_request::ValidateRequest;

use crate::{GatewayError, ResponseBody};

/// Admits only the listed methods.
#[derive(Debug, Clone, Copy)]
pub struct AllowMethods {
    allowed: &'static [Method],
    allow_header: &'static str,
}

impl AllowMethods {
    /// `allow_header` is the `Allow` value to send, e.g. `"POST"`; it must list `allowed`.
    pub const fn new(allowed: &'static [Method], allow_header: &'static str) -> Self {
        Self {
            allowed,
            allow_header,
        }
    }

    /// POST only (function calls).
    pub const fn post() -> Self {
        const POST: &[Method] = &[Method::POST];
        Self::new(POST, "POST")
    }
}

impl<B> ValidateRequest<B> for AllowMethods {
    type ResponseBody = ResponseBody;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<ResponseBody>> {
        if self.allowed.contains(request.method()) {
            return Ok(());
        }
        Err(GatewayError::MethodNotAllowed {
            method: request.method().to_string(),
            allow: self.allow_header,
        }
        .into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};
    use tower_http::validate_request::ValidateRequestHeaderLayer;

    async fn ok(_: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::full("ok")))
    }

    #[tokio::test]
    async fn post_passes() {
        let service = ServiceBuilder::new()
            .layer(ValidateRequestHeaderLayer::custom(AllowMethods::post()))
            .service_fn(ok);
        let request = Request::post("/").body(()).unwrap();
        assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn get_is_405_with_allow() {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let service = ServiceBuilder::new()
                .layer(ValidateRequestHeaderLayer::custom(AllowMethods::post()))
                .service_fn(ok);
            let request = Request::builder().method(method.clone()).body(()).unwrap();
            let response = service.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 405, "{method}");
            assert_eq!(response.headers()["allow"], "POST");
            assert_eq!(response.headers()["content-type"], "application/json");
        }
    }
}

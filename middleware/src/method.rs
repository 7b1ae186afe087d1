//! Method guard: one route, one set of methods; anything else is a 405 with `Allow`.

use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Method, Request, Response};
use tower::{Layer, Service};

use crate::{GatewayError, ResponseBody};

/// Admits only the listed methods.
#[derive(Debug, Clone)]
pub struct MethodGuardLayer {
    allowed: &'static [Method],
    allow_header: &'static str,
}

impl MethodGuardLayer {
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

impl<S> Layer<S> for MethodGuardLayer {
    type Service = MethodGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MethodGuard {
            inner,
            allowed: self.allowed,
            allow_header: self.allow_header,
        }
    }
}

/// See [`MethodGuardLayer`].
#[derive(Debug, Clone)]
pub struct MethodGuard<S> {
    inner: S,
    allowed: &'static [Method],
    allow_header: &'static str,
}

impl<S, B> Service<Request<B>> for MethodGuard<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResponseBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.allowed.contains(request.method()) {
            return Either::Left(self.inner.call(request));
        }
        let error = GatewayError::MethodNotAllowed {
            method: request.method().to_string(),
            allow: self.allow_header,
        };
        Either::Right(ready(Ok(error.into_response())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    async fn ok(_: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::full("ok")))
    }

    #[tokio::test]
    async fn post_passes() {
        let service = ServiceBuilder::new()
            .layer(MethodGuardLayer::post())
            .service_fn(ok);
        let request = Request::post("/").body(()).unwrap();
        assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn get_is_405_with_allow() {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let service = ServiceBuilder::new()
                .layer(MethodGuardLayer::post())
                .service_fn(ok);
            let request = Request::builder().method(method.clone()).body(()).unwrap();
            let response = service.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 405, "{method}");
            assert_eq!(response.headers()["allow"], "POST");
        }
    }
}

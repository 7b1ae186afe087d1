//! Header limit: requests whose headers add up to more than the limit get a JSON 431.
//!
//! hyper refuses truly enormous header blocks itself (past its read buffer, with an empty 431);
//! the server sets that buffer well above this limit so every client sees our JSON error instead.

use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use tower::{Layer, Service};

use crate::{GatewayError, ResponseBody};

/// Default total header size: 64 KiB, far above any legitimate request.
pub const DEFAULT_HEADER_LIMIT: usize = 64 * 1024;

/// Refuses requests whose header names and values exceed `limit` bytes in total.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimitLayer {
    limit: usize,
}

impl HeaderLimitLayer {
    /// A layer with the given total limit in bytes.
    pub const fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl Default for HeaderLimitLayer {
    fn default() -> Self {
        Self::new(DEFAULT_HEADER_LIMIT)
    }
}

impl<S> Layer<S> for HeaderLimitLayer {
    type Service = HeaderLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HeaderLimit {
            inner,
            limit: self.limit,
        }
    }
}

/// See [`HeaderLimitLayer`].
#[derive(Debug, Clone)]
pub struct HeaderLimit<S> {
    inner: S,
    limit: usize,
}

impl<S, B> Service<Request<B>> for HeaderLimit<S>
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
        let total: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if total > self.limit {
            let error = GatewayError::HeadersTooLarge { limit: self.limit };
            return Either::Right(ready(Ok(error.into_response())));
        }
        Either::Left(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    async fn ok(_: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::empty()))
    }

    #[tokio::test]
    async fn small_headers_pass() {
        let service = ServiceBuilder::new()
            .layer(HeaderLimitLayer::new(100))
            .service_fn(ok);
        let request = Request::builder().header("x-a", "b").body(()).unwrap();
        assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn oversized_headers_are_431_json() {
        let service = ServiceBuilder::new()
            .layer(HeaderLimitLayer::new(100))
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

//! Body limit: 413 for bodies over the limit, with or without Content-Length.
//!
//! A declared Content-Length over the limit is refused before a byte is read. Otherwise the body
//! is wrapped in [`Limited`], which fails the moment the stream crosses the limit, so a chunked
//! body with no Content-Length is cut off while streaming, never buffered whole. Whoever reads the
//! body (the gateway: [`crate::read_body`]) turns that failure into 413 with [`read_error`].

use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response, header};
use http_body_util::{LengthLimitError, Limited};
use tower::{Layer, Service};

use crate::{BoxError, GatewayError, ResponseBody};

/// Omnia's default: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The limit in force for this request, in request extensions, so the reader can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// Limits request bodies to `limit` bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimitLayer {
    limit: usize,
}

impl BodyLimitLayer {
    /// A layer refusing bodies over `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl Default for BodyLimitLayer {
    fn default() -> Self {
        Self::new(DEFAULT_BODY_LIMIT)
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyLimitService {
            inner,
            limit: self.limit,
        }
    }
}

/// See [`BodyLimitLayer`].
#[derive(Debug, Clone)]
pub struct BodyLimitService<S> {
    inner: S,
    limit: usize,
}

impl<S, B> Service<Request<B>> for BodyLimitService<S>
where
    S: Service<Request<Limited<B>>, Response = Response<ResponseBody>>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResponseBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.limit as u64) {
            let error = GatewayError::PayloadTooLarge {
                limit: self.limit as u64,
            };
            return Either::Right(ready(Ok(error.into_response())));
        }
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(BodyLimit(self.limit));
        let request = Request::from_parts(parts, Limited::new(body, self.limit));
        Either::Left(self.inner.call(request))
    }
}

/// Classifies a failure to read a request body: over the limit is 413, anything else (the client
/// went away, broken chunked framing) is 400.
pub fn read_error(error: BoxError, limit: Option<BodyLimit>) -> GatewayError {
    if error.downcast_ref::<LengthLimitError>().is_some() {
        return GatewayError::PayloadTooLarge {
            limit: limit.map_or(DEFAULT_BODY_LIMIT, |l| l.0) as u64,
        };
    }
    GatewayError::BadRequest {
        detail: format!("could not read the request body: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_util::stream;
    use http_body_util::{BodyExt, Full, StreamBody};
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    /// Reads the whole body, as the JSON layer does, mapping failures with [`read_error`].
    async fn read_all<B>(request: Request<Limited<B>>) -> Result<Response<ResponseBody>, Infallible>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let limit = request.extensions().get::<BodyLimit>().copied();
        match request.into_body().collect().await {
            Ok(body) => Ok(Response::new(ResponseBody::full(body.to_bytes()))),
            Err(error) => Ok(read_error(error, limit).into_response()),
        }
    }

    #[tokio::test]
    async fn body_within_limit_passes_whole() {
        let service = ServiceBuilder::new()
            .layer(BodyLimitLayer::new(8))
            .service_fn(read_all);
        let request = Request::new(Full::new(Bytes::from_static(b"12345678")));
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"12345678");
    }

    #[tokio::test]
    async fn declared_length_over_limit_is_413_before_reading() {
        let service = ServiceBuilder::new()
            .layer(BodyLimitLayer::new(8))
            .service_fn(read_all);
        let request = Request::builder()
            .header("content-length", "9")
            .body(Full::new(Bytes::from_static(b"123456789")))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 413);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "payload_too_large");
    }

    #[tokio::test]
    async fn chunked_body_over_limit_is_413_while_streaming() {
        // Three 4-byte chunks and no Content-Length: the limit is crossed on the third.
        let chunks = (0..3)
            .map(|_| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"abcd"))));
        let body = StreamBody::new(stream::iter(chunks));
        let service = ServiceBuilder::new()
            .layer(BodyLimitLayer::new(10))
            .service_fn(read_all);
        let response = service.oneshot(Request::new(body)).await.unwrap();
        assert_eq!(response.status(), 413);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("10 bytes"));
    }

    #[test]
    fn other_read_failures_are_400() {
        let error = read_error("connection reset".into(), None);
        assert_eq!(error.code(), "bad_request");
    }
}

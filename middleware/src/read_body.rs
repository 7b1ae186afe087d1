//! Body deadline: reads the whole (already limited) body within a deadline, then calls the inner
//! service with it in memory. A body still incomplete at the deadline is 408 `request_timeout`;
//! one over the limit is 413 and a broken one 400 (see [`read_error`]).
//!
//! The deadline bounds the whole read, not the gap between chunks, so a client trickling a byte
//! at a time cannot stretch it (tower-http's `RequestBodyTimeoutLayer` restarts its clock on every
//! frame). The clock starts when this layer is called. Reading the body before the work that
//! needs it lets the stack take scarce resources, such as a load-shed slot, only for requests
//! whose body has arrived.

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, Service};

use crate::limit::{BodyLimit, read_error};
use crate::{BoxError, GatewayError, ResponseBody};

/// Omnia's facade reads a whole request in at most 10 s (its `http.Server` `ReadTimeout`).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads request bodies whole within `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct ReadBodyLayer {
    timeout: Duration,
}

impl ReadBodyLayer {
    /// A layer that gives each body `timeout` to arrive in full.
    pub const fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl Default for ReadBodyLayer {
    fn default() -> Self {
        Self::new(DEFAULT_BODY_TIMEOUT)
    }
}

impl<S> Layer<S> for ReadBodyLayer {
    type Service = ReadBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadBody {
            inner,
            timeout: self.timeout,
        }
    }
}

/// See [`ReadBodyLayer`]. The inner service receives `Request<Bytes>`: the whole body.
#[derive(Debug, Clone)]
pub struct ReadBody<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> Service<Request<B>> for ReadBody<S>
where
    S: Service<Request<Bytes>, Response = Response<ResponseBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is the one that was not polled ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let timeout = self.timeout;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match tokio::time::timeout(timeout, body.collect()).await {
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(error)) => {
                    let limit = parts.extensions.get::<BodyLimit>().copied();
                    return Ok(read_error(error.into(), limit).into_response());
                }
                // Dropping the half-read body here tells the transport to stop reading it.
                Err(_) => {
                    return Ok(GatewayError::RequestTimeout { waited: timeout }.into_response());
                }
            };
            inner.call(Request::from_parts(parts, bytes)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::BodyLimitLayer;
    use futures_util::stream;
    use http_body_util::StreamBody;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    /// Echoes the body it was handed.
    async fn echo(request: Request<Bytes>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::full(request.into_body())))
    }

    async fn json(response: Response<ResponseBody>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_body_that_arrives_in_chunks_reaches_the_inner_service_whole() {
        let chunks = ["{\"a\":", "1}"]
            .map(|c| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(c.as_bytes()))));
        let service = ServiceBuilder::new()
            .layer(ReadBodyLayer::new(Duration::from_secs(60)))
            .service_fn(echo);
        let response = service
            .oneshot(Request::new(StreamBody::new(stream::iter(chunks))))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(json(response).await, serde_json::json!({"a": 1}));
    }

    #[tokio::test]
    async fn a_body_that_never_finishes_is_408_request_timeout() {
        // One chunk, then nothing: a client that stalls mid-body.
        let first = stream::iter([Ok::<_, Infallible>(http_body::Frame::data(
            Bytes::from_static(b"{\"a\":"),
        ))]);
        let body = StreamBody::new(futures_util::StreamExt::chain(first, stream::pending()));
        let service = ServiceBuilder::new()
            .layer(ReadBodyLayer::new(Duration::from_millis(20)))
            .service_fn(echo);
        let response = service.oneshot(Request::new(body)).await.unwrap();
        assert_eq!(response.status(), 408);
        assert_eq!(json(response).await["error"], "request_timeout");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_still_413() {
        let service = ServiceBuilder::new()
            .layer(BodyLimitLayer::new(4))
            .layer(ReadBodyLayer::default())
            .service_fn(echo);
        let chunks = ["abc", "def"]
            .map(|c| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(c.as_bytes()))));
        let response = service
            .oneshot(Request::new(StreamBody::new(stream::iter(chunks))))
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
    }
}

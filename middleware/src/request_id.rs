//! `x-request-id`: echoed when the client sends a sane one, minted (UUID v4) otherwise.
//!
//! The id goes into request extensions ([`RequestId`]) for later layers and the runtime's
//! `x-omnia-request-id` metadata, and onto the response so clients can quote it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The header carrying the request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id we echo; longer ones are replaced (they end up in logs).
const MAX_LEN: usize = 128;

/// The request's id, in request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id as text (ids are visible ASCII by construction).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

/// Adds [`RequestId`] to requests and `x-request-id` to responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

/// See [`RequestIdLayer`].
#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| b.is_ascii_graphic())
}

fn mint() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

impl<S, B, RB> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(&X_REQUEST_ID) {
            Some(value) if acceptable(value) => value.clone(),
            _ => {
                let id = mint();
                request
                    .headers_mut()
                    .insert(X_REQUEST_ID.clone(), id.clone());
                id
            }
        };
        request.extensions_mut().insert(RequestId(id.clone()));
        RequestIdFuture {
            inner: self.inner.call(request),
            id: Some(id),
        }
    }
}

pin_project! {
    /// Response future of [`RequestIdService`].
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, RB, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(X_REQUEST_ID.clone(), id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    async fn echo_id(request: Request<()>) -> Result<Response<String>, Infallible> {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned());
        Ok(Response::new(id.unwrap_or_default()))
    }

    #[tokio::test]
    async fn echoes_a_client_supplied_id() {
        let service = ServiceBuilder::new()
            .layer(RequestIdLayer)
            .service_fn(echo_id);
        let request = Request::builder()
            .header("x-request-id", "abc-123")
            .body(())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "abc-123");
        assert_eq!(response.body(), "abc-123");
    }

    #[tokio::test]
    async fn mints_a_uuid_when_absent() {
        let service = ServiceBuilder::new()
            .layer(RequestIdLayer)
            .service_fn(echo_id);
        let response = service.oneshot(Request::new(())).await.unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_eq!(response.body(), &id);
    }

    #[tokio::test]
    async fn replaces_an_oversized_or_unprintable_id() {
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [long.as_str(), "has space", ""] {
            let service = service_fn(echo_id);
            let service = ServiceBuilder::new().layer(RequestIdLayer).service(service);
            let request = Request::builder()
                .header("x-request-id", bad)
                .body(())
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            let id = response.headers()["x-request-id"].to_str().unwrap();
            assert!(
                uuid::Uuid::parse_str(id).is_ok(),
                "{bad:?} was kept as {id:?}"
            );
        }
    }
}

//! Load shedding: at most `max` requests in flight; the next one gets 503 `unavailable` with
//! `Retry-After` at once instead of queueing behind work the gateway cannot finish in time.
//!
//! A slot is held from the moment this layer is called until the response is ready, so where it
//! sits decides what a slot pays for. Placed ahead of reading the body, slow clients trickling
//! their bodies fill every slot and starve everyone else; the gateway therefore places it after
//! [`crate::read_body`], so a slot only ever covers work on a request that has fully arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, Either, Ready, ready};
use http::{Request, Response};
use tower::{Layer, Service};

use crate::{GatewayError, ResponseBody};

/// Sheds requests beyond `max` in flight.
#[derive(Debug, Clone)]
pub struct LoadShedLayer {
    max: usize,
    in_flight: Arc<AtomicUsize>,
}

impl LoadShedLayer {
    /// At most `max` requests in flight across every service this layer wraps.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl<S> Layer<S> for LoadShedLayer {
    type Service = LoadShed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LoadShed {
            inner,
            max: self.max,
            in_flight: self.in_flight.clone(),
        }
    }
}

/// See [`LoadShedLayer`].
#[derive(Debug, Clone)]
pub struct LoadShed<S> {
    inner: S,
    max: usize,
    in_flight: Arc<AtomicUsize>,
}

/// Releases its slot when the request finishes or is abandoned.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B> Service<Request<B>> for LoadShed<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = Either<
        BoxFuture<'static, Result<Response<ResponseBody>, S::Error>>,
        Ready<Result<Response<ResponseBody>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            let error = GatewayError::Unavailable {
                detail: format!("overloaded: {} requests already in flight", self.max),
                retry_after_secs: 1,
            };
            return Either::Right(ready(Ok(error.into_response())));
        }
        let slot = Slot(self.in_flight.clone());
        let future = self.inner.call(request);
        Either::Left(Box::pin(async move {
            let response = future.await;
            drop(slot);
            response
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tokio::sync::oneshot;
    use tower::{ServiceBuilder, ServiceExt};

    #[tokio::test]
    async fn sheds_beyond_max_and_recovers() {
        let layer = LoadShedLayer::new(1);
        let (release, released) = oneshot::channel::<()>();
        let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
        let slow = ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(move |_: Request<()>| {
                let released = released.clone();
                async move {
                    if let Some(rx) = released.lock().await.take() {
                        let _ = rx.await;
                    }
                    Ok::<_, Infallible>(Response::new(ResponseBody::empty()))
                }
            });
        let first = tokio::spawn(slow.clone().oneshot(Request::new(())));
        // Wait until the first request holds the only slot.
        while layer.in_flight.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let shed = slow.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(shed.status(), 503);
        assert_eq!(shed.headers()["retry-after"], "1");
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap().status(), 200);
        assert_eq!(slow.oneshot(Request::new(())).await.unwrap().status(), 200);
    }
}

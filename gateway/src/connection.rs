//! One client connection's life after accept: what counts as idle, closing it when it has been
//! idle too long, and ending it on shutdown.
//!
//! A connection is idle while no request on it is being served: a request is in progress from the
//! moment hyper hands it to the stack until the stack returns its response. Writing that response
//! out does not count, so a client that stops reading does not keep the connection busy.
//!
//! hyper has no idle timeout of its own for HTTP/2 (its keep-alive pings only find dead peers: a
//! peer that answers them keeps the connection forever), nor for a connection that has not yet
//! said which protocol it speaks, so [`drive`] keeps the clock for every connection. See
//! `server.rs` for how HTTP/1's own header timer lines up with it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::Service;

/// After a connection was asked to close (idle, or shutdown), how long it may still sit with
/// nothing in progress before it is dropped outright: a peer that never lets a graceful close
/// finish (an HTTP/1 client mid-way through its first request head, an HTTP/2 client that never
/// acknowledges the GOAWAY ping) would otherwise keep it open.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What one connection is doing, shared by its requests and its idle clock.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    in_progress: AtomicUsize,
    /// When the last request finished, in milliseconds since `opened`.
    last_finished_ms: AtomicU64,
}

impl Activity {
    /// A connection that opened now and has served nothing yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            in_progress: AtomicUsize::new(0),
            last_finished_ms: AtomicU64::new(0),
        })
    }

    /// Since when nothing has been in progress; `None` while a request is being served.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_progress.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = self.last_finished_ms.load(Ordering::Acquire);
        Some(self.opened + Duration::from_millis(ms))
    }

    /// Resolves once nothing has been in progress for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let deadline = match self.idle_since() {
                Some(since) => since + timeout,
                // Busy: look again a full timeout later at the earliest it could be idle.
                None => Instant::now() + timeout,
            };
            tokio::time::sleep_until(deadline).await;
            if self
                .idle_since()
                .is_some_and(|since| since + timeout <= Instant::now())
            {
                return;
            }
        }
    }

    fn begin(self: &Arc<Self>) -> InProgress {
        self.in_progress.fetch_add(1, Ordering::AcqRel);
        InProgress(self.clone())
    }
}

/// One request being served; its drop is the request finishing (or being abandoned).
#[derive(Debug)]
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let activity = &self.0;
        let ms = u64::try_from(activity.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The time first, so an idle clock that sees the count at zero also sees this.
        activity.last_finished_ms.store(ms, Ordering::Release);
        activity.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's service: each call is in progress until its response is ready.
#[derive(Debug, Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// `inner`, reporting to `activity`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, R> Service<R> for Tracked<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let in_progress = self.activity.begin();
        TrackedFuture {
            inner: self.inner.call(request),
            _in_progress: in_progress,
        }
    }
}

pin_project! {
    /// See [`Tracked`].
    pub struct TrackedFuture<F> {
        #[pin]
        inner: F,
        _in_progress: InProgress,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// Where the listener is in its life, as its connections see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Accepting and serving.
    Serving,
    /// Shutting down: finish what is in progress, then close.
    Draining,
    /// The drain timed out: close now, whatever is in progress.
    Closed,
}

/// Serves `connection` until it ends. Once it has been idle for `idle`, or the listener starts
/// draining, it is asked to close gracefully (`graceful`: HTTP/1 finishes the response in
/// progress, HTTP/2 sends GOAWAY and finishes its open streams). If it then sits with nothing in
/// progress for [`CLOSE_GRACE`], or the listener's drain times out, it is dropped, which closes
/// the socket.
pub async fn drive<C, E>(
    connection: C,
    graceful: impl FnOnce(Pin<&mut C>),
    activity: &Activity,
    idle: Duration,
    mut phase: watch::Receiver<Phase>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    tokio::pin!(connection);
    // A closed channel means the listener is gone, which is shutdown too.
    tokio::select! {
        result = &mut connection => return result,
        () = activity.idle_for(idle) => {
            tracing::debug!(?idle, "closing an idle connection");
        }
        _ = phase.wait_for(|p| *p >= Phase::Draining) => {}
    }
    graceful(connection.as_mut());
    tokio::select! {
        result = &mut connection => result,
        () = activity.idle_for(CLOSE_GRACE) => Ok(()),
        _ = phase.wait_for(|p| *p == Phase::Closed) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_once_its_last_request_has_finished() {
        let activity = Activity::new();
        let (release, released) = tokio::sync::watch::channel(false);
        let service = Tracked::new(
            tower::service_fn(move |(): ()| {
                let mut released = released.clone();
                async move {
                    let _ = released.wait_for(|released| *released).await;
                    Ok::<_, Infallible>(())
                }
            }),
            activity.clone(),
        );
        let call = tokio::spawn(service.oneshot(()));
        tokio::task::yield_now().await;
        assert!(activity.idle_since().is_none());

        // However long the request runs, the connection is not idle.
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle_for(Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!waiting.is_finished());

        release.send_replace(true);
        call.await.unwrap().unwrap();
        let finished = Instant::now();
        waiting.await.unwrap();
        assert!(Instant::now() >= finished + Duration::from_secs(60));
    }
}

//! Keeping a fetched JWKS fresh: one background task per key source fetches on a schedule set by
//! the response's `Cache-Control`, and when a token names a key the set does not hold.
//!
//! The task is the only fetcher, so at most one fetch is ever in flight. It publishes each new
//! set through a `watch` channel; requests read the latest set with a short synchronous borrow and
//! never wait on the task, except a request naming an unknown `kid`, which may wait for the one
//! fetch that it asked for (bounded by the fetch timeout). Such fetches are rate-limited, so a
//! stream of made-up key ids cannot turn the gateway into a flood against the identity provider.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fetch::{Fetched, Fetcher};
use super::keyset::KeySet;

/// How a JWKS fetched over HTTP is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksRefresh {
    /// The refresh interval when a response carries no `Cache-Control: max-age` (default 15 min).
    pub default_interval: Duration,
    /// The shortest refresh interval, whatever `max-age` says (default 60 s); also the retry
    /// interval after a failed fetch.
    pub min_interval: Duration,
    /// The longest refresh interval, whatever `max-age` says (default 24 h), so a revoked key
    /// is dropped within a day even from a provider that asks to be cached for a year.
    pub max_interval: Duration,
    /// The shortest time between two fetches asked for by tokens naming unknown keys (default
    /// 5 s). Scheduled refreshes do not count against it.
    pub unknown_kid_interval: Duration,
    /// How long one HTTP request for a discovery document or a JWKS may take (default 10 s).
    pub fetch_timeout: Duration,
}

impl Default for JwksRefresh {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(15 * 60),
            min_interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(24 * 60 * 60),
            unknown_kid_interval: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

impl JwksRefresh {
    /// The time until the next scheduled fetch after a response fresh for `fresh_for`.
    pub(super) fn interval_for(&self, fresh_for: Option<Duration>) -> Duration {
        // max then min rather than clamp: clamp panics on a floor above the ceiling.
        fresh_for
            .unwrap_or(self.default_interval)
            .max(self.min_interval)
            .min(self.max_interval)
    }
}

/// What requests read: the current keys, and when the task will next fetch them.
#[derive(Clone)]
pub(super) struct Snapshot {
    pub keys: Arc<KeySet>,
    /// The delay until the next scheduled fetch, as set when these keys were fetched; `None` for
    /// sets that never refresh.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only the tests of the schedule read it")
    )]
    pub refresh_in: Option<Duration>,
}

/// The rate limit on fetches asked for by unknown key ids, and the doorbell that asks.
pub(super) struct OnDemand {
    wake: Notify,
    epoch: Instant,
    /// Milliseconds from `epoch` to the start of the last such fetch; [`NEVER`] before the first.
    last_ms: AtomicU64,
    /// Whether such a fetch is running: later requests for unknown keys wait for it rather than
    /// being refused while the keys they need may be on their way.
    in_flight: AtomicBool,
    interval: Duration,
}

const NEVER: u64 = u64::MAX;

impl OnDemand {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            wake: Notify::new(),
            epoch: Instant::now(),
            last_ms: AtomicU64::new(NEVER),
            in_flight: AtomicBool::new(false),
            interval,
        }
    }

    /// Whether a fetch for an unknown key may start now.
    pub(super) fn allowed(&self) -> bool {
        match self.last_ms.load(Ordering::Acquire) {
            NEVER => true,
            last => self.now_ms().saturating_sub(last) >= millis(self.interval),
        }
    }

    /// Whether a fetch for an unknown key is running.
    pub(super) fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Asks the task for a fetch; requests made while one is pending share it.
    pub(super) fn ring(&self) {
        self.wake.notify_one();
    }

    /// Records that a fetch for an unknown key starts now, if the rate limit allows one. Only
    /// the task calls this, so the check and the stores cannot race each other. `in_flight` is
    /// set first: whoever sees the new `last_ms` also sees the fetch running.
    fn claim(&self) -> bool {
        if !self.allowed() {
            return false;
        }
        self.in_flight.store(true, Ordering::Release);
        self.last_ms.store(self.now_ms(), Ordering::Release);
        true
    }

    /// Records that the fetch is over. Called before its result is published, so a request that
    /// still sees it running is subscribed in time to be woken by that result.
    fn finish(&self) {
        self.in_flight.store(false, Ordering::Release);
    }

    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Starts the task that keeps `published` fresh, first fetching after `first`.
pub(super) fn spawn(
    fetcher: Fetcher,
    policy: JwksRefresh,
    first: Duration,
    published: watch::Sender<Snapshot>,
    on_demand: Arc<OnDemand>,
) -> JoinHandle<()> {
    tokio::spawn(run(fetcher, policy, first, published, on_demand))
}

async fn run(
    mut fetcher: Fetcher,
    policy: JwksRefresh,
    first: Duration,
    published: watch::Sender<Snapshot>,
    on_demand: Arc<OnDemand>,
) {
    let mut next = after(Instant::now(), first);
    loop {
        let asked = tokio::select! {
            () = tokio::time::sleep_until(next) => false,
            () = on_demand.wake.notified() => true,
        };
        if asked && !on_demand.claim() {
            // Wake whoever asked: there is nothing newer to wait for.
            published.send_modify(|_| ());
            continue;
        }
        let result = fetcher.fetch().await;
        on_demand.finish();
        let now = Instant::now();
        next = match result {
            Ok(fetched) => {
                let delay = policy.interval_for(fetched.fresh_for);
                publish(&published, &fetcher, fetched, delay);
                after(now, delay)
            }
            Err(err) => {
                tracing::warn!(
                    source = %fetcher.origin(),
                    error = %err,
                    "JWKS refresh failed; keeping the current keys"
                );
                published.send_modify(|_| ());
                // Retry after the floor, unless the schedule already comes sooner.
                let retry = after(now, policy.min_interval);
                if next > now { next.min(retry) } else { retry }
            }
        };
    }
}

/// `now + delay`, or a year from now for a delay past what an `Instant` holds (a ceiling set to
/// `Duration::MAX`), rather than a panic that would stop the refreshes.
fn after(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 60 * 60)))
        .unwrap_or(now)
}

/// Swaps in a fetched set. A valid document with no usable key replaces the old keys too: the
/// provider has withdrawn them, and trusting them on would keep revoked keys alive.
fn publish(
    published: &watch::Sender<Snapshot>,
    fetcher: &Fetcher,
    fetched: Fetched,
    delay: Duration,
) {
    let fresh = Arc::new(fetched.keys);
    let old = published.borrow().keys.clone();
    let (before, after) = (old.kids(), fresh.kids());
    if fresh.len() == 0 {
        tracing::warn!(
            source = %fetcher.origin(),
            "JWKS refresh found no usable key; every token is refused until one is published"
        );
    } else if before != after {
        tracing::info!(
            source = %fetcher.origin(),
            keys = ?after,
            previous = ?before,
            "JWKS refreshed with a changed key set"
        );
    } else {
        tracing::debug!(source = %fetcher.origin(), next_in = ?delay, "JWKS refreshed");
    }
    published.send_replace(Snapshot {
        keys: fresh,
        refresh_in: Some(delay),
    });
}

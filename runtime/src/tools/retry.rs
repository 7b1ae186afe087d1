//! The retry backoff both tool adapters use, and whether a wait still fits a call's deadline.

use std::time::Duration;

use tokio::time::Instant;

/// Exponential backoff with full jitter: the pause before attempt `n + 1` is
/// `random(0, min(initial * multiplier^(n-1), max))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
}

impl Backoff {
    /// No pause at all.
    pub(crate) const NONE: Backoff = Backoff {
        initial: Duration::ZERO,
        multiplier: 1.0,
        max: Duration::ZERO,
    };

    /// A multiplier below 1 (or not finite) is 1; `max` is at least `initial`.
    pub(crate) fn new(initial: Duration, multiplier: f64, max: Duration) -> Backoff {
        Backoff {
            initial,
            multiplier: if multiplier.is_finite() {
                multiplier.max(1.0)
            } else {
                1.0
            },
            max: max.max(initial),
        }
    }

    /// The most the pause before attempt `attempt + 1` (1-based `attempt`) may be.
    pub(crate) fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        Duration::try_from_secs_f64(secs.min(self.max.as_secs_f64())).unwrap_or(self.max)
    }

    /// The pause before attempt `attempt + 1`: uniformly random up to [`Backoff::ceiling`].
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        self.ceiling(attempt).mul_f64(fastrand::f64())
    }
}

/// Whether waiting `wait` still leaves time before `deadline`. Compared without adding to an
/// `Instant`: a huge `Retry-After` must not overflow.
pub(crate) fn fits(wait: Duration, deadline: Instant) -> bool {
    wait < deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_its_ceiling_with_jitter() {
        let backoff = Backoff::new(Duration::from_millis(100), 2.0, Duration::from_millis(300));
        assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(2), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(300));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_millis(300));
        for _ in 0..50 {
            assert!(backoff.delay(2) <= Duration::from_millis(200));
        }
        assert_eq!(Backoff::NONE.delay(7), Duration::ZERO);
    }

    #[test]
    fn sanitises_the_policy() {
        let backoff = Backoff::new(Duration::from_millis(100), f64::NAN, Duration::ZERO);
        assert_eq!(backoff.ceiling(5), Duration::from_millis(100));
        let backoff = Backoff::new(Duration::from_millis(100), 0.5, Duration::from_secs(1));
        assert_eq!(backoff.ceiling(5), Duration::from_millis(100));
    }

    #[test]
    fn a_huge_wait_does_not_fit_nor_overflow() {
        let deadline = Instant::now() + Duration::from_secs(30);
        assert!(fits(Duration::ZERO, deadline));
        assert!(!fits(Duration::MAX, deadline));
        assert!(!fits(Duration::ZERO, Instant::now()));
    }
}

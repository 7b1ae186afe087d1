//! Per-worker measurements: a latency histogram, status and error tallies, send-lag statistics.
//!
//! Each worker owns one `Recorder` and records without locks or atomics; the recorders are
//! merged once at the end of the run.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::scenario::{ErrorKind, Outcome};

/// Highest latency the histogram tracks exactly: one hour, in microseconds. Longer values are
/// clamped to it rather than lost.
const HIGHEST_US: u64 = 3_600_000_000;
/// Three significant figures: 0.1% relative precision at any magnitude.
const SIGNIFICANT_FIGURES: u8 = 3;
/// Status codes are three digits; index = code.
const STATUS_SLOTS: usize = 1000;

/// Measurements of one worker, or of a whole run after merging.
#[derive(Debug, Clone)]
pub struct Recorder {
    latency: Histogram<u64>,
    statuses: Box<[u64]>,
    failures: [u64; ErrorKind::ALL.len()],
    lag: Lag,
}

/// How late open-model requests were sent relative to their intended time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// Requests whose lag was measured.
    pub count: u64,
    /// Requests sent later than the late threshold.
    pub late: u64,
    /// Largest lag, microseconds.
    pub max_us: u64,
    /// Sum of lags, microseconds (for the mean).
    pub sum_us: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder. Called when workers are set up, before any request.
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            statuses: vec![0; STATUS_SLOTS].into_boxed_slice(),
            failures: [0; ErrorKind::ALL.len()],
            lag: Lag::default(),
        }
    }

    /// Records one finished exchange. Replies (any status) record their latency; failures only
    /// count, since they have no reply time.
    pub fn record(&mut self, latency: Duration, outcome: &Outcome) {
        match *outcome {
            Outcome::Reply { status } => {
                self.latency.saturating_record(micros(latency));
                let slot = usize::from(status).min(STATUS_SLOTS - 1);
                self.statuses[slot] += 1;
            }
            Outcome::Failed(kind) => self.failures[kind.index()] += 1,
        }
    }

    /// Counts `count` failures of one kind that have no latency (e.g. never-sent requests).
    pub fn record_failures(&mut self, kind: ErrorKind, count: u64) {
        self.failures[kind.index()] += count;
    }

    /// Records how long after its intended time a request was actually sent.
    pub fn record_lag(&mut self, lag: Duration, late_threshold: Duration) {
        let us = micros(lag);
        self.lag.count += 1;
        self.lag.sum_us = self.lag.sum_us.saturating_add(us);
        self.lag.max_us = self.lag.max_us.max(us);
        if lag > late_threshold {
            self.lag.late += 1;
        }
    }

    /// Adds another recorder's measurements to this one.
    pub fn merge(&mut self, other: &Recorder) {
        merge_histogram(&mut self.latency, &other.latency);
        for (mine, theirs) in self.statuses.iter_mut().zip(other.statuses.iter()) {
            *mine += theirs;
        }
        for (mine, theirs) in self.failures.iter_mut().zip(other.failures) {
            *mine += theirs;
        }
        self.lag.count += other.lag.count;
        self.lag.late += other.lag.late;
        self.lag.sum_us = self.lag.sum_us.saturating_add(other.lag.sum_us);
        self.lag.max_us = self.lag.max_us.max(other.lag.max_us);
    }

    /// Latencies of replies, in microseconds.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// Finished exchanges: replies plus failures.
    pub fn requests(&self) -> u64 {
        self.replies() + self.failures.iter().sum::<u64>()
    }

    /// Exchanges that got a complete reply, whatever its status.
    pub fn replies(&self) -> u64 {
        self.statuses.iter().sum()
    }

    /// Replies with a 2xx or 3xx status.
    pub fn ok(&self) -> u64 {
        self.statuses[200..400].iter().sum()
    }

    /// Errors: replies with status 1xx, 4xx or 5xx, plus exchanges without a reply.
    pub fn errors(&self) -> u64 {
        self.requests() - self.ok()
    }

    /// Count per status code, ascending, non-zero only.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(code, count)| (u16::try_from(code).unwrap_or(u16::MAX), *count))
    }

    /// Count per error status code (not 2xx/3xx), ascending, non-zero only.
    pub fn error_statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses()
            .filter(|(code, _)| !(200..400).contains(code))
    }

    /// Count per failure kind, non-zero only.
    pub fn failures(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .iter()
            .map(|kind| (*kind, self.failures[kind.index()]))
            .filter(|(_, count)| *count > 0)
    }

    /// Send-lag statistics (open model only; zero otherwise).
    pub fn lag(&self) -> Lag {
        self.lag
    }
}

/// An empty µs histogram with the recorder's bounds: 1 µs to one hour, 3 significant figures.
/// Every histogram of the crate comes from here, so any two can be merged.
#[allow(
    clippy::expect_used,
    reason = "constant bounds that hdrhistogram documents as valid; tests construct it"
)]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_FIGURES)
        .expect("histogram bounds are valid constants")
}

/// Adds `other` into `into`. Histograms from [`histogram`] have the same bounds, so `add` cannot
/// fail; should it, the values are copied one bucket at a time (clamped) so nothing is silently
/// lost.
pub fn merge_histogram(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    if into.add(other).is_err() {
        for bucket in other.iter_recorded() {
            let value = bucket.value_iterated_to().min(HIGHEST_US);
            let _ = into.record_n(value, bucket.count_at_value());
        }
    }
}

/// Microseconds, saturating (a `Duration` can exceed `u64` microseconds only in theory).
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16) -> Outcome {
        Outcome::Reply { status }
    }

    #[test]
    fn percentiles_of_a_known_set() {
        let mut recorder = Recorder::new();
        for us in 1..=1000 {
            recorder.record(Duration::from_micros(us), &reply(200));
        }
        let histogram = recorder.latency();
        assert_eq!(histogram.len(), 1000);
        assert_eq!(histogram.value_at_quantile(0.50), 500);
        assert_eq!(histogram.value_at_quantile(0.90), 900);
        assert_eq!(histogram.value_at_quantile(0.99), 990);
        assert_eq!(histogram.value_at_quantile(0.999), 999);
        assert_eq!(histogram.max(), 1000);
        assert_eq!(histogram.min(), 1);
    }

    #[test]
    fn large_values_keep_three_significant_figures() {
        let mut recorder = Recorder::new();
        recorder.record(Duration::from_micros(1_234_567), &reply(200));
        let max = recorder.latency().max();
        assert!(max.abs_diff(1_234_567) <= 1_235, "max {max}");
    }

    #[test]
    fn merging_two_recorders_equals_recording_into_one() {
        let mut low = Recorder::new();
        let mut high = Recorder::new();
        for us in 1..=500 {
            low.record(Duration::from_micros(us), &reply(200));
        }
        for us in 501..=1000 {
            high.record(Duration::from_micros(us), &reply(200));
        }
        high.record(Duration::from_micros(7), &reply(503));
        high.record(Duration::ZERO, &Outcome::Failed(ErrorKind::Reset));
        low.record_lag(Duration::from_millis(3), Duration::from_millis(1));
        high.record_lag(Duration::from_micros(10), Duration::from_millis(1));

        low.merge(&high);
        assert_eq!(low.requests(), 1002);
        assert_eq!(low.replies(), 1001);
        assert_eq!(low.ok(), 1000);
        assert_eq!(low.errors(), 2);
        assert_eq!(low.latency().value_at_quantile(0.5), 500);
        assert_eq!(low.latency().max(), 1000);
        assert_eq!(low.error_statuses().collect::<Vec<_>>(), vec![(503, 1)]);
        assert_eq!(
            low.failures().collect::<Vec<_>>(),
            vec![(ErrorKind::Reset, 1)]
        );
        let lag = low.lag();
        assert_eq!(
            (lag.count, lag.late, lag.max_us, lag.sum_us),
            (2, 1, 3000, 3010)
        );
    }
}

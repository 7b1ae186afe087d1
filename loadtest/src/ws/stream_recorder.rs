//! Per-session measurements of `ws-stream`: four µs histograms, frame and turn counts, and
//! failures; merged once at the end, like `crate::recorder`.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::Failure;
use super::frame::FrameKind;
use crate::recorder::{histogram, merge_histogram, micros};

/// What one session (or, merged, the whole run) measured.
#[derive(Debug, Clone)]
pub struct StreamRecorder {
    setup: Histogram<u64>,
    first_chunk: Histogram<u64>,
    chunk_gap: Histogram<u64>,
    turn: Histogram<u64>,
    frames: [u64; FrameKind::NAMES.len()],
    turns: u64,
    turns_ok: u64,
    turns_error: u64,
    turns_lost: u64,
    failures: BTreeMap<Failure, u64>,
    error_codes: BTreeMap<String, u64>,
    first_sent: Option<Instant>,
    last_end: Option<Instant>,
}

impl Default for StreamRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            setup: histogram(),
            first_chunk: histogram(),
            chunk_gap: histogram(),
            turn: histogram(),
            frames: [0; FrameKind::NAMES.len()],
            turns: 0,
            turns_ok: 0,
            turns_error: 0,
            turns_lost: 0,
            failures: BTreeMap::new(),
            error_codes: BTreeMap::new(),
            first_sent: None,
            last_end: None,
        }
    }

    /// A text (or binary) frame arrived.
    pub fn frame(&mut self, kind: &FrameKind) {
        self.frames[kind.index()] += 1;
    }

    /// A connection opened: TCP connect started → `connected` frame read.
    pub fn setup(&mut self, took: Duration) {
        self.setup.saturating_record(micros(took));
    }

    /// A turn's message is being sent.
    pub fn turn_sent(&mut self, at: Instant) {
        self.turns += 1;
        self.first_sent = Some(self.first_sent.map_or(at, |first| first.min(at)));
    }

    /// Message sent → first `chunk` (or `done` when there was no chunk).
    pub fn first_chunk(&mut self, took: Duration) {
        self.first_chunk.saturating_record(micros(took));
    }

    /// A `chunk` → the next `chunk` or `done` of the same turn.
    pub fn chunk_gap(&mut self, took: Duration) {
        self.chunk_gap.saturating_record(micros(took));
    }

    /// A turn ended with `done` at `at`, `took` after its message.
    pub fn turn_done(&mut self, took: Duration, at: Instant) {
        self.turn.saturating_record(micros(took));
        self.turns_ok += 1;
        self.ended(at);
    }

    /// A turn ended with an `error` frame with this code.
    pub fn turn_error(&mut self, code: &str, at: Instant) {
        self.error_frame(code);
        self.turns_error += 1;
        self.ended(at);
    }

    /// A turn ended without `done` or `error`: its connection failed or it timed out (the
    /// failure itself is counted by [`StreamRecorder::fail`]).
    pub fn turn_lost(&mut self, at: Instant) {
        self.turns_lost += 1;
        self.ended(at);
    }

    /// An `error` frame (in a turn or outside one).
    pub fn error_frame(&mut self, code: &str) {
        // Codes are a handful of constants: the map stays tiny and a known code costs no
        // allocation.
        match self.error_codes.get_mut(code) {
            Some(count) => *count += 1,
            None => {
                self.error_codes.insert(code.to_owned(), 1);
            }
        }
    }

    /// Something went wrong that is not an `error` frame.
    pub fn fail(&mut self, failure: Failure) {
        *self.failures.entry(failure).or_default() += 1;
    }

    fn ended(&mut self, at: Instant) {
        self.last_end = Some(self.last_end.map_or(at, |last| last.max(at)));
    }

    /// Adds another recorder's measurements to this one.
    pub fn merge(&mut self, other: &StreamRecorder) {
        merge_histogram(&mut self.setup, &other.setup);
        merge_histogram(&mut self.first_chunk, &other.first_chunk);
        merge_histogram(&mut self.chunk_gap, &other.chunk_gap);
        merge_histogram(&mut self.turn, &other.turn);
        for (mine, theirs) in self.frames.iter_mut().zip(other.frames) {
            *mine += theirs;
        }
        self.turns += other.turns;
        self.turns_ok += other.turns_ok;
        self.turns_error += other.turns_error;
        self.turns_lost += other.turns_lost;
        for (failure, count) in &other.failures {
            *self.failures.entry(*failure).or_default() += count;
        }
        for (code, count) in &other.error_codes {
            *self.error_codes.entry(code.clone()).or_default() += count;
        }
        self.first_sent = match (self.first_sent, other.first_sent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_end = self.last_end.max(other.last_end);
    }

    /// Connection setup times, µs.
    pub fn setup_histogram(&self) -> &Histogram<u64> {
        &self.setup
    }

    /// Times to first chunk, µs.
    pub fn first_chunk_histogram(&self) -> &Histogram<u64> {
        &self.first_chunk
    }

    /// Gaps between a chunk and the next frame of its turn, µs.
    pub fn chunk_gap_histogram(&self) -> &Histogram<u64> {
        &self.chunk_gap
    }

    /// Durations of turns that ended with `done`, µs.
    pub fn turn_histogram(&self) -> &Histogram<u64> {
        &self.turn
    }

    /// Frames received per kind, in [`FrameKind::NAMES`] order.
    pub fn frames(&self) -> &[u64; FrameKind::NAMES.len()] {
        &self.frames
    }

    /// Messages sent.
    pub fn turns(&self) -> u64 {
        self.turns
    }

    /// Turns that ended with `done`.
    pub fn turns_ok(&self) -> u64 {
        self.turns_ok
    }

    /// Turns that ended with an `error` frame.
    pub fn turns_error(&self) -> u64 {
        self.turns_error
    }

    /// Turns that ended with neither.
    pub fn turns_lost(&self) -> u64 {
        self.turns_lost
    }

    /// Failures per kind, in [`Failure`] order.
    pub fn failures(&self) -> &BTreeMap<Failure, u64> {
        &self.failures
    }

    /// `error` frames per code.
    pub fn error_codes(&self) -> &BTreeMap<String, u64> {
        &self.error_codes
    }

    /// From the first message sent to the end of the last turn (zero without turns).
    pub fn measured(&self) -> Duration {
        match (self.first_sent, self.last_end) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_spans_both_periods() {
        let t0 = Instant::now();
        let mut a = StreamRecorder::new();
        let mut b = StreamRecorder::new();
        a.turn_sent(t0);
        a.turn_done(Duration::from_millis(5), t0 + Duration::from_millis(5));
        b.turn_sent(t0 + Duration::from_millis(1));
        b.turn_error("RATE_LIMITED", t0 + Duration::from_millis(9));
        b.fail(Failure::Timeout);
        b.frame(&FrameKind::Chunk);
        a.merge(&b);
        assert_eq!(a.turns(), 2);
        assert_eq!(a.turns_ok(), 1);
        assert_eq!(a.turns_error(), 1);
        assert_eq!(a.error_codes().get("RATE_LIMITED"), Some(&1));
        assert_eq!(a.failures().get(&Failure::Timeout), Some(&1));
        assert_eq!(a.frames()[FrameKind::Chunk.index()], 1);
        assert_eq!(a.measured(), Duration::from_millis(9));
        assert_eq!(a.turn_histogram().len(), 1);
    }
}

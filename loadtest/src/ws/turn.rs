//! The protocol state of one `ws-stream` connection: `connected` first, then turns, one at a
//! time, each ended by `done` or `error`. It times the frames and checks their order.
//!
//! Frames carry the instant they were read (by the connection's reader task), and a turn the
//! instant its message was sent. That is what makes "a chunk after `done`, before the next
//! message" detectable at all: such a frame may only be handled after the next message went
//! out, but it was read before, so it cannot belong to the new turn.

use tokio::time::Instant;

use super::Failure;
use super::frame::FrameKind;
use super::stream_recorder::StreamRecorder;

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Upgraded, waiting for `connected`; the TCP connect started at this instant.
    Opening { started: Instant },
    /// Between turns.
    Idle,
    /// A turn is in flight.
    Turn(Turn),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Turn {
    /// When its message was sent.
    sent: Instant,
    /// Whether a chunk arrived (the first one is timed from `sent`).
    chunked: bool,
    /// When the previous frame arrived, if it was a chunk: the start of a gap.
    after_chunk: Option<Instant>,
}

/// What a frame meant for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changed that the caller waits for; read on.
    Continue,
    /// `connected` arrived: turns may start.
    Connected,
    /// The turn in flight ended (`done` or `error`).
    TurnEnded,
    /// The connection cannot go on; it is to be dropped (the failure is not yet recorded).
    Broken(Failure),
}

/// One connection's protocol state. Anomalies that do not break the connection (stray frames,
/// bad JSON, `error` frames) are recorded here; `Step::Broken` is the caller's to record.
#[derive(Debug, Clone)]
pub struct Conversation {
    phase: Phase,
}

impl Conversation {
    /// A connection whose TCP connect started at `started`.
    pub fn opening(started: Instant) -> Self {
        Self {
            phase: Phase::Opening { started },
        }
    }

    /// Whether a turn is in flight.
    pub fn in_turn(&self) -> bool {
        matches!(self.phase, Phase::Turn(_))
    }

    /// Starts a turn whose message is sent at `sent`. Only between turns: one turn in flight per
    /// connection, as the protocol allows; calling it otherwise changes nothing.
    pub fn start(&mut self, sent: Instant, recorder: &mut StreamRecorder) -> bool {
        if self.phase != Phase::Idle {
            return false;
        }
        recorder.turn_sent(sent);
        self.phase = Phase::Turn(Turn {
            sent,
            chunked: false,
            after_chunk: None,
        });
        true
    }

    /// The turn in flight was lost (timeout, connection failure) at `at`.
    pub fn lose(&mut self, at: Instant, recorder: &mut StreamRecorder) {
        if self.in_turn() {
            recorder.turn_lost(at);
        }
        self.phase = Phase::Idle;
    }

    /// Handles one frame read at `at`.
    pub fn on_frame(
        &mut self,
        kind: &FrameKind,
        at: Instant,
        recorder: &mut StreamRecorder,
    ) -> Step {
        recorder.frame(kind);
        match &mut self.phase {
            Phase::Opening { started } => {
                if *kind == FrameKind::Connected {
                    recorder.setup(at.saturating_duration_since(*started));
                    self.phase = Phase::Idle;
                    Step::Connected
                } else {
                    Step::Broken(Failure::NoConnected)
                }
            }
            // Read before the message went out: it belongs to no turn.
            Phase::Turn(turn) if at >= turn.sent => {
                let turn = *turn;
                self.in_turn_frame(turn, kind, at, recorder)
            }
            Phase::Turn(_) | Phase::Idle => {
                between_turns(kind, recorder);
                Step::Continue
            }
        }
    }

    fn in_turn_frame(
        &mut self,
        mut turn: Turn,
        kind: &FrameKind,
        at: Instant,
        recorder: &mut StreamRecorder,
    ) -> Step {
        match kind {
            FrameKind::Chunk => {
                time_frame(&turn, at, recorder);
                turn.chunked = true;
                turn.after_chunk = Some(at);
                self.phase = Phase::Turn(turn);
                Step::Continue
            }
            FrameKind::Done => {
                time_frame(&turn, at, recorder);
                recorder.turn_done(at.saturating_duration_since(turn.sent), at);
                self.phase = Phase::Idle;
                Step::TurnEnded
            }
            FrameKind::Error(code) => {
                recorder.turn_error(code, at);
                self.phase = Phase::Idle;
                Step::TurnEnded
            }
            FrameKind::ToolCall | FrameKind::ToolResult => {
                // A tool's round trip is not a gap between chunks.
                turn.after_chunk = None;
                self.phase = Phase::Turn(turn);
                Step::Continue
            }
            FrameKind::Connected => {
                recorder.fail(Failure::ConnectedAgain);
                Step::Continue
            }
            FrameKind::Bad => {
                recorder.fail(Failure::BadFrame);
                Step::Continue
            }
            FrameKind::Other => Step::Continue,
        }
    }
}

/// Time to first chunk (or to `done` without chunks), or the gap since the previous chunk.
fn time_frame(turn: &Turn, at: Instant, recorder: &mut StreamRecorder) {
    if !turn.chunked {
        recorder.first_chunk(at.saturating_duration_since(turn.sent));
    } else if let Some(previous) = turn.after_chunk {
        recorder.chunk_gap(at.saturating_duration_since(previous));
    }
}

/// A frame read while no turn was in flight.
fn between_turns(kind: &FrameKind, recorder: &mut StreamRecorder) {
    match kind {
        FrameKind::Chunk | FrameKind::Done | FrameKind::ToolCall | FrameKind::ToolResult => {
            recorder.fail(Failure::FrameAfterDone);
        }
        // The server may report an error outside a turn; it is counted by its code.
        FrameKind::Error(code) => recorder.error_frame(code),
        FrameKind::Connected => recorder.fail(Failure::ConnectedAgain),
        FrameKind::Bad => recorder.fail(Failure::BadFrame),
        FrameKind::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The largest recorded value as recorded: `max()` is the top of its bucket.
    fn max(histogram: &hdrhistogram::Histogram<u64>) -> u64 {
        histogram.lowest_equivalent(histogram.max())
    }

    fn connected(t0: Instant, recorder: &mut StreamRecorder) -> Conversation {
        let mut conversation = Conversation::opening(t0);
        let step = conversation.on_frame(&FrameKind::Connected, t0 + MS * 2, recorder);
        assert_eq!(step, Step::Connected);
        conversation
    }

    #[test]
    fn a_streamed_turn_is_timed_frame_by_frame() {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        let mut conversation = connected(t0, &mut recorder);
        let sent = t0 + MS * 10;
        assert!(conversation.start(sent, &mut recorder));
        for (offset, kind, step) in [
            (13, FrameKind::Chunk, Step::Continue),
            (14, FrameKind::Chunk, Step::Continue),
            (20, FrameKind::Chunk, Step::Continue),
            (21, FrameKind::Done, Step::TurnEnded),
        ] {
            assert_eq!(
                conversation.on_frame(&kind, t0 + MS * offset, &mut recorder),
                step
            );
        }
        assert!(!conversation.in_turn());
        assert_eq!(max(recorder.setup_histogram()), 2000);
        let first = recorder.first_chunk_histogram();
        assert_eq!((first.len(), max(first)), (1, 3000));
        // chunk→chunk 1 ms and 6 ms, chunk→done 1 ms.
        let gaps = recorder.chunk_gap_histogram();
        assert_eq!((gaps.len(), gaps.min(), max(gaps)), (3, 1000, 6000));
        assert_eq!(max(recorder.turn_histogram()), 11_000);
        assert_eq!(
            (
                recorder.turns(),
                recorder.turns_ok(),
                recorder.turns_error()
            ),
            (1, 1, 0)
        );
        assert!(recorder.failures().is_empty());
        assert_eq!(recorder.frames()[FrameKind::Chunk.index()], 3);
    }

    #[test]
    fn without_chunks_the_first_chunk_is_the_done() {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        let mut conversation = connected(t0, &mut recorder);
        conversation.start(t0 + MS * 10, &mut recorder);
        let step = conversation.on_frame(&FrameKind::Done, t0 + MS * 15, &mut recorder);
        assert_eq!(step, Step::TurnEnded);
        assert_eq!(max(recorder.first_chunk_histogram()), 5000);
        assert!(recorder.chunk_gap_histogram().is_empty());
    }

    #[test]
    fn tool_frames_are_counted_but_break_the_gap() {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        let mut conversation = connected(t0, &mut recorder);
        conversation.start(t0, &mut recorder);
        for (offset, kind) in [
            (1, FrameKind::Chunk),
            (2, FrameKind::ToolCall),
            (50, FrameKind::ToolResult),
            (51, FrameKind::Chunk),
            (52, FrameKind::Done),
        ] {
            conversation.on_frame(&kind, t0 + MS * offset, &mut recorder);
        }
        // Only chunk→done (1 ms); the chunk after the tool result starts a new gap.
        let gaps = recorder.chunk_gap_histogram();
        assert_eq!((gaps.len(), max(gaps)), (1, 1000));
        assert_eq!(recorder.frames()[FrameKind::ToolCall.index()], 1);
        assert_eq!(recorder.frames()[FrameKind::ToolResult.index()], 1);
    }

    #[test]
    fn an_error_frame_ends_the_turn_and_counts_its_code() {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        let mut conversation = connected(t0, &mut recorder);
        conversation.start(t0, &mut recorder);
        let error = FrameKind::Error("RATE_LIMITED".into());
        assert_eq!(
            conversation.on_frame(&error, t0 + MS, &mut recorder),
            Step::TurnEnded
        );
        assert_eq!(recorder.turns_error(), 1);
        assert_eq!(recorder.error_codes().get("RATE_LIMITED"), Some(&1));
        assert!(recorder.turn_histogram().is_empty());
        // The next turn can start.
        assert!(conversation.start(t0 + MS * 2, &mut recorder));
    }

    #[test]
    fn frames_after_done_are_errors_even_when_handled_late() {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        let mut conversation = connected(t0, &mut recorder);
        conversation.start(t0 + MS * 10, &mut recorder);
        conversation.on_frame(&FrameKind::Done, t0 + MS * 12, &mut recorder);
        // Read after `done` while idle.
        let step = conversation.on_frame(&FrameKind::Chunk, t0 + MS * 13, &mut recorder);
        assert_eq!(step, Step::Continue);
        // Read before the next message (at 20 ms) but handled after it was sent: still stray,
        // and not this turn's first chunk.
        conversation.start(t0 + MS * 20, &mut recorder);
        conversation.on_frame(&FrameKind::Done, t0 + MS * 19, &mut recorder);
        assert!(conversation.in_turn());
        assert_eq!(recorder.failures().get(&Failure::FrameAfterDone), Some(&2));
        assert_eq!(recorder.first_chunk_histogram().len(), 1);
        conversation.on_frame(&FrameKind::Chunk, t0 + MS * 25, &mut recorder);
        assert_eq!(max(recorder.first_chunk_histogram()), 5000);
    }

    #[test]
    fn the_first_frame_must_be_connected() {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        let mut conversation = Conversation::opening(t0);
        assert!(!conversation.start(t0, &mut recorder));
        assert_eq!(
            conversation.on_frame(&FrameKind::Chunk, t0, &mut recorder),
            Step::Broken(Failure::NoConnected)
        );
        assert_eq!(recorder.turns(), 0);
    }

    #[test]
    fn anomalies_inside_a_turn_are_counted_without_ending_it() {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        let mut conversation = connected(t0, &mut recorder);
        conversation.start(t0, &mut recorder);
        for kind in [FrameKind::Connected, FrameKind::Bad, FrameKind::Other] {
            assert_eq!(
                conversation.on_frame(&kind, t0 + MS, &mut recorder),
                Step::Continue
            );
        }
        assert!(conversation.in_turn());
        assert_eq!(recorder.failures().get(&Failure::ConnectedAgain), Some(&1));
        assert_eq!(recorder.failures().get(&Failure::BadFrame), Some(&1));
        conversation.lose(t0 + MS * 2, &mut recorder);
        assert_eq!(recorder.turns_lost(), 1);
        assert!(!conversation.in_turn());
    }
}

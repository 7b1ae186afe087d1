//! The `ws-stream` report, as text and as JSON in the style of the `function` report (layout
//! `omnia-loadtest/1`, integer µs, the same latency summaries, and a `percentiles` array, of the
//! time to first chunk, so `plot` draws it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::frame::FrameKind;
use super::stream::Plan;
use super::stream_recorder::StreamRecorder;
use crate::recorder::micros;
use crate::report::{LatencySummary, PercentilePoint, SCHEMA, human_us, percentile_points};

/// What a `ws-stream` run measured, plus what was run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamReport {
    /// Layout version, `omnia-loadtest/1`.
    pub schema: String,
    /// Name of the run.
    pub label: String,
    /// `ws-stream`.
    pub scenario: String,
    /// URL connected to.
    pub target: String,
    /// Concurrent sessions (`-c`).
    pub sessions: u32,
    /// `--turns`, or `null` with `--duration`.
    pub turns_per_session: Option<u64>,
    /// `--duration`, or `null` with `--turns`.
    pub duration_us: Option<u64>,
    /// Generator runtime threads.
    pub threads: u16,
    /// Size of the `message` frame's payload.
    pub message_bytes: u64,
    /// `--timeout`.
    pub timeout_us: u64,
    /// First message sent → end of the last turn.
    pub measured_us: u64,
    /// Connections opened (up to `connected`).
    pub connections: u64,
    /// Messages sent.
    pub turns: u64,
    /// Turns ended by `done`.
    pub turns_ok: u64,
    /// Turns ended by an `error` frame.
    pub turns_error: u64,
    /// Turns ended by neither (timeout, connection lost).
    pub turns_lost: u64,
    /// `turns / measured`.
    pub turns_per_s: f64,
    /// Frames received, all kinds.
    pub frames: u64,
    /// `frames / measured`.
    pub frames_per_s: f64,
    /// Frames per kind: `connected`, `chunk`, `done`, `tool_call`, `tool_result`, `error`,
    /// `other`, `bad`.
    pub frames_by_type: BTreeMap<String, u64>,
    /// Everything in `errors_by_kind` and `errors_by_code`.
    pub errors: u64,
    /// Failures other than `error` frames (`connect_refused`, `handshake_401`, `timeout`,
    /// `close_1001`, `frame_after_done`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// `error` frames per `error.code`.
    pub errors_by_code: BTreeMap<String, u64>,
    /// TCP connect started → `connected` read.
    pub setup_us: LatencySummary,
    /// Message sent → first `chunk` (or `done` without chunks).
    pub first_chunk_us: LatencySummary,
    /// `chunk` → next `chunk` or `done` of the same turn.
    pub chunk_gap_us: LatencySummary,
    /// Message sent → `done`, turns ended by `done` only.
    pub turn_us: LatencySummary,
    /// The time-to-first-chunk distribution, as `plot` reads it.
    pub percentiles: Vec<PercentilePoint>,
}

/// Describes the run, for the report header.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Run name.
    pub label: String,
    /// Target URL.
    pub target: String,
    /// Sessions.
    pub sessions: u32,
    /// When sessions stop.
    pub plan: Plan,
    /// Generator threads.
    pub threads: u16,
    /// Message payload size.
    pub message_bytes: usize,
    /// Per-turn and connect timeout.
    pub timeout: Duration,
}

impl StreamReport {
    /// Builds the report of a finished run.
    pub fn new(info: StreamInfo, recorder: &StreamRecorder) -> Self {
        let measured = recorder.measured();
        let per_second = |count: u64| {
            let seconds = measured.as_secs_f64();
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        let frames: u64 = recorder.frames().iter().sum();
        let errors_by_kind: BTreeMap<String, u64> = recorder
            .failures()
            .iter()
            .map(|(failure, count)| (failure.label(), *count))
            .collect();
        let errors_by_code = recorder.error_codes().clone();
        let errors = errors_by_kind.values().sum::<u64>() + errors_by_code.values().sum::<u64>();
        Self {
            schema: SCHEMA.to_owned(),
            label: info.label,
            scenario: "ws-stream".to_owned(),
            target: info.target,
            sessions: info.sessions,
            turns_per_session: match info.plan {
                Plan::Turns(turns) => Some(turns),
                Plan::For(_) => None,
            },
            duration_us: match info.plan {
                Plan::For(duration) => Some(micros(duration)),
                Plan::Turns(_) => None,
            },
            threads: info.threads,
            message_bytes: u64::try_from(info.message_bytes).unwrap_or(u64::MAX),
            timeout_us: micros(info.timeout),
            measured_us: micros(measured),
            connections: recorder.setup_histogram().len(),
            turns: recorder.turns(),
            turns_ok: recorder.turns_ok(),
            turns_error: recorder.turns_error(),
            turns_lost: recorder.turns_lost(),
            turns_per_s: per_second(recorder.turns()),
            frames,
            frames_per_s: per_second(frames),
            frames_by_type: FrameKind::NAMES
                .iter()
                .zip(recorder.frames())
                .map(|(name, count)| ((*name).to_owned(), *count))
                .collect(),
            errors,
            errors_by_kind,
            errors_by_code,
            setup_us: LatencySummary::of(recorder.setup_histogram()),
            first_chunk_us: LatencySummary::of(recorder.first_chunk_histogram()),
            chunk_gap_us: LatencySummary::of(recorder.chunk_gap_histogram()),
            turn_us: LatencySummary::of(recorder.turn_histogram()),
            percentiles: percentile_points(recorder.first_chunk_histogram()),
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| format!("serialising the report: {e}"))
    }

    /// The report for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.label == self.target {
            let _ = writeln!(out, "{}  {}", self.scenario, self.target);
        } else {
            let _ = writeln!(out, "{}  {}  ({})", self.scenario, self.target, self.label);
        }
        let plan = match (self.turns_per_session, self.duration_us) {
            (Some(turns), _) => format!("{turns} turns each"),
            (None, Some(us)) => format!("for {}", human_us(us)),
            (None, None) => String::new(),
        };
        let threads = if self.threads == 1 {
            "1 thread".to_owned()
        } else {
            format!("{} threads", self.threads)
        };
        let _ = writeln!(
            out,
            "  sessions    {} ({plan}, {} B messages, {threads})",
            self.sessions, self.message_bytes
        );
        let _ = writeln!(
            out,
            "  time        {} from the first message to the end of the last turn",
            human_us(self.measured_us)
        );
        let _ = writeln!(
            out,
            "  turns       {} ({} done, {} error frames, {} lost)  {:.1} turns/s",
            self.turns, self.turns_ok, self.turns_error, self.turns_lost, self.turns_per_s
        );
        let kinds: Vec<String> = self
            .frames_by_type
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        let _ = writeln!(
            out,
            "  frames      {}{kinds}  {:.1} frames/s",
            self.frames, self.frames_per_s
        );
        let _ = writeln!(
            out,
            "  {:<16}{:>10}{:>10}{:>10}{:>10}",
            "µs", "count", "p50", "p99", "max"
        );
        for (name, summary) in [
            ("setup", &self.setup_us),
            ("first chunk", &self.first_chunk_us),
            ("chunk gap", &self.chunk_gap_us),
            ("turn", &self.turn_us),
        ] {
            let _ = writeln!(
                out,
                "  {name:<16}{:>10}{:>10}{:>10}{:>10}",
                summary.count,
                human_us(summary.p50),
                human_us(summary.p99),
                human_us(summary.max)
            );
        }
        if self.errors > 0 {
            let _ = writeln!(out, "  errors      {}", self.errors);
            for (kind, count) in &self.errors_by_kind {
                let _ = writeln!(out, "    {kind:<22}{count:>10}");
            }
            for (code, count) in &self.errors_by_code {
                let _ = writeln!(out, "    {:<22}{count:>10}", format!("error {code}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::ws::Failure;

    fn sample() -> StreamReport {
        let t0 = Instant::now();
        let mut recorder = StreamRecorder::new();
        recorder.setup(Duration::from_micros(800));
        recorder.frame(&FrameKind::Connected);
        for turn in 0..10u64 {
            let sent = t0 + Duration::from_millis(turn * 10);
            recorder.turn_sent(sent);
            recorder.frame(&FrameKind::Chunk);
            recorder.first_chunk(Duration::from_micros(300 + turn));
            recorder.frame(&FrameKind::Done);
            recorder.chunk_gap(Duration::from_micros(50));
            recorder.turn_done(Duration::from_micros(400), sent + Duration::from_millis(10));
        }
        recorder.fail(Failure::Refused(401));
        recorder.error_frame("RATE_LIMITED");
        let info = StreamInfo {
            label: "gw".into(),
            target: "ws://127.0.0.1:1/ws?agent=echo".into(),
            sessions: 1,
            plan: Plan::Turns(10),
            threads: 1,
            message_bytes: 36,
            timeout: Duration::from_secs(10),
        };
        StreamReport::new(info, &recorder)
    }

    #[test]
    fn json_has_the_documented_fields() {
        let report = sample();
        let value: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["scenario"], "ws-stream");
        assert_eq!(value["turns"], 10);
        assert_eq!(value["turns_ok"], 10);
        assert_eq!(value["frames"], 21);
        assert_eq!(value["frames_by_type"]["chunk"], 10);
        assert_eq!(value["frames_by_type"]["tool_call"], 0);
        assert_eq!(value["errors"], 2);
        assert_eq!(value["errors_by_kind"]["handshake_401"], 1);
        assert_eq!(value["errors_by_code"]["RATE_LIMITED"], 1);
        assert_eq!(value["first_chunk_us"]["max"], 309);
        assert_eq!(value["setup_us"]["p50"], 800);
        assert_eq!(value["measured_us"], 100_000);
        assert_eq!(value["turns_per_s"], 100.0);
        assert_eq!(value["duration_us"], serde_json::Value::Null);
        assert_eq!(value["percentiles"].as_array().map(Vec::len), Some(101));
        // `plot` reads these files too.
        let path = std::env::temp_dir().join(format!("ws-stream-{}.json", std::process::id()));
        std::fs::write(&path, report.to_json().unwrap()).unwrap();
        let series = crate::plot::load_runs(&[&path]).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(series.len(), 1);
    }

    #[test]
    fn text_has_the_rows_and_the_errors() {
        let text = sample().to_text();
        for needle in [
            "10 turns each",
            "10 (10 done, 0 error frames, 0 lost)",
            "first chunk",
            "chunk gap",
            "setup",
            "handshake_401",
            "error RATE_LIMITED",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}

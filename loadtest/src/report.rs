//! The run report: one struct rendered as text for people and as JSON for scripts.
//!
//! JSON field names are a stable interface (documented in README.md); `schema` changes if they
//! ever must. All times are integer microseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::recorder::{Recorder, micros};

/// Version tag of the JSON layout.
pub const SCHEMA: &str = "omnia-loadtest/1";

/// Points per decade of 1/(1-p) in `percentiles`: 20 gives a smooth curve from 0 to 99.999 %.
const POINTS_PER_DECADE: u32 = 20;
/// Decades of 1/(1-p) covered: 5 decades reach 99.999 %.
const DECADES: u32 = 5;

/// Everything a run measured, plus what was run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Layout version, `omnia-loadtest/1`.
    pub schema: String,
    /// Name of the run (plot legend).
    pub label: String,
    /// Scenario name, e.g. `function`.
    pub scenario: String,
    /// URL the requests went to.
    pub target: String,
    /// `closed` or `open`.
    pub model: String,
    /// `1.1` or `2`.
    pub http_version: String,
    /// Connections (closed: workers; open: concurrency cap).
    pub connections: u32,
    /// Open model: requests per second; `null` for closed.
    pub rate: Option<f64>,
    /// Generator runtime threads.
    pub threads: u16,
    /// Request body size in bytes, where the scenario has one.
    pub body_bytes: Option<u64>,
    /// Warm-up length (not measured), µs.
    pub warmup_us: u64,
    /// Requested measured period, µs.
    pub duration_us: u64,
    /// Actual measured period: end of warm-up to the last recorded reply, µs.
    pub measured_us: u64,
    /// Measured requests: replies of any status plus failures.
    pub requests: u64,
    /// Replies with status 2xx or 3xx.
    pub ok: u64,
    /// `requests - ok`.
    pub errors: u64,
    /// `requests / measured` (0 when nothing was measured).
    pub throughput_rps: f64,
    /// Replies per status code, all codes (`{"200": 9998, "500": 2}`).
    pub statuses: BTreeMap<String, u64>,
    /// Error replies per status code (1xx, 4xx, 5xx).
    pub errors_by_status: BTreeMap<String, u64>,
    /// Requests without a reply, per kind (`connect_refused`, `timeout`, `unsent`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Latency summary of replies, µs.
    pub latency_us: LatencySummary,
    /// The latency distribution: points from 0 % to 99.999 %, evenly spaced on log 1/(1-p).
    pub percentiles: Vec<PercentilePoint>,
    /// Open model only: how late requests were sent; `null` for closed.
    pub open: Option<OpenStats>,
}

/// Latency summary, µs (from an HDR histogram, 3 significant figures).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    /// Replies recorded.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// Largest.
    pub max: u64,
}

impl LatencySummary {
    /// The summary of a µs histogram (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            count: histogram.len(),
            min: if histogram.is_empty() {
                0
            } else {
                histogram.min()
            },
            mean: histogram.mean(),
            stdev: histogram.stdev(),
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            p99_9: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// The distribution as 101 points from 0 % to 99.999 %, evenly spaced on log 1/(1-p): the
/// `percentiles` array that `plot` draws.
pub fn percentile_points(histogram: &Histogram<u64>) -> Vec<PercentilePoint> {
    (0..=POINTS_PER_DECADE * DECADES)
        .map(|k| {
            let quantile = 1.0 - 10f64.powf(-f64::from(k) / f64::from(POINTS_PER_DECADE));
            PercentilePoint {
                // Rounded so the JSON reads 99.999 rather than 99.99900000000001.
                percentile: (quantile * 100.0 * 1e6).round() / 1e6,
                latency_us: histogram.value_at_quantile(quantile),
            }
        })
        .collect()
}

/// One point of the distribution.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PercentilePoint {
    /// Percentile, 0–100 (e.g. 99.9).
    pub percentile: f64,
    /// Latency at or below which that share of replies fell, µs.
    pub latency_us: u64,
}

/// Open-model send-lag statistics: a generator (or pool) that cannot keep up shows here.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct OpenStats {
    /// Requests sent more than `late_threshold_us` after their due time.
    pub late: u64,
    /// The threshold, µs.
    pub late_threshold_us: u64,
    /// Largest send lag, µs.
    pub max_lag_us: u64,
    /// Mean send lag, µs.
    pub mean_lag_us: u64,
    /// Due requests never sent before the run ended (also in `errors_by_kind.unsent`).
    pub unsent: u64,
}

/// Describes the run, for the report header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Run name.
    pub label: String,
    /// Scenario name.
    pub scenario: String,
    /// Target URL.
    pub target: String,
    /// Load model name.
    pub model: String,
    /// HTTP version label.
    pub http_version: String,
    /// Connections.
    pub connections: u32,
    /// Open-model rate.
    pub rate: Option<f64>,
    /// Generator threads.
    pub threads: u16,
    /// Body size.
    pub body_bytes: Option<u64>,
    /// Warm-up.
    pub warmup: Duration,
    /// Measured period requested.
    pub duration: Duration,
    /// Open-model late threshold.
    pub late_threshold: Duration,
}

impl Report {
    /// Builds the report of a finished run.
    pub fn new(info: RunInfo, recorder: &Recorder, measured: Duration) -> Self {
        let histogram = recorder.latency();
        let requests = recorder.requests();
        let seconds = measured.as_secs_f64();
        let throughput_rps = if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        };
        let latency_us = LatencySummary::of(histogram);
        let percentiles = percentile_points(histogram);
        let lag = recorder.lag();
        let unsent = recorder
            .failures()
            .find(|(kind, _)| *kind == crate::scenario::ErrorKind::Unsent)
            .map_or(0, |(_, count)| count);
        let open = info.rate.map(|_| OpenStats {
            late: lag.late,
            late_threshold_us: micros(info.late_threshold),
            max_lag_us: lag.max_us,
            mean_lag_us: lag.sum_us.checked_div(lag.count).unwrap_or(0),
            unsent,
        });
        Self {
            schema: SCHEMA.to_owned(),
            label: info.label,
            scenario: info.scenario,
            target: info.target,
            model: info.model,
            http_version: info.http_version,
            connections: info.connections,
            rate: info.rate,
            threads: info.threads,
            body_bytes: info.body_bytes,
            warmup_us: micros(info.warmup),
            duration_us: micros(info.duration),
            measured_us: micros(measured),
            requests,
            ok: recorder.ok(),
            errors: recorder.errors(),
            throughput_rps,
            statuses: recorder
                .statuses()
                .map(|(code, n)| (code.to_string(), n))
                .collect(),
            errors_by_status: recorder
                .error_statuses()
                .map(|(code, n)| (code.to_string(), n))
                .collect(),
            errors_by_kind: recorder
                .failures()
                .map(|(kind, n)| (kind.label().to_owned(), n))
                .collect(),
            latency_us,
            percentiles,
            open,
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| format!("serialising the report: {e}"))
    }

    /// The report for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let rate = self
            .rate
            .map_or(String::new(), |rate| format!("{rate} req/s, "));
        let threads = if self.threads == 1 {
            "1 thread".to_owned()
        } else {
            format!("{} threads", self.threads)
        };
        if self.label == self.target {
            let _ = writeln!(out, "{}  {}", self.scenario, self.target);
        } else {
            let _ = writeln!(out, "{}  {}  ({})", self.scenario, self.target, self.label);
        }
        let connections = match self.connections {
            1 => "1 connection".to_owned(),
            n => format!("{n} connections"),
        };
        let _ = writeln!(
            out,
            "  model       {} ({rate}{connections}, HTTP/{}, {threads})",
            self.model, self.http_version
        );
        let _ = writeln!(
            out,
            "  time        {} measured after {} warm-up",
            human_us(self.measured_us),
            human_us(self.warmup_us)
        );
        let _ = writeln!(
            out,
            "  requests    {} ({} ok, {} errors)",
            self.requests, self.ok, self.errors
        );
        let _ = writeln!(out, "  throughput  {:.1} req/s", self.throughput_rps);
        let l = &self.latency_us;
        let _ = writeln!(out, "  latency     ({} replies)", l.count);
        for (name, value) in [
            ("p50", l.p50),
            ("p90", l.p90),
            ("p99", l.p99),
            ("p99.9", l.p99_9),
            ("max", l.max),
        ] {
            let _ = writeln!(out, "    {name:<8}{:>12}", human_us(value));
        }
        let _ = writeln!(
            out,
            "    {:<8}{:>12}  (stdev {})",
            "mean",
            human_us(l.mean.round() as u64),
            human_us(l.stdev.round() as u64)
        );
        if self.errors > 0 {
            let _ = writeln!(out, "  errors");
            for (code, n) in &self.errors_by_status {
                let _ = writeln!(out, "    {:<18}{n:>10}", format!("HTTP {code}"));
            }
            for (kind, n) in &self.errors_by_kind {
                let _ = writeln!(out, "    {kind:<18}{n:>10}");
            }
        }
        if let Some(open) = &self.open {
            let _ = writeln!(
                out,
                "  send lag    {} late (> {}), max {}, mean {}, {} unsent",
                open.late,
                human_us(open.late_threshold_us),
                human_us(open.max_lag_us),
                human_us(open.mean_lag_us),
                open.unsent
            );
        }
        out
    }
}

/// `850 µs`, `12.3 ms`, `2.50 s`: three significant figures like the histogram.
pub fn human_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..10_000 => format!("{:.2} ms", us as f64 / 1e3),
        10_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ErrorKind, Outcome};

    fn sample() -> Report {
        let mut recorder = Recorder::new();
        for us in 1..=1000 {
            recorder.record(Duration::from_micros(us), &Outcome::Reply { status: 200 });
        }
        recorder.record(Duration::from_micros(5), &Outcome::Reply { status: 500 });
        recorder.record(Duration::ZERO, &Outcome::Failed(ErrorKind::ConnectRefused));
        recorder.record_lag(Duration::from_millis(2), Duration::from_millis(1));
        let info = RunInfo {
            label: "gateway".into(),
            scenario: "function".into(),
            target: "http://127.0.0.1:1/functions/echo".into(),
            model: "open".into(),
            http_version: "1.1".into(),
            connections: 4,
            rate: Some(100.0),
            threads: 1,
            body_bytes: Some(64),
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            late_threshold: Duration::from_millis(1),
        };
        Report::new(info, &recorder, Duration::from_secs(10))
    }

    #[test]
    fn text_has_the_percentile_lines_and_errors() {
        let text = sample().to_text();
        for line in [
            "p50",
            "p90",
            "p99 ",
            "p99.9",
            "max",
            "HTTP 500",
            "connect_refused",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("1002 (1000 ok, 2 errors)"), "{text}");
        assert!(text.contains("1 late"), "{text}");
    }

    #[test]
    fn json_has_the_documented_fields_and_round_trips() {
        let report = sample();
        let json = report.to_json().unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        for field in [
            "schema",
            "label",
            "scenario",
            "target",
            "model",
            "http_version",
            "connections",
            "rate",
            "threads",
            "body_bytes",
            "warmup_us",
            "duration_us",
            "measured_us",
            "requests",
            "ok",
            "errors",
            "throughput_rps",
            "statuses",
            "errors_by_status",
            "errors_by_kind",
            "latency_us",
            "percentiles",
            "open",
        ] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["latency_us"]["p50"], 500);
        assert_eq!(value["latency_us"]["p99_9"], 999);
        assert_eq!(value["errors_by_status"]["500"], 1);
        assert_eq!(value["errors_by_kind"]["connect_refused"], 1);
        assert_eq!(value["open"]["late"], 1);
        assert_eq!(value["open"]["max_lag_us"], 2000);
        let points = value["percentiles"].as_array().unwrap();
        assert_eq!(points.len(), 101);
        assert_eq!(points[0]["percentile"], 0.0);
        assert_eq!(points[100]["percentile"], 99.999);
        assert_eq!(points[60]["percentile"], 99.9);
        // Floats may differ in the last bit after a round trip; everything else is exact.
        let parsed: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.latency_us.p99, report.latency_us.p99);
        assert_eq!(parsed.errors_by_kind, report.errors_by_kind);
        assert_eq!(parsed.percentiles.len(), report.percentiles.len());
        assert_eq!(parsed.open, report.open);
    }

    #[test]
    fn humanised_times_keep_three_figures() {
        assert_eq!(human_us(850), "850 µs");
        assert_eq!(human_us(1_234), "1.23 ms");
        assert_eq!(human_us(12_345), "12.3 ms");
        assert_eq!(human_us(2_500_000), "2.50 s");
    }
}

//! The `ws-idle` report, as text and as JSON (layout `omnia-loadtest/1`, integer µs, memory in
//! KiB).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Failure;
use super::idle::IdleOutcome;
use super::rss::per_connection_kib;
use crate::recorder::micros;
use crate::report::{LatencySummary, SCHEMA, human_us};

/// What a `ws-idle` run measured, plus what was run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdleReport {
    /// Layout version, `omnia-loadtest/1`.
    pub schema: String,
    /// Name of the run.
    pub label: String,
    /// `ws-idle`.
    pub scenario: String,
    /// URL connected to.
    pub target: String,
    /// Connections asked for (`-c`).
    pub connections: u32,
    /// Most handshakes at once (`--concurrency`).
    pub concurrency: usize,
    /// `--hold`.
    pub hold_us: u64,
    /// How long the connections were actually held (shorter after Ctrl-C).
    pub held_us: u64,
    /// `--timeout`.
    pub timeout_us: u64,
    /// Generator runtime threads.
    pub threads: u16,
    /// The generator's descriptor limit after raising it (`null`: unknown or unlimited).
    pub fd_limit: Option<u64>,
    /// Connections that got `connected`.
    pub opened: u64,
    /// Connections that did not.
    pub open_failed: u64,
    /// First connect → last connection opened or failed.
    pub opening_us: u64,
    /// Open failures per kind (`no_descriptors`, `connect_refused`, `handshake_503`, ...).
    pub open_errors_by_kind: BTreeMap<String, u64>,
    /// TCP connect → `connected`, of the connections that opened.
    pub setup_us: LatencySummary,
    /// Connections still open at the end of the hold.
    pub held: u64,
    /// Connections that opened and ended before the hold did.
    pub dropped: u64,
    /// Dropped connections per kind (`close_1001`, `eof`, `reset`, ...).
    pub dropped_by_kind: BTreeMap<String, u64>,
    /// `open_failed + dropped`.
    pub errors: u64,
    /// Server pings answered.
    pub pings_answered: u64,
    /// Frames received after `connected`.
    pub frames: u64,
    /// The server's memory, with `--pid`; `null` without.
    pub rss: Option<RssReport>,
}

/// The server's resident memory (`VmRSS`), KiB.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RssReport {
    /// `--pid`.
    pub pid: u32,
    /// Before the first connect.
    pub before_kib: u64,
    /// Once every connection had opened or failed.
    pub after_open_kib: u64,
    /// At the end of the hold.
    pub end_kib: u64,
    /// `(after_open - before) / opened`; `null` if none opened.
    pub per_connection_kib: Option<f64>,
    /// `(end - before) / held`; `null` if none was held.
    pub per_connection_end_kib: Option<f64>,
}

/// Describes the run, for the report header.
#[derive(Debug, Clone)]
pub struct IdleInfo {
    /// Run name.
    pub label: String,
    /// Target URL.
    pub target: String,
    /// Connections asked for.
    pub connections: u32,
    /// Most handshakes at once.
    pub concurrency: usize,
    /// Hold asked for.
    pub hold: Duration,
    /// Per-connection open timeout.
    pub timeout: Duration,
    /// Generator threads.
    pub threads: u16,
    /// Descriptor limit in force.
    pub fd_limit: Option<u64>,
}

fn labelled(tally: &BTreeMap<Failure, u64>) -> BTreeMap<String, u64> {
    tally
        .iter()
        .map(|(failure, count)| (failure.label(), *count))
        .collect()
}

impl IdleReport {
    /// Builds the report of a finished run.
    pub fn new(info: IdleInfo, outcome: &IdleOutcome) -> Self {
        let opened = outcome.opened();
        let open_failed: u64 = outcome.open_failures.values().sum();
        let dropped: u64 = outcome.dropped.values().sum();
        let rss = outcome.rss.map(|samples| RssReport {
            pid: samples.pid,
            before_kib: samples.before,
            after_open_kib: samples.after_open,
            end_kib: samples.end,
            per_connection_kib: per_connection_kib(samples.before, samples.after_open, opened),
            per_connection_end_kib: per_connection_kib(samples.before, samples.end, outcome.held),
        });
        Self {
            schema: SCHEMA.to_owned(),
            label: info.label,
            scenario: "ws-idle".to_owned(),
            target: info.target,
            connections: info.connections,
            concurrency: info.concurrency,
            hold_us: micros(info.hold),
            held_us: micros(outcome.held_for),
            timeout_us: micros(info.timeout),
            threads: info.threads,
            fd_limit: info.fd_limit,
            opened,
            open_failed,
            opening_us: micros(outcome.opening),
            open_errors_by_kind: labelled(&outcome.open_failures),
            setup_us: LatencySummary::of(&outcome.setup),
            held: outcome.held,
            dropped,
            dropped_by_kind: labelled(&outcome.dropped),
            errors: open_failed + dropped,
            pings_answered: outcome.pings,
            frames: outcome.frames,
            rss,
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| format!("serialising the report: {e}"))
    }

    /// Connections that failed for lack of file descriptors on the generator.
    pub fn no_descriptors(&self) -> u64 {
        self.open_errors_by_kind
            .get(&Failure::NoDescriptors.label())
            .copied()
            .unwrap_or(0)
    }

    /// The report for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.label == self.target {
            let _ = writeln!(out, "{}  {}", self.scenario, self.target);
        } else {
            let _ = writeln!(out, "{}  {}  ({})", self.scenario, self.target, self.label);
        }
        let fd_limit = self
            .fd_limit
            .map_or_else(|| "unknown".to_owned(), |limit| limit.to_string());
        let threads = if self.threads == 1 {
            "1 thread".to_owned()
        } else {
            format!("{} threads", self.threads)
        };
        let _ = writeln!(
            out,
            "  connections {} asked, {} handshakes at a time, {threads}, fd limit {fd_limit}",
            self.connections, self.concurrency
        );
        let s = &self.setup_us;
        let _ = writeln!(
            out,
            "  opened      {} in {} ({} failed); setup p50 {}, p99 {}, max {}",
            self.opened,
            human_us(self.opening_us),
            self.open_failed,
            human_us(s.p50),
            human_us(s.p99),
            human_us(s.max)
        );
        let _ = writeln!(
            out,
            "  held        {} for {} ({} dropped), {} pings answered, {} frames after connected",
            self.held,
            human_us(self.held_us),
            self.dropped,
            self.pings_answered,
            self.frames
        );
        if let Some(rss) = &self.rss {
            let per = |value: Option<f64>| {
                value.map_or_else(
                    || "n/a".to_owned(),
                    |kib| format!("{kib:.1} KiB/connection"),
                )
            };
            let _ = writeln!(
                out,
                "  server RSS  pid {}: {} KiB before, {} KiB all open ({}), {} KiB at the end ({})",
                rss.pid,
                rss.before_kib,
                rss.after_open_kib,
                per(rss.per_connection_kib),
                rss.end_kib,
                per(rss.per_connection_end_kib)
            );
        }
        if self.errors > 0 {
            let _ = writeln!(out, "  errors      {}", self.errors);
            for (kind, count) in &self.open_errors_by_kind {
                let _ = writeln!(out, "    {kind:<22}{count:>10}  (opening)");
            }
            for (kind, count) in &self.dropped_by_kind {
                let _ = writeln!(out, "    {kind:<22}{count:>10}  (during the hold)");
            }
        }
        let no_descriptors = self.no_descriptors();
        if no_descriptors > 0 {
            let _ = writeln!(
                out,
                "  {no_descriptors} connections failed because this process ran out of file \
                 descriptors (EMFILE/ENFILE; limit {fd_limit}). Raise the hard limit \
                 (`ulimit -Hn`, /etc/security/limits.conf) or the system's (fs.file-max)."
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::histogram;
    use crate::ws::idle::RssSamples;

    fn sample() -> IdleReport {
        let mut setup = histogram();
        for us in [900, 1000, 1100] {
            setup.saturating_record(us);
        }
        let outcome = IdleOutcome {
            setup,
            open_failures: BTreeMap::from([(Failure::NoDescriptors, 2)]),
            opening: Duration::from_millis(20),
            held_for: Duration::from_secs(1),
            held: 2,
            dropped: BTreeMap::from([(Failure::Closed(Some(1001)), 1)]),
            pings: 3,
            frames: 0,
            rss: Some(RssSamples {
                pid: 42,
                before: 10_000,
                after_open: 10_300,
                end: 10_200,
            }),
        };
        let info = IdleInfo {
            label: "ws://h/ws?agent=a".into(),
            target: "ws://h/ws?agent=a".into(),
            connections: 5,
            concurrency: 200,
            hold: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            threads: 1,
            fd_limit: Some(1024),
        };
        IdleReport::new(info, &outcome)
    }

    #[test]
    fn json_has_counts_and_memory_per_connection() {
        let value: serde_json::Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
        assert_eq!(value["scenario"], "ws-idle");
        assert_eq!(value["opened"], 3);
        assert_eq!(value["open_failed"], 2);
        assert_eq!(value["open_errors_by_kind"]["no_descriptors"], 2);
        assert_eq!(value["dropped_by_kind"]["close_1001"], 1);
        assert_eq!(value["errors"], 3);
        assert_eq!(value["held"], 2);
        assert_eq!(value["setup_us"]["max"], 1100);
        assert_eq!(value["rss"]["per_connection_kib"], 100.0);
        assert_eq!(value["rss"]["per_connection_end_kib"], 100.0);
        assert_eq!(value["fd_limit"], 1024);
    }

    #[test]
    fn text_says_when_descriptors_ran_out() {
        let text = sample().to_text();
        for needle in [
            "opened      3",
            "(1 dropped)",
            "100.0 KiB/connection",
            "no_descriptors",
            "ran out of file descriptors",
            "ulimit -Hn",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}

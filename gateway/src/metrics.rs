//! Prometheus metrics with Omnia's names (DESIGN.md 4.7), lock-free on the request path.
//!
//! Every label set is known at start-up (one per served agent plus one for requests that match
//! no agent), so each request updates pre-resolved atomics: no map insert, no mutex.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the request-duration histogram, in seconds: 1 ms to 2 min, LLM-shaped.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

/// Status classes counted separately (1xx..5xx).
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The counters of one agent (or of unrouted requests).
#[derive(Debug)]
pub struct AgentMetrics {
    agent: String,
    namespace: String,
    inflight: AtomicI64,
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl AgentMetrics {
    fn new(agent: &str, namespace: &str) -> Self {
        Self {
            agent: agent.to_owned(),
            namespace: namespace.to_owned(),
            inflight: AtomicI64::new(0),
            by_class: Default::default(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// A request started; the guard keeps it counted in flight until it is dropped, so a call
    /// abandoned by its client still leaves the gauge.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    /// Records a finished request with `status` after `elapsed`.
    fn record(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Relaxed);
    }
}

/// A request in flight; see [`AgentMetrics::start`].
#[derive(Debug)]
pub struct InFlight(Arc<AgentMetrics>);

impl InFlight {
    /// The request finished with `status` after `elapsed`.
    pub fn finish(self, status: u16, elapsed: Duration) {
        self.0.record(status, elapsed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Relaxed);
    }
}

/// All gateway metrics.
#[derive(Debug)]
pub struct Metrics {
    agents: HashMap<String, Arc<AgentMetrics>>,
    unrouted: Arc<AgentMetrics>,
    connections_active: AtomicI64,
    connections_total: AtomicU64,
}

impl Metrics {
    /// Metrics for these `(agent, namespace)` pairs.
    pub fn new<'a>(agents: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            agents: agents
                .into_iter()
                .map(|(name, ns)| (name.to_owned(), Arc::new(AgentMetrics::new(name, ns))))
                .collect(),
            unrouted: Arc::new(AgentMetrics::new("", "")),
            connections_active: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
        }
    }

    /// The counters for `agent`, or the unrouted ones.
    pub fn agent(&self, agent: Option<&str>) -> &Arc<AgentMetrics> {
        agent
            .and_then(|name| self.agents.get(name))
            .unwrap_or(&self.unrouted)
    }

    /// A client connection opened.
    pub fn connection_opened(&self) {
        self.connections_active.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    /// A client connection closed.
    pub fn connection_closed(&self) {
        self.connections_active.fetch_sub(1, Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut agents: Vec<&Arc<AgentMetrics>> = self.agents.values().collect();
        agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        agents.push(&self.unrouted);

        header(
            &mut out,
            "omnia_agent_connections_active",
            "gauge",
            "Open client connections.",
        );
        let _ = writeln!(
            out,
            "omnia_agent_connections_active {}",
            self.connections_active.load(Relaxed)
        );
        header(
            &mut out,
            "omnia_agent_connections_total",
            "counter",
            "Client connections accepted.",
        );
        let _ = writeln!(
            out,
            "omnia_agent_connections_total {}",
            self.connections_total.load(Relaxed)
        );
        header(
            &mut out,
            "omnia_agent_sessions_active",
            "gauge",
            "Active conversation sessions.",
        );
        let _ = writeln!(out, "omnia_agent_sessions_active 0");

        header(
            &mut out,
            "omnia_agent_requests_inflight",
            "gauge",
            "Requests being served.",
        );
        for m in &agents {
            let _ = writeln!(
                out,
                "omnia_agent_requests_inflight{{{}}} {}",
                labels(m),
                m.inflight.load(Relaxed)
            );
        }
        header(
            &mut out,
            "omnia_agent_requests_total",
            "counter",
            "Requests served, by status class.",
        );
        for m in &agents {
            for (class, counter) in CLASSES.iter().zip(&m.by_class) {
                let n = counter.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "omnia_agent_requests_total{{{},status=\"{class}\"}} {n}",
                        labels(m)
                    );
                }
            }
        }
        header(
            &mut out,
            "omnia_agent_request_duration_seconds",
            "histogram",
            "Request latency.",
        );
        for m in &agents {
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&m.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(
                    out,
                    "omnia_agent_request_duration_seconds_bucket{{{},le=\"{bound}\"}} {cumulative}",
                    labels(m)
                );
            }
            let count = m.count.load(Relaxed);
            let sum = m.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "omnia_agent_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {count}",
                labels(m)
            );
            let _ = writeln!(
                out,
                "omnia_agent_request_duration_seconds_sum{{{}}} {sum}",
                labels(m)
            );
            let _ = writeln!(
                out,
                "omnia_agent_request_duration_seconds_count{{{}}} {count}",
                labels(m)
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labels(m: &AgentMetrics) -> String {
    format!("agent=\"{}\",namespace=\"{}\"", m.agent, m.namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_status_classes_and_histogram_per_agent() {
        let metrics = Metrics::new([("echo", "default")]);
        let echo = metrics.agent(Some("echo"));
        echo.start().finish(200, Duration::from_millis(3));
        let abandoned = echo.start();
        echo.start().finish(502, Duration::from_millis(40));
        assert_eq!(echo.inflight.load(Relaxed), 1);
        drop(abandoned);
        metrics
            .agent(Some("nope"))
            .start()
            .finish(404, Duration::from_micros(10));
        let text = metrics.render();
        assert!(
            text.contains(
                "omnia_agent_requests_total{agent=\"echo\",namespace=\"default\",status=\"2xx\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "omnia_agent_requests_total{agent=\"echo\",namespace=\"default\",status=\"5xx\"} 1"
        ));
        assert!(
            text.contains("omnia_agent_requests_total{agent=\"\",namespace=\"\",status=\"4xx\"} 1")
        );
        assert!(text.contains("omnia_agent_request_duration_seconds_bucket{agent=\"echo\",namespace=\"default\",le=\"0.005\"} 1"));
        assert!(text.contains(
            "omnia_agent_request_duration_seconds_count{agent=\"echo\",namespace=\"default\"} 2"
        ));
        assert!(
            text.contains("omnia_agent_requests_inflight{agent=\"echo\",namespace=\"default\"} 0")
        );
    }

    #[test]
    fn counts_connections() {
        let metrics = Metrics::new([]);
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        let text = metrics.render();
        assert!(text.contains("omnia_agent_connections_active 1"));
        assert!(text.contains("omnia_agent_connections_total 2"));
    }
}

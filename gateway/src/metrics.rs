//! Prometheus metrics with Omnia's names, labels and buckets (DESIGN.md 4.7), so dashboards and
//! KEDA queries built for Omnia's facade work unchanged; lock-free on the request path.
//!
//! Omnia runs one agent per pod and stamps `agent` and `namespace` on every series as constant
//! labels. One gateway serves several agents, so every label set is known at start-up (one per
//! served agent) and each request updates pre-resolved atomics: no map insert, no mutex.
//!
//! A request is counted under an agent once it is routed to one (its path names a served
//! function). Requests that match no agent get no `agent` label at all, so no `agent=""` series
//! ever appears: they are counted in `omnia_gateway_unrouted_requests_total`, a name of our own.
//!
//! A client connection is counted under an agent (`omnia_agent_connections_*`) from the first
//! request on it routed to that agent until it closes. A connection that has carried no routed
//! request is counted under no agent; one that carried calls for two agents counts under both,
//! so summing the gauge across agents can exceed the number of TCP connections.
//!
//! Connections refused at the connection cap are counted in
//! `omnia_gateway_connections_refused_total`, a name of our own (no agent: they carried nothing).

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use omnia_middleware::ResponseBody;
use tower::Service;

/// Upper bounds of `omnia_agent_request_duration_seconds`, exactly Omnia's. Finer buckets would
/// add `le` series Omnia's panels do not expect and shift their `histogram_quantile` results;
/// a function call is an LLM call, so sub-100 ms resolution would only describe fast refusals.
const BUCKETS: [f64; 9] = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0];

/// The `handler` label of the duration histogram. Omnia names the facade handler that served
/// the request (`runtime`, `demo`, `echo`); every function call is served by the runtime.
const HANDLER: &str = "runtime";

/// Status classes (1xx..5xx): the extra `status_class` label, and the unrouted counter's label.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Omnia's `status` label value for a status class index: 4xx and 5xx are errors.
fn outcome(class: usize) -> &'static str {
    if class >= 3 { "error" } else { "success" }
}

/// The counters of one served agent.
#[derive(Debug)]
struct AgentMetrics {
    /// `agent="..",namespace=".."`, escaped once at start-up.
    labels: String,
    connections_active: AtomicI64,
    connections_total: AtomicU64,
    inflight: AtomicI64,
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl AgentMetrics {
    fn new(agent: &str, namespace: &str) -> Self {
        Self {
            labels: format!(
                "agent=\"{}\",namespace=\"{}\"",
                escape(agent),
                escape(namespace)
            ),
            connections_active: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            inflight: AtomicI64::new(0),
            by_class: Default::default(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn record(&self, class: usize, elapsed: Duration) {
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

/// All gateway metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Sorted by agent name (the exposition order); an agent's index is its id.
    agents: Vec<AgentMetrics>,
    by_name: HashMap<String, usize>,
    unrouted: [AtomicU64; 5],
    connections_refused: AtomicU64,
}

impl Metrics {
    /// Metrics for these `(agent, namespace)` pairs; a repeated agent name is counted once.
    pub fn new<'a>(agents: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut pairs: Vec<(&str, &str)> = agents.into_iter().collect();
        pairs.sort_unstable_by_key(|&(name, _)| name);
        pairs.dedup_by_key(|&mut (name, _)| name);
        Self {
            agents: pairs
                .iter()
                .map(|&(name, ns)| AgentMetrics::new(name, ns))
                .collect(),
            by_name: pairs
                .iter()
                .enumerate()
                .map(|(i, &(name, _))| (name.to_owned(), i))
                .collect(),
            unrouted: Default::default(),
            connections_refused: AtomicU64::new(0),
        }
    }

    /// A connection was closed at accept because the listener had its maximum open.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    /// A request started for `agent` (the name in its path, if any) on `connection`; the guard
    /// keeps it in flight until dropped, so a call abandoned by its client still leaves the gauge.
    pub fn start(
        self: &Arc<Self>,
        agent: Option<&str>,
        connection: Option<&Connection>,
    ) -> InFlight {
        let agent = agent.and_then(|name| self.by_name.get(name).copied());
        if let Some(i) = agent {
            self.agents[i].inflight.fetch_add(1, Relaxed);
            if let Some(connection) = connection {
                connection.0.serves(i);
            }
        }
        InFlight {
            metrics: self.clone(),
            agent,
        }
    }

    /// A client connection opened. It counts under each agent it carries a request for, from
    /// that request until the last clone of the returned handle is dropped.
    pub fn connection(self: &Arc<Self>) -> Connection {
        Connection(Arc::new(ConnectionState {
            metrics: self.clone(),
            served: (0..self.agents.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }))
    }

    /// The Prometheus text exposition (format 0.0.4). Label names are in Go's client order
    /// (sorted, `le` last), so the text reads like Omnia's own.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024 + 2048 * self.agents.len());
        self.render_gauges(&mut out);
        self.render_requests(&mut out);
        self.render_durations(&mut out);
        header(
            &mut out,
            "omnia_gateway_unrouted_requests_total",
            "counter",
            "Requests whose path names no served agent, by status class.",
        );
        for (class, counter) in CLASSES.iter().zip(&self.unrouted) {
            let n = counter.load(Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "omnia_gateway_unrouted_requests_total{{status_class=\"{class}\"}} {n}"
                );
            }
        }
        self.render_refused(&mut out);
        out
    }

    fn render_refused(&self, out: &mut String) {
        const NAME: &str = "omnia_gateway_connections_refused_total";
        header(
            out,
            NAME,
            "counter",
            "Connections closed at accept because the listener had its maximum open.",
        );
        let _ = writeln!(out, "{NAME} {}", self.connections_refused.load(Relaxed));
    }

    fn render_gauges(&self, out: &mut String) {
        self.per_agent(
            out,
            ("omnia_agent_connections_active", "gauge"),
            "Open client connections that carried a request for the agent.",
            |m| m.connections_active.load(Relaxed),
        );
        self.per_agent(
            out,
            ("omnia_agent_connections_total", "counter"),
            "Client connections that carried a request for the agent.",
            |m| i64::try_from(m.connections_total.load(Relaxed)).unwrap_or(i64::MAX),
        );
        self.per_agent(
            out,
            ("omnia_agent_sessions_active", "gauge"),
            "Active conversation sessions (function calls have none).",
            |_| 0,
        );
        self.per_agent(
            out,
            ("omnia_agent_requests_inflight", "gauge"),
            "Requests being served.",
            |m| m.inflight.load(Relaxed),
        );
    }

    /// One sample per agent, with only the agent's labels.
    fn per_agent(
        &self,
        out: &mut String,
        (name, kind): (&str, &str),
        help: &str,
        value: impl Fn(&AgentMetrics) -> i64,
    ) {
        header(out, name, kind, help);
        for m in &self.agents {
            let _ = writeln!(out, "{name}{{{}}} {}", m.labels, value(m));
        }
    }

    fn render_requests(&self, out: &mut String) {
        header(
            out,
            "omnia_agent_requests_total",
            "counter",
            "Requests served: status is success or error; status_class is the HTTP status class.",
        );
        for m in &self.agents {
            for (class, counter) in m.by_class.iter().enumerate() {
                let n = counter.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "omnia_agent_requests_total{{{},status=\"{}\",status_class=\"{}\"}} {n}",
                        m.labels,
                        outcome(class),
                        CLASSES[class]
                    );
                }
            }
        }
    }

    fn render_durations(&self, out: &mut String) {
        const NAME: &str = "omnia_agent_request_duration_seconds";
        header(out, NAME, "histogram", "Request duration in seconds.");
        for m in &self.agents {
            // `agent` < `handler` < `namespace`, as Go's client sorts them.
            let labels = m.labels.replacen(
                ",namespace=",
                &format!(",handler=\"{HANDLER}\",namespace="),
                1,
            );
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&m.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(out, "{NAME}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let count = m.count.load(Relaxed);
            let sum = m.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{NAME}_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{NAME}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{NAME}_count{{{labels}}} {count}");
        }
    }
}

/// A request in flight; see [`Metrics::start`].
#[derive(Debug)]
pub struct InFlight {
    metrics: Arc<Metrics>,
    agent: Option<usize>,
}

impl InFlight {
    /// The request finished with `status` after `elapsed`.
    pub fn finish(self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        match self.agent {
            Some(i) => self.metrics.agents[i].record(class, elapsed),
            None => {
                self.metrics.unrouted[class].fetch_add(1, Relaxed);
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(i) = self.agent {
            self.metrics.agents[i].inflight.fetch_sub(1, Relaxed);
        }
    }
}

/// One client connection, in each of its requests' extensions; clones share it.
#[derive(Debug, Clone)]
pub struct Connection(Arc<ConnectionState>);

#[derive(Debug)]
struct ConnectionState {
    metrics: Arc<Metrics>,
    /// Bit `i` is set once the connection has carried a request for agent `i`.
    served: Box<[AtomicU64]>,
}

impl ConnectionState {
    fn serves(&self, agent: usize) {
        let (Some(word), bit) = (self.served.get(agent / 64), 1u64 << (agent % 64)) else {
            return;
        };
        // The plain load keeps later requests on a known connection free of a read-modify-write.
        if word.load(Relaxed) & bit == 0 && word.fetch_or(bit, Relaxed) & bit == 0 {
            let m = &self.metrics.agents[agent];
            m.connections_active.fetch_add(1, Relaxed);
            m.connections_total.fetch_add(1, Relaxed);
        }
    }
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        for (w, word) in self.served.iter().enumerate() {
            let mut bits = word.load(Relaxed);
            while bits != 0 {
                let agent = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(m) = self.metrics.agents.get(agent) {
                    m.connections_active.fetch_sub(1, Relaxed);
                }
            }
        }
    }
}

/// Serves one connection's requests, putting its [`Connection`] (if counted) in each request's
/// extensions for the metrics layer to find.
#[derive(Debug, Clone)]
pub struct CountConnection<S> {
    inner: S,
    connection: Option<Connection>,
}

impl<S> CountConnection<S> {
    /// `inner`, serving the requests of `connection`.
    pub fn new(inner: S, connection: Option<Connection>) -> Self {
        Self { inner, connection }
    }
}

impl<S, B> Service<Request<B>> for CountConnection<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(connection) = &self.connection {
            request.extensions_mut().insert(connection.clone());
        }
        self.inner.call(request)
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format needs it (names are DNS labels, but say so in one place).
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn requests_are_counted_as_success_or_error_with_the_status_class() {
        let metrics = Arc::new(Metrics::new([("echo", "default")]));
        metrics
            .start(Some("echo"), None)
            .finish(200, Duration::from_millis(3));
        metrics
            .start(Some("echo"), None)
            .finish(400, Duration::from_millis(1));
        metrics
            .start(Some("echo"), None)
            .finish(502, Duration::from_millis(700));
        let text = metrics.render();
        assert_eq!(
            series(&text, "omnia_agent_requests_total{"),
            [
                r#"omnia_agent_requests_total{agent="echo",namespace="default",status="success",status_class="2xx"} 1"#,
                r#"omnia_agent_requests_total{agent="echo",namespace="default",status="error",status_class="4xx"} 1"#,
                r#"omnia_agent_requests_total{agent="echo",namespace="default",status="error",status_class="5xx"} 1"#,
            ]
        );
    }

    #[test]
    fn durations_use_omnias_buckets_and_the_runtime_handler() {
        let metrics = Arc::new(Metrics::new([("echo", "default")]));
        metrics
            .start(Some("echo"), None)
            .finish(200, Duration::from_millis(50));
        metrics
            .start(Some("echo"), None)
            .finish(200, Duration::from_millis(700));
        metrics
            .start(Some("echo"), None)
            .finish(200, Duration::from_secs(200));
        let text = metrics.render();
        let labels = r#"agent="echo",handler="runtime",namespace="default""#;
        let expected: Vec<String> = [
            ("0.1", 1),
            ("0.5", 1),
            ("1", 2),
            ("2", 2),
            ("5", 2),
            ("10", 2),
            ("30", 2),
            ("60", 2),
            ("120", 2),
            ("+Inf", 3),
        ]
        .iter()
        .map(|(le, n)| {
            format!("omnia_agent_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}")
        })
        .chain([
            format!("omnia_agent_request_duration_seconds_sum{{{labels}}} 200.75"),
            format!("omnia_agent_request_duration_seconds_count{{{labels}}} 3"),
        ])
        .collect();
        assert_eq!(
            series(&text, "omnia_agent_request_duration_seconds_"),
            expected
        );
    }

    #[test]
    fn in_flight_counts_until_the_guard_is_dropped() {
        let metrics = Arc::new(Metrics::new([("echo", "default")]));
        let abandoned = metrics.start(Some("echo"), None);
        assert!(
            metrics.render().contains(
                "omnia_agent_requests_inflight{agent=\"echo\",namespace=\"default\"} 1\n"
            )
        );
        drop(abandoned);
        assert!(
            metrics.render().contains(
                "omnia_agent_requests_inflight{agent=\"echo\",namespace=\"default\"} 0\n"
            )
        );
    }

    #[test]
    fn unrouted_requests_never_make_an_empty_agent_series() {
        let metrics = Arc::new(Metrics::new([("echo", "default")]));
        let connection = metrics.connection();
        metrics
            .start(Some("nope"), Some(&connection))
            .finish(404, Duration::from_micros(10));
        metrics
            .start(None, Some(&connection))
            .finish(404, Duration::from_micros(10));
        let text = metrics.render();
        assert!(!text.contains("agent=\"\""), "{text}");
        assert!(
            text.contains("\nomnia_gateway_unrouted_requests_total{status_class=\"4xx\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nomnia_agent_connections_total{agent=\"echo\",namespace=\"default\"} 0\n"
            ),
            "{text}"
        );
        assert!(series(&text, "omnia_agent_requests_total{").is_empty());
    }

    #[test]
    fn a_connection_counts_once_under_each_agent_it_serves_until_it_closes() {
        let metrics = Arc::new(Metrics::new([("a", "ns1"), ("b", "ns2")]));
        let gauges = |metrics: &Metrics| {
            let text = metrics.render();
            (
                series(&text, "omnia_agent_connections_active{"),
                series(&text, "omnia_agent_connections_total{"),
            )
        };
        let connection = metrics.connection();
        let other = metrics.connection();
        for _ in 0..3 {
            metrics
                .start(Some("a"), Some(&connection.clone()))
                .finish(200, Duration::ZERO);
        }
        metrics
            .start(Some("b"), Some(&connection))
            .finish(200, Duration::ZERO);
        metrics
            .start(Some("a"), Some(&other))
            .finish(200, Duration::ZERO);
        assert_eq!(
            gauges(&metrics),
            (
                vec![
                    r#"omnia_agent_connections_active{agent="a",namespace="ns1"} 2"#.to_owned(),
                    r#"omnia_agent_connections_active{agent="b",namespace="ns2"} 1"#.to_owned(),
                ],
                vec![
                    r#"omnia_agent_connections_total{agent="a",namespace="ns1"} 2"#.to_owned(),
                    r#"omnia_agent_connections_total{agent="b",namespace="ns2"} 1"#.to_owned(),
                ],
            )
        );
        drop(connection);
        drop(other);
        let (active, total) = gauges(&metrics);
        assert_eq!(
            active,
            [
                r#"omnia_agent_connections_active{agent="a",namespace="ns1"} 0"#,
                r#"omnia_agent_connections_active{agent="b",namespace="ns2"} 0"#,
            ]
        );
        assert_eq!(
            total[0],
            r#"omnia_agent_connections_total{agent="a",namespace="ns1"} 2"#
        );
    }

    #[test]
    fn connections_track_agents_beyond_the_first_64() {
        let names: Vec<String> = (0..70).map(|i| format!("agent-{i:02}")).collect();
        let metrics = Arc::new(Metrics::new(names.iter().map(|n| (n.as_str(), "ns"))));
        let connection = metrics.connection();
        metrics
            .start(Some("agent-69"), Some(&connection))
            .finish(200, Duration::ZERO);
        let line = r#"omnia_agent_connections_active{agent="agent-69",namespace="ns"} "#;
        assert!(metrics.render().contains(&format!("{line}1\n")));
        drop(connection);
        assert!(metrics.render().contains(&format!("{line}0\n")));
    }

    #[test]
    fn refused_connections_are_counted_from_zero() {
        let metrics = Metrics::new([("echo", "default")]);
        assert!(
            metrics
                .render()
                .contains("\nomnia_gateway_connections_refused_total 0\n")
        );
        metrics.connection_refused();
        metrics.connection_refused();
        assert!(
            metrics
                .render()
                .contains("\nomnia_gateway_connections_refused_total 2\n")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new([("a\"b", "n\\s")]);
        assert!(
            metrics
                .render()
                .contains(r#"omnia_agent_sessions_active{agent="a\"b",namespace="n\\s"} 0"#)
        );
    }
}

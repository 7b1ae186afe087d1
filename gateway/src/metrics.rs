//! Prometheus metrics with Omnia's names, labels and buckets (DESIGN.md 4.7), so dashboards and
//! KEDA queries built for Omnia's facade work unchanged; lock-free on the request path.
//!
//! Omnia runs one agent per pod and stamps `agent` and `namespace` on every series as constant
//! labels. One gateway serves several agents, so every label set is known at start-up (one per
//! served agent) and each request updates pre-resolved atomics: no map insert, no mutex.
//! `prometheus-client` writes the text (format 0.0.4, label values escaped): its counters and
//! gauges are those atomics, and a [`Collector`] walks them at scrape time instead of a `Family`,
//! whose lookups lock and whose series would all show from start-up. Its `Histogram` takes a
//! mutex per observation, so the duration histogram is ours, made of atomics, and only encoded
//! by the crate.
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
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use omnia_middleware::ResponseBody;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tower::Service;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of `omnia_agent_request_duration_seconds`, exactly Omnia's. Finer buckets would
/// add `le` series Omnia's panels do not expect and shift their `histogram_quantile` results;
/// a function call is an LLM call, so sub-100 ms resolution would only describe fast refusals.
const BUCKETS: [f64; 9] = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0];

/// The `handler` label of a function's duration histogram. Omnia names the facade handler that
/// served the request (`runtime`, `demo`, `echo`); every function call is served by the runtime.
/// A WebSocket agent's label is its own handler's name.
const FUNCTION_HANDLER: &str = "runtime";

/// Status classes (1xx..5xx): the extra `status_class` label, and the unrouted counter's label.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Omnia's `status` label value for a status class index: 4xx and 5xx are errors.
fn outcome(class: usize) -> &'static str {
    if class >= 3 { "error" } else { "success" }
}

/// A fixed-bucket histogram of atomics (see the module docs for why not the crate's).
#[derive(Debug, Default)]
struct Durations {
    /// Per-bucket (not cumulative) counts; the encoder accumulates them.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Durations {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Relaxed);
    }
}

impl EncodeMetric for Durations {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        let buckets: [(f64, u64); BUCKETS.len()] =
            std::array::from_fn(|i| (BUCKETS[i], self.buckets[i].load(Relaxed)));
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        // The `+Inf` bucket is the count, written by the encoder.
        encoder.encode_histogram::<NoLabelSet>(sum, self.count.load(Relaxed), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The series of one served agent.
#[derive(Debug)]
struct AgentMetrics {
    name: String,
    namespace: String,
    /// `runtime` for a function; a WebSocket agent's handler (`echo`, `demo`, `runtime`).
    handler: &'static str,
    /// Served over WebSocket: sessions, messages and turns are counted too.
    websocket: bool,
    connections_active: Gauge,
    connections_total: Counter,
    inflight: Gauge,
    by_class: [Counter; 5],
    /// WebSocket turns by outcome: success, error (no HTTP status to class them by).
    turns: [Counter; 2],
    sessions_active: Gauge,
    messages_received: Counter,
    messages_sent: Counter,
    durations: Durations,
}

impl AgentMetrics {
    fn new(agent: &Served<'_>) -> Self {
        Self {
            name: agent.name.to_owned(),
            namespace: agent.namespace.to_owned(),
            handler: agent.handler.unwrap_or(FUNCTION_HANDLER),
            websocket: agent.handler.is_some(),
            connections_active: Gauge::default(),
            connections_total: Counter::default(),
            inflight: Gauge::default(),
            by_class: Default::default(),
            turns: Default::default(),
            sessions_active: Gauge::default(),
            messages_received: Counter::default(),
            messages_sent: Counter::default(),
            durations: Durations::default(),
        }
    }

    /// `agent`, `namespace`: the labels of every per-agent series.
    fn labels(&self) -> [(&str, &str); 2] {
        [("agent", &self.name), ("namespace", &self.namespace)]
    }

    fn record(&self, class: usize, elapsed: Duration) {
        self.by_class[class].inc();
        self.durations.observe(elapsed);
    }
}

/// Every series; the registry's collector, shared with the request path.
#[derive(Debug)]
struct Series {
    /// Sorted by agent name (the exposition order); an agent's index is its id.
    agents: Vec<AgentMetrics>,
    unrouted: [Counter; 5],
    connections_refused: Counter,
}

/// Label names go in Go's client order (sorted, `le` last), so the text reads like Omnia's own.
/// Counter names are given without `_total`: the encoder appends it.
impl Collector for Series {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        type Pick = fn(&AgentMetrics) -> &dyn EncodeMetric;
        let per_agent: [(&str, &str, MetricType, Pick); 3] = [
            (
                "omnia_agent_connections_active",
                "Open client connections that carried a request for the agent.",
                MetricType::Gauge,
                |m| &m.connections_active,
            ),
            (
                "omnia_agent_connections",
                "Client connections that carried a request for the agent.",
                MetricType::Counter,
                |m| &m.connections_total,
            ),
            (
                "omnia_agent_requests_inflight",
                "Requests being served.",
                MetricType::Gauge,
                |m| &m.inflight,
            ),
        ];
        for (name, help, kind, pick) in per_agent {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for m in &self.agents {
                pick(m).encode(family.encode_family(&m.labels())?)?;
            }
        }

        // Only agents served over WebSocket have sessions and messages.
        let websocket: [(&str, &str, MetricType, Pick); 3] = [
            (
                "omnia_agent_sessions_active",
                "Open WebSocket sessions that have sent a message.",
                MetricType::Gauge,
                |m| &m.sessions_active,
            ),
            (
                "omnia_agent_messages_received",
                "WebSocket messages received from clients.",
                MetricType::Counter,
                |m| &m.messages_received,
            ),
            (
                "omnia_agent_messages_sent",
                "WebSocket messages sent to clients.",
                MetricType::Counter,
                |m| &m.messages_sent,
            ),
        ];
        // With no WebSocket agent, no family at all, rather than empty ones.
        let websocket = if self.agents.iter().any(|m| m.websocket) {
            &websocket[..]
        } else {
            &[]
        };
        for &(name, help, kind, pick) in websocket {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for m in self.agents.iter().filter(|m| m.websocket) {
                pick(m).encode(family.encode_family(&m.labels())?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "omnia_agent_requests",
            "Requests served: status is success or error; status_class is the HTTP status class \
             (function calls; a WebSocket turn has none).",
            None,
            MetricType::Counter,
        )?;
        for m in &self.agents {
            let [agent, namespace] = m.labels();
            // A class no request has ended in yet has no series, as in Go's client.
            for (class, counter) in m.by_class.iter().enumerate() {
                if counter.get() > 0 {
                    let status = ("status", outcome(class));
                    let labels = [agent, namespace, status, ("status_class", CLASSES[class])];
                    counter.encode(family.encode_family(&labels)?)?;
                }
            }
            for (status, counter) in ["success", "error"].iter().zip(&m.turns) {
                if counter.get() > 0 {
                    let labels = [agent, namespace, ("status", *status)];
                    counter.encode(family.encode_family(&labels)?)?;
                }
            }
        }

        let mut family = encoder.encode_descriptor(
            "omnia_agent_request_duration_seconds",
            "Request duration in seconds.",
            None,
            MetricType::Histogram,
        )?;
        for m in &self.agents {
            let [agent, namespace] = m.labels();
            let labels = [agent, ("handler", m.handler), namespace];
            m.durations.encode(family.encode_family(&labels)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "omnia_gateway_unrouted_requests",
            "Requests whose path names no served agent, by status class.",
            None,
            MetricType::Counter,
        )?;
        for (class, counter) in CLASSES.iter().zip(&self.unrouted) {
            if counter.get() > 0 {
                counter.encode(family.encode_family(&[("status_class", *class)])?)?;
            }
        }

        let family = encoder.encode_descriptor(
            "omnia_gateway_connections_refused",
            "Connections closed at accept because the listener had its maximum open.",
            None,
            MetricType::Counter,
        )?;
        self.connections_refused.encode(family)?;
        Ok(())
    }
}

/// All gateway metrics.
#[derive(Debug)]
pub struct Metrics {
    series: Arc<Series>,
    by_name: HashMap<String, usize>,
    /// Holds one collector: `series`.
    registry: Registry,
}

impl Metrics {
    /// Metrics for functions given as `(agent, namespace)` pairs; a repeated agent name is
    /// counted once.
    pub fn new<'a>(agents: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::serving(agents.into_iter().map(|(name, namespace)| Served {
            name,
            namespace,
            handler: None,
        }))
    }

    /// Metrics for functions and WebSocket agents; a repeated agent name is counted once.
    pub fn serving<'a>(agents: impl IntoIterator<Item = Served<'a>>) -> Self {
        let mut served: Vec<Served<'_>> = agents.into_iter().collect();
        served.sort_unstable_by_key(|agent| agent.name);
        served.dedup_by_key(|agent| agent.name);
        let pairs: Vec<(&str, &str)> = served.iter().map(|a| (a.name, a.namespace)).collect();
        let series = Arc::new(Series {
            agents: served.iter().map(AgentMetrics::new).collect(),
            unrouted: Default::default(),
            connections_refused: Counter::default(),
        });
        let mut registry = Registry::default();
        registry.register_collector(Box::new(series.clone()));
        Self {
            series,
            by_name: pairs
                .iter()
                .enumerate()
                .map(|(i, &(name, _))| (name.to_owned(), i))
                .collect(),
            registry,
        }
    }

    /// A connection was closed at accept: the listener had its maximum open.
    pub fn connection_refused(&self) {
        self.series.connections_refused.inc();
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
            self.series.agents[i].inflight.inc();
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
            served: (0..self.series.agents.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }))
    }

    /// The Prometheus text exposition (format 0.0.4; see [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024 + 2048 * self.series.agents.len());
        // Writing into a String cannot fail, and our collector returns only the writer's errors.
        if prometheus_text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("encoding the metrics failed");
        }
        out
    }
}

/// One agent the gateway serves, as its metrics are labelled.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    /// A WebSocket agent's handler (`echo`, `demo`, `runtime`); `None` for a function.
    pub handler: Option<&'static str>,
}

impl Metrics {
    /// The meter of the WebSocket agent `name`, if it is served.
    pub fn websocket(self: &Arc<Self>, name: &str) -> Option<WsMeter> {
        let index = *self.by_name.get(name)?;
        self.series.agents[index].websocket.then(|| WsMeter {
            metrics: self.clone(),
            index,
        })
    }
}

/// Counts one WebSocket agent's connections, sessions, messages and turns.
#[derive(Debug, Clone)]
pub struct WsMeter {
    metrics: Arc<Metrics>,
    index: usize,
}

impl WsMeter {
    fn agent(&self) -> &AgentMetrics {
        &self.metrics.series.agents[self.index]
    }

    /// A WebSocket opened; it counts as active until the guard drops.
    pub fn connection(&self) -> Gauged {
        let agent = self.agent();
        agent.connections_total.inc();
        agent.connections_active.inc();
        Gauged {
            meter: self.clone(),
            pick: |m| &m.connections_active,
        }
    }

    /// The session sent its first message; it counts as active until the guard drops.
    pub fn session(&self) -> Gauged {
        self.agent().sessions_active.inc();
        Gauged {
            meter: self.clone(),
            pick: |m| &m.sessions_active,
        }
    }

    pub fn received(&self) {
        self.agent().messages_received.inc();
    }

    pub fn sent(&self) {
        self.agent().messages_sent.inc();
    }

    /// A turn started; it is in flight until [`Turn::finish`] or the guard drops.
    pub fn turn(&self) -> Turn {
        self.agent().inflight.inc();
        Turn {
            meter: self.clone(),
            started: std::time::Instant::now(),
        }
    }
}

/// A gauge held up while this lives.
#[derive(Debug)]
pub struct Gauged {
    meter: WsMeter,
    pick: fn(&AgentMetrics) -> &Gauge,
}

impl Drop for Gauged {
    fn drop(&mut self) {
        (self.pick)(self.meter.agent()).dec();
    }
}

/// A WebSocket turn in flight; see [`WsMeter::turn`].
#[derive(Debug)]
pub struct Turn {
    meter: WsMeter,
    started: std::time::Instant,
}

impl Turn {
    /// The turn ended, well (`done`) or not (`error`, or the connection went away).
    pub fn finish(self, success: bool) {
        let agent = self.meter.agent();
        agent.turns[usize::from(!success)].inc();
        agent.durations.observe(self.started.elapsed());
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.meter.agent().inflight.dec();
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
            Some(i) => self.metrics.series.agents[i].record(class, elapsed),
            None => {
                self.metrics.series.unrouted[class].inc();
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(i) = self.agent {
            self.metrics.series.agents[i].inflight.dec();
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
            let m = &self.metrics.series.agents[agent];
            m.connections_active.inc();
            m.connections_total.inc();
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
                if let Some(m) = self.metrics.series.agents.get(agent) {
                    m.connections_active.dec();
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
    fn label_values_are_escaped_on_every_series_of_the_agent() {
        // Names are DNS labels in practice; these show no value can break a series apart.
        let metrics = Arc::new(Metrics::new([("a\",namespace=b", "n\\s\"q\nx")]));
        metrics
            .start(Some("a\",namespace=b"), None)
            .finish(200, Duration::from_millis(1));
        let text = metrics.render();
        let labels = r#"agent="a\",namespace=b",namespace="n\\s\"q\nx""#;
        for line in [
            format!("omnia_agent_connections_active{{{labels}}} 0"),
            format!("omnia_agent_requests_inflight{{{labels}}} 0"),
            format!(
                "omnia_agent_requests_total{{{labels},status=\"success\",status_class=\"2xx\"}} 1"
            ),
            r#"omnia_agent_request_duration_seconds_count{agent="a\",namespace=b",handler="runtime",namespace="n\\s\"q\nx"} 1"#
                .to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn the_text_is_prometheus_0_0_4_without_an_eof_marker() {
        let text = Metrics::new([("echo", "default")]).render();
        assert!(!text.contains("# EOF"), "{text}");
        assert!(text.contains(
            "# HELP omnia_agent_requests_inflight Requests being served.\n\
             # TYPE omnia_agent_requests_inflight gauge\n"
        ));
        assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    }
}

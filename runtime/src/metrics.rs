//! Prometheus metrics with Omnia's names, labels and buckets (docs/providers-plan.md 2.3), so
//! dashboards built for Omnia's runtime read ours unchanged, and the `/metrics` listener that
//! serves them.
//!
//! Omnia's runtime serves one agent, so it stamps `agent`, `namespace` and `promptpack_name` on
//! every series as constant labels. One of our runtimes can serve several agents, so those are
//! ordinary labels with the same names and places: a query written for Omnia selects the same
//! series.
//!
//! Series are made on first use (`Family`), not at start-up: which provider and model a call
//! uses is only known when it is made. The text is OpenMetrics as `prometheus-client` writes it
//! (counters gain their `_total` suffix there, and the exposition ends with `# EOF`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE as CONTENT_TYPE_HEADER, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of `omnia_provider_request_duration_seconds`, exactly PromptKit's: other bounds
/// would shift the `histogram_quantile` results of Omnia's panels.
const PROVIDER_BUCKETS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Upper bounds of `omnia_tool_call_duration_seconds`, exactly PromptKit's.
const TOOL_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The `source` label of every provider series. PromptKit has the label but the values Omnia
/// gives it were not found (plan 2.3); every call counted here is made by the runtime itself, so
/// it says so. Change it here if Omnia's value set turns up.
const SOURCE: &str = "runtime";

/// How long a client may take to send its request headers before the connection is closed, so
/// a slow or silent client cannot hold a connection (and its task) forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Who made a provider call, and with what: the labels of every provider series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CallLabels {
    /// The AgentRuntime's name.
    pub agent: String,
    /// Its namespace.
    pub namespace: String,
    /// The PromptPack's name (`promptpack_name`).
    pub pack: String,
    /// The Provider resource's type as Omnia names it (`openai`, `claude`, `gemini`, ...).
    pub provider: String,
    /// The model the call asked for.
    pub model: String,
}

/// What one provider call used; zero where the provider did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallUsage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u32,
    /// Completion tokens.
    pub output_tokens: u32,
    /// The part of `input_tokens` read from the provider's prompt cache.
    pub cached_tokens: u32,
    /// What the call cost, in USD.
    pub cost_usd: f64,
}

/// The label set of the provider series (field order is the label order of the text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderLabels {
    agent: String,
    namespace: String,
    promptpack_name: String,
    provider: String,
    model: String,
    source: &'static str,
}

/// `status`: `success` or `error`, after the other labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Status {
    status: &'static str,
}

impl Status {
    fn of(ok: bool) -> Self {
        Status {
            status: if ok { "success" } else { "error" },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ToolLabels {
    agent: String,
    namespace: String,
    tool: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InfoLabels {
    agent: String,
    namespace: String,
    version: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The runtime's metrics. Cloning is cheap (one `Arc`); clones record into the same series.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// Holds clones of every family below (a `Family` is an `Arc` inside), for encoding.
    registry: Registry,
    provider_duration: Histograms<ProviderLabels>,
    provider_requests: Family<(ProviderLabels, Status), Counter>,
    input_tokens: Family<ProviderLabels, Counter>,
    output_tokens: Family<ProviderLabels, Counter>,
    cached_tokens: Family<ProviderLabels, Counter>,
    cost: Family<ProviderLabels, Counter<f64, AtomicU64>>,
    tool_duration: Histograms<ToolLabels>,
    tool_calls: Family<(ToolLabels, Status), Counter>,
    runtime_info: Family<InfoLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The series themselves would make a log line as long as a scrape.
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty set of Omnia's runtime metrics.
    pub fn new() -> Metrics {
        let provider_duration: Histograms<ProviderLabels> =
            Family::new_with_constructor(|| Histogram::new(PROVIDER_BUCKETS));
        let tool_duration: Histograms<ToolLabels> =
            Family::new_with_constructor(|| Histogram::new(TOOL_BUCKETS));
        let provider_requests = Family::default();
        let input_tokens = Family::default();
        let output_tokens = Family::default();
        let cached_tokens = Family::default();
        let cost = Family::default();
        let tool_calls = Family::default();
        let runtime_info = Family::default();

        // Counters are registered without `_total`, help without a full stop: the encoder
        // appends both.
        let mut registry = Registry::with_prefix("omnia");
        registry.register(
            "provider_request_duration_seconds",
            "Duration of LLM provider requests in seconds",
            provider_duration.clone(),
        );
        registry.register(
            "provider_requests",
            "LLM provider requests, by status",
            provider_requests.clone(),
        );
        registry.register(
            "provider_input_tokens",
            "Input (prompt) tokens sent to LLM providers",
            input_tokens.clone(),
        );
        registry.register(
            "provider_output_tokens",
            "Output (completion) tokens received from LLM providers",
            output_tokens.clone(),
        );
        registry.register(
            "provider_cached_tokens",
            "Input tokens read from the provider's prompt cache",
            cached_tokens.clone(),
        );
        registry.register(
            "provider_cost",
            "Cost of LLM provider requests in USD",
            cost.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Duration of tool calls in seconds",
            tool_duration.clone(),
        );
        registry.register("tool_calls", "Tool calls, by status", tool_calls.clone());
        registry.register(
            "runtime_info",
            "Agents this runtime serves (always 1)",
            runtime_info.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                provider_duration,
                provider_requests,
                input_tokens,
                output_tokens,
                cached_tokens,
                cost,
                tool_duration,
                tool_calls,
                runtime_info,
            }),
        }
    }

    /// Marks `agent` in `namespace` as served: `omnia_runtime_info` = 1. Idempotent.
    pub fn runtime_info(&self, agent: &str, namespace: &str) {
        let labels = InfoLabels {
            agent: agent.to_owned(),
            namespace: namespace.to_owned(),
            version: env!("CARGO_PKG_VERSION"),
        };
        self.inner.runtime_info.get_or_create(&labels).set(1);
    }

    /// Records one provider request: its outcome, how long it took and what it used.
    pub fn provider_call(
        &self,
        labels: &CallLabels,
        ok: bool,
        elapsed: Duration,
        usage: CallUsage,
    ) {
        let inner = &*self.inner;
        // Built once and shared by every family; the status family takes it last, by value.
        let series = ProviderLabels {
            agent: labels.agent.clone(),
            namespace: labels.namespace.clone(),
            promptpack_name: labels.pack.clone(),
            provider: labels.provider.clone(),
            model: labels.model.clone(),
            source: SOURCE,
        };
        inner
            .provider_duration
            .get_or_create(&series)
            .observe(elapsed.as_secs_f64());
        inner
            .input_tokens
            .get_or_create(&series)
            .inc_by(u64::from(usage.input_tokens));
        inner
            .output_tokens
            .get_or_create(&series)
            .inc_by(u64::from(usage.output_tokens));
        inner
            .cached_tokens
            .get_or_create(&series)
            .inc_by(u64::from(usage.cached_tokens));
        // A counter must never go down or become NaN: a bad cost is dropped, not counted.
        let cost = if usage.cost_usd.is_finite() && usage.cost_usd > 0.0 {
            usage.cost_usd
        } else {
            0.0
        };
        inner.cost.get_or_create(&series).inc_by(cost);
        inner
            .provider_requests
            .get_or_create(&(series, Status::of(ok)))
            .inc();
    }

    /// Records one tool call of `agent` in `namespace`: its outcome and how long it took.
    pub fn tool_call(&self, agent: &str, namespace: &str, tool: &str, ok: bool, elapsed: Duration) {
        let inner = &*self.inner;
        let series = ToolLabels {
            agent: agent.to_owned(),
            namespace: namespace.to_owned(),
            tool: tool.to_owned(),
        };
        inner
            .tool_duration
            .get_or_create(&series)
            .observe(elapsed.as_secs_f64());
        inner
            .tool_calls
            .get_or_create(&(series, Status::of(ok)))
            .inc();
    }

    /// Every series as OpenMetrics text (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a `String` cannot fail; an error could only come from a label value's
        // encoder, and then the text written so far is still the best answer there is.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}

/// One agent's recorder: its labels, resolved once, and the registry.
#[derive(Clone, Debug)]
pub(crate) struct Meter {
    metrics: Metrics,
    labels: CallLabels,
}

impl Meter {
    /// The recorder of `agent`, whose calls go to `provider` (the mock, when it stands in).
    pub(crate) fn new(
        metrics: &Metrics,
        agent: &omnia_api::Agent,
        provider: &dyn crate::provider::Provider,
        stand_in: bool,
    ) -> Meter {
        let kind = if stand_in {
            "mock"
        } else {
            agent.provider.kind.as_str()
        };
        Meter {
            metrics: metrics.clone(),
            labels: CallLabels {
                agent: agent.name.clone(),
                namespace: agent.namespace.clone(),
                pack: agent.pack.name.clone(),
                provider: kind.to_owned(),
                model: provider.model().to_owned(),
            },
        }
    }

    /// Records one provider call; a failed call used nothing that was reported.
    pub(crate) fn provider(&self, usage: Option<crate::provider::Usage>, elapsed: Duration) {
        let used = usage.map_or(CallUsage::default(), |u| CallUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_tokens: u.cached_tokens,
            cost_usd: u.cost_usd,
        });
        self.metrics
            .provider_call(&self.labels, usage.is_some(), elapsed, used);
    }

    /// Records one tool call.
    pub(crate) fn tool(&self, tool: &str, ok: bool, elapsed: Duration) {
        self.metrics.tool_call(
            &self.labels.agent,
            &self.labels.namespace,
            tool,
            ok,
            elapsed,
        );
    }
}

/// Serves `GET /metrics` on `listener` (404 for anything else) until `shutdown` completes.
///
/// HTTP/1 only: Prometheus scrapes with it. Accept errors (such as running out of file
/// descriptors) are logged and retried after a pause instead of ending the listener.
pub async fn serve_metrics(
    metrics: Metrics,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("metrics listener cannot accept a connection: {error}");
                // Without a pause a persistent error (EMFILE) would spin this loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = respond(&request, &metrics);
                std::future::ready(Ok::<_, Infallible>(response))
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!("metrics connection ended: {error}");
            }
        });
    }
}

/// Answers one request of the metrics listener.
fn respond<B>(request: &Request<B>, metrics: &Metrics) -> Response<String> {
    if request.method() == Method::GET && request.uri().path() == "/metrics" {
        let mut response = Response::new(metrics.encode());
        response
            .headers_mut()
            .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE));
        response
    } else {
        let mut response = Response::new("not found\n".to_owned());
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    fn labels() -> CallLabels {
        CallLabels {
            agent: "support".to_owned(),
            namespace: "prod".to_owned(),
            pack: "support-pack".to_owned(),
            provider: "openai".to_owned(),
            model: "gpt-4o-mini".to_owned(),
        }
    }

    const PROVIDER: &str = r#"agent="support",namespace="prod",promptpack_name="support-pack",provider="openai",model="gpt-4o-mini",source="runtime""#;

    #[test]
    fn a_provider_call_records_duration_status_tokens_and_cost() {
        let metrics = Metrics::new();
        let usage = CallUsage {
            input_tokens: 120,
            output_tokens: 18,
            cached_tokens: 64,
            cost_usd: 0.25,
        };
        metrics.provider_call(&labels(), true, Duration::from_millis(700), usage);
        metrics.provider_call(
            &labels(),
            false,
            Duration::from_secs(45),
            CallUsage::default(),
        );
        let text = metrics.encode();

        for (name, value) in [
            ("omnia_provider_input_tokens_total", "120"),
            ("omnia_provider_output_tokens_total", "18"),
            ("omnia_provider_cached_tokens_total", "64"),
            ("omnia_provider_cost_total", "0.25"),
        ] {
            assert_eq!(
                lines_with(&text, &format!("{name}{{")),
                [format!("{name}{{{PROVIDER}}} {value}")],
                "{text}"
            );
        }
        let mut requests = lines_with(&text, "omnia_provider_requests_total{");
        requests.sort_unstable();
        assert_eq!(
            requests,
            [
                format!("omnia_provider_requests_total{{{PROVIDER},status=\"error\"}} 1"),
                format!("omnia_provider_requests_total{{{PROVIDER},status=\"success\"}} 1"),
            ],
            "{text}"
        );
        let name = "omnia_provider_request_duration_seconds";
        let expected: Vec<String> = [
            ("0.1", 0),
            ("0.25", 0),
            ("0.5", 0),
            ("1.0", 1),
            ("2.5", 1),
            ("5.0", 1),
            ("10.0", 1),
            ("30.0", 1),
            ("60.0", 2),
            ("+Inf", 2),
        ]
        .iter()
        // prometheus-client writes `le` first; label order carries no meaning to Prometheus.
        .map(|(le, n)| format!("{name}_bucket{{le=\"{le}\",{PROVIDER}}} {n}"))
        .collect();
        assert_eq!(
            lines_with(&text, &format!("{name}_bucket{{")),
            expected,
            "{text}"
        );
        assert_eq!(
            lines_with(&text, &format!("{name}_count{{")),
            [format!("{name}_count{{{PROVIDER}}} 2")],
        );
        assert!(
            text.contains(&format!("# TYPE {name} histogram\n")),
            "{text}"
        );
        assert!(
            text.contains("# TYPE omnia_provider_cost counter\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_tool_call_records_duration_and_status() {
        let metrics = Metrics::new();
        metrics.tool_call(
            "support",
            "prod",
            "get_weather",
            true,
            Duration::from_millis(30),
        );
        metrics.tool_call(
            "support",
            "prod",
            "get_weather",
            false,
            Duration::from_secs(20),
        );
        let text = metrics.encode();
        let labels = r#"agent="support",namespace="prod",tool="get_weather""#;
        let mut calls = lines_with(&text, "omnia_tool_calls_total{");
        calls.sort_unstable();
        assert_eq!(
            calls,
            [
                format!("omnia_tool_calls_total{{{labels},status=\"error\"}} 1"),
                format!("omnia_tool_calls_total{{{labels},status=\"success\"}} 1"),
            ]
        );
        let name = "omnia_tool_call_duration_seconds";
        let expected: Vec<String> = [
            ("0.01", 0),
            ("0.025", 0),
            ("0.05", 1),
            ("0.1", 1),
            ("0.25", 1),
            ("0.5", 1),
            ("1.0", 1),
            ("2.5", 1),
            ("5.0", 1),
            ("10.0", 1),
            ("+Inf", 2),
        ]
        .iter()
        .map(|(le, n)| format!("{name}_bucket{{le=\"{le}\",{labels}}} {n}"))
        .collect();
        assert_eq!(
            lines_with(&text, &format!("{name}_bucket{{")),
            expected,
            "{text}"
        );
    }

    #[test]
    fn runtime_info_is_one_per_agent_served() {
        let metrics = Metrics::new();
        metrics.runtime_info("a", "ns1");
        metrics.runtime_info("b", "ns2");
        metrics.runtime_info("a", "ns1");
        let text = metrics.encode();
        let version = env!("CARGO_PKG_VERSION");
        let mut info = lines_with(&text, "omnia_runtime_info{");
        info.sort_unstable();
        assert_eq!(
            info,
            [
                format!(
                    "omnia_runtime_info{{agent=\"a\",namespace=\"ns1\",version=\"{version}\"}} 1"
                ),
                format!(
                    "omnia_runtime_info{{agent=\"b\",namespace=\"ns2\",version=\"{version}\"}} 1"
                ),
            ]
        );
    }

    #[test]
    fn a_bad_cost_is_not_counted() {
        let metrics = Metrics::new();
        for cost_usd in [f64::NAN, -1.0, f64::INFINITY] {
            let usage = CallUsage {
                cost_usd,
                ..CallUsage::default()
            };
            metrics.provider_call(&labels(), true, Duration::ZERO, usage);
        }
        let text = metrics.encode();
        assert_eq!(
            lines_with(&text, "omnia_provider_cost_total{"),
            [format!("omnia_provider_cost_total{{{PROVIDER}}} 0.0")],
            "{text}"
        );
    }

    #[test]
    fn only_get_metrics_is_served() {
        let metrics = Metrics::new();
        let get = |path: &str| Request::get(path).body(()).unwrap();
        let ok = respond(&get("/metrics"), &metrics);
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[CONTENT_TYPE_HEADER], CONTENT_TYPE);
        assert!(ok.body().ends_with("# EOF\n"));
        assert_eq!(respond(&get("/"), &metrics).status(), StatusCode::NOT_FOUND);
        let post = Request::post("/metrics").body(()).unwrap();
        assert_eq!(respond(&post, &metrics).status(), StatusCode::NOT_FOUND);
    }
}

//! The operator's health port: `/healthz` (alive), `/readyz` (the API server answered at
//! start-up), `/metrics` (reconciles and the tuner's decisions, Prometheus text).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    pub namespace: String,
    pub agent: String,
}

/// What the operator counts.
pub struct Metrics {
    registry: Registry,
    /// `omnia_operator_reconciles_total{kind, result="ok"|"error"}`.
    pub reconciles: Family<KindLabels, Counter>,
    /// `omnia_operator_tuner_replicas{namespace, agent}`: the tuner's latest answer.
    pub tuned_replicas: Family<AgentLabels, Gauge>,
    /// `omnia_operator_tuner_load{namespace, agent}`: the load it last saw, summed over pods.
    pub tuned_load: Family<AgentLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<KindLabels, Counter>::default();
        let tuned_replicas = Family::<AgentLabels, Gauge>::default();
        let tuned_load = Family::<AgentLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "omnia_operator_reconciles",
            "Reconciles by kind and result",
            reconciles.clone(),
        );
        registry.register(
            "omnia_operator_tuner_replicas",
            "Replicas the tuner last asked for",
            tuned_replicas.clone(),
        );
        registry.register(
            "omnia_operator_tuner_load",
            "Load the tuner last observed, summed over the agent's pods",
            tuned_load.clone(),
        );
        Self {
            registry,
            reconciles,
            tuned_replicas,
            tuned_load,
        }
    }
}

impl Metrics {
    /// Counts one reconcile of `kind`.
    pub fn reconciled(&self, kind: &str, ok: bool) {
        self.reconciles
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
                result: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn respond(path: &str, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, body, kind) = match path {
        "/healthz" | "/readyz" => (StatusCode::OK, "ok\n".to_owned(), "text/plain"),
        "/metrics" => (
            StatusCode::OK,
            metrics.render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".to_owned(),
            "text/plain",
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = kind.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Serves the health port until the process ends. Bound before the controllers start, so
/// `/readyz` answers only once the API server has (the caller connects first).
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "health and metrics listening");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let response = respond(request.uri().path(), &metrics);
                        std::future::ready(Ok::<_, Infallible>(response))
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

//! A local OTLP/gRPC trace receiver: the collector's `TraceService/Export` on `127.0.0.1`, keeping
//! every span it is sent, flattened for assertions (service, name, ids, kind, attributes).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One received span.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The resource's `service.name`.
    pub service: String,
    pub name: String,
    /// Lower-case hex, as in a `traceparent`.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// `server`, `client`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    /// Attributes as JSON values (strings, integers, booleans, doubles, arrays).
    pub attributes: BTreeMap<String, Value>,
    /// `unset`, `ok` or `error`, and the status message.
    pub status: (&'static str, String),
}

impl ReceivedSpan {
    /// An attribute, `Null` when absent.
    pub fn attr(&self, key: &str) -> &Value {
        self.attributes.get(key).unwrap_or(&Value::Null)
    }
}

/// The receiver; dropping it stops the server.
pub struct OtlpReceiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    arrived: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Listens on `127.0.0.1`, an ephemeral port.
    ///
    /// # Panics
    /// When the port cannot be bound.
    pub async fn start() -> OtlpReceiver {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|err| panic!("omnia-fakes: cannot bind 127.0.0.1:0: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("omnia-fakes: no local address: {err}"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let (count, arrived) = watch::channel(0);
        let service = Collector {
            spans: spans.clone(),
            count,
        };
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .serve_with_incoming_shutdown(
                    TraceServiceServer::new(service),
                    incoming,
                    std::future::pending(),
                )
                .await;
            if let Err(err) = served {
                eprintln!("omnia-fakes: the OTLP receiver stopped: {err}");
            }
        });
        OtlpReceiver {
            addr,
            spans,
            arrived,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, as `OMNIA_TRACING_ENDPOINT` takes it.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().clone()
    }

    /// Waits until `done` holds for the spans received, and returns them.
    ///
    /// # Panics
    /// When it does not within `within`, listing what did arrive.
    pub async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let mut arrived = self.arrived.clone();
        let waited = tokio::time::timeout(within, async {
            loop {
                if done(&self.spans.lock()) {
                    return;
                }
                if arrived.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        let spans = self.spans();
        if waited.is_err() {
            let names: Vec<String> = spans
                .iter()
                .map(|s| format!("{}: {}", s.service, s.name))
                .collect();
            panic!(
                "omnia-fakes: the expected spans did not arrive within {within:?}; got {names:?}"
            );
        }
        spans
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    count: watch::Sender<usize>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .map(json)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    received.push(ReceivedSpan {
                        service: service.clone(),
                        kind: kind(span.kind),
                        status: span.status.as_ref().map_or(("unset", String::new()), |s| {
                            (status(s.code), s.message.clone())
                        }),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: attributes(&span.attributes),
                    });
                }
            }
        }
        let total = {
            let mut spans = self.spans.lock();
            spans.extend(received);
            spans.len()
        };
        self.count.send_replace(total);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

fn status(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, Value> {
    list.iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, json)))
        .collect()
}

fn json(value: &AnyValue) -> Value {
    match &value.value {
        Some(Any::StringValue(s)) => Value::from(s.clone()),
        Some(Any::BoolValue(b)) => Value::from(*b),
        Some(Any::IntValue(i)) => Value::from(*i),
        Some(Any::DoubleValue(d)) => Value::from(*d),
        Some(Any::ArrayValue(array)) => Value::Array(array.values.iter().map(json).collect()),
        Some(Any::KvlistValue(list)) => Value::Object(
            list.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, json)))
                .collect(),
        ),
        Some(Any::BytesValue(bytes)) => Value::from(hex(bytes)),
        _ => Value::Null,
    }
}

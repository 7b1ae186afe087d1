//! The agent surface: streaming conversations over WebSocket (`/ws` and `/api/agents/...`),
//! Omnia's protocol version 1.
//!
//! Before the upgrade, in this order (each refusal a JSON error, no upgrade): draining or at the
//! connection cap (503 with `Retry-After`), which agent (404), the agent's auth chain (401), the
//! `Origin` (403), and whether it is a WebSocket handshake at all (400). Then `101`, and the
//! connection (connection.rs) runs on its own task, counted by the hub (hub.rs).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::header::{HOST, ORIGIN, SEC_WEBSOCKET_PROTOCOL};
use http::{Request, Response};
use omnia_middleware::auth::AuthChain;
use omnia_middleware::{GatewayError, ResponseBody};
use omnia_runtime::telemetry::TraceHeaders;
use tower::Service;

pub mod connection;
pub mod handler;
pub mod hub;
pub mod origin;
pub mod protocol;
pub mod query;
pub mod reader;
pub mod subprotocol;
pub mod tools;

use handler::{Handler, SessionInfo};
use hub::{Hub, Refusal};
use origin::OriginPolicy;
use query::Query;
use tools::ClientTools;

use crate::media::MediaAgent;
use crate::metrics::{Metrics, WsMeter};

/// The paths the agent surface answers: Omnia mounts the same handler on both.
pub fn is_agent_path(path: &str) -> bool {
    path == "/ws" || path.starts_with("/api/agents/")
}

/// The limits of WebSocket connections; each is a flag and an `OMNIA_FACADE_WS_*` variable.
#[derive(Debug, Clone)]
pub struct WsLimits {
    /// Open WebSockets per process (Omnia: 500).
    pub max_connections: u32,
    /// Largest message, whole (all its fragments), in bytes.
    pub max_message_bytes: usize,
    /// Messages per second per connection, refilled continuously, and the burst allowed.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// Turns in flight per connection; a `message` beyond it gets `RATE_LIMITED`.
    pub max_in_flight_turns: usize,
    /// How long a client has to acknowledge a tool call, and to answer it (the AgentRuntime's
    /// `clientToolTimeout` overrides the second).
    pub tool_ack_timeout: Duration,
    pub tool_result_timeout: Duration,
    /// Ping interval, and how long without a pong before the connection is closed.
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
    /// `OMNIA_ALLOWED_ORIGINS`.
    pub origins: OriginPolicy,
}

impl Default for WsLimits {
    /// 10,000 connections, 16 MiB messages, 50 messages/s with a burst of 100, one turn in
    /// flight, 5 s / 60 s for client tools, ping every 30 s, close after 60 s without a pong;
    /// same-origin only. All but the connection cap are Omnia's.
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_message_bytes: 16 * 1024 * 1024,
            messages_per_second: 50,
            message_burst: 100,
            max_in_flight_turns: 1,
            tool_ack_timeout: Duration::from_secs(5),
            tool_result_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(60),
            origins: OriginPolicy::default(),
        }
    }
}

/// One agent-mode agent, as the surface serves it.
pub struct AgentSpec {
    pub name: String,
    pub namespace: String,
    pub auth: Arc<AuthChain>,
    pub handler: Arc<dyn Handler>,
    /// The agent's media storage, for `upload_request` and media parts; `None` without.
    pub media: Option<Arc<MediaAgent>>,
}

/// An agent with its meter.
struct Served {
    spec: AgentSpec,
    meter: Option<WsMeter>,
}

/// The upgrade service, mounted by the path router.
#[derive(Clone)]
pub struct AgentService {
    surface: Arc<Surface>,
}

struct Surface {
    agents: Vec<Served>,
    hub: Arc<Hub>,
    limits: Arc<WsLimits>,
}

impl AgentService {
    /// A surface for `agents`, whose connections `hub` counts and `metrics` measures.
    pub fn new(
        agents: Vec<AgentSpec>,
        hub: Arc<Hub>,
        limits: WsLimits,
        metrics: &Arc<Metrics>,
    ) -> Self {
        Self {
            surface: Arc::new(Surface {
                agents: agents
                    .into_iter()
                    .map(|spec| Served {
                        meter: metrics.websocket(&spec.name),
                        spec,
                    })
                    .collect(),
                hub,
                limits: Arc::new(limits),
            }),
        }
    }
}

impl AgentService {
    /// The names of the agents served.
    pub fn names(&self) -> Vec<&str> {
        self.surface
            .agents
            .iter()
            .map(|agent| agent.spec.name.as_str())
            .collect()
    }
}

impl<B: Send + 'static> Service<Request<B>> for AgentService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let surface = self.surface.clone();
        Box::pin(async move {
            Ok(surface
                .upgrade(request)
                .await
                .unwrap_or_else(GatewayError::into_response))
        })
    }
}

impl Surface {
    async fn upgrade<B>(
        &self,
        request: Request<B>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let seat = self
            .hub
            .admit()
            .map_err(|refusal| GatewayError::Unavailable {
                detail: match refusal {
                    Refusal::Draining => "the gateway is shutting down".to_owned(),
                    Refusal::Full { max } => format!("connection limit reached ({max} WebSockets)"),
                },
                retry_after_secs: 1,
            })?;
        let query = Query::parse(request.uri().query());
        let served = self.agent(&query)?;
        let agent = &served.spec;

        let (mut parts, body) = request.into_parts();
        let trace = TraceHeaders::from_headers(&parts.headers);
        let selected = subprotocol::lift_bearer(&mut parts.headers);
        let identity = agent.auth.authenticate(&parts).await?;
        let origin = parts.headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        let host = parts
            .headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        if !self.limits.origins.allows(origin, host) {
            return Err(GatewayError::OriginNotAllowed {
                origin: origin.unwrap_or_default().to_owned(),
            });
        }

        let mut request = Request::from_parts(parts, body);
        if !fastwebsockets::upgrade::is_upgrade_request(&request) {
            return Err(GatewayError::BadRequest {
                detail: "expected a WebSocket upgrade (GET with `Connection: upgrade` and \
                         `Upgrade: websocket`)"
                    .to_owned(),
            });
        }
        let (response, upgraded) =
            fastwebsockets::upgrade::upgrade(&mut request).map_err(|error| {
                GatewayError::BadRequest {
                    detail: format!("not a usable WebSocket handshake: {error}"),
                }
            })?;
        let id: Arc<str> = Arc::from(uuid::Uuid::new_v4().to_string());
        let tools = ClientTools::default();
        let conversation = agent.handler.open(SessionInfo {
            id: id.clone(),
            agent: agent.name.clone(),
            namespace: agent.namespace.clone(),
            identity,
            request_id: uuid::Uuid::new_v4().to_string(),
            workspace: query.workspace.clone(),
            tools: tools.clone(),
            trace: trace.clone(),
        });
        let session = connection::Session {
            id,
            conversation,
            tools,
            limits: self.limits.clone(),
            meter: served.meter.clone(),
            agent: agent.name.clone(),
            trace,
            media: agent.media.clone(),
        };
        tokio::spawn(async move {
            match upgraded.await {
                Ok(socket) => connection::serve(socket.into_inner(), session, seat).await,
                Err(error) => tracing::debug!(%error, "WebSocket upgrade did not complete"),
            }
        });

        let (mut head, _) = response.into_parts();
        if let Some(protocol) = selected {
            head.headers.insert(SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        Ok(Response::from_parts(head, ResponseBody::empty()))
    }

    /// The agent the query names; without a name, the only agent served.
    fn agent(&self, query: &Query) -> Result<&Served, GatewayError> {
        let found = match &query.agent {
            Some(name) => self.agents.iter().find(|agent| {
                agent.spec.name == *name
                    && query
                        .namespace
                        .as_ref()
                        .is_none_or(|namespace| agent.spec.namespace == *namespace)
            }),
            None if self.agents.len() == 1 => self.agents.first(),
            None => {
                return Err(GatewayError::AgentNotFound {
                    detail: if self.agents.is_empty() {
                        "this gateway serves no agent over WebSocket".to_owned()
                    } else {
                        "this gateway serves several agents: say which with `?agent=NAME`"
                            .to_owned()
                    },
                });
            }
        };
        found.ok_or_else(|| GatewayError::AgentNotFound {
            detail: format!(
                "no agent-mode agent named {:?}{} on this gateway",
                query.agent.as_deref().unwrap_or_default(),
                query
                    .namespace
                    .as_ref()
                    .map(|namespace| format!(" in namespace {namespace:?}"))
                    .unwrap_or_default()
            ),
        })
    }
}

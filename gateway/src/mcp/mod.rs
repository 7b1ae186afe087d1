//! The MCP surface (Model Context Protocol, streamable HTTP, on rmcp): `/mcp` lists every
//! function as a tool and calls it through the facade's own stack, and
//! `/.well-known/oauth-protected-resource` (RFC 9728) tells a client how to authenticate.
//!
//! Auth is the functions' own: a request to `/mcp` is admitted when at least one function's chain
//! admits its credentials, and then sees (and may call) only those functions; a request no chain
//! admits is 401 with `WWW-Authenticate: Bearer resource_metadata="..."`, as Omnia's MCP facade
//! answers.

mod fast;
pub mod tools;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt as _, Full, Limited};
use omnia_middleware::auth::AuthChain;
use omnia_middleware::{GatewayError, ResponseBody};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tower::Service;

use self::tools::{Facade, FunctionTool, Functions};
use crate::router::json_response;

/// The MCP endpoint.
pub const MCP_PATH: &str = "/mcp";
/// RFC 9728's protected-resource metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
/// Omnia's default port of an `mcp` facade.
pub const DEFAULT_PORT: u16 = 9998;
/// The largest JSON-RPC message read from a POST (the function's own body limit then applies to
/// a tool call's arguments).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The functions a request's credentials were admitted to.
#[derive(Debug, Clone, Default)]
pub struct Admitted(BTreeSet<String>);

impl Admitted {
    pub fn allows(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// One function served as a tool.
#[derive(Debug, Clone)]
pub struct McpFunction {
    pub tool: FunctionTool,
    pub auth: Arc<AuthChain>,
}

/// The MCP listener's service.
#[derive(Clone)]
pub struct McpService {
    functions: Arc<Vec<McpFunction>>,
    handler: Functions,
    issuers: Arc<Vec<String>>,
    server: StreamableHttpService<Functions, LocalSessionManager>,
}

impl std::fmt::Debug for McpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpService")
            .field("functions", &self.functions.len())
            .finish_non_exhaustive()
    }
}

impl McpService {
    /// Serves `functions` as tools, calling them through `facade`.
    pub fn new(functions: Vec<McpFunction>, facade: Facade) -> Self {
        let tools = Arc::new(functions.iter().map(|f| f.tool.clone()).collect::<Vec<_>>());
        let handler = Functions { tools, facade };
        let own = handler.clone();
        // Stateless, JSON answers: each call stands alone, so any replica answers it. The
        // agent's Service and ingress hosts are not known here; DNS rebinding is a concern of
        // servers on a person's machine, and every call is authenticated anyway.
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .disable_allowed_hosts();
        let server = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let mut issuers: Vec<String> = functions
            .iter()
            .flat_map(|f| f.auth.accepts().oidc_issuers)
            .collect();
        issuers.sort();
        issuers.dedup();
        Self {
            functions: Arc::new(functions),
            handler: own,
            issuers: Arc::new(issuers),
            server,
        }
    }

    /// The functions whose chains admit `parts`, or the refusal of the first that does not.
    async fn admit(&self, parts: &http::request::Parts) -> Result<Admitted, GatewayError> {
        let mut admitted = BTreeSet::new();
        let mut refusal = None;
        for function in self.functions.iter() {
            match function.auth.authenticate(parts).await {
                Ok(_) => {
                    admitted.insert(function.tool.tool.name.to_string());
                }
                Err(e) => refusal = refusal.or(Some(e)),
            }
        }
        match refusal {
            Some(refused) if admitted.is_empty() => Err(refused),
            _ => Ok(Admitted(admitted)),
        }
    }
}

/// `scheme://host` of the request, for URLs pointing back at this listener.
fn origin(parts: &http::request::Parts) -> String {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let scheme = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

impl<B> Service<Request<B>> for McpService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Into<omnia_middleware::BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let path = parts.uri.path().to_owned();
            if path == METADATA_PATH || path == format!("{METADATA_PATH}{MCP_PATH}") {
                if parts.method != Method::GET {
                    return Ok(GatewayError::MethodNotAllowed {
                        method: parts.method.to_string(),
                        allow: "GET",
                    }
                    .into_response());
                }
                let origin = origin(&parts);
                return Ok(json_response(&json!({
                    "resource": format!("{origin}{MCP_PATH}"),
                    "authorization_servers": *this.issuers,
                    "bearer_methods_supported": ["header"],
                    "resource_name": "Omnia functions",
                })));
            }
            if path != MCP_PATH {
                return Ok(GatewayError::NotFound { path }.into_response());
            }
            match this.admit(&parts).await {
                Ok(admitted) => {
                    parts.extensions.insert(admitted);
                    let mut server = this.server.clone();
                    if parts.method != Method::POST {
                        let Ok(response) = server.call(Request::from_parts(parts, body)).await;
                        return Ok(response.map(ResponseBody::stream));
                    }
                    // A POST is one JSON-RPC message: read it (bounded), answer a plain
                    // `tools/call` directly, hand anything else to rmcp with the same bytes.
                    let bytes = match Limited::new(body, MAX_MESSAGE_BYTES).collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(_) => {
                            return Ok(GatewayError::PayloadTooLarge {
                                limit: MAX_MESSAGE_BYTES as u64,
                            }
                            .into_response());
                        }
                    };
                    if let Some(call) = fast::tools_call(&parts, &bytes) {
                        return Ok(fast::answer(&this.handler, &parts, call).await);
                    }
                    let request = Request::from_parts(parts, Full::new(bytes));
                    let Ok(response) = server.call(request).await;
                    Ok(response.map(ResponseBody::stream))
                }
                Err(refused) => {
                    let mut response = refused.into_response();
                    let challenge = format!(
                        "Bearer resource_metadata=\"{}{METADATA_PATH}\"",
                        origin(&parts)
                    );
                    if let Ok(value) = HeaderValue::from_str(&challenge) {
                        response
                            .headers_mut()
                            .insert(header::WWW_AUTHENTICATE, value);
                    }
                    Ok(response)
                }
            }
        })
    }
}

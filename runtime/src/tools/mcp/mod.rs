//! The `mcp` adapter: a ToolRegistry handler's MCP server (`mcpConfig`), reached over stdio (a
//! child process), streamable HTTP (rmcp) or legacy HTTP+SSE (our transport, `sse`).
//!
//! Its tools are what the server lists (`tools/list`, every page), filtered by `toolFilter`, under
//! the names the server gives them (as Omnia: no prefix). The set is fixed at discovery: a
//! reconnected or restarted server is not listed again.
//!
//! A call is one `tools/call` with the checked arguments. Its identity goes in the request's
//! `_meta` (`x-omnia-agent-name`, `x-omnia-namespace`, `x-omnia-session-id`, `x-omnia-tool-name`,
//! `x-omnia-tool-call-id`): MCP has no per-request headers, and the streamable HTTP client sends
//! the same headers on every request of a session. On HTTP transports the agent and namespace
//! are also headers of the session (opened again if a call comes for another agent, which is
//! also how the session discovery opened, without an identity, is replaced at the first call).
//! The end user's credentials never go.
//!
//! Failures: `isError` is the tool's answer ([`ToolError::Reported`], not counted against the
//! handler); a JSON-RPC error for bad parameters or an unknown tool is the model's to fix
//! ([`ToolError::BadRequest`]), another is [`ToolError::Failed`]; a lost session is
//! [`ToolError::Unreachable`] once the attempts are spent. An attempt opens a session if there
//! is no live one, then calls; a call that loses its session drops it, and the next attempt
//! opens a new one. Attempts and the pause between them come from `retryPolicy`; without one a
//! call has two attempts and no pause (one reconnect). An attempt that cannot finish by the
//! call's deadline is not started.

mod filter;
mod result;
mod session;
mod sse;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use omnia_api::{McpTool, McpTransport};
use reqwest::Url;
use rmcp::ServiceError;
use rmcp::model::{CallToolRequestParams, ErrorCode, JsonObject, RequestMetaObject};
use serde_json::Value;
use tokio::time::Instant;

use self::filter::ToolFilter;
use self::session::{Caller, Sessions, Target, bounded, error_chain, transport_reason};
use super::http::MAX_RESPONSE_BYTES;
use super::identity::identity;
use super::retry::{self, Backoff};
use super::{Adapter, FoundTool, ToolError, ToolInvocation};

/// Connecting (TCP + TLS) to an HTTP server takes at most this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a server's error message quoted to the model.
const MESSAGE_CHARS: usize = 1000;
/// Restarts of a stdio child without a `retryPolicy`: Omnia's backoff defaults.
const RESTART_BACKOFF: (Duration, f64, Duration) =
    (Duration::from_millis(100), 2.0, Duration::from_secs(30));

/// `retryPolicy`, or two attempts.
#[derive(Debug, Clone)]
struct Retry {
    max_attempts: u32,
    backoff: Backoff,
}

/// One `mcp` handler.
pub(crate) struct McpAdapter {
    sessions: Arc<Sessions>,
    filter: ToolFilter,
    retry: Retry,
}

impl std::fmt::Debug for McpAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpAdapter")
            .field("sessions", &self.sessions)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

/// How one attempt failed.
enum Failure {
    /// The session is gone (or could not be opened): another attempt may open a new one.
    Lost(String),
    /// The server answered: this is the call's result.
    Final(ToolError),
}

impl McpAdapter {
    /// The adapter of handler `handler`; a field that cannot work is `(field, why)`. Nothing
    /// connects (or starts) until discovery or the first call.
    pub(crate) fn new(handler: &str, config: &McpTool) -> Result<Self, (&'static str, String)> {
        let target = match config.transport {
            McpTransport::Stdio => {
                let command = config
                    .command
                    .as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .ok_or((
                        "mcpConfig.command",
                        "the stdio transport needs the command that starts the server".to_owned(),
                    ))?;
                for (name, value) in &config.env {
                    if name.is_empty() || name.contains(['=', '\0']) {
                        return Err((
                            "mcpConfig.env",
                            format!("`{name}` is not an environment variable name"),
                        ));
                    }
                    if value.contains('\0') {
                        return Err((
                            "mcpConfig.env",
                            format!("the value of `{name}` contains a NUL byte"),
                        ));
                    }
                }
                Target::Stdio {
                    command: command.to_owned(),
                    args: config.args.clone(),
                    work_dir: config.work_dir.clone(),
                    env: config
                        .env
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                }
            }
            transport @ (McpTransport::StreamableHttp | McpTransport::Sse) => {
                let name = match transport {
                    McpTransport::Sse => "sse",
                    _ => "streamable-http",
                };
                let endpoint = config
                    .endpoint
                    .as_deref()
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .ok_or((
                        "mcpConfig.endpoint",
                        format!("the {name} transport needs the server's http(s) URL"),
                    ))?;
                let url = Url::parse(endpoint).map_err(|e| {
                    (
                        "mcpConfig.endpoint",
                        format!("`{endpoint}` is not a URL: {e}"),
                    )
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err((
                        "mcpConfig.endpoint",
                        format!("`{endpoint}` is not an http(s) URL"),
                    ));
                }
                let client = http_client(handler)?;
                match transport {
                    McpTransport::Sse => Target::Sse { url, client },
                    _ => Target::StreamableHttp { url, client },
                }
            }
        };
        let (retry, restart) = match &config.retry {
            Some(policy) => {
                let backoff = Backoff::new(
                    policy.initial_backoff,
                    policy.backoff_multiplier,
                    policy.max_backoff,
                );
                (
                    Retry {
                        max_attempts: policy.max_attempts.max(1),
                        backoff,
                    },
                    backoff,
                )
            }
            None => {
                let (initial, multiplier, max) = RESTART_BACKOFF;
                (
                    Retry {
                        max_attempts: 2,
                        backoff: Backoff::NONE,
                    },
                    Backoff::new(initial, multiplier, max),
                )
            }
        };
        Ok(Self {
            sessions: Sessions::new(handler, target, restart),
            filter: ToolFilter::new(&config.allowlist, &config.blocklist),
            retry,
        })
    }

    async fn run(&self, call: &ToolInvocation<'_>) -> Result<String, ToolError> {
        let caller = Caller {
            agent: call.context.agent.to_owned(),
            namespace: call.context.namespace.to_owned(),
        };
        let meta: JsonObject = identity(call)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        let mut params = CallToolRequestParams::new(call.tool.to_owned())
            .with_arguments(call.arguments.as_object().cloned().unwrap_or_default());
        params.meta = Some(RequestMetaObject::from(meta));
        self.attempts(call.tool, call.deadline, |attempt| {
            let params = params.clone();
            let caller = &caller;
            async move {
                let live = self
                    .sessions
                    .session(Some(caller))
                    .await
                    .map_err(Failure::Lost)?;
                match live.service.call_tool(params).await {
                    Ok(answer) => result::text_of(call.tool, answer, MAX_RESPONSE_BYTES)
                        .map_err(Failure::Final),
                    Err(error) => {
                        let failure = failure(call.tool, &self.sessions.describe(), error);
                        if matches!(failure, Failure::Lost(_)) {
                            self.sessions.discard(&live);
                        }
                        tracing::debug!(
                            tool = call.tool,
                            call_id = call.call_id,
                            attempt,
                            "MCP call failed"
                        );
                        Err(failure)
                    }
                }
            }
        })
        .await
    }

    /// The server's tools that pass the filter.
    async fn list(&self, deadline: Instant) -> Result<Vec<FoundTool>, ToolError> {
        let tools = self
            .attempts("tools/list", deadline, |_| async {
                let live = self.sessions.session(None).await.map_err(Failure::Lost)?;
                live.service.peer().list_all_tools().await.map_err(|error| {
                    let failure = failure("tools/list", &self.sessions.describe(), error);
                    if matches!(failure, Failure::Lost(_)) {
                        self.sessions.discard(&live);
                    }
                    failure
                })
            })
            .await?;
        let mut found = Vec::new();
        for tool in tools {
            if !self.filter.admits(&tool.name) {
                tracing::debug!(tool = %tool.name, "left out by the handler's toolFilter");
                continue;
            }
            found.push(FoundTool {
                name: tool.name.to_string(),
                description: tool
                    .description
                    .as_deref()
                    .or(tool.title.as_deref())
                    .unwrap_or_default()
                    .to_owned(),
                input_schema: Value::Object(tool.input_schema.as_ref().clone()),
            });
        }
        Ok(found)
    }

    /// Runs `attempt` (given its 1-based number) until it succeeds, fails for good, or the
    /// attempts the policy allows (and the deadline) are spent. `tool` names the tool, or the
    /// request, in errors.
    async fn attempts<T, F, Fut>(
        &self,
        tool: &str,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T, ToolError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut n = 1;
        loop {
            let reason = match attempt(n).await {
                Ok(value) => return Ok(value),
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::Lost(reason)) => reason,
            };
            let pause = self.retry.backoff.delay(n);
            if n >= self.retry.max_attempts || !retry::fits(pause, deadline) {
                let tries = if n > 1 {
                    format!(" ({n} attempts)")
                } else {
                    String::new()
                };
                return Err(ToolError::Unreachable {
                    tool: tool.to_owned(),
                    reason: format!("{reason}{tries}"),
                });
            }
            tracing::debug!(tool, attempt = n, ?pause, %reason, "reconnecting to the MCP server");
            tokio::time::sleep(pause).await;
            n += 1;
        }
    }
}

/// What an rmcp error means for the call to `server` (its command line or URL).
fn failure(tool: &str, server: &str, error: ServiceError) -> Failure {
    let failed = |reason: String| {
        Failure::Final(ToolError::Failed {
            tool: tool.to_owned(),
            reason,
        })
    };
    match error {
        ServiceError::McpError(error) => {
            let message = bounded(error.message.trim(), MESSAGE_CHARS);
            if error.code == ErrorCode::INVALID_PARAMS {
                // An unknown tool or arguments the server refuses: the model's to fix.
                Failure::Final(ToolError::BadRequest {
                    tool: tool.to_owned(),
                    reason: format!("the MCP server refused the call: {message}"),
                })
            } else {
                failed(format!(
                    "the MCP server answered with error {}: {message}",
                    error.code.0
                ))
            }
        }
        ServiceError::TransportSend(error) => {
            if too_large(&error) {
                return Failure::Final(ToolError::TooLarge {
                    tool: tool.to_owned(),
                    limit: MAX_RESPONSE_BYTES,
                });
            }
            Failure::Lost(format!(
                "the connection to the MCP server {server} failed: {}",
                bounded(&transport_reason(&error), MESSAGE_CHARS)
            ))
        }
        ServiceError::TransportClosed | ServiceError::Cancelled { .. } => {
            Failure::Lost(format!("the connection to the MCP server {server} closed"))
        }
        ServiceError::UnexpectedResponse => {
            failed("the MCP server answered with something other than a result".to_owned())
        }
        ServiceError::InputRequiredRoundsExceeded { .. } => {
            failed("the MCP tool keeps asking for input the runtime cannot give".to_owned())
        }
        other => failed(bounded(&error_chain(&other), MESSAGE_CHARS)),
    }
}

/// Whether a send failed because the streamable HTTP answer was larger than rmcp reads.
fn too_large(error: &rmcp::transport::DynamicTransportError) -> bool {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    matches!(
        error
            .error
            .downcast_ref::<StreamableHttpError<reqwest::Error>>(),
        Some(StreamableHttpError::ResponseBodyTooLarge { .. })
    )
}

/// The HTTP client of one handler's HTTP transports.
fn http_client(handler: &str) -> Result<reqwest::Client, (&'static str, String)> {
    // reqwest is built without a TLS provider and panics building a client without one; the
    // runtime installs ring at start-up, tests may not have.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        // The identity headers must not follow a redirect to another host.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            (
                "mcpConfig",
                format!("cannot build handler `{handler}`'s HTTP client: {e}"),
            )
        })
}

impl Adapter for McpAdapter {
    fn call<'a>(
        &'a self,
        call: &'a ToolInvocation<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(call))
    }

    fn discover(&self, deadline: Instant) -> BoxFuture<'_, Result<Vec<FoundTool>, String>> {
        Box::pin(async move {
            self.list(deadline).await.map_err(|e| match e {
                ToolError::Unreachable { reason, .. } => reason,
                ToolError::Failed { reason, .. } => {
                    format!(
                        "the MCP server {} failed: {reason}",
                        self.sessions.describe()
                    )
                }
                other => other.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use super::*;

    fn config(transport: McpTransport) -> McpTool {
        McpTool {
            transport,
            endpoint: None,
            command: None,
            args: Vec::new(),
            work_dir: None,
            env: BTreeMap::new(),
            allowlist: Vec::new(),
            blocklist: Vec::new(),
            retry: None,
        }
    }

    #[test]
    fn stdio_needs_a_command() {
        let err = McpAdapter::new("h", &config(McpTransport::Stdio)).unwrap_err();
        assert_eq!(err.0, "mcpConfig.command");
        let mut c = config(McpTransport::Stdio);
        c.command = Some("  ".into());
        assert_eq!(McpAdapter::new("h", &c).unwrap_err().0, "mcpConfig.command");
        c.command = Some("python".into());
        assert!(McpAdapter::new("h", &c).is_ok());
        c.env.insert("A=B".into(), "x".into());
        assert_eq!(McpAdapter::new("h", &c).unwrap_err().0, "mcpConfig.env");
    }

    #[test]
    fn http_transports_need_an_http_url() {
        for transport in [McpTransport::StreamableHttp, McpTransport::Sse] {
            let mut c = config(transport);
            assert_eq!(
                McpAdapter::new("h", &c).unwrap_err().0,
                "mcpConfig.endpoint"
            );
            c.endpoint = Some("not a url".into());
            assert_eq!(
                McpAdapter::new("h", &c).unwrap_err().0,
                "mcpConfig.endpoint"
            );
            c.endpoint = Some("ftp://host/mcp".into());
            let err = McpAdapter::new("h", &c).unwrap_err();
            assert!(err.1.contains("http(s)"), "{err:?}");
            c.endpoint = Some("http://127.0.0.1:1/mcp".into());
            assert!(McpAdapter::new("h", &c).is_ok());
        }
    }

    #[test]
    fn json_rpc_errors_map_to_tool_errors() {
        let mcp =
            |code: i32| ServiceError::McpError(rmcp::ErrorData::new(ErrorCode(code), "nope", None));
        assert!(matches!(
            failure("t", "s", mcp(-32602)),
            Failure::Final(ToolError::BadRequest { .. })
        ));
        assert!(matches!(
            failure("t", "s", mcp(-32603)),
            Failure::Final(ToolError::Failed { .. })
        ));
        assert!(matches!(
            failure("t", "s", ServiceError::TransportClosed),
            Failure::Lost(_)
        ));
    }
}

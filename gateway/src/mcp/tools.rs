//! The MCP server behind `/mcp`: one tool per function, called through the facade's own stack
//! (`POST /functions/{name}`), so a tool call gets the same auth, limits, schemas and runtime
//! call as an HTTP one.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt as _, Full};
use omnia_middleware::ResponseBody;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use super::Admitted;
use crate::router::FUNCTIONS_PREFIX;

/// The facade's stack, taking in-memory bodies.
pub type Facade = BoxCloneSyncService<Request<Full<Bytes>>, Response<ResponseBody>, Infallible>;

/// The largest function response read back into a tool result (the facade's own bound is the
/// runtime's; this keeps a runaway answer from being buffered twice without limit).
const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// One function as a tool.
#[derive(Debug, Clone)]
pub struct FunctionTool {
    pub tool: Tool,
}

impl FunctionTool {
    /// The tool for a function: its name, the PromptPack's description, its schemas (an output
    /// schema only when it describes an object, as MCP requires of `structuredContent`).
    pub fn new(name: &str, description: Option<&str>, input: &Value, output: &Value) -> Self {
        let object = |schema: &Value| match schema {
            Value::Object(map) => map.clone(),
            _ => JsonObject::new(),
        };
        let description = description
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Calls the function {name}."));
        let mut tool = Tool::new(name.to_owned(), description, Arc::new(object(input)));
        if output.get("type").and_then(Value::as_str) == Some("object") {
            tool.output_schema = Some(Arc::new(object(output)));
        }
        Self { tool }
    }
}

/// The server: the functions' tools, and the facade to call them through.
#[derive(Clone)]
pub struct Functions {
    pub tools: Arc<Vec<FunctionTool>>,
    pub facade: Facade,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions")
            .field("tools", &self.tools.len())
            .finish_non_exhaustive()
    }
}

impl Functions {
    /// Runs function `name` with `arguments` for the caller of `parts`, through the facade.
    ///
    /// # Errors
    /// A protocol error for a tool the caller may not see, or a result that cannot be read.
    pub async fn call(
        &self,
        parts: Option<&http::request::Parts>,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, McpError> {
        if !self.tools.iter().any(|t| t.tool.name == name)
            || !admitted(parts).is_some_and(|a| a.allows(name))
        {
            return Err(McpError::invalid_params(
                format!("no tool named {name:?}"),
                None,
            ));
        }
        let body = Bytes::from(Value::Object(arguments).to_string());
        let mut call = Request::post(format!("{FUNCTIONS_PREFIX}{name}"))
            .body(Full::new(body))
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        if let Some(parts) = parts {
            // The caller's credentials and identity headers go with the call: the function's
            // own auth chain judges them again.
            for (key, value) in &parts.headers {
                if key != header::CONTENT_LENGTH && key != header::CONTENT_TYPE {
                    call.headers_mut().append(key.clone(), value.clone());
                }
            }
        }
        call.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let Ok(response) = self.facade.clone().oneshot(call).await;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_RESULT_BYTES)
            .collect()
            .await
            .map_err(|e| McpError::internal_error(format!("reading the result: {e}"), None))?
            .to_bytes();
        let parsed: Value = serde_json::from_slice(&body)
            .map_err(|e| McpError::internal_error(format!("the result is not JSON: {e}"), None))?;
        Ok(if status.is_success() {
            let output = parsed.get("output").cloned().unwrap_or(Value::Null);
            if output.is_object() {
                CallToolResult::structured(output)
            } else {
                CallToolResult::success(vec![ContentBlock::text(output.to_string())])
            }
        } else {
            // A refused input, a failed runtime or an output the schema refused: the model reads
            // the function API's error body as the tool's error.
            CallToolResult::structured_error(parsed)
        })
    }
}

/// The HTTP request the MCP call came in (rmcp hands it to handlers).
fn caller(context: &RequestContext<RoleServer>) -> Option<&http::request::Parts> {
    context.extensions.get::<http::request::Parts>()
}

fn admitted(parts: Option<&http::request::Parts>) -> Option<&Admitted> {
    parts.and_then(|p| p.extensions.get::<Admitted>())
}

impl ServerHandler for Functions {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "omnia-gateway",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Each tool is an Omnia function: a PromptPack behind a typed schema.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let admitted = admitted(caller(&context));
        let tools = self
            .tools
            .iter()
            .filter(|t| admitted.is_some_and(|a| a.allows(&t.tool.name)))
            .map(|t| t.tool.clone())
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.clone().unwrap_or_default();
        self.call(caller(&context), request.name.as_ref(), arguments)
            .await
            .map(CallToolResponse::Complete)
    }
}

//! The hot request answered without rmcp's machinery: a single `tools/call` over streamable HTTP
//! in a protocol version with sessions optional. rmcp serves it too, but as a stateless request
//! it builds a server and its channels per request, which costs several times the function call
//! it wraps (BENCHMARKS.md, "MCP"). Everything else (`initialize`, `tools/list`, notifications,
//! batches, other versions, anything this does not recognise) goes to rmcp unchanged.

use bytes::Bytes;
use http::Response;
use omnia_middleware::ResponseBody;
use rmcp::model::{JsonObject, ProtocolVersion};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tools::Functions;
use crate::router::json_response;

/// The versions whose `tools/call` this answers: those of the 2025 revisions, whose result has no
/// `resultType` and whose requests need no session when the server gives none.
const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
];

/// A `tools/call` request, as far as this reads it.
#[derive(Debug, Deserialize)]
pub struct ToolsCall {
    jsonrpc: String,
    /// A number or a string (JSON-RPC); echoed as it came.
    id: Value,
    method: String,
    params: Params,
}

#[derive(Debug, Deserialize)]
struct Params {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
}

/// The `tools/call` in `body`, when the request is one this answers itself.
pub fn tools_call(parts: &http::request::Parts, body: &Bytes) -> Option<ToolsCall> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let version = header("mcp-protocol-version")?;
    if !VERSIONS.iter().any(|v| v.as_str() == version) {
        return None;
    }
    // rmcp answers 406 and 415 for these; leave them to it.
    let accept = header("accept")?;
    if !(accept.contains("application/json") && accept.contains("text/event-stream")) {
        return None;
    }
    if !header("content-type")?.starts_with("application/json") {
        return None;
    }
    let call: ToolsCall = serde_json::from_slice(body).ok()?;
    let id_ok = call.id.is_string() || call.id.is_i64() || call.id.is_u64();
    (call.jsonrpc == "2.0" && call.method == "tools/call" && id_ok).then_some(call)
}

/// Runs the call and answers it as rmcp would: a JSON-RPC result, or a JSON-RPC error.
pub async fn answer(
    functions: &Functions,
    parts: &http::request::Parts,
    call: ToolsCall,
) -> Response<ResponseBody> {
    let arguments = call.params.arguments.unwrap_or_default();
    let message = match functions
        .call(Some(parts), &call.params.name, arguments)
        .await
    {
        Ok(result) => {
            let mut result = serde_json::to_value(result).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut result {
                // A 2026 field; the 2025 revisions have no such member.
                map.remove("resultType");
            }
            json!({ "jsonrpc": "2.0", "id": call.id, "result": result })
        }
        Err(error) => json!({ "jsonrpc": "2.0", "id": call.id, "error": error }),
    };
    json_response(&message)
}

//! One tool call through a [`ToolManager`], as the tool loop makes it, for the adapter tests
//! (`http_tools`, `mcp_tools`, `openapi_tools`): call id `call-7`, agent `support` in namespace
//! `agents`, session `session-1`, no turn deadline.

use omnia_runtime::provider::ToolCallRequest;
use omnia_runtime::{ToolContext, ToolExecutor, ToolManager};

/// `tool` called with `arguments` (JSON text, sent as it is).
pub async fn call_text(
    manager: &ToolManager,
    tool: &str,
    arguments: &str,
) -> Result<String, String> {
    let request = ToolCallRequest {
        id: "call-7".into(),
        name: tool.into(),
        arguments_json: arguments.to_owned(),
        consent_message: String::new(),
        categories: Vec::new(),
    };
    let context = ToolContext {
        agent: "support",
        namespace: "agents",
        session: "session-1",
        deadline: None,
    };
    manager.execute(&request, context).await
}

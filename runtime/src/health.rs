//! What `Health` reports: decided once at start-up from the compiled functions, since nothing
//! that makes a function servable changes while the process runs.

use omnia_proto::runtime::v1::{CONTRACT_VERSION, HealthResponse};

use crate::{ConversationInfo, FunctionInfo};

/// The capability a runtime has when it can serve at least one `Invoke`.
const INVOKE: &str = "invoke";

/// With agent-mode agents: their tool calls can be run by the client (Omnia's name).
const CLIENT_TOOLS: &str = "client_tools";

/// With agent-mode agents: one `Converse` stream carries every turn of a session; the runtime
/// keeps reading after `done`, so a facade need not open a stream (and reload the session) per
/// turn. Our name: Omnia's consumers ignore capabilities they do not know.
pub const MULTI_TURN_STREAM: &str = "multi_turn_stream";

/// The `Health` answer for a runtime serving `functions` and `conversations`.
///
/// Healthy when at least one agent can be served. The status says `ok` when every agent answers
/// with the provider its manifest names; one answered by the mock in the provider's place (dev
/// mode) is named there, so a probe can tell a dev runtime from a real one.
pub(crate) fn report<'a>(
    functions: impl Iterator<Item = &'a FunctionInfo>,
    conversations: impl Iterator<Item = &'a ConversationInfo>,
) -> HealthResponse {
    let mut stand_ins = Vec::new();
    let mut note = |name: &str, provider: &str, stand_in: Option<crate::provider::StandIn>| {
        if let Some(stand_in) = stand_in {
            stand_ins.push(format!(
                "`{name}` answers with the mock in place of Provider `{provider}` (type {}: {})",
                stand_in.kind, stand_in.reason
            ));
        }
    };
    let mut served_functions = 0;
    for function in functions {
        served_functions += 1;
        note(&function.name, &function.provider, function.stand_in);
    }
    let mut served_conversations = 0;
    for conversation in conversations {
        served_conversations += 1;
        note(
            &conversation.name,
            &conversation.provider,
            conversation.stand_in,
        );
    }
    let mut capabilities = Vec::new();
    if served_functions > 0 {
        capabilities.push(INVOKE.to_owned());
    }
    if served_conversations > 0 {
        capabilities.push(CLIENT_TOOLS.to_owned());
        capabilities.push(MULTI_TURN_STREAM.to_owned());
    }
    let (healthy, status) = if capabilities.is_empty() {
        (
            false,
            "nothing to serve: the configuration has no AgentRuntime".to_owned(),
        )
    } else if stand_ins.is_empty() {
        (true, "ok".to_owned())
    } else {
        (true, format!("dev mode: {}", stand_ins.join("; ")))
    };
    HealthResponse {
        healthy,
        status,
        contract_version: CONTRACT_VERSION.to_owned(),
        capabilities,
    }
}

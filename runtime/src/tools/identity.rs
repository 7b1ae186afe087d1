//! The identity metadata every tool call carries: who the call is for, never the end user's
//! credentials.

use super::ToolInvocation;

/// The identity headers (gRPC metadata keys) of `call` and their values. An adapter leaves out a
/// value it cannot send (not a valid header value) rather than failing the call.
pub(crate) fn identity<'a>(call: &ToolInvocation<'a>) -> [(&'static str, &'a str); 5] {
    [
        ("x-omnia-agent-name", call.context.agent),
        ("x-omnia-namespace", call.context.namespace),
        ("x-omnia-session-id", call.context.session),
        ("x-omnia-tool-name", call.tool),
        ("x-omnia-tool-call-id", call.call_id),
    ]
}

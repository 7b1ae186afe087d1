//! What `Health` reports: decided once at start-up from the compiled functions, since nothing
//! that makes a function servable changes while the process runs.

use omnia_proto::runtime::v1::{CONTRACT_VERSION, HealthResponse};

use crate::FunctionInfo;

/// The capability a runtime has when it can serve at least one `Invoke`.
const INVOKE: &str = "invoke";

/// The `Health` answer for a runtime serving `functions`.
///
/// Healthy when at least one function can be served. The status says `ok` when every function
/// answers with the provider its manifest names; a function answered by the mock in the
/// provider's place (dev mode) is named there, so a probe can tell a dev runtime from a real one.
pub(crate) fn report<'a>(functions: impl Iterator<Item = &'a FunctionInfo>) -> HealthResponse {
    let mut served = 0;
    let mut stand_ins = Vec::new();
    for function in functions {
        served += 1;
        if let Some(stand_in) = function.stand_in {
            stand_ins.push(format!(
                "`{}` answers with the mock in place of Provider `{}` (type {}: {})",
                function.name, function.provider, stand_in.kind, stand_in.reason
            ));
        }
    }
    let (healthy, status) = if served == 0 {
        (
            false,
            "no function to serve: the configuration has no function-mode AgentRuntime".to_owned(),
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
        capabilities: if healthy {
            vec![INVOKE.to_owned()]
        } else {
            Vec::new()
        },
    }
}

//! The internal listener (Omnia #1620): the same function routes as the facade port, behind a
//! chain that admits management-plane (dashboard) tokens only. The dashboard and its tools dial
//! this port inside the cluster; it is never exposed through an external Gateway or Ingress, and
//! the external port no longer accepts dashboard tokens.

use std::sync::Arc;

use omnia_api::Agent;
use omnia_middleware::auth::ManagementPlane;

use crate::auth_config;
use crate::function::FunctionSpec;

/// The default port of the internal listener (`OMNIA_INTERNAL_FACADE_PORT`), as in Omnia.
pub const DEFAULT_INTERNAL_PORT: u16 = 18080;

/// The functions the internal listener serves: one per agent in `served`, with the schemas of
/// its external twin in `external` and a management-plane-only chain scoped to that agent.
///
/// `served` is the set of agents to serve; today the gateway passes every function. Omnia lets an
/// AgentRuntime opt out with `facades[].managementPlane: false`; the filter for that belongs
/// with the caller (`internal_functions` in `app.rs`), which chooses `served`.
pub fn functions(
    external: &[FunctionSpec],
    served: &[&Agent],
    plane: Option<&ManagementPlane>,
    workspace: Option<&str>,
) -> Vec<FunctionSpec> {
    served
        .iter()
        .filter_map(|agent| {
            let twin = external.iter().find(|spec| spec.name == agent.name)?;
            Some(FunctionSpec {
                auth: Arc::new(auth_config::management_chain_for(agent, plane, workspace)),
                ..twin.clone()
            })
        })
        .collect()
}

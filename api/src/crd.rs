//! The custom resources as the operator reads them from the API server: the same spec types the
//! loader reads from files, with the `status` the operator writes. Their `crd()` is the
//! CustomResourceDefinition `crdgen` writes to `deploy/crds/`.

pub use crate::manifest::agent_runtime::AgentRuntimeObject as AgentRuntime;
pub use crate::manifest::prompt_pack::PromptPackObject as PromptPack;
pub use crate::manifest::provider::ProviderObject as Provider;
pub use crate::manifest::status::{
    AgentRuntimePhase, AgentRuntimeStatus, DependencyStatus, ReplicaStatus,
};
pub use crate::manifest::tool_registry::ToolRegistryObject as ToolRegistry;

//! The `status` the operator writes on each kind (Omnia's fields, so its dashboards and
//! `kubectl wait --for=condition=Ready` read them unchanged). The loader never reads a status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `AgentRuntime.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentRuntimeStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AgentRuntimePhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<ReplicaStatus>,
    /// The PromptPack version the pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_version: Option<String>,
    /// `{name}.{namespace}.svc.cluster.local:{port}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::kube_schema::conditions")]
    pub conditions: Vec<Condition>,
}

/// `AgentRuntime.status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AgentRuntimePhase {
    Pending,
    Running,
    Failed,
}

/// `AgentRuntime.status.replicas`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReplicaStatus {
    pub desired: i32,
    pub ready: i32,
    pub available: i32,
}

/// The `status` of a PromptPack, Provider or ToolRegistry: a phase and conditions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyStatus {
    /// `Active` or `Failed` (PromptPack), `Ready` or `Error` (Provider, ToolRegistry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The PromptPack version validated (PromptPack only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::kube_schema::conditions")]
    pub conditions: Vec<Condition>,
}

//! `AgentRuntime` (`omnia.altairalabs.ai/v1alpha1`): both Omnia's current shape (`facades[]`,
//! `context`, `providers[]`, `runtime{}`) and the seed documents' shape (`facade`, `session`,
//! `replicas`, inline `provider`, top-level `resources` and `env`).
//!
//! Fields that configure things nothing here does yet are typed loosely (`Value`) but by name, so
//! a typo still fails while a real Omnia field loads and is kept for the operator.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::ExternalAuthSpec;
use super::common::{ObjectRef, SecretKeyRef};
use super::provider::{
    Capability, PricingSpec, ProviderDefaultsSpec, ProviderRoleName, ProviderTypeName,
};
use super::status::AgentRuntimeStatus;

/// `AgentRuntime.spec`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, CustomResource)]
#[kube(
    group = "omnia.altairalabs.ai",
    version = "v1alpha1",
    kind = "AgentRuntime",
    root = "AgentRuntimeObject",
    namespaced,
    doc = "An agent or function: its PromptPack, providers, tools, facade and scaling; the operator runs it as a Deployment of gateway and runtime pods.",
    status = "AgentRuntimeStatus",
    shortname = "ar",
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Ready", "type": "integer", "jsonPath": ".status.replicas.ready"}"#,
    printcolumn = r#"{"name": "Desired", "type": "integer", "jsonPath": ".status.replicas.desired"}"#,
    printcolumn = r#"{"name": "Version", "type": "string", "jsonPath": ".status.activeVersion"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentRuntimeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeName>,
    /// Reference-doc shape; Omnia's current shape uses `runtime.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    pub prompt_pack_ref: PromptPackRef,
    /// Seed shape: one facade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facade: Option<FacadeSpec>,
    /// Omnia's current shape: one facade per protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facades: Option<Vec<FacadeSpec>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<NamedProviderRef>,
    /// Deprecated single reference, still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<ObjectRef>,
    /// The inline provider (reference-doc and older Omnia shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<InlineProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub input_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_registry_ref: Option<ObjectRef>,
    /// Seed shape of the conversation store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionSpec>,
    /// Omnia's current name for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<SessionSpec>,
    /// Function mode: how the model is asked to format its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<OutputFormatName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth: Option<ExternalAuthSpec>,
    // Features the gateway does not interpret yet; kept so Omnia manifests load unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub evals: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub console: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub a2a: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<super::media::MediaSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub extra_pod_annotations: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub memory: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub duplex: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub pod_overrides: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub privacy_policy_ref: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub rollout: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_group: Option<String>,
    /// Reference-doc shape: Kubernetes `ResourceRequirements`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub resources: Option<Value>,
    /// Reference-doc shape: Kubernetes `EnvVar` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub env: Option<Value>,
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    Agent,
    Function,
}

/// `spec.promptPackRef`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromptPackRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
}

/// `spec.facade`, or one `spec.facades[]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FacadeSpec {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<FacadeTypeName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<HandlerName>,
    /// Go duration (`30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<String>,
    /// Go duration (`60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_tool_timeout: Option<String>,
    /// Whether the internal management-plane twin listener serves this facade (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_plane: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub extra_env: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub a2a: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub mcp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose: Option<ExposeSpec>,
}

/// `facades[].expose`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExposeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `spec.facade.type` (seed: `websocket`, `grpc`) and `spec.facades[].type` (Omnia: `websocket`,
/// `a2a`, `rest`, `mcp`, `custom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FacadeTypeName {
    Websocket,
    Grpc,
    Rest,
    A2a,
    Mcp,
    Custom,
}

/// `spec.outputFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormatName {
    Text,
    Json,
    JsonSchema,
}

/// `spec.facade.handler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HandlerName {
    Runtime,
    Demo,
    Echo,
}

/// One `spec.providers[]` entry: a role name and the Provider it uses.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedProviderRef {
    pub name: String,
    pub provider_ref: ObjectRef,
    /// The role the Provider must have (`llm` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ProviderRoleName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_capabilities: Vec<Capability>,
}

/// The inline `spec.provider`: the reference-doc shape (`name`, `model`, `apiKeySecretRef`) and
/// Omnia's older shape (`type`, `model`, `secretRef`, `baseURL`, `config`, `pricing`,
/// `additionalConfig`) in one struct, since both spell `model` the same way.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InlineProvider {
    /// Reference-doc spelling of the provider type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ProviderTypeName>,
    /// Omnia's spelling of the provider type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProviderTypeName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    #[serde(
        default,
        rename = "baseURL",
        alias = "baseUrl",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ProviderDefaultsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PricingSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_config: Option<BTreeMap<String, String>>,
}

/// `spec.session` (seed) and `spec.context` (Omnia).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionSpec {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SessionStoreName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<SecretKeyRef>,
}

/// `spec.session.type` / `spec.context.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStoreName {
    Memory,
    Redis,
    Postgres,
}

/// `spec.runtime`: the runtime container's deployment settings. Only `replicas` is read here;
/// the Kubernetes types are kept whole for the operator.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub autoscaling: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub resources: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub node_selector: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub tolerations: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub affinity: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub volumes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub volume_mounts: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub extra_env: Option<Value>,
}

/// `spec.framework`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FrameworkSpec {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

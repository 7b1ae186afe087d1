//! `AgentRuntime` (`omnia.altairalabs.ai/v1alpha1`): both Omnia's current shape (`facades[]`,
//! `context`, `providers[]`, `runtime{}`) and the seed documents' shape (`facade`, `session`,
//! `replicas`, inline `provider`, top-level `resources` and `env`).
//!
//! Fields that configure things nothing here does yet are typed loosely (`Value`) but by name, so
//! a typo still fails while a real Omnia field loads and is kept for the operator.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::auth::ExternalAuthSpec;
use super::common::{ObjectRef, SecretKeyRef};
use super::provider::{
    Capability, PricingSpec, ProviderDefaultsSpec, ProviderRoleName, ProviderTypeName,
};

/// `AgentRuntime.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentRuntimeSpec {
    #[serde(default)]
    pub mode: Option<ModeName>,
    /// Reference-doc shape; Omnia's current shape uses `runtime.replicas`.
    #[serde(default)]
    pub replicas: Option<u32>,
    pub prompt_pack_ref: PromptPackRef,
    /// Seed shape: one facade.
    #[serde(default)]
    pub facade: Option<FacadeSpec>,
    /// Omnia's current shape: one facade per protocol.
    #[serde(default)]
    pub facades: Option<Vec<FacadeSpec>>,
    #[serde(default)]
    pub providers: Vec<NamedProviderRef>,
    /// Deprecated single reference, still accepted.
    #[serde(default)]
    pub provider_ref: Option<ObjectRef>,
    /// The inline provider (reference-doc and older Omnia shape).
    #[serde(default)]
    pub provider: Option<InlineProvider>,
    #[serde(default)]
    pub input_schema: Option<Value>,
    #[serde(default)]
    pub output_schema: Option<Value>,
    #[serde(default)]
    pub tool_registry_ref: Option<ObjectRef>,
    /// Seed shape of the conversation store.
    #[serde(default)]
    pub session: Option<SessionSpec>,
    /// Omnia's current name for it.
    #[serde(default)]
    pub context: Option<SessionSpec>,
    /// Function mode: how the model is asked to format its answer.
    #[serde(default)]
    pub output_format: Option<OutputFormatName>,
    #[serde(default)]
    pub runtime: Option<RuntimeSpec>,
    #[serde(default)]
    pub framework: Option<FrameworkSpec>,
    #[serde(default)]
    pub external_auth: Option<ExternalAuthSpec>,
    // Features the gateway does not interpret yet; kept so Omnia manifests load unchanged.
    #[serde(default)]
    pub evals: Option<Value>,
    #[serde(default)]
    pub console: Option<Value>,
    #[serde(default)]
    pub a2a: Option<Value>,
    #[serde(default)]
    pub media: Option<super::media::MediaSpec>,
    #[serde(default)]
    pub extra_pod_annotations: Option<Value>,
    #[serde(default)]
    pub memory: Option<Value>,
    #[serde(default)]
    pub duplex: Option<Value>,
    #[serde(default)]
    pub pod_overrides: Option<Value>,
    #[serde(default)]
    pub privacy_policy_ref: Option<Value>,
    #[serde(default)]
    pub rollout: Option<Value>,
    #[serde(default)]
    pub service_group: Option<String>,
    /// Reference-doc shape: Kubernetes `ResourceRequirements`.
    #[serde(default)]
    pub resources: Option<Value>,
    /// Reference-doc shape: Kubernetes `EnvVar` list.
    #[serde(default)]
    pub env: Option<Value>,
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    Agent,
    Function,
}

/// `spec.promptPackRef`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromptPackRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub track: Option<String>,
}

/// `spec.facade`, or one `spec.facades[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FacadeSpec {
    #[serde(default, rename = "type")]
    pub kind: Option<FacadeTypeName>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub handler: Option<HandlerName>,
    /// Go duration (`30s`).
    #[serde(default)]
    pub drain_timeout: Option<String>,
    /// Go duration (`60s`).
    #[serde(default)]
    pub client_tool_timeout: Option<String>,
    /// Whether the internal management-plane twin listener serves this facade (default true).
    #[serde(default)]
    pub management_plane: Option<bool>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub extra_env: Option<Value>,
    #[serde(default)]
    pub a2a: Option<Value>,
    #[serde(default)]
    pub mcp: Option<Value>,
    #[serde(default)]
    pub expose: Option<ExposeSpec>,
}

/// `facades[].expose`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExposeSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub host: Option<String>,
}

/// `spec.facade.type` (seed: `websocket`, `grpc`) and `spec.facades[].type` (Omnia: `websocket`,
/// `a2a`, `rest`, `mcp`, `custom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormatName {
    Text,
    Json,
    JsonSchema,
}

/// `spec.facade.handler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandlerName {
    Runtime,
    Demo,
    Echo,
}

/// One `spec.providers[]` entry: a role name and the Provider it uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedProviderRef {
    pub name: String,
    pub provider_ref: ObjectRef,
    /// The role the Provider must have (`llm` by default).
    #[serde(default)]
    pub role: Option<ProviderRoleName>,
    #[serde(default)]
    pub required_capabilities: Vec<Capability>,
}

/// The inline `spec.provider`: the reference-doc shape (`name`, `model`, `apiKeySecretRef`) and
/// Omnia's older shape (`type`, `model`, `secretRef`, `baseURL`, `config`, `pricing`,
/// `additionalConfig`) in one struct, since both spell `model` the same way.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InlineProvider {
    /// Reference-doc spelling of the provider type.
    #[serde(default)]
    pub name: Option<ProviderTypeName>,
    /// Omnia's spelling of the provider type.
    #[serde(default, rename = "type")]
    pub kind: Option<ProviderTypeName>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub api_key_secret_ref: Option<SecretKeyRef>,
    #[serde(default)]
    pub secret_ref: Option<SecretKeyRef>,
    #[serde(default, rename = "baseURL", alias = "baseUrl")]
    pub base_url: Option<String>,
    #[serde(default)]
    pub config: Option<ProviderDefaultsSpec>,
    #[serde(default)]
    pub pricing: Option<PricingSpec>,
    #[serde(default)]
    pub additional_config: Option<BTreeMap<String, String>>,
}

/// `spec.session` (seed) and `spec.context` (Omnia).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionSpec {
    #[serde(default, rename = "type")]
    pub kind: Option<SessionStoreName>,
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub store_ref: Option<SecretKeyRef>,
}

/// `spec.session.type` / `spec.context.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStoreName {
    Memory,
    Redis,
    Postgres,
}

/// `spec.runtime`: the runtime container's deployment settings. Only `replicas` is read here;
/// the Kubernetes types are kept whole for the operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeSpec {
    #[serde(default)]
    pub replicas: Option<u32>,
    #[serde(default)]
    pub autoscaling: Option<Value>,
    #[serde(default)]
    pub resources: Option<Value>,
    #[serde(default)]
    pub node_selector: Option<Value>,
    #[serde(default)]
    pub tolerations: Option<Value>,
    #[serde(default)]
    pub affinity: Option<Value>,
    #[serde(default)]
    pub volumes: Option<Value>,
    #[serde(default)]
    pub volume_mounts: Option<Value>,
    #[serde(default)]
    pub extra_env: Option<Value>,
}

/// `spec.framework`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FrameworkSpec {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
}

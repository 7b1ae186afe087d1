//! `AgentRuntime` (`omnia.altairalabs.ai/v1alpha1`): both the current Omnia shape (function mode,
//! `providers[]`, `runtime{}`) and the reference-doc shape (`replicas`, inline `provider`,
//! top-level `resources` and `env`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::auth::ExternalAuthSpec;
use super::common::{ObjectRef, SecretKeyRef};
use super::provider::{PricingSpec, ProviderDefaultsSpec, ProviderTypeName};

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
    #[serde(default)]
    pub facade: Option<FacadeSpec>,
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
    #[serde(default)]
    pub session: Option<SessionSpec>,
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
    pub media: Option<Value>,
    #[serde(default)]
    pub extra_pod_annotations: Option<Value>,
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

/// `spec.facade`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FacadeSpec {
    #[serde(default, rename = "type")]
    pub kind: Option<FacadeTypeName>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub handler: Option<HandlerName>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub extra_env: Option<Value>,
}

/// `spec.facade.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FacadeTypeName {
    Websocket,
    Grpc,
    Rest,
    A2a,
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

/// `spec.session`.
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

/// `spec.session.type`.
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

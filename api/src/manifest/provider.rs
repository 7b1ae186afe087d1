//! `Provider` (`omnia.altairalabs.ai/v1alpha1`): an LLM endpoint, its model and credentials.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{Decimal, SecretKeyRef};
use super::status::DependencyStatus;

/// `Provider.spec`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, CustomResource)]
#[kube(
    group = "omnia.altairalabs.ai",
    version = "v1alpha1",
    kind = "Provider",
    root = "ProviderObject",
    namespaced,
    doc = "An LLM provider: type, model, credentials and defaults.",
    status = "DependencyStatus",
    shortname = "prov",
    printcolumn = r#"{"name": "Type", "type": "string", "jsonPath": ".spec.type"}"#,
    printcolumn = r#"{"name": "Model", "type": "string", "jsonPath": ".spec.model"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderSpec {
    #[serde(rename = "type")]
    pub kind: ProviderTypeName,
    /// What kind of provider this is (`llm` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ProviderRoleName>,
    /// Settings of a `tts`-role provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub tts: Option<Value>,
    /// Settings of an `stt`-role provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub stt: Option<Value>,
    /// Settings of an `embedding`-role provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub embedding: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(
        default,
        rename = "baseURL",
        alias = "baseUrl",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_url: Option<String>,
    /// Extra HTTP headers sent on every provider request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Hyperscaler settings (bedrock, vertex, azure-ai); passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub platform: Option<Value>,
    /// Hyperscaler auth; passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub auth: Option<Value>,
    /// Deprecated in Omnia in favour of `credential.secretRef`, still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialSpec>,
    /// The spelling Omnia's echo-function example uses for `credential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<CredentialSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<ProviderDefaultsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PricingSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// Our extension: canned answers for the mock provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<MockSpec>,
}

/// `spec.type`, with the aliases people write (`anthropic`, `google`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderTypeName {
    Claude,
    Anthropic,
    Openai,
    Gemini,
    Google,
    Ollama,
    Mock,
    Echo,
    Bedrock,
    Vertex,
    AzureAi,
    Vllm,
    Voyageai,
    Cartesia,
    Elevenlabs,
    Imagen,
    Huggingface,
}

/// `spec.role` (Provider) and `spec.providers[].role` (AgentRuntime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderRoleName {
    Llm,
    Embedding,
    Tts,
    Stt,
    Image,
}

/// `spec.credential` / `spec.credentialsRef`: at most one source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    /// An environment variable of the process loading the manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_var: Option<String>,
    /// A file readable by the process loading the manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<PathBuf>,
}

/// `spec.defaults` (Provider) and `spec.provider.config` (inline).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderDefaultsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation_strategy: Option<TruncationStrategy>,
    /// Go duration capping a non-streaming provider call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
    /// Go duration a stream may stay silent before it is aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout: Option<String>,
}

/// `defaults.truncationStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TruncationStrategy {
    Sliding,
    Summarize,
    Custom,
}

/// `spec.pricing`: USD per 1000 tokens, strings in Omnia's CRD.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PricingSpec {
    #[serde(
        default,
        rename = "inputCostPer1K",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cost_per_1k: Option<Decimal>,
    #[serde(
        default,
        rename = "outputCostPer1K",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_1k: Option<Decimal>,
    #[serde(
        default,
        rename = "cachedCostPer1K",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_cost_per_1k: Option<Decimal>,
}

/// `spec.capabilities[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Text,
    Streaming,
    Vision,
    Tools,
    Json,
    Audio,
    Video,
    Documents,
    Duplex,
}

/// `spec.mock` (ours).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<MockScenarioSpec>,
}

/// One `spec.mock.scenarios[]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockScenarioSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub when: Option<Value>,
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub output: Value,
}

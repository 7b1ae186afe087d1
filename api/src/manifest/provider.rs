//! `Provider` (`omnia.altairalabs.ai/v1alpha1`): an LLM endpoint, its model and credentials.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::common::{Decimal, SecretKeyRef};

/// `Provider.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderSpec {
    #[serde(rename = "type")]
    pub kind: ProviderTypeName,
    /// What kind of provider this is (`llm` by default).
    #[serde(default)]
    pub role: Option<ProviderRoleName>,
    /// Settings of a `tts`-role provider.
    #[serde(default)]
    pub tts: Option<Value>,
    /// Settings of an `stt`-role provider.
    #[serde(default)]
    pub stt: Option<Value>,
    /// Settings of an `embedding`-role provider.
    #[serde(default)]
    pub embedding: Option<Value>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default, rename = "baseURL", alias = "baseUrl")]
    pub base_url: Option<String>,
    /// Extra HTTP headers sent on every provider request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Hyperscaler settings (bedrock, vertex, azure-ai); passed through.
    #[serde(default)]
    pub platform: Option<Value>,
    /// Hyperscaler auth; passed through.
    #[serde(default)]
    pub auth: Option<Value>,
    /// Deprecated in Omnia in favour of `credential.secretRef`, still accepted.
    #[serde(default)]
    pub secret_ref: Option<SecretKeyRef>,
    #[serde(default)]
    pub credential: Option<CredentialSpec>,
    /// The spelling Omnia's echo-function example uses for `credential`.
    #[serde(default)]
    pub credentials_ref: Option<CredentialSpec>,
    #[serde(default)]
    pub defaults: Option<ProviderDefaultsSpec>,
    #[serde(default)]
    pub pricing: Option<PricingSpec>,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Our extension: canned answers for the mock provider.
    #[serde(default)]
    pub mock: Option<MockSpec>,
}

/// `spec.type`, with the aliases people write (`anthropic`, `google`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderRoleName {
    Llm,
    Embedding,
    Tts,
    Stt,
    Image,
}

/// `spec.credential` / `spec.credentialsRef`: at most one source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialSpec {
    #[serde(default)]
    pub secret_ref: Option<SecretKeyRef>,
    /// An environment variable of the process loading the manifests.
    #[serde(default)]
    pub env_var: Option<String>,
    /// A file readable by the process loading the manifests.
    #[serde(default)]
    pub file_path: Option<PathBuf>,
}

/// `spec.defaults` (Provider) and `spec.provider.config` (inline).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderDefaultsSpec {
    #[serde(default)]
    pub temperature: Option<Decimal>,
    #[serde(default)]
    pub top_p: Option<Decimal>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub context_window: Option<u32>,
    #[serde(default)]
    pub truncation_strategy: Option<TruncationStrategy>,
    /// Go duration capping a non-streaming provider call.
    #[serde(default)]
    pub request_timeout: Option<String>,
    /// Go duration a stream may stay silent before it is aborted.
    #[serde(default)]
    pub stream_idle_timeout: Option<String>,
}

/// `defaults.truncationStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TruncationStrategy {
    Sliding,
    Summarize,
    Custom,
}

/// `spec.pricing`: USD per 1000 tokens, strings in Omnia's CRD.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSpec {
    #[serde(default, rename = "inputCostPer1K")]
    pub input_cost_per_1k: Option<Decimal>,
    #[serde(default, rename = "outputCostPer1K")]
    pub output_cost_per_1k: Option<Decimal>,
    #[serde(default, rename = "cachedCostPer1K")]
    pub cached_cost_per_1k: Option<Decimal>,
}

/// `spec.capabilities[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockSpec {
    #[serde(default)]
    pub scenarios: Vec<MockScenarioSpec>,
}

/// One `spec.mock.scenarios[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockScenarioSpec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub when: Option<Value>,
    pub output: Value,
}

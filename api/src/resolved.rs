//! The resolved configuration: what the gateway and the runtime actually run.
//!
//! Loading (see [`crate::load`]) parses the manifests, checks every reference between them
//! (AgentRuntime -> PromptPack -> ConfigMap, AgentRuntime -> Provider -> Secret, client-key
//! Secrets -> AgentRuntime) and produces these plain values, so no consumer ever walks the raw
//! manifests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Everything loaded from one or more manifest files.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    /// Every AgentRuntime, in file order.
    pub agents: Vec<Agent>,
}

impl ResolvedConfig {
    /// The agents with `spec.mode: function`.
    pub fn functions(&self) -> impl Iterator<Item = &Agent> {
        self.agents.iter().filter(|a| a.mode == Mode::Function)
    }

    /// The agent of that name, if any.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.name == name)
    }
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A long-lived conversation over WebSocket (the default).
    Agent,
    /// A typed HTTP function: `POST /functions/{name}`.
    Function,
}

/// One AgentRuntime, with its references resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// `metadata.name`; the function's URL segment.
    pub name: String,
    /// `metadata.namespace`, `"default"` when absent.
    pub namespace: String,
    /// The manifest file the AgentRuntime came from (for messages).
    pub source: PathBuf,
    pub mode: Mode,
    pub facade: Facade,
    /// `spec.inputSchema` (function mode only).
    pub input_schema: Option<Value>,
    /// `spec.outputSchema` (function mode only).
    pub output_schema: Option<Value>,
    /// The PromptPack document (the JSON held by the referenced ConfigMap), not yet checked
    /// against the PromptPack schema: the runtime does that.
    pub pack: PackSource,
    /// The provider named `default` (or the only one, or the inline `spec.provider`).
    pub provider: Provider,
    /// Every named provider (`spec.providers[]`), including the default.
    pub providers: BTreeMap<String, Provider>,
    pub auth: ExternalAuth,
    pub session: Session,
    /// `spec.replicas` or `spec.runtime.replicas`, default 1.
    pub replicas: u32,
}

/// `spec.facade`.
#[derive(Debug, Clone, PartialEq)]
pub struct Facade {
    pub kind: FacadeType,
    /// Default 8080.
    pub port: u16,
    pub handler: Handler,
}

/// `spec.facade.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacadeType {
    Websocket,
    Grpc,
    /// Omnia's examples use `rest` for function mode; treated like `grpc`.
    Rest,
    A2a,
}

/// `spec.facade.handler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Runtime,
    Demo,
    Echo,
}

/// The PromptPack an agent runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PackSource {
    /// `metadata.name` of the PromptPack resource.
    pub name: String,
    /// `spec.version`.
    pub version: String,
    /// The pack JSON from the ConfigMap (`pack.json`, or the ConfigMap's only key).
    pub document: Value,
    /// Where the pack JSON came from, for messages: `file: ConfigMap NAME key KEY`.
    pub origin: String,
}

/// A resolved Provider (from a Provider resource or the inline `spec.provider`).
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Provider resource name, or `"inline"`.
    pub name: String,
    pub kind: ProviderType,
    /// Empty when the manifest gives none (the provider's default model).
    pub model: String,
    pub base_url: Option<String>,
    /// The API key, when its Secret (or env var, or file) was found and is not the placeholder
    /// `REPLACE_ME`. `None` means no usable credentials.
    pub api_key: Option<String>,
    pub pricing: Pricing,
    pub defaults: ProviderDefaults,
    /// `spec.mock.scenarios` (mock provider only).
    pub mock_scenarios: Vec<MockScenario>,
}

/// `spec.type`; aliases are folded (`anthropic` -> `Claude`, `google` -> `Gemini`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderType {
    Claude,
    Openai,
    Gemini,
    Ollama,
    Mock,
    /// Output = input (ours; for load tests and wiring checks).
    Echo,
    Bedrock,
    Vertex,
    AzureAi,
}

/// `spec.pricing`: USD per 1000 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    pub input_per_1k: f64,
    pub output_per_1k: f64,
}

/// `spec.defaults` (Provider) or `spec.provider.config` (inline).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProviderDefaults {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
}

/// One mock scenario: when the input matches, answer with `output`.
#[derive(Debug, Clone, PartialEq)]
pub struct MockScenario {
    pub name: Option<String>,
    /// A JSON value the input must contain (object subset match); `None` matches everything.
    pub when: Option<Value>,
    /// The answer. String values of the exact form `{{input.a.b}}` are replaced by the input's
    /// value at that path; `{{input}}` by the whole input.
    pub output: Value,
}

/// `spec.externalAuth`: which validators admit data-plane callers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExternalAuth {
    /// Present when `clientKeys` (or Omnia's older `apiKeys`) is set.
    pub client_keys: Option<ClientKeysPolicy>,
    pub oidc: Option<Oidc>,
    pub edge_trust: Option<EdgeTrust>,
}

/// Client-key validation for one agent, with the keys found in labelled Secrets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientKeysPolicy {
    pub default_role: Option<String>,
    pub trust_end_user_header: bool,
    pub keys: Vec<ClientKey>,
}

/// One client key: a Secret labelled `omnia.altairalabs.ai/credential-kind: agent-client-key` and
/// `omnia.altairalabs.ai/agent: <agent>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientKey {
    /// The Secret's name (identifies the caller in logs and identity).
    pub name: String,
    /// `data.keyHash`: the raw 32-byte SHA-256 digest of the key.
    pub sha256: [u8; 32],
    /// `data.expiresAt` (RFC 3339), as seconds since the Unix epoch.
    pub expires_at_unix: Option<i64>,
    /// `data.scopes`: comma- or space-separated.
    pub scopes: Vec<String>,
    /// `data.role`, else the policy's default role.
    pub role: Option<String>,
}

/// `spec.externalAuth.oidc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Oidc {
    pub issuer: String,
    pub audience: String,
    /// Where the signing keys come from: `jwksFile`, `jwksUrl`, or by default
    /// `{issuer}/.well-known/jwks.json`.
    pub jwks: JwksSource,
    /// `claimMapping`: claim names for subject, role, end user (defaults `sub`, `omnia.role`, `sub`).
    pub subject_claim: String,
    pub role_claim: String,
    pub end_user_claim: String,
}

/// Where a JWKS is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// `spec.externalAuth.edgeTrust`.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeTrust {
    /// Inbound header names (lower case); defaults `x-user-id`, `x-user-roles`, `x-user-id`,
    /// `x-user-email`.
    pub subject_header: String,
    pub role_header: String,
    pub end_user_header: String,
    pub email_header: String,
    /// Extra inbound header (lower case) -> claim name.
    pub claims_from_headers: BTreeMap<String, String>,
}

/// `spec.session`.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub kind: SessionStore,
    /// Default 24h (Omnia's CRD default).
    pub ttl: Duration,
    /// `storeRef.name`, and the resolved URL when the Secret is present.
    pub store_ref: Option<String>,
    pub store_url: Option<String>,
}

/// `spec.session.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStore {
    Memory,
    Redis,
    Postgres,
}

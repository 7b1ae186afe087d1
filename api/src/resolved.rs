//! The resolved configuration: what the gateway and the runtime actually run.
//!
//! Loading (see [`crate::load`]) parses the manifests, checks every reference between them
//! (AgentRuntime -> PromptPack -> ConfigMap, AgentRuntime -> Provider -> Secret, AgentRuntime ->
//! ToolRegistry -> Secret, client-key Secrets -> AgentRuntime) and produces these plain values,
//! so no consumer ever walks the raw manifests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

mod credential;
mod media;
mod tools;

pub use credential::{ApiKey, CredentialProblem, CredentialSource};
pub use media::{Media, MediaBackend, S3Credentials};
pub use tools::{
    ClientToolConfig, GrpcRetryPolicy, GrpcTool, HandlerKind, HttpRetryPolicy, HttpTool,
    McpRetryPolicy, McpTool, McpTransport, OpenApiTool, ToolAuth, ToolDefinition, ToolHandler,
    ToolRegistry,
};

/// Everything loaded from one or more manifest files.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    /// Every AgentRuntime, in file order.
    pub agents: Vec<Agent>,
    /// What loading found worth one log line at start-up, in file order: documents skipped,
    /// fields accepted but not yet acted on, client-key Secrets left out.
    pub notices: Vec<Notice>,
}

/// One start-up log line about the manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: NoticeLevel,
    /// Starts with the place (`FILE: document N (KIND NAME): `).
    pub message: String,
}

/// How loudly a [`Notice`] is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    /// Expected, worth knowing (a skipped kind, a field kept for later).
    Info,
    /// Something the user probably wants fixed (a malformed key Secret that was left out).
    Warning,
}

impl Notice {
    /// An info-level notice.
    pub fn info(message: impl Into<String>) -> Self {
        Self {
            level: NoticeLevel::Info,
            message: message.into(),
        }
    }

    /// A warning.
    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            level: NoticeLevel::Warning,
            message: message.into(),
        }
    }
}

impl ResolvedConfig {
    /// The agents with `spec.mode: function`.
    pub fn functions(&self) -> impl Iterator<Item = &Agent> {
        self.agents.iter().filter(|a| a.mode == Mode::Function)
    }

    /// Logs every notice once (info or warn); processes call this right after loading.
    pub fn log_notices(&self) {
        for notice in &self.notices {
            match notice.level {
                NoticeLevel::Info => tracing::info!("{}", notice.message),
                NoticeLevel::Warning => tracing::warn!("{}", notice.message),
            }
        }
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
    /// The facade clients reach this agent through: the function facade in function mode, else
    /// the first connection facade (websocket, a2a, custom).
    pub facade: Facade,
    /// Every facade, in manifest order (`spec.facades[]`, or the one `spec.facade`).
    pub facades: Vec<Facade>,
    /// Function mode: how the model is asked to format its output (default `json_schema`).
    pub output_format: Option<OutputFormat>,
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
    /// The ToolRegistry `spec.toolRegistryRef` names (namespace defaults to the agent's).
    pub tools: Option<ToolRegistry>,
    /// `spec.media.storage` with the `OMNIA_MEDIA_*` variables over it.
    pub media: Media,
}

/// One facade: `spec.facade` or a `spec.facades[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Facade {
    pub kind: FacadeType,
    /// Default 8080.
    pub port: u16,
    pub handler: Handler,
    /// `drainTimeout`: how long live connections may finish after SIGTERM (Omnia: 30 s).
    pub drain_timeout: Option<Duration>,
    /// `clientToolTimeout`: how long a client has to answer a tool call (Omnia: 60 s).
    pub client_tool_timeout: Option<Duration>,
    /// `managementPlane`: whether the internal management-plane listener serves this facade
    /// (default true, as Omnia).
    pub management_plane: bool,
}

/// What a facade speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacadeType {
    /// `POST /functions/{name}`: the seed's `type: grpc` and Omnia's `type: rest` alike.
    Function,
    Websocket,
    A2a,
    /// Omnia's MCP surface beside a function's rest facade.
    Mcp,
    /// A bring-your-own facade container.
    Custom,
}

/// `spec.outputFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Structured output bound to the output schema (the default).
    JsonSchema,
    /// The provider's JSON mode: valid JSON, shape not enforced.
    Json,
    /// Free text, validated after the fact.
    Text,
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
    /// The Provider's `metadata.namespace` (the agent's for an inline provider), `"default"`
    /// when absent; its Secrets are looked up there.
    pub namespace: String,
    pub kind: ProviderType,
    /// `spec.role`, default `llm`.
    pub role: ProviderRole,
    /// `spec.headers`: extra HTTP headers for every request to the provider.
    pub headers: BTreeMap<String, String>,
    /// Empty when the manifest gives none (the provider's default model).
    pub model: String,
    pub base_url: Option<String>,
    /// The API key, when its Secret (or env var, or file) was found and is not the placeholder
    /// `REPLACE_ME`. `None` means no usable credentials: loading still succeeds so dev mode can
    /// run on the mock provider; [`Provider::missing_credential`] says what to fix.
    pub api_key: Option<ApiKey>,
    /// Where the manifest says the key is; `None` when it configures no credential.
    pub credential: Option<CredentialSource>,
    /// Why `credential` gave no key; `None` when the key was found or none is configured.
    pub credential_problem: Option<CredentialProblem>,
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
    Vllm,
    VoyageAi,
    Cartesia,
    ElevenLabs,
    Imagen,
    HuggingFace,
}

impl ProviderType {
    /// The manifest spelling, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Openai => "openai",
            Self::Gemini => "gemini",
            Self::Ollama => "ollama",
            Self::Mock => "mock",
            Self::Echo => "echo",
            Self::Bedrock => "bedrock",
            Self::Vertex => "vertex",
            Self::AzureAi => "azure-ai",
            Self::Vllm => "vllm",
            Self::VoyageAi => "voyageai",
            Self::Cartesia => "cartesia",
            Self::ElevenLabs => "elevenlabs",
            Self::Imagen => "imagen",
            Self::HuggingFace => "huggingface",
        }
    }

    /// Whether the provider authenticates with an API key. Local servers (ollama, vllm) take
    /// none, though one may still be configured; mock and echo never call out.
    pub fn needs_api_key(self) -> bool {
        !matches!(self, Self::Ollama | Self::Vllm | Self::Mock | Self::Echo)
    }
}

/// A Provider's `spec.role`: which kind of model it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRole {
    Llm,
    Embedding,
    Tts,
    Stt,
    Image,
}

impl ProviderRole {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Embedding => "embedding",
            Self::Tts => "tts",
            Self::Stt => "stt",
            Self::Image => "image",
        }
    }
}

/// `spec.pricing`: USD per 1000 tokens, 0 when absent.
///
/// Omnia uses configured pricing only when `input_per_1k` and `output_per_1k` are both > 0,
/// else the provider library's built-in prices; the runtime applies that rule, not the loader.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    pub input_per_1k: f64,
    pub output_per_1k: f64,
    /// `cachedCostPer1K`: the price of cached prompt tokens; `None` when absent.
    pub cached_per_1k: Option<f64>,
}

/// `spec.defaults` (Provider) or `spec.provider.config` (inline).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProviderDefaults {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    /// `requestTimeout`: caps a whole non-streaming provider call; always > 0.
    pub request_timeout: Option<Duration>,
    /// `streamIdleTimeout`: how long a stream may stay silent before it is aborted; always > 0.
    pub stream_idle_timeout: Option<Duration>,
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
    /// `defaultRole`, else `viewer` (Omnia's default).
    pub default_role: String,
    pub trust_end_user_header: bool,
    pub keys: Vec<ClientKey>,
}

/// One client key: a Secret labelled `omnia.altairalabs.ai/credential-kind: agent-client-key` and
/// `omnia.altairalabs.ai/agent: <agent>`, read as Omnia reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientKey {
    /// The caller's id: the Secret name without Omnia's `agent-<agent>-clientkey-` prefix.
    pub id: String,
    /// The Secret's name (for messages).
    pub secret: String,
    /// `data.keyHash`: the raw 32-byte SHA-256 digest of the key.
    pub sha256: [u8; 32],
    /// `data.expiresAt` (RFC 3339), as seconds since the Unix epoch.
    pub expires_at_unix: Option<i64>,
    /// `data.scopes`: a JSON object of string claims; `{"role": <defaultRole>}` when absent or
    /// empty, as Omnia. The `role` claim is the caller's role.
    pub claims: BTreeMap<String, String>,
}

/// `spec.externalAuth.oidc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Oidc {
    pub issuer: String,
    pub audience: String,
    /// Where the signing keys come from: `jwksFile`, `jwksUrl`, or by default the `jwks_uri` of
    /// the issuer's OIDC discovery document.
    pub jwks: JwksSource,
    /// `claimMapping`: claim names for subject, role, end user (defaults `sub`, `omnia.role`, `sub`).
    pub subject_claim: String,
    pub role_claim: String,
    pub end_user_claim: String,
}

/// Where a JWKS is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    /// `jwksFile`, relative to the manifest.
    File(PathBuf),
    /// `jwksUrl`, as given.
    Url(String),
    /// Neither: the `jwks_uri` of `{issuer}/.well-known/openid-configuration` (OIDC discovery),
    /// since Keycloak, Okta, Google and Azure publish their keys at paths of their own.
    Discover,
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

/// The conversation store: the seed's `spec.session` or Omnia's `spec.context`.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub kind: SessionStore,
    /// Default 1 h for the seed's `session`, 24 h for Omnia's `context` (each shape's default).
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

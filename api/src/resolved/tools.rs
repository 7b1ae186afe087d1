//! A resolved `ToolRegistry`: the tool handlers an agent may call, with Omnia's defaults applied
//! and the auth Secrets read.
//!
//! Every Omnia field loads; the ones nothing acts on yet are listed at start-up as inert notices
//! (see `resolve/inert.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::ApiKey;

/// The ToolRegistry an AgentRuntime's `spec.toolRegistryRef` names.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRegistry {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, `"default"` when absent; its Secrets are looked up there.
    pub namespace: String,
    /// `spec.handlers`, in manifest order (at least one, names unique).
    pub handlers: Vec<ToolHandler>,
}

/// One `spec.handlers[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolHandler {
    /// A DNS-1123 label, unique within the registry.
    pub name: String,
    /// `type` with its config block (`httpConfig`, `grpcConfig`, ...).
    pub kind: HandlerKind,
    /// `tool` (required for http and grpc; mcp and openapi discover theirs).
    pub tool: Option<ToolDefinition>,
    /// `timeout`, default 30 s: one invocation's wall clock.
    pub timeout: Duration,
}

/// `tool`: what the model sees.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    /// `^[a-z][a-z0-9_]*$`, at most 64 characters.
    pub name: String,
    pub description: String,
    /// A JSON Schema (checked to compile at load).
    pub input_schema: Value,
    /// A JSON Schema (checked to compile at load).
    pub output_schema: Option<Value>,
}

/// `type` and the config block that goes with it.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlerKind {
    Http(HttpTool),
    OpenApi(OpenApiTool),
    Grpc(GrpcTool),
    Mcp(McpTool),
    Client(ClientToolConfig),
}

/// `httpConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTool {
    pub endpoint: String,
    /// Default `POST`, upper-cased.
    pub method: String,
    pub headers: BTreeMap<String, String>,
    /// Default `application/json`.
    pub content_type: String,
    /// `authType` + `authSecretRef`; `None` for `none` or no `authType`.
    pub auth: Option<ToolAuth>,
    /// Argument names sent as URL query parameters instead of in the body.
    pub query_params: Vec<String>,
    /// Header name -> template (`{{.customer_id}}`).
    pub header_params: BTreeMap<String, String>,
    /// Fixed query parameters, invisible to the model.
    pub static_query: BTreeMap<String, String>,
    /// Fixed JSON fields merged into the body, invisible to the model.
    pub static_body: Option<Value>,
    /// JMESPath reshaping the request body.
    pub body_mapping: Option<String>,
    /// JMESPath reshaping the response.
    pub response_mapping: Option<String>,
    /// Response fields kept out of logs and traces.
    pub redact: Vec<String>,
    /// `/users/{{.user_id}}`: the path, with `endpoint` as the base URL.
    pub url_template: Option<String>,
    pub retry: Option<HttpRetryPolicy>,
}

/// `authType` + `authSecretRef{name, key}`, the secret's value looked up at resolve time.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolAuth {
    /// `Authorization: Bearer <value>`.
    Bearer(ApiKey),
    /// `Authorization: Basic`; the Secret value is `user:password`.
    Basic { user: String, password: ApiKey },
    /// Ours, not Omnia's: authType `api-key`, sent as `X-API-Key: <value>`.
    ApiKeyHeader { header: String, value: ApiKey },
}

/// `httpConfig.retryPolicy` / `openAPIConfig.retryPolicy`, Omnia's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRetryPolicy {
    /// Total attempts including the first, 1..=10.
    pub max_attempts: u32,
    /// Default 100 ms.
    pub initial_backoff: Duration,
    /// Default 2.0, >= 1.
    pub backoff_multiplier: f64,
    /// Default 30 s, >= `initial_backoff`.
    pub max_backoff: Duration,
    /// Default `[408, 429, 500, 502, 503, 504]`; an explicit `[]` means none.
    pub retry_on: Vec<u16>,
    /// Default true.
    pub retry_on_network_error: bool,
    /// Default true: honour `Retry-After` on 429 and 503.
    pub respect_retry_after: bool,
}

/// `grpcConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcTool {
    /// `host:port`.
    pub endpoint: String,
    pub tls: bool,
    pub tls_cert_path: Option<PathBuf>,
    pub tls_key_path: Option<PathBuf>,
    pub tls_ca_path: Option<PathBuf>,
    pub tls_insecure_skip_verify: bool,
    pub retry: Option<GrpcRetryPolicy>,
}

/// `grpcConfig.retryPolicy`, Omnia's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcRetryPolicy {
    /// 1..=10.
    pub max_attempts: u32,
    /// Default 100 ms.
    pub initial_backoff: Duration,
    /// Default 2.0, >= 1.
    pub backoff_multiplier: f64,
    /// Default 30 s, >= `initial_backoff`.
    pub max_backoff: Duration,
    /// gRPC status code names; default `["UNAVAILABLE", "DEADLINE_EXCEEDED",
    /// "RESOURCE_EXHAUSTED"]`, an explicit `[]` means none.
    pub retryable_status_codes: Vec<String>,
}

/// `mcpConfig.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpTransport {
    Sse,
    Stdio,
    StreamableHttp,
}

/// `mcpConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    pub transport: McpTransport,
    /// Set for sse and streamable-http.
    pub endpoint: Option<String>,
    /// Set for stdio.
    pub command: Option<String>,
    pub args: Vec<String>,
    pub work_dir: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    /// `toolFilter.allowlist`: empty allows every tool.
    pub allowlist: Vec<String>,
    /// `toolFilter.blocklist`.
    pub blocklist: Vec<String>,
    pub retry: Option<McpRetryPolicy>,
}

/// `mcpConfig.retryPolicy`, Omnia's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct McpRetryPolicy {
    /// 1..=10.
    pub max_attempts: u32,
    /// Default 100 ms.
    pub initial_backoff: Duration,
    /// Default 2.0, >= 1.
    pub backoff_multiplier: f64,
    /// Default 30 s, >= `initial_backoff`.
    pub max_backoff: Duration,
}

/// `openAPIConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenApiTool {
    /// `specURL`.
    pub spec_url: String,
    /// `baseURL`: overrides the spec's first server.
    pub base_url: Option<String>,
    /// Operations exposed; empty exposes all.
    pub operation_filter: Vec<String>,
    pub headers: BTreeMap<String, String>,
    pub auth: Option<ToolAuth>,
    pub retry: Option<HttpRetryPolicy>,
}

/// `clientConfig`: a tool the connected client runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientToolConfig {
    /// Shown before the tool runs; empty runs it without a prompt.
    pub consent_message: String,
    /// Consent categories (`location`, `camera`, ...).
    pub categories: Vec<String>,
}

//! `ToolRegistry` (`omnia.altairalabs.ai/v1alpha1`): the tool handlers an agent may call, with
//! every field of Omnia's `api/v1alpha1/toolregistry_types.go`.
//!
//! `selector` (Service discovery) loads but nothing acts on it; `status` (the controller's
//! discovered tools) is ignored like every kind's. The resolver lists both as inert.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::Decimal;
use super::status::DependencyStatus;

/// `ToolRegistry.spec`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, CustomResource)]
#[kube(
    group = "omnia.altairalabs.ai",
    version = "v1alpha1",
    kind = "ToolRegistry",
    root = "ToolRegistryObject",
    namespaced,
    doc = "Tool handlers (HTTP, gRPC, MCP, OpenAPI, client) an agent may call.",
    status = "DependencyStatus",
    shortname = "tr",
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolRegistrySpec {
    /// At least one (Omnia's `MinItems=1`).
    pub handlers: Vec<HandlerSpec>,
}

/// One `spec.handlers[]` entry (Omnia's `HandlerDefinition`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HandlerSpec {
    /// A DNS-1123 label, unique within the registry.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: HandlerTypeName,
    /// Service discovery of the endpoint; loads, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<ServiceSelectorSpec>,
    /// Required for http and grpc; mcp and openapi discover their tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolDefinitionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpConfigSpec>,
    #[serde(
        default,
        rename = "openAPIConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_api_config: Option<OpenApiConfigSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_config: Option<GrpcConfigSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_config: Option<McpConfigSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_config: Option<ClientConfigSpec>,
    /// Go duration, default `30s`: one invocation's wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `handlers[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HandlerTypeName {
    Http,
    Openapi,
    Grpc,
    Mcp,
    Client,
}

impl HandlerTypeName {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Openapi => "openapi",
            Self::Grpc => "grpc",
            Self::Mcp => "mcp",
            Self::Client => "client",
        }
    }
}

/// `handlers[].selector` (Omnia's `ServiceSelector`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSelectorSpec {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A port name or number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// `handlers[].tool` (Omnia's `ToolDefinition`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolDefinitionSpec {
    /// `^[a-z][a-z0-9_]*$`, at most 64 characters.
    pub name: String,
    pub description: String,
    /// A JSON Schema.
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub output_schema: Option<Value>,
}

/// A key of a Secret (Omnia's tool `SecretKeySelector`: both fields required).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKeySelector {
    pub name: String,
    pub key: String,
}

/// `handlers[].httpConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpConfigSpec {
    pub endpoint: String,
    /// Default `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Default `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `none`, `bearer`, `basic` (Omnia's) or `api-key` (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret_ref: Option<SecretKeySelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub static_query: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub static_body: Option<Value>,
    /// JMESPath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_mapping: Option<String>,
    /// JMESPath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mapping: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<HttpRetryPolicySpec>,
}

/// `httpConfig.retryPolicy` and `openAPIConfig.retryPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRetryPolicySpec {
    pub max_attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff: Option<String>,
    /// A decimal string in Omnia (`"2.0"`); a number is accepted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_multiplier: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<String>,
    /// Absent: the defaults; `[]`: no status-code retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on_network_error: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respect_retry_after: Option<bool>,
}

/// `handlers[].openAPIConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenApiConfigSpec {
    #[serde(rename = "specURL")]
    pub spec_url: String,
    #[serde(default, rename = "baseURL", skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operation_filter: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret_ref: Option<SecretKeySelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<HttpRetryPolicySpec>,
}

/// `handlers[].grpcConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrpcConfigSpec {
    /// `host:port`.
    pub endpoint: String,
    #[serde(default)]
    pub tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_path: Option<String>,
    #[serde(default, rename = "tlsCAPath", skip_serializing_if = "Option::is_none")]
    pub tls_ca_path: Option<String>,
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<GrpcRetryPolicySpec>,
}

/// `grpcConfig.retryPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrpcRetryPolicySpec {
    pub max_attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_multiplier: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<String>,
    /// Absent: the defaults; `[]`: no status-code retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable_status_codes: Option<Vec<String>>,
}

/// `handlers[].mcpConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct McpConfigSpec {
    pub transport: McpTransportName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_filter: Option<McpToolFilterSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<McpRetryPolicySpec>,
}

/// `mcpConfig.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum McpTransportName {
    Sse,
    Stdio,
    StreamableHttp,
}

/// `mcpConfig.toolFilter`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct McpToolFilterSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowlist: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocklist: Vec<String>,
}

/// `mcpConfig.retryPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct McpRetryPolicySpec {
    pub max_attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_multiplier: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<String>,
}

/// `handlers[].clientConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

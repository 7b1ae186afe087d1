//! ToolRegistry -> handlers (Omnia's defaults applied, its rules checked) -> auth Secrets.
//!
//! Every ToolRegistry in the files is resolved, referenced or not, so a bad one fails at start-up.
//! Unlike a Provider's key, a tool's Secret has no dev-mode stand-in: a missing Secret or key is
//! an error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::index::{Entry, Index, Key, Origin, is_dns_label};
use crate::manifest::common::Decimal;
use crate::manifest::tool_registry::{
    ClientConfigSpec, GrpcConfigSpec, GrpcRetryPolicySpec, HandlerSpec, HandlerTypeName,
    HttpConfigSpec, HttpRetryPolicySpec, McpConfigSpec, McpRetryPolicySpec, McpTransportName,
    OpenApiConfigSpec, SecretKeySelector, ToolDefinitionSpec,
};
use crate::manifest::{MetadataExt as _, ToolRegistry as ToolRegistryResource};
use crate::resolved::{
    ApiKey, ClientToolConfig, GrpcRetryPolicy, GrpcTool, HandlerKind, HttpRetryPolicy, HttpTool,
    McpRetryPolicy, McpTool, McpTransport, OpenApiTool, ToolAuth, ToolDefinition, ToolHandler,
    ToolRegistry,
};

/// Omnia's `timeout` default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Omnia's retry-policy defaults.
const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const DEFAULT_MULTIPLIER: f64 = 2.0;
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
const DEFAULT_RETRY_ON: &[u16] = &[408, 429, 500, 502, 503, 504];
const DEFAULT_GRPC_CODES: &[&str] = &["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"];
/// Omnia's `maxAttempts` bounds.
const MAX_ATTEMPTS: std::ops::RangeInclusive<i64> = 1..=10;
/// The longest tool name (Omnia's `MaxLength=64`).
const MAX_TOOL_NAME: usize = 64;
/// The header of authType `api-key`.
const API_KEY_HEADER: &str = "X-API-Key";
/// The placeholder of Omnia's examples: never a usable credential.
const PLACEHOLDER: &str = "REPLACE_ME";
const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// gRPC's status code names.
const GRPC_CODES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Resolves every ToolRegistry of `index`.
pub(super) fn resolve_all(index: &Index) -> Result<BTreeMap<Key, ToolRegistry>, ConfigError> {
    index
        .tool_registries
        .iter()
        .map(|(key, entry)| Ok((key.clone(), resolve(entry, index)?)))
        .collect()
}

/// The registry an agent's `spec.toolRegistryRef` names, looked up in `namespace` unless the
/// reference names one.
pub(super) fn by_reference(
    origin: &Origin,
    namespace: &str,
    reference: &crate::manifest::common::ObjectRef,
    registries: &BTreeMap<Key, ToolRegistry>,
) -> Result<ToolRegistry, ConfigError> {
    let ns = reference.namespace.as_deref().unwrap_or(namespace);
    registries
        .get(&(ns.to_owned(), reference.name.clone()))
        .cloned()
        .ok_or_else(|| {
            origin.error(
                "spec.toolRegistryRef.name",
                format!(
                    "ToolRegistry `{}` not found in namespace `{ns}`",
                    reference.name
                ),
            )
        })
}

fn resolve(
    entry: &Entry<ToolRegistryResource>,
    index: &Index,
) -> Result<ToolRegistry, ConfigError> {
    let origin = &entry.origin;
    let namespace = entry.obj.metadata.namespace_or_default();
    let handlers = &entry.obj.spec.handlers;
    if handlers.is_empty() {
        return Err(origin.error("spec.handlers", "at least one handler is required"));
    }
    let ctx = Ctx {
        origin,
        namespace,
        index,
    };
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tool_names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut resolved = Vec::with_capacity(handlers.len());
    for (i, handler) in handlers.iter().enumerate() {
        let at = format!("spec.handlers[{i}]");
        if let Some(first) = names.insert(&handler.name, i) {
            return Err(origin.error(
                format!("{at}.name"),
                format!(
                    "duplicate handler name `{}` (first at spec.handlers[{first}])",
                    handler.name
                ),
            ));
        }
        if let Some(tool) = &handler.tool
            && let Some(first) = tool_names.insert(&tool.name, i)
        {
            return Err(origin.error(
                format!("{at}.tool.name"),
                format!(
                    "duplicate tool name `{}` (first at spec.handlers[{first}].tool.name)",
                    tool.name
                ),
            ));
        }
        resolved.push(ctx.handler(&at, handler)?);
    }
    Ok(ToolRegistry {
        name: entry.obj.metadata.name_str().to_owned(),
        namespace: namespace.to_owned(),
        handlers: resolved,
    })
}

/// What every check needs: where the registry is, and where its Secrets are.
struct Ctx<'a> {
    origin: &'a Origin,
    namespace: &'a str,
    index: &'a Index,
}

impl Ctx<'_> {
    fn error(&self, field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        self.origin.error(field, reason)
    }

    fn handler(&self, at: &str, spec: &HandlerSpec) -> Result<ToolHandler, ConfigError> {
        if !is_dns_label(&spec.name) {
            return Err(self.error(
                format!("{at}.name"),
                format!(
                    "`{}` is not a DNS-1123 label (lower-case letters, digits and '-', starting \
                     and ending with a letter or digit, at most 63 characters)",
                    spec.name
                ),
            ));
        }
        let kind = spec.kind;
        let blocks = [
            (
                HandlerTypeName::Http,
                "httpConfig",
                spec.http_config.is_some(),
            ),
            (
                HandlerTypeName::Openapi,
                "openAPIConfig",
                spec.open_api_config.is_some(),
            ),
            (
                HandlerTypeName::Grpc,
                "grpcConfig",
                spec.grpc_config.is_some(),
            ),
            (HandlerTypeName::Mcp, "mcpConfig", spec.mcp_config.is_some()),
            (
                HandlerTypeName::Client,
                "clientConfig",
                spec.client_config.is_some(),
            ),
        ];
        for (block_kind, field, set) in blocks {
            if set && block_kind != kind {
                return Err(self.error(
                    format!("{at}.{field}"),
                    format!(
                        "only allowed when type is {}; this handler's type is {}",
                        block_kind.as_str(),
                        kind.as_str()
                    ),
                ));
            }
        }
        let required = |field: &str| {
            self.error(
                format!("{at}.{field}"),
                format!("required when type is {}", kind.as_str()),
            )
        };
        let handler_kind = match kind {
            HandlerTypeName::Http => {
                let c = spec
                    .http_config
                    .as_ref()
                    .ok_or_else(|| required("httpConfig"))?;
                HandlerKind::Http(self.http(&format!("{at}.httpConfig"), c)?)
            }
            HandlerTypeName::Openapi => {
                let c = spec
                    .open_api_config
                    .as_ref()
                    .ok_or_else(|| required("openAPIConfig"))?;
                HandlerKind::OpenApi(self.open_api(&format!("{at}.openAPIConfig"), c)?)
            }
            HandlerTypeName::Grpc => {
                let c = spec
                    .grpc_config
                    .as_ref()
                    .ok_or_else(|| required("grpcConfig"))?;
                HandlerKind::Grpc(self.grpc(&format!("{at}.grpcConfig"), c)?)
            }
            HandlerTypeName::Mcp => {
                let c = spec
                    .mcp_config
                    .as_ref()
                    .ok_or_else(|| required("mcpConfig"))?;
                HandlerKind::Mcp(self.mcp(&format!("{at}.mcpConfig"), c)?)
            }
            // Every clientConfig field is optional, and so is the block.
            HandlerTypeName::Client => HandlerKind::Client(client(spec.client_config.as_ref())),
        };
        let tool = match &spec.tool {
            Some(tool) => Some(self.tool(&format!("{at}.tool"), tool)?),
            None if matches!(kind, HandlerTypeName::Http | HandlerTypeName::Grpc) => {
                return Err(self.error(
                    format!("{at}.tool"),
                    format!(
                        "required when type is {}: only mcp and openapi handlers discover their \
                         tools",
                        kind.as_str()
                    ),
                ));
            }
            None => None,
        };
        let timeout = match &spec.timeout {
            Some(text) => {
                let d = parse_duration(text).map_err(|e| self.error(format!("{at}.timeout"), e))?;
                if d.is_zero() {
                    return Err(self.error(
                        format!("{at}.timeout"),
                        format!(
                            "`{text}` is not a positive duration: a timeout must be greater than 0"
                        ),
                    ));
                }
                d
            }
            None => DEFAULT_TIMEOUT,
        };
        Ok(ToolHandler {
            name: spec.name.clone(),
            kind: handler_kind,
            tool,
            timeout,
        })
    }

    fn tool(&self, at: &str, spec: &ToolDefinitionSpec) -> Result<ToolDefinition, ConfigError> {
        if !is_tool_name(&spec.name) {
            return Err(self.error(
                format!("{at}.name"),
                format!(
                    "`{}` is not a tool name: it must match ^[a-z][a-z0-9_]*$ and be at most \
                     {MAX_TOOL_NAME} characters",
                    spec.name
                ),
            ));
        }
        super::compile_schema(
            self.origin,
            &format!("{at}.inputSchema"),
            &spec.input_schema,
        )?;
        if let Some(schema) = &spec.output_schema {
            super::compile_schema(self.origin, &format!("{at}.outputSchema"), schema)?;
        }
        Ok(ToolDefinition {
            name: spec.name.clone(),
            description: spec.description.clone(),
            input_schema: spec.input_schema.clone(),
            output_schema: spec.output_schema.clone(),
        })
    }

    fn http(&self, at: &str, spec: &HttpConfigSpec) -> Result<HttpTool, ConfigError> {
        not_empty(self, &format!("{at}.endpoint"), &spec.endpoint)?;
        let method = spec
            .method
            .as_deref()
            .unwrap_or("POST")
            .to_ascii_uppercase();
        if !HTTP_METHODS.contains(&method.as_str()) {
            return Err(self.error(
                format!("{at}.method"),
                format!(
                    "unknown HTTP method `{method}`: expected one of {}",
                    HTTP_METHODS.join(", ")
                ),
            ));
        }
        Ok(HttpTool {
            endpoint: spec.endpoint.clone(),
            method,
            headers: spec.headers.clone(),
            content_type: spec
                .content_type
                .clone()
                .unwrap_or_else(|| "application/json".to_owned()),
            auth: self.auth(at, spec.auth_type.as_deref(), spec.auth_secret_ref.as_ref())?,
            query_params: spec.query_params.clone(),
            header_params: spec.header_params.clone(),
            static_query: spec.static_query.clone(),
            static_body: spec.static_body.clone(),
            body_mapping: spec.body_mapping.clone(),
            response_mapping: spec.response_mapping.clone(),
            redact: spec.redact.clone(),
            url_template: spec.url_template.clone(),
            retry: spec
                .retry_policy
                .as_ref()
                .map(|r| self.http_retry(&format!("{at}.retryPolicy"), r))
                .transpose()?,
        })
    }

    fn open_api(&self, at: &str, spec: &OpenApiConfigSpec) -> Result<OpenApiTool, ConfigError> {
        not_empty(self, &format!("{at}.specURL"), &spec.spec_url)?;
        Ok(OpenApiTool {
            spec_url: spec.spec_url.clone(),
            base_url: spec.base_url.clone(),
            operation_filter: spec.operation_filter.clone(),
            headers: spec.headers.clone(),
            auth: self.auth(at, spec.auth_type.as_deref(), spec.auth_secret_ref.as_ref())?,
            retry: spec
                .retry_policy
                .as_ref()
                .map(|r| self.http_retry(&format!("{at}.retryPolicy"), r))
                .transpose()?,
        })
    }

    fn grpc(&self, at: &str, spec: &GrpcConfigSpec) -> Result<GrpcTool, ConfigError> {
        not_empty(self, &format!("{at}.endpoint"), &spec.endpoint)?;
        Ok(GrpcTool {
            endpoint: spec.endpoint.clone(),
            tls: spec.tls,
            tls_cert_path: spec.tls_cert_path.as_ref().map(PathBuf::from),
            tls_key_path: spec.tls_key_path.as_ref().map(PathBuf::from),
            tls_ca_path: spec.tls_ca_path.as_ref().map(PathBuf::from),
            tls_insecure_skip_verify: spec.tls_insecure_skip_verify,
            retry: spec
                .retry_policy
                .as_ref()
                .map(|r| self.grpc_retry(&format!("{at}.retryPolicy"), r))
                .transpose()?,
        })
    }

    fn mcp(&self, at: &str, spec: &McpConfigSpec) -> Result<McpTool, ConfigError> {
        let transport = match spec.transport {
            McpTransportName::Sse => McpTransport::Sse,
            McpTransportName::Stdio => McpTransport::Stdio,
            McpTransportName::StreamableHttp => McpTransport::StreamableHttp,
        };
        let (field, value, name) = match transport {
            McpTransport::Stdio => ("command", &spec.command, "stdio"),
            McpTransport::Sse => ("endpoint", &spec.endpoint, "sse"),
            McpTransport::StreamableHttp => ("endpoint", &spec.endpoint, "streamable-http"),
        };
        if value.as_deref().is_none_or(str::is_empty) {
            return Err(self.error(
                format!("{at}.{field}"),
                format!("required when transport is {name}"),
            ));
        }
        let filter = spec.tool_filter.as_ref();
        Ok(McpTool {
            transport,
            endpoint: spec.endpoint.clone(),
            command: spec.command.clone(),
            args: spec.args.clone(),
            work_dir: spec.work_dir.as_ref().map(PathBuf::from),
            env: spec.env.clone(),
            allowlist: filter.map(|f| f.allowlist.clone()).unwrap_or_default(),
            blocklist: filter.map(|f| f.blocklist.clone()).unwrap_or_default(),
            retry: spec
                .retry_policy
                .as_ref()
                .map(|r| self.mcp_retry(&format!("{at}.retryPolicy"), r))
                .transpose()?,
        })
    }

    /// `authType` + `authSecretRef` of an httpConfig or openAPIConfig at `at`.
    fn auth(
        &self,
        at: &str,
        auth_type: Option<&str>,
        secret_ref: Option<&SecretKeySelector>,
    ) -> Result<Option<ToolAuth>, ConfigError> {
        let ref_field = format!("{at}.authSecretRef");
        let kind = auth_type.unwrap_or("none");
        if !matches!(kind, "none" | "bearer" | "basic" | "api-key") {
            return Err(self.error(
                format!("{at}.authType"),
                format!("unknown authType `{kind}`: expected none, bearer, basic or api-key"),
            ));
        }
        let Some(secret_ref) = secret_ref else {
            if kind == "none" {
                return Ok(None);
            }
            return Err(self.error(ref_field, format!("required when authType is {kind}")));
        };
        if kind == "none" {
            return Err(self.error(
                ref_field,
                "set, but authType is none: set authType to bearer, basic or api-key",
            ));
        }
        let value = self.secret_value(&ref_field, secret_ref)?;
        Ok(Some(match kind {
            "bearer" => ToolAuth::Bearer(ApiKey::new(value)),
            "basic" => {
                let Some((user, password)) = value.split_once(':') else {
                    return Err(self.error(
                        format!("{ref_field}.key"),
                        format!(
                            "Secret `{}/{}` key `{}` must hold `user:password` for basic auth \
                             (no `:` in the value)",
                            self.namespace, secret_ref.name, secret_ref.key
                        ),
                    ));
                };
                ToolAuth::Basic {
                    user: user.to_owned(),
                    password: ApiKey::new(password),
                }
            }
            _ => ToolAuth::ApiKeyHeader {
                header: API_KEY_HEADER.to_owned(),
                value: ApiKey::new(value),
            },
        }))
    }

    /// The trimmed text under `secret_ref.key` of the Secret in the registry's namespace; a
    /// missing Secret or key, an empty value or the placeholder is an error.
    fn secret_value(
        &self,
        at: &str,
        secret_ref: &SecretKeySelector,
    ) -> Result<String, ConfigError> {
        let ns = self.namespace;
        let name = &secret_ref.name;
        let key = &secret_ref.key;
        let Some(secret) = self.index.secrets.get(&(ns.to_owned(), name.clone())) else {
            return Err(self.error(
                format!("{at}.name"),
                format!("Secret `{ns}/{name}` not found"),
            ));
        };
        let value = secret
            .obj
            .get_text(key)
            .map_err(|e| secret.origin.field_error(e))?;
        let key_error = |why: String| self.error(format!("{at}.key"), why);
        match value {
            None => Err(key_error(format!(
                "Secret `{ns}/{name}` has no key `{key}` (its keys: {})",
                secret.obj.keys().join(", ")
            ))),
            Some(v) if v.is_empty() => Err(key_error(format!(
                "Secret `{ns}/{name}` key `{key}` is empty"
            ))),
            Some(v) if v == PLACEHOLDER => Err(key_error(format!(
                "Secret `{ns}/{name}` key `{key}` holds the placeholder {PLACEHOLDER}"
            ))),
            Some(v) => Ok(v),
        }
    }

    fn http_retry(
        &self,
        at: &str,
        spec: &HttpRetryPolicySpec,
    ) -> Result<HttpRetryPolicy, ConfigError> {
        let b = self.backoff(
            at,
            spec.max_attempts,
            spec.initial_backoff.as_deref(),
            spec.backoff_multiplier,
            spec.max_backoff.as_deref(),
        )?;
        let retry_on = match &spec.retry_on {
            None => DEFAULT_RETRY_ON.to_vec(),
            Some(codes) => codes
                .iter()
                .enumerate()
                .map(|(k, code)| {
                    u16::try_from(*code)
                        .ok()
                        .filter(|c| (100..=599).contains(c))
                        .ok_or_else(|| {
                            self.error(
                                format!("{at}.retryOn[{k}]"),
                                format!("{code} is not an HTTP status code (100-599)"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(HttpRetryPolicy {
            max_attempts: b.max_attempts,
            initial_backoff: b.initial,
            backoff_multiplier: b.multiplier,
            max_backoff: b.max,
            retry_on,
            retry_on_network_error: spec.retry_on_network_error.unwrap_or(true),
            respect_retry_after: spec.respect_retry_after.unwrap_or(true),
        })
    }

    fn grpc_retry(
        &self,
        at: &str,
        spec: &GrpcRetryPolicySpec,
    ) -> Result<GrpcRetryPolicy, ConfigError> {
        let b = self.backoff(
            at,
            spec.max_attempts,
            spec.initial_backoff.as_deref(),
            spec.backoff_multiplier,
            spec.max_backoff.as_deref(),
        )?;
        let codes = match &spec.retryable_status_codes {
            None => DEFAULT_GRPC_CODES.iter().map(|c| (*c).to_owned()).collect(),
            Some(codes) => {
                for (k, code) in codes.iter().enumerate() {
                    if !GRPC_CODES.contains(&code.as_str()) {
                        return Err(self.error(
                            format!("{at}.retryableStatusCodes[{k}]"),
                            format!(
                                "`{code}` is not a gRPC status code name: expected one of {}",
                                GRPC_CODES.join(", ")
                            ),
                        ));
                    }
                }
                codes.clone()
            }
        };
        Ok(GrpcRetryPolicy {
            max_attempts: b.max_attempts,
            initial_backoff: b.initial,
            backoff_multiplier: b.multiplier,
            max_backoff: b.max,
            retryable_status_codes: codes,
        })
    }

    fn mcp_retry(
        &self,
        at: &str,
        spec: &McpRetryPolicySpec,
    ) -> Result<McpRetryPolicy, ConfigError> {
        let b = self.backoff(
            at,
            spec.max_attempts,
            spec.initial_backoff.as_deref(),
            spec.backoff_multiplier,
            spec.max_backoff.as_deref(),
        )?;
        Ok(McpRetryPolicy {
            max_attempts: b.max_attempts,
            initial_backoff: b.initial,
            backoff_multiplier: b.multiplier,
            max_backoff: b.max,
        })
    }

    /// The fields every retry policy shares, with Omnia's defaults and bounds.
    fn backoff(
        &self,
        at: &str,
        max_attempts: i64,
        initial: Option<&str>,
        multiplier: Option<Decimal>,
        max: Option<&str>,
    ) -> Result<Backoff, ConfigError> {
        let max_attempts = u32::try_from(max_attempts)
            .ok()
            .filter(|_| MAX_ATTEMPTS.contains(&max_attempts))
            .ok_or_else(|| {
                self.error(
                    format!("{at}.maxAttempts"),
                    format!("{max_attempts} is out of range: must be between 1 and 10"),
                )
            })?;
        let duration = |field: &str, text: Option<&str>, default: Duration| match text {
            Some(text) => parse_duration(text).map_err(|e| self.error(format!("{at}.{field}"), e)),
            None => Ok(default),
        };
        let initial = duration("initialBackoff", initial, DEFAULT_INITIAL_BACKOFF)?;
        let max = duration("maxBackoff", max, DEFAULT_MAX_BACKOFF)?;
        let multiplier = multiplier.map_or(DEFAULT_MULTIPLIER, |d| d.0);
        if multiplier < 1.0 {
            return Err(self.error(
                format!("{at}.backoffMultiplier"),
                format!("{multiplier} is below 1: the backoff must not shrink"),
            ));
        }
        if max < initial {
            return Err(self.error(
                format!("{at}.maxBackoff"),
                format!("{max:?} is below initialBackoff ({initial:?})"),
            ));
        }
        Ok(Backoff {
            max_attempts,
            initial,
            multiplier,
            max,
        })
    }
}

/// The fields shared by the retry policies.
struct Backoff {
    max_attempts: u32,
    initial: Duration,
    multiplier: f64,
    max: Duration,
}

fn client(spec: Option<&ClientConfigSpec>) -> ClientToolConfig {
    spec.map_or_else(ClientToolConfig::default, |c| ClientToolConfig {
        consent_message: c.consent_message.clone().unwrap_or_default(),
        categories: c.categories.clone(),
    })
}

fn not_empty(ctx: &Ctx<'_>, field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(ctx.error(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// `^[a-z][a-z0-9_]*$`, at most [`MAX_TOOL_NAME`] characters.
fn is_tool_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() <= MAX_TOOL_NAME
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

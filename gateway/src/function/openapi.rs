//! The functions' OpenAPI 3.1 document, generated at start-up from the schemas the gateway
//! compiled, never written by hand: `GET /openapi.json` (every function the caller may call) and
//! `GET /functions/{name}/openapi.json` (one).
//!
//! Each function is one operation, `POST /functions/{name}`: its `inputSchema` is the request
//! body, the success envelope with `output` typed by its `outputSchema` is the 200 response, and
//! every error status of the function API answers the error body. Its security is what its auth
//! chain really accepts. A document is served only to a caller that chain admits.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use omnia_middleware::auth::{Accepts, AuthChain};
use omnia_middleware::{GatewayError, ResponseBody};
use serde_json::{Map, Value, json};

use crate::router::{FUNCTIONS_PREFIX, function_name, json_response};

/// The path of the document of every function.
pub const DOCUMENT_PATH: &str = "/openapi.json";
/// The suffix of one function's document: `/functions/{name}/openapi.json`.
const FUNCTION_DOCUMENT_SUFFIX: &str = "/openapi.json";

/// What a function's operation is made from.
#[derive(Debug, Clone)]
pub struct Described {
    pub name: String,
    pub input_schema: Value,
    pub output_schema: Value,
    /// The PromptPack's `description`.
    pub description: Option<String>,
    pub auth: Arc<AuthChain>,
}

/// One function, ready to go into a document.
#[derive(Debug)]
struct Entry {
    chain: Arc<AuthChain>,
    operation: Value,
    schemas: Map<String, Value>,
    schemes: Map<String, Value>,
}

/// Every function's part of the document, built once.
#[derive(Debug, Default)]
pub struct Catalog {
    functions: BTreeMap<String, Entry>,
}

impl Catalog {
    pub fn new(functions: impl IntoIterator<Item = Described>) -> Self {
        let functions = functions
            .into_iter()
            .map(|f| (f.name.clone(), entry(&f)))
            .collect();
        Self { functions }
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// The OpenAPI document of the functions `names` (known names only).
    pub fn document<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Value {
        let mut paths = Map::new();
        let mut schemas = shared_schemas();
        let mut schemes = Map::new();
        for name in names {
            let Some(entry) = self.functions.get(name) else {
                continue;
            };
            paths.insert(
                format!("{FUNCTIONS_PREFIX}{name}"),
                json!({ "post": entry.operation }),
            );
            schemas.extend(entry.schemas.clone());
            schemes.extend(entry.schemes.clone());
        }
        let mut components = json!({ "schemas": schemas });
        if !schemes.is_empty() {
            components["securitySchemes"] = Value::Object(schemes);
        }
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": "Omnia functions",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "PromptPacks served as typed HTTP functions: POST the input, get \
                                the validated output with the invocation's usage.",
            },
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "paths": paths,
            "components": components,
        })
    }

    /// Answers a document request: the functions whose chains admit the caller.
    async fn respond(&self, parts: &http::request::Parts) -> Response<ResponseBody> {
        let path = parts.uri.path();
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return GatewayError::MethodNotAllowed {
                method: parts.method.to_string(),
                allow: "GET",
            }
            .into_response();
        }
        if path == DOCUMENT_PATH {
            let mut admitted = Vec::new();
            let mut refusal = None;
            for (name, entry) in &self.functions {
                match entry.chain.authenticate(parts).await {
                    Ok(_) => admitted.push(name.as_str()),
                    Err(e) => refusal = refusal.or(Some(e)),
                }
            }
            return match (admitted.is_empty(), refusal) {
                (true, Some(refused)) => refused.into_response(),
                _ => json_response(&self.document(admitted)),
            };
        }
        let name = path
            .strip_suffix(FUNCTION_DOCUMENT_SUFFIX)
            .and_then(function_name);
        let Some((name, entry)) = name.and_then(|n| self.functions.get_key_value(n)) else {
            let name = path
                .trim_start_matches(FUNCTIONS_PREFIX)
                .trim_end_matches(FUNCTION_DOCUMENT_SUFFIX)
                .to_owned();
            return GatewayError::FunctionNotFound { name }.into_response();
        };
        match entry.chain.authenticate(parts).await {
            Ok(_) => json_response(&self.document([name.as_str()])),
            Err(refused) => refused.into_response(),
        }
    }
}

/// Whether `path` asks for a document.
pub fn is_document_path(path: &str) -> bool {
    path == DOCUMENT_PATH
        || (path.starts_with(FUNCTIONS_PREFIX) && path.ends_with(FUNCTION_DOCUMENT_SUFFIX))
}

/// The document routes as a Tower service (bodies are never read).
#[derive(Debug, Clone)]
pub struct DocsService {
    catalog: Arc<Catalog>,
}

impl DocsService {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self { catalog }
    }
}

impl<B: Send + 'static> tower::Service<Request<B>> for DocsService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let catalog = self.catalog.clone();
        let (parts, _) = request.into_parts();
        Box::pin(async move {
            let mut response = catalog.respond(&parts).await;
            if parts.method == Method::HEAD && response.status() == StatusCode::OK {
                *response.body_mut() = ResponseBody::empty();
            }
            Ok(response)
        })
    }
}

/// The function's operation, its schemas (under names of its own) and its security schemes.
fn entry(f: &Described) -> Entry {
    let input_name = format!("{}.input", f.name);
    let output_name = format!("{}.output", f.name);
    let mut schemas = Map::new();
    schemas.insert(input_name.clone(), rebased(&f.input_schema, &input_name));
    schemas.insert(output_name.clone(), rebased(&f.output_schema, &output_name));
    let envelope_name = format!("{}.result", f.name);
    schemas.insert(
        envelope_name.clone(),
        json!({
            "type": "object",
            "required": ["output", "invocation_id", "duration_ms", "usage"],
            "properties": {
                "output": { "$ref": reference(&output_name) },
                "invocation_id": { "type": "string", "format": "uuid" },
                "duration_ms": { "type": "integer", "minimum": 0 },
                "usage": { "$ref": reference("Usage") },
            },
        }),
    );
    let (security, schemes) = security(&f.auth.accepts());
    let input_description = f.input_schema.get("description").and_then(Value::as_str);
    let description = [f.description.as_deref(), input_description]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut operation = json!({
        "operationId": f.name,
        "summary": format!("Call the function {}", f.name),
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": { "$ref": reference(&input_name) } } },
        },
        "responses": responses(&envelope_name),
        "security": security,
    });
    if !description.is_empty() {
        operation["description"] = json!(description);
    }
    Entry {
        chain: f.auth.clone(),
        operation,
        schemas,
        schemes,
    }
}

/// `#/components/schemas/{name}`, with the name escaped as a JSON pointer token.
fn reference(name: &str) -> String {
    format!(
        "#/components/schemas/{}",
        name.replace('~', "~0").replace('/', "~1")
    )
}

/// `schema` moved under `components.schemas.{name}`: its local `$ref`s (`#/definitions/x`)
/// pointed at its own root, which is now that component.
fn rebased(schema: &Value, name: &str) -> Value {
    let base = reference(name);
    let mut out = schema.clone();
    rebase(&mut out, &base);
    if let Value::Object(map) = &mut out {
        // The document names its dialect once; a schema's own `$schema` would be an unknown
        // dialect inside a component for some validators.
        map.remove("$schema");
    }
    out
}

fn rebase(node: &mut Value, base: &str) {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) if target.starts_with('#') => {
                        *target = format!("{base}{}", &target[1..]);
                    }
                    (_, value) => rebase(value, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rebase(v, base)),
        _ => {}
    }
}

/// The operation's `security` and the schemes it names.
fn security(accepts: &Accepts) -> (Value, Map<String, Value>) {
    let mut requirements = Vec::new();
    let mut schemes = Map::new();
    if accepts.client_keys {
        schemes.insert(
            "clientKey".to_owned(),
            json!({
                "type": "http",
                "scheme": "bearer",
                "description": "A client key of this agent (a Secret labelled \
                                omnia.altairalabs.ai/credential-kind: agent-client-key).",
            }),
        );
        requirements.push(json!({ "clientKey": [] }));
    }
    for (i, issuer) in accepts.oidc_issuers.iter().enumerate() {
        let name = format!("oidc{}", i + 1);
        schemes.insert(
            name.clone(),
            json!({
                "type": "openIdConnect",
                "openIdConnectUrl": format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ),
                "description": format!("A JWT from the issuer {issuer}."),
            }),
        );
        requirements.push(json!({ name: [] }));
    }
    if accepts.anonymous || accepts.edge_trust {
        // Anyone may call, or a trusted proxy in front authenticates and passes the identity
        // in headers: no credential is asked of the caller here.
        requirements.push(json!({}));
    }
    (Value::Array(requirements), schemes)
}

/// The error codes of each status of the function API.
const ERRORS: &[(&str, &str, &[&str])] = &[
    (
        "400",
        "The body is not JSON or fails the input schema.",
        &["input_invalid", "bad_request"],
    ),
    (
        "401",
        "The auth chain admitted no credential.",
        &["unauthorized"],
    ),
    (
        "404",
        "No such function on this gateway.",
        &["function_not_found"],
    ),
    (
        "405",
        "Only POST calls a function.",
        &["method_not_allowed"],
    ),
    (
        "408",
        "The body did not arrive in time.",
        &["request_timeout"],
    ),
    ("413", "The body is over the limit.", &["payload_too_large"]),
    (
        "415",
        "The body is not application/json.",
        &["unsupported_media_type"],
    ),
    (
        "431",
        "The request headers are too large.",
        &["headers_too_large"],
    ),
    (
        "502",
        "The runtime failed or timed out, or the output fails the output schema.",
        &["runtime_error", "output_invalid"],
    ),
    ("500", "A fault of the gateway's own.", &["internal_error"]),
    (
        "503",
        "Draining or overloaded; retry after Retry-After.",
        &["unavailable"],
    ),
];

fn responses(envelope: &str) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".to_owned(),
        json!({
            "description": "The output, valid against the output schema, with the invocation's usage.",
            "content": { "application/json": { "schema": { "$ref": reference(envelope) } } },
        }),
    );
    for (status, description, codes) in ERRORS {
        let mut response = json!({
            "description": description,
            "content": { "application/json": { "schema": {
                "allOf": [
                    { "$ref": reference("Error") },
                    { "type": "object", "properties": { "error": { "enum": codes } } },
                ],
            } } },
        });
        if *status == "401" {
            response["headers"] = json!({ "WWW-Authenticate": {
                "description": "The scheme to authenticate with.",
                "schema": { "type": "string" },
            } });
        }
        if *status == "503" {
            response["headers"] = json!({ "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": { "type": "integer" },
            } });
        }
        responses.insert((*status).to_owned(), response);
    }
    Value::Object(responses)
}

/// The schemas every function shares: the error body and usage.
fn shared_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert(
        "Error".to_owned(),
        json!({
            "type": "object",
            "required": ["error", "detail"],
            "properties": {
                "error": { "type": "string", "description": "A stable machine-readable code." },
                "detail": { "type": "string", "description": "What went wrong, for a person." },
                "invocation_id": { "type": "string" },
                "errors": {
                    "type": "array",
                    "description": "Each schema violation (input_invalid, output_invalid).",
                    "items": {
                        "type": "object",
                        "required": ["pointer", "message"],
                        "properties": {
                            "pointer": { "type": "string", "description": "RFC 6901 JSON pointer." },
                            "message": { "type": "string" },
                        },
                    },
                },
                "errors_omitted": { "type": "integer", "minimum": 1 },
                "raw_output": { "description": "The output that failed the output schema." },
            },
        }),
    );
    schemas.insert(
        "Usage".to_owned(),
        json!({
            "type": "object",
            "required": ["input_tokens", "output_tokens", "cost_usd"],
            "properties": {
                "input_tokens": { "type": "integer", "minimum": 0 },
                "output_tokens": { "type": "integer", "minimum": 0 },
                "cost_usd": { "type": "number", "minimum": 0 },
            },
        }),
    );
    schemas
}

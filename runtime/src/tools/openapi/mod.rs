//! The `openapi` adapter: a ToolRegistry handler's `openAPIConfig`, one tool per operation of
//! the OpenAPI document at `specURL` (see [`spec`] for how operations become tools).
//!
//! The document is fetched once, at discovery, with the handler's auth and timeout and at most
//! 10 MiB; a document that cannot be fetched or read leaves the handler degraded (its tools
//! absent), not the runtime down. `operationFilter`, when not empty, keeps the operations whose
//! `operationId` (or generated name) it lists, as Omnia.
//!
//! A call sends one request to `baseURL` (else the document's first server) plus the
//! operation's path: path arguments percent-encoded into it, query arguments in the query
//! string, header arguments as headers (an optional one left out when absent), the rest as the
//! JSON body when the operation takes one. It goes through the same sender as `http` handlers:
//! the handler's `headers` and auth, its `retryPolicy`, the identity headers, the response size
//! limit and the same errors for the model.

mod schema;
mod spec;

use std::collections::HashMap;
use std::sync::OnceLock;

use futures_util::future::BoxFuture;
use omnia_api::OpenApiTool;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Request, Url};
use serde_json::Value;
use tokio::time::Instant;

use self::spec::{Body, Document, Location, Operation};
use super::http::{Sender, identity_headers, push_query, render, scalar};
use super::{Adapter, FoundTool, ToolError, ToolInvocation};

/// One `openapi` handler.
#[derive(Debug)]
pub(crate) struct OpenApiAdapter {
    handler: String,
    spec_url: Url,
    base_url: Option<String>,
    filter: Vec<String>,
    /// `headers`, and `Accept: application/json`.
    headers: HeaderMap,
    sender: Sender,
    /// Set by discovery: the base URL and the operations by tool name.
    found: OnceLock<Found>,
}

#[derive(Debug)]
struct Found {
    base: String,
    operations: HashMap<String, Operation>,
}

impl OpenApiAdapter {
    /// The adapter of handler `handler`; a field that cannot work is `(field, why)`. Nothing is
    /// fetched until discovery.
    pub(crate) fn new(handler: &str, config: &OpenApiTool) -> Result<Self, (&'static str, String)> {
        let spec_url = http_url(&config.spec_url).map_err(|m| ("openAPIConfig.specURL", m))?;
        let base_url = config
            .base_url
            .as_deref()
            .map(|b| {
                http_url(b)
                    .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    .map_err(|m| ("openAPIConfig.baseURL", m))
            })
            .transpose()?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in &config.headers {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|e| format!("`{name}` is not a header name: {e}"))
                .and_then(|n| {
                    HeaderValue::try_from(value.as_str())
                        .map(|v| (n, v))
                        .map_err(|e| format!("the value of `{name}` is invalid: {e}"))
                })
                .map_err(|m| ("openAPIConfig.headers", m))?;
            headers.insert(header.0, header.1);
        }
        let sender = Sender::new(
            handler,
            config.auth.as_ref(),
            config.retry.as_ref(),
            Vec::new(),
        )?;
        Ok(Self {
            handler: handler.to_owned(),
            spec_url,
            base_url,
            filter: config.operation_filter.clone(),
            headers,
            sender,
            found: OnceLock::new(),
        })
    }

    async fn list(&self, deadline: Instant) -> Result<Vec<FoundTool>, String> {
        let text = self
            .sender
            .fetch(self.spec_url.clone(), deadline)
            .await
            .map_err(|e| format!("cannot fetch the OpenAPI document {}: {e}", self.spec_url))?;
        let document = Document::parse(&text)
            .map_err(|e| format!("cannot read the OpenAPI document {}: {e}", self.spec_url))?;
        let base = match &self.base_url {
            Some(base) => base.clone(),
            None => document.base_url(&self.spec_url)?,
        };
        let (mut operations, skipped) = document.operations();
        for skip in &skipped {
            tracing::warn!(
                handler = %self.handler,
                operation = %skip.id,
                reason = %skip.reason,
                "OpenAPI operation not offered as a tool"
            );
        }
        if !self.filter.is_empty() {
            operations.retain(|op| self.filter.contains(&op.id));
            for wanted in &self.filter {
                if !operations.iter().any(|op| &op.id == wanted) {
                    tracing::warn!(
                        handler = %self.handler,
                        operation = %wanted,
                        "operationFilter names an operation the document does not offer"
                    );
                }
            }
        }
        let tools = operations
            .iter()
            .map(|op| FoundTool {
                name: op.name.clone(),
                description: op.description.clone(),
                input_schema: op.input_schema.clone(),
            })
            .collect();
        let found = Found {
            base,
            operations: operations
                .into_iter()
                .map(|op| (op.name.clone(), op))
                .collect(),
        };
        // Discovery runs once; were it asked again, the first answer stays (it is what the
        // model was offered).
        let _ = self.found.set(found);
        Ok(tools)
    }

    /// The request for `call` to `operation`.
    fn request(
        &self,
        base: &str,
        operation: &Operation,
        call: &ToolInvocation<'_>,
    ) -> Result<Request, ToolError> {
        // Everything that fails here comes from the arguments: the model's to fix.
        let failed = |reason: String| ToolError::BadRequest {
            tool: call.tool.to_owned(),
            reason,
        };
        let mut args = call.arguments.as_object().cloned().unwrap_or_default();
        let path = render(&operation.path_template, &mut args, true).map_err(failed)?;
        let mut url = Url::parse(&format!("{base}{path}"))
            .map_err(|e| failed(format!("the URL `{base}{path}` is invalid: {e}")))?;
        let mut headers = self.headers.clone();
        identity_headers(&mut headers, call);
        let mut query = Vec::new();
        for param in &operation.params {
            let Some(value) = args.remove(&param.name) else {
                continue;
            };
            match param.location {
                Location::Path => {}
                Location::Query => push_query(&mut query, &param.name, &value),
                Location::Header => {
                    let header = HeaderName::try_from(param.name.as_str())
                        .ok()
                        .zip(HeaderValue::try_from(scalar(&value)).ok())
                        .ok_or_else(|| {
                            failed(format!(
                                "the value of `{}` is not valid in a header",
                                param.name
                            ))
                        })?;
                    headers.insert(header.0, header.1);
                }
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let body = match operation.body {
            Body::Fields { required } if required || !args.is_empty() => Some(Value::Object(args)),
            Body::Whole => args.remove("body"),
            Body::Fields { .. } | Body::None => {
                if !args.is_empty() {
                    tracing::debug!(
                        tool = call.tool,
                        arguments = ?args.keys().collect::<Vec<_>>(),
                        "arguments the operation does not take are not sent"
                    );
                }
                None
            }
        };
        let mut builder = self.sender.request(operation.method.clone(), url);
        if let Some(body) = body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            builder = builder.body(body.to_string());
        }
        builder
            .headers(headers)
            .build()
            .map_err(|e| failed(format!("cannot build the request: {e}")))
    }

    async fn run(&self, call: &ToolInvocation<'_>) -> Result<String, ToolError> {
        let found = self.found.get();
        let Some((found, operation)) =
            found.and_then(|f| f.operations.get(call.tool).map(|op| (f, op)))
        else {
            return Err(ToolError::Failed {
                tool: call.tool.to_owned(),
                reason: format!(
                    "handler `{}` found no such operation in its OpenAPI document",
                    self.handler
                ),
            });
        };
        let request = self.request(&found.base, operation, call)?;
        let text = self.sender.send(call, request).await?;
        self.sender.answered(call, &text);
        Ok(text)
    }
}

impl Adapter for OpenApiAdapter {
    fn call<'a>(
        &'a self,
        call: &'a ToolInvocation<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(call))
    }

    fn discover(&self, deadline: Instant) -> BoxFuture<'_, Result<Vec<FoundTool>, String>> {
        Box::pin(self.list(deadline))
    }
}

/// `text` as an http(s) URL.
fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` is not an http(s) URL"));
    }
    Ok(url)
}

//! The `http` adapter: a ToolRegistry handler's `httpConfig` turned into one request per call
//! (and retries, per its `retryPolicy`), with one pooled client per handler.
//!
//! Where the model's arguments go: those the `urlTemplate` names are percent-encoded into the
//! path, those `queryParams` names go to the query string, those the `headerParams` templates
//! name go to headers; each is then left out of the rest. What remains is the JSON (or form)
//! body, merged with `staticBody`, or for GET, HEAD and DELETE the query string.
//!
//! `bodyMapping` and `responseMapping` are JMESPath expressions, compiled when the adapter is
//! built. `bodyMapping` reshapes what remains of the arguments (after `staticBody` is merged)
//! into the body, or for GET, HEAD and DELETE into the query's arguments (it must give an
//! object there); `responseMapping` reshapes a JSON answer, whose result is the tool's result.

use std::time::Duration;

use futures_util::future::BoxFuture;
use omnia_api::{HttpRetryPolicy, HttpTool, ToolAuth};
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use reqwest::{Method, Request, RequestBuilder, Response, StatusCode, Url};
use serde_json::{Map, Value};

use super::identity::identity;
use super::manager::{Adapter, ToolError, ToolInvocation};
use super::retry::{self, Backoff};
use tokio::time::Instant;

/// Connecting (TCP + TLS) to a tool's service takes at most this long; the call's own deadline
/// may cut it shorter.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (issue 15: "bounded response size (10 MiB default)"): a tool's
/// result goes into the model's context, and more than this is a mistake, not a result.
pub(crate) const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;
/// The most of an error body read to quote it.
const ERROR_BODY_BYTES: usize = 16 * 1024;
/// The longest excerpt of an error body the model is shown.
const EXCERPT_CHARS: usize = 300;
/// What a redacted field shows in logs.
const REDACTED: &str = "[REDACTED]";

/// How the handler authenticates, ready to send.
#[derive(Clone)]
enum Auth {
    /// A whole header (`Authorization: Bearer ...`, `X-API-Key: ...`), marked sensitive.
    Header(HeaderName, HeaderValue),
    /// HTTP basic; reqwest encodes it.
    Basic {
        user: String,
        password: omnia_api::ApiKey,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values are secrets.
        match self {
            Auth::Header(name, _) => write!(f, "Header({name}: ***)"),
            Auth::Basic { user, .. } => write!(f, "Basic({user}:***)"),
        }
    }
}

/// `retryPolicy`, or one attempt.
#[derive(Debug, Clone)]
struct Retry {
    max_attempts: u32,
    backoff: Backoff,
    retry_on: Vec<u16>,
    on_network_error: bool,
    respect_retry_after: bool,
}

/// A compiled JMESPath expression and its text (for errors and `Debug`).
struct Mapping {
    field: &'static str,
    text: String,
    expression: jmespath::Expression<'static>,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.field, self.text)
    }
}

impl Mapping {
    /// `text` compiled, or a start-up error naming `field`.
    fn compile(
        field: &'static str,
        text: Option<&String>,
    ) -> Result<Option<Self>, (&'static str, String)> {
        let Some(text) = text else {
            return Ok(None);
        };
        let expression = jmespath::compile(text)
            .map_err(|e| (field, format!("`{text}` is not a JMESPath expression: {e}")))?;
        Ok(Some(Self {
            field,
            text: text.clone(),
            expression,
        }))
    }

    /// The expression applied to `value`; a failure says which mapping failed and why.
    fn apply(&self, value: &Value) -> Result<Value, String> {
        let result = self
            .expression
            .search(value)
            .map_err(|e| format!("{} `{}` failed: {e}", self.field, self.text))?;
        serde_json::to_value(&*result)
            .map_err(|e| format!("{} `{}` failed: {e}", self.field, self.text))
    }
}

/// One `http` handler.
#[derive(Debug)]
pub(crate) struct HttpAdapter {
    sender: Sender,
    endpoint: String,
    method: Method,
    /// `headers` and `Content-Type`.
    headers: HeaderMap,
    /// The body is `application/x-www-form-urlencoded` rather than JSON.
    form: bool,
    query_params: Vec<String>,
    header_params: Vec<(HeaderName, String)>,
    static_query: Vec<(String, String)>,
    static_body: Map<String, Value>,
    url_template: Option<String>,
    /// `bodyMapping`, applied to the body (or the query's arguments) before sending.
    body_mapping: Option<Mapping>,
    /// `responseMapping`, applied to a JSON answer before it goes to the model.
    response_mapping: Option<Mapping>,
}

/// What every HTTP-based handler (`http`, `openapi`) sends its requests through: one pooled
/// client, the handler's auth, its `retryPolicy`, the response size limit and the `redact`
/// fields kept out of logs.
#[derive(Debug)]
pub(crate) struct Sender {
    client: reqwest::Client,
    auth: Option<Auth>,
    retry: Retry,
    redact: Vec<String>,
    max_response_bytes: usize,
}

/// How one attempt failed, for the retry loop.
struct Failure {
    error: ToolError,
    retryable: bool,
    /// The service's `Retry-After`, when it is to be honoured.
    after: Option<Duration>,
}

impl HttpAdapter {
    /// The adapter of handler `handler`; a field that cannot work is `(field, why)`.
    pub(crate) fn new(handler: &str, config: &HttpTool) -> Result<Self, (&'static str, String)> {
        let endpoint = Url::parse(&config.endpoint).map_err(|e| {
            (
                "httpConfig.endpoint",
                format!("`{}` is not a URL: {e}", config.endpoint),
            )
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err((
                "httpConfig.endpoint",
                format!("`{endpoint}` is not an http(s) URL"),
            ));
        }
        let method = Method::from_bytes(config.method.to_ascii_uppercase().as_bytes())
            .map_err(|e| ("httpConfig.method", format!("`{}`: {e}", config.method)))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let (name, value) = header(name, value).map_err(|m| ("httpConfig.headers", m))?;
            headers.insert(name, value);
        }
        let content_type = HeaderValue::try_from(config.content_type.as_str()).map_err(|e| {
            (
                "httpConfig.contentType",
                format!("`{}`: {e}", config.content_type),
            )
        })?;
        headers.insert(CONTENT_TYPE, content_type);
        let header_params = config
            .header_params
            .iter()
            .map(|(name, template)| {
                HeaderName::try_from(name.as_str())
                    .map(|n| (n, template.clone()))
                    .map_err(|e| {
                        (
                            "httpConfig.headerParams",
                            format!("`{name}` is not a header name: {e}"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let static_body = match &config.static_body {
            None => Map::new(),
            Some(Value::Object(body)) => body.clone(),
            Some(_) => {
                return Err(("httpConfig.staticBody", "must be a JSON object".to_owned()));
            }
        };
        let body_mapping =
            Mapping::compile("httpConfig.bodyMapping", config.body_mapping.as_ref())?;
        let response_mapping = Mapping::compile(
            "httpConfig.responseMapping",
            config.response_mapping.as_ref(),
        )?;
        let sender = Sender::new(
            handler,
            config.auth.as_ref(),
            config.retry.as_ref(),
            config.redact.clone(),
        )?;
        Ok(Self {
            sender,
            endpoint: config.endpoint.clone(),
            method,
            headers,
            form: config
                .content_type
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded"),
            query_params: config.query_params.clone(),
            header_params,
            static_query: config
                .static_query
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            static_body,
            url_template: config.url_template.clone(),
            body_mapping,
            response_mapping,
        })
    }

    /// The request for `call`, or why the arguments cannot make one.
    fn request(&self, call: &ToolInvocation<'_>) -> Result<Request, ToolError> {
        // Everything that fails here comes from the arguments: the model's to fix, so it does
        // not count against the handler's breaker.
        let failed = |reason: String| ToolError::BadRequest {
            tool: call.tool.to_owned(),
            reason,
        };
        let mut args = call.arguments.as_object().cloned().unwrap_or_default();
        let mut url = self.endpoint.clone();
        if let Some(template) = &self.url_template {
            let path = render(template, &mut args, true).map_err(failed)?;
            if url.ends_with('/') && path.starts_with('/') {
                url.pop();
            }
            url.push_str(&path);
        }
        let mut url =
            Url::parse(&url).map_err(|e| failed(format!("the URL `{url}` is invalid: {e}")))?;
        let mut headers = self.headers.clone();
        for (name, template) in &self.header_params {
            let value = render(template, &mut args, false).map_err(failed)?;
            let value = HeaderValue::try_from(value).map_err(|_| {
                failed(format!(
                    "the value for the header `{name}` is not valid in a header"
                ))
            })?;
            headers.insert(name.clone(), value);
        }
        identity_headers(&mut headers, call);
        let mut query: Vec<(String, String)> = Vec::new();
        for name in &self.query_params {
            if let Some(value) = args.remove(name) {
                push_query(&mut query, name, &value);
            }
        }
        query.extend(self.static_query.iter().cloned());
        let mut body = None;
        if matches!(self.method, Method::GET | Method::HEAD | Method::DELETE) {
            // The mapping reshapes the arguments before they become the query; a query is
            // name=value pairs, so the mapping has to give an object.
            let args = match &self.body_mapping {
                None => args,
                Some(mapping) => match mapping.apply(&Value::Object(args)).map_err(failed)? {
                    Value::Object(mapped) => mapped,
                    other => {
                        return Err(failed(format!(
                            "{} `{}` gave {other}, not an object, for the query string",
                            mapping.field, mapping.text
                        )));
                    }
                },
            };
            for (name, value) in &args {
                push_query(&mut query, name, value);
            }
        } else {
            // The handler's own fields win: they are not the model's to change.
            args.extend(self.static_body.clone());
            let mut value = Value::Object(args);
            if let Some(mapping) = &self.body_mapping {
                value = mapping.apply(&value).map_err(failed)?;
            }
            body = Some(if self.form {
                let Value::Object(fields) = &value else {
                    return Err(failed(format!(
                        "the form body must be an object, and the bodyMapping gave {value}"
                    )));
                };
                let mut pairs = Vec::new();
                for (name, value) in fields {
                    push_query(&mut pairs, name, value);
                }
                form(&pairs).into_bytes()
            } else {
                value.to_string().into_bytes()
            });
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut builder = self
            .sender
            .request(self.method.clone(), url)
            .headers(headers);
        if let Some(body) = body {
            builder = builder.body(body);
        }
        builder.build().map_err(|e| {
            failed(format!(
                "cannot build the request: {}",
                chain(&e.without_url())
            ))
        })
    }

    /// `text` through the `responseMapping`, if there is one: the answer must then be JSON.
    fn map_response(&self, tool: &str, text: String) -> Result<String, ToolError> {
        let Some(mapping) = &self.response_mapping else {
            return Ok(text);
        };
        let failed = |reason: String| ToolError::Failed {
            tool: tool.to_owned(),
            reason,
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            failed(format!(
                "the answer is not JSON ({e}), and the handler's {} needs JSON",
                mapping.field
            ))
        })?;
        Ok(mapping.apply(&value).map_err(failed)?.to_string())
    }

    async fn run(&self, call: &ToolInvocation<'_>) -> Result<String, ToolError> {
        let request = self.request(call)?;
        let text = self.sender.send(call, request).await?;
        let text = self.map_response(call.tool, text)?;
        self.sender.answered(call, &text);
        Ok(text)
    }
}

impl Sender {
    /// The sender of handler `handler`: `auth` ready to send, `retry` or one attempt.
    pub(crate) fn new(
        handler: &str,
        auth_config: Option<&ToolAuth>,
        retry: Option<&HttpRetryPolicy>,
        redact: Vec<String>,
    ) -> Result<Self, (&'static str, String)> {
        let auth = auth_config.map(auth).transpose().map_err(|m| ("auth", m))?;
        let retry = retry.map_or(
            Retry {
                max_attempts: 1,
                backoff: Backoff::NONE,
                retry_on: Vec::new(),
                on_network_error: false,
                respect_retry_after: false,
            },
            |r| Retry {
                max_attempts: r.max_attempts.max(1),
                backoff: Backoff::new(r.initial_backoff, r.backoff_multiplier, r.max_backoff),
                retry_on: r.retry_on.clone(),
                on_network_error: r.retry_on_network_error,
                respect_retry_after: r.respect_retry_after,
            },
        );
        // reqwest is built without a TLS provider and panics building a client without one;
        // the runtime installs ring at start-up, tests may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // Redirects are not followed: reqwest strips only `Authorization` on a cross-host
            // hop, and an API-key header or a header parameter must not go to another host. A
            // 3xx is the tool's answer.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                (
                    "httpConfig",
                    format!("cannot build handler `{handler}`'s HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            client,
            auth,
            retry,
            redact,
            max_response_bytes: MAX_RESPONSE_BYTES,
        })
    }

    /// A request to `url` with the handler's auth.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.client.request(method, url);
        match &self.auth {
            Some(Auth::Header(name, value)) => builder.header(name, value),
            Some(Auth::Basic { user, password }) => {
                builder.basic_auth(user, Some(password.expose()))
            }
            None => builder,
        }
    }

    /// Logs a call's result, `redact` fields blanked.
    pub(crate) fn answered(&self, call: &ToolInvocation<'_>, text: &str) {
        tracing::debug!(
            tool = call.tool,
            call_id = call.call_id,
            result = %redacted(text, &self.redact),
            "tool answered"
        );
    }

    /// The text at `url` (an OpenAPI document), fetched once with the handler's auth, within
    /// `deadline` and the response size limit; an error says what went wrong.
    pub(crate) async fn fetch(&self, url: Url, deadline: Instant) -> Result<String, String> {
        let request = self
            .request(Method::GET, url)
            .build()
            .map_err(|e| format!("cannot build the request: {}", chain(&e.without_url())))?;
        let attempt = tokio::time::timeout_at(deadline, self.attempt("", request));
        match attempt.await {
            Err(_) => Err("no answer in time".to_owned()),
            Ok(Ok(text)) => Ok(text),
            Ok(Err(failure)) => Err(match failure.error {
                ToolError::Status {
                    status, excerpt, ..
                } => format!("HTTP {status}: {excerpt}"),
                ToolError::Unreachable { reason, .. } => reason,
                ToolError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
                other => other.to_string(),
            }),
        }
    }

    /// One attempt.
    async fn attempt(&self, tool: &str, request: Request) -> Result<String, Failure> {
        let response = match self.client.execute(request).await {
            Ok(response) => response,
            Err(error) => {
                return Err(Failure {
                    error: ToolError::Unreachable {
                        tool: tool.to_owned(),
                        reason: chain(&error.without_url()),
                    },
                    retryable: self.retry.on_network_error,
                    after: None,
                });
            }
        };
        let status = response.status();
        if !status.is_success() {
            let after = (self.retry.respect_retry_after
                && matches!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                ))
            .then(|| retry_after(response.headers()))
            .flatten();
            let excerpt = excerpt(response, &self.redact).await;
            return Err(Failure {
                error: ToolError::Status {
                    tool: tool.to_owned(),
                    status: status.as_u16(),
                    excerpt,
                },
                retryable: self.retry.retry_on.contains(&status.as_u16()),
                after,
            });
        }
        self.body(tool, response).await
    }

    /// A 2xx answer's body as text, refused past [`MAX_RESPONSE_BYTES`] without reading on.
    async fn body(&self, tool: &str, mut response: Response) -> Result<String, Failure> {
        let too_large = || Failure {
            error: ToolError::TooLarge {
                tool: tool.to_owned(),
                limit: self.max_response_bytes,
            },
            retryable: false,
            after: None,
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_response_bytes as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_response_bytes {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => {
                    return Err(Failure {
                        error: ToolError::Unreachable {
                            tool: tool.to_owned(),
                            reason: format!(
                                "the answer broke off: {}",
                                chain(&error.without_url())
                            ),
                        },
                        retryable: self.retry.on_network_error,
                        after: None,
                    });
                }
            }
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `request` sent, and sent again as `retryPolicy` allows: the 2xx answer's text, or the
    /// last failure.
    pub(crate) async fn send(
        &self,
        call: &ToolInvocation<'_>,
        request: Request,
    ) -> Result<String, ToolError> {
        let mut attempt = 1;
        loop {
            let this = request.try_clone().ok_or_else(|| ToolError::Failed {
                tool: call.tool.to_owned(),
                reason: "the request cannot be repeated".to_owned(),
            })?;
            match self.attempt(call.tool, this).await {
                Ok(text) => {
                    tracing::trace!(tool = call.tool, attempt, "tool attempt answered");
                    return Ok(text);
                }
                Err(failure) => {
                    let wait = failure
                        .after
                        .unwrap_or_else(|| self.retry.backoff.delay(attempt));
                    // A retry that cannot finish before the deadline is not started: the
                    // model hears the real failure rather than a timeout.
                    if !failure.retryable
                        || attempt >= self.retry.max_attempts
                        || !retry::fits(wait, call.deadline)
                    {
                        return Err(failure.error);
                    }
                    tracing::debug!(
                        tool = call.tool,
                        attempt,
                        ?wait,
                        error = %failure.error,
                        "retrying the tool call"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }
}

impl Adapter for HttpAdapter {
    fn call<'a>(
        &'a self,
        call: &'a ToolInvocation<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(call))
    }
}

/// The identity headers of `call` added to `headers`.
pub(crate) fn identity_headers(headers: &mut HeaderMap, call: &ToolInvocation<'_>) {
    for (name, value) in identity(call) {
        // Ids are ASCII in practice; one that is not is left out rather than failing the call.
        match HeaderValue::try_from(value) {
            Ok(value) => {
                headers.insert(HeaderName::from_static(name), value);
            }
            Err(_) => tracing::debug!(
                header = name,
                value,
                "identity value left out: not valid in a header"
            ),
        }
    }
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name =
        HeaderName::try_from(name).map_err(|e| format!("`{name}` is not a header name: {e}"))?;
    let value = HeaderValue::try_from(value)
        .map_err(|e| format!("the value of `{name}` is invalid: {e}"))?;
    Ok((name, value))
}

fn auth(auth: &ToolAuth) -> Result<Auth, String> {
    let sensitive = |name: HeaderName, value: String| {
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| format!("the secret for `{name}` is not valid in a header"))?;
        value.set_sensitive(true);
        Ok(Auth::Header(name, value))
    };
    match auth {
        ToolAuth::Bearer(key) => sensitive(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", key.expose()),
        ),
        ToolAuth::Basic { user, password } => Ok(Auth::Basic {
            user: user.clone(),
            password: password.clone(),
        }),
        ToolAuth::ApiKeyHeader { header, value } => {
            let name = HeaderName::try_from(header.as_str())
                .map_err(|e| format!("`{header}` is not a header name: {e}"))?;
            sensitive(name, value.expose().to_owned())
        }
    }
}

/// `template` with each `{{.name}}` replaced by that argument (percent-encoded for a path),
/// which is then taken out of `args`. A missing argument is an error naming it.
pub(crate) fn render(
    template: &str,
    args: &mut Map<String, Value>,
    path: bool,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut used = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = after[..close].trim().trim_start_matches('.');
        let value = args
            .get(name)
            .ok_or_else(|| format!("the argument `{name}` is required (the request needs it)"))?;
        let text = scalar(value);
        if path {
            // URL parsers resolve `.` and `..` segments (encoded ones too): an argument must
            // not climb the path.
            if matches!(text.as_str(), "" | "." | "..") {
                return Err(format!(
                    "the argument `{name}` cannot be {text:?}: it is a path segment"
                ));
            }
            out.push_str(&encode_segment(&text));
        } else {
            out.push_str(&text);
        }
        used.push(name.to_owned());
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    for name in used {
        args.remove(&name);
    }
    Ok(out)
}

/// A value as a query, header or path piece: strings as they are, anything else as JSON.
pub(crate) fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An argument as query pairs: an array of scalars repeats the key.
pub(crate) fn push_query(query: &mut Vec<(String, String)>, name: &str, value: &Value) {
    match value {
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            query.extend(items.iter().map(|i| (name.to_owned(), scalar(i))));
        }
        other => query.push((name.to_owned(), scalar(other))),
    }
}

/// `application/x-www-form-urlencoded` text of `pairs`.
fn form(pairs: &[(String, String)]) -> String {
    // The url crate's serializer, through a throwaway URL, rather than another dependency.
    match Url::parse("http://form.invalid/") {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.query().unwrap_or_default().to_owned()
        }
        Err(_) => String::new(),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so an argument stays one
/// path segment (`a/b` cannot climb the path).
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `Retry-After` in seconds (an HTTP date is not honoured).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// The start of an error body, shortened, for the model. The error also goes to logs and
/// traces, so the `redact` fields are blanked first (before shortening: a cut body is no longer
/// JSON whose fields can be found).
async fn excerpt(mut response: Response, redact: &[String]) -> String {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = redacted(&String::from_utf8_lossy(&body), redact);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "(no body)".to_owned();
    }
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

/// `text` for a log line: the `redact` fields (at any depth) blanked. A body that is not JSON
/// is withheld whole when anything is to be redacted, since its fields cannot be found.
pub(crate) fn redacted(text: &str, fields: &[String]) -> String {
    if fields.is_empty() {
        return text.to_owned();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut value) => {
            blank(&mut value, fields);
            value.to_string()
        }
        Err(_) => format!(
            "[{} bytes, withheld: not JSON and fields are redacted]",
            text.len()
        ),
    }
}

fn blank(value: &mut Value, fields: &[String]) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if fields.iter().any(|f| f == key) {
                    *field = Value::String(REDACTED.to_owned());
                } else {
                    blank(field, fields);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| blank(i, fields)),
        _ => {}
    }
}

/// An error with its causes, for the model ("error sending request: connection refused").
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_encode_path_arguments_and_take_them_out() {
        let mut args = json!({"user_id": "a/b c", "keep": 1})
            .as_object()
            .cloned()
            .unwrap();
        let path = render("/users/{{.user_id}}/orders", &mut args, true).unwrap();
        assert_eq!(path, "/users/a%2Fb%20c/orders");
        assert_eq!(Value::Object(args), json!({"keep": 1}));
        let mut none = Map::new();
        assert!(
            render("/u/{{.id}}", &mut none, true)
                .unwrap_err()
                .contains("`id`")
        );
    }

    #[test]
    fn redaction_blanks_fields_at_any_depth() {
        let text = r#"{"name":"Ann","card":"4111","items":[{"ssn":"1"}]}"#;
        let fields = vec!["card".to_owned(), "ssn".to_owned()];
        let out: Value = serde_json::from_str(&redacted(text, &fields)).unwrap();
        assert_eq!(
            out,
            json!({"name": "Ann", "card": REDACTED, "items": [{"ssn": REDACTED}]})
        );
        assert!(!redacted("card=4111", &fields).contains("4111"));
        assert_eq!(redacted("plain", &[]), "plain");
    }

    #[test]
    fn form_bodies_are_url_encoded() {
        assert_eq!(form(&[("a b".into(), "c&d".into())]), "a+b=c%26d");
    }
}

//! Every error the gateway answers with, and the one place they become HTTP responses.
//!
//! Layers and handlers return a [`GatewayError`]; [`GatewayError::into_response`] turns it into the
//! JSON body of DESIGN.md 4.1 (`{"error", "detail", "invocation_id"?, ...}`) with the right status
//! and headers. Nothing else in the gateway builds an error response by hand.
//!
//! What a failure's text may carry is decided here too: a runtime failure's cause (the runtime's
//! own message, transport errors naming addresses) is logged with the invocation id and never
//! sent; the caller gets a plain description and the same invocation id, so the two can be joined.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde::Serialize;
use serde::de::IgnoredAny;

use crate::body::ResponseBody;

/// The invocation id of a function call, in response extensions, so errors raised after the call
/// started (e.g. `output_invalid`) can quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationId(pub String);

/// One failure of a JSON document against a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaViolation {
    /// JSON pointer (RFC 6901) to the failing value in the document.
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
}

/// The schema violations an error lists: at most [`Violations::MAX_LISTED`], and how many more
/// there were, so a huge array of wrong items cannot make a response of megabytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    pub listed: Vec<SchemaViolation>,
    /// Violations found beyond the listed ones.
    pub omitted: usize,
}

impl Violations {
    /// How many violations an error lists.
    pub const MAX_LISTED: usize = 50;

    /// Every violation found, listed or not.
    pub fn total(&self) -> usize {
        self.listed.len() + self.omitted
    }
}

/// Every way a request can fail at the gateway.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// The body is not JSON, or fails the function's `inputSchema`.
    #[error("{detail}")]
    InputInvalid { detail: String, errors: Violations },
    /// The authentication chain admitted nothing.
    #[error("{detail}")]
    Unauthorized { detail: String },
    /// No function of that name on this gateway.
    #[error("no function named {name:?} on this gateway")]
    FunctionNotFound { name: String },
    /// No agent-mode agent of that name (or in that namespace) on this gateway, or the WebSocket
    /// upgrade did not say which one when the gateway serves several.
    #[error("{detail}")]
    AgentNotFound { detail: String },
    /// A browser page from an origin `OMNIA_ALLOWED_ORIGINS` does not list opened a WebSocket.
    #[error("origin {origin:?} may not open a WebSocket to this gateway")]
    OriginNotAllowed { origin: String },
    /// No route for the path at all.
    #[error("no route for {path}")]
    NotFound { path: String },
    /// The method is not allowed on this route.
    #[error("method {method} is not allowed; use {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// The body is over the configured limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// The request's headers are over the configured limit.
    #[error("request headers exceed the limit of {limit} bytes")]
    HeadersTooLarge { limit: usize },
    /// The Content-Type is present and not JSON.
    #[error("content type {got:?} is not supported; use application/json")]
    UnsupportedMediaType { got: String },
    /// The request could not be read (client went away, malformed framing).
    #[error("{detail}")]
    BadRequest { detail: String },
    /// The body did not arrive in full within the body deadline.
    #[error("the request body did not arrive within {} s", waited.as_secs_f64())]
    RequestTimeout { waited: Duration },
    /// The runtime failed or could not be reached. `detail` is what the caller reads; `cause` is
    /// the runtime's or the transport's own text, which can name addresses and internals, so it
    /// goes to the log only, next to the invocation id that the response also carries.
    #[error("{detail}")]
    RuntimeError { detail: String, cause: String },
    /// The runtime did not answer within the call timeout (502 `runtime_error`, like any other
    /// runtime failure: the gateway is fine, its upstream is not).
    #[error("the runtime did not answer within {}", seconds(*after))]
    RuntimeTimeout { after: Duration },
    /// The runtime's output is not JSON or fails the function's `outputSchema`; `raw_output` is
    /// that output as the runtime sent it.
    #[error("{detail}")]
    OutputInvalid {
        detail: String,
        errors: Violations,
        raw_output: Bytes,
    },
    /// Draining or overloaded.
    #[error("{detail}")]
    Unavailable {
        detail: String,
        retry_after_secs: u32,
    },
    /// A bug or an impossible state; never the client's fault.
    #[error("{detail}")]
    Internal { detail: String },
    /// The agent stores no media (`spec.media.storage.type` is `none`).
    #[error("agent {agent:?} has no media storage")]
    MediaNotEnabled { agent: String },
    /// No such media, or not in that session.
    #[error("{detail}")]
    MediaNotFound { detail: String },
    /// The media existed and has expired.
    #[error("{detail}")]
    MediaExpired { detail: String },
    /// No pending upload of that id (never requested, already confirmed, or expired).
    #[error("no pending upload {upload_id:?}")]
    UploadNotFound { upload_id: String },
    /// The upload is not what was declared (size, type), or not there yet.
    #[error("{detail}")]
    UploadFailed { detail: String },
    /// The declared MIME type is not in the agent's allowlist.
    #[error("MIME type {mime:?} is not accepted; accepted: {allowed}")]
    MimeTypeNotAllowed { mime: String, allowed: String },
    /// The storage backend failed or could not be reached. As with [`Self::RuntimeError`],
    /// `cause` (which can name hosts and buckets) goes to the log only.
    #[error("{detail}")]
    StorageUnavailable { detail: String, cause: String },
}

impl GatewayError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InputInvalid { .. } | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::FunctionNotFound { .. } | Self::AgentNotFound { .. } | Self::NotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::OriginNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RuntimeError { .. }
            | Self::RuntimeTimeout { .. }
            | Self::OutputInvalid { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MediaNotEnabled { .. }
            | Self::MediaNotFound { .. }
            | Self::UploadNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MediaExpired { .. } => StatusCode::GONE,
            Self::UploadFailed { .. } => StatusCode::BAD_REQUEST,
            Self::MimeTypeNotAllowed { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::StorageUnavailable { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// The stable machine-readable code in the body's `error` field; also a low-cardinality
    /// metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InputInvalid { .. } => "input_invalid",
            Self::Unauthorized { .. } => "unauthorized",
            Self::FunctionNotFound { .. } => "function_not_found",
            Self::AgentNotFound { .. } => "agent_not_found",
            Self::OriginNotAllowed { .. } => "origin_not_allowed",
            Self::NotFound { .. } => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::HeadersTooLarge { .. } => "headers_too_large",
            Self::BadRequest { .. } => "bad_request",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::RuntimeError { .. } | Self::RuntimeTimeout { .. } => "runtime_error",
            Self::OutputInvalid { .. } => "output_invalid",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal { .. } => "internal_error",
            Self::MediaNotEnabled { .. } => "media_not_enabled",
            Self::MediaNotFound { .. } => "media_not_found",
            Self::MediaExpired { .. } => "media_expired",
            Self::UploadNotFound { .. } => "upload_not_found",
            Self::UploadFailed { .. } => "upload_failed",
            Self::MimeTypeNotAllowed { .. } => "mime_type_not_allowed",
            Self::StorageUnavailable { .. } => "storage_unavailable",
        }
    }

    /// The JSON error response, with no invocation id.
    pub fn into_response(self) -> Response<ResponseBody> {
        self.into_response_with(None)
    }

    /// The JSON error response; `invocation_id` is included when the call got that far.
    pub fn into_response_with(self, invocation_id: Option<&str>) -> Response<ResponseBody> {
        let status = self.status();
        let detail = self.to_string();
        self.log(&detail, invocation_id);
        let (errors, raw_output) = match &self {
            Self::InputInvalid { errors, .. } => (Some(errors), None),
            Self::OutputInvalid {
                errors, raw_output, ..
            } => (Some(errors), Some(raw_output)),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: self.code(),
            detail: &detail,
            invocation_id,
            errors: errors.map(|e| e.listed.as_slice()),
            errors_omitted: errors.map(|e| e.omitted).filter(|n| *n > 0),
        };
        // Serialising plain strings into a Vec cannot fail; fall back to a fixed body regardless.
        let bytes = encode(&body, raw_output).unwrap_or_else(|_| {
            br#"{"error":"internal_error","detail":"error body could not be encoded"}"#.to_vec()
        });
        let mut response = Response::new(ResponseBody::full(bytes));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self {
            Self::Unauthorized { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unavailable {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }

    /// The log line for failures whose cause the operator needs and the caller must not see.
    fn log(&self, detail: &str, invocation_id: Option<&str>) {
        let invocation_id = invocation_id.unwrap_or("");
        match self {
            Self::RuntimeError { cause, .. } => {
                tracing::warn!(invocation_id, %cause, "runtime call failed: {detail}");
            }
            Self::RuntimeTimeout { .. } => {
                tracing::warn!(invocation_id, "runtime call timed out: {detail}");
            }
            Self::StorageUnavailable { cause, .. } => {
                tracing::warn!(%cause, "media storage failed: {detail}");
            }
            _ => {}
        }
    }
}

/// `30 s`, `0.25 s`: a timeout as configured, in the unit the settings use.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [SchemaViolation]>,
    /// Violations beyond the listed ones (absent when every one is listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    errors_omitted: Option<usize>,
}

/// `body` as JSON, with `raw_output` as its last field when there is one.
///
/// Like Omnia's facade, `raw_output` is the model's output as a JSON value when it is valid JSON
/// (clients read an object as an object), and a JSON string otherwise. A JSON output is spliced
/// in byte for byte, so the author sees exactly what the model wrote (key order, number text).
fn encode(body: &ErrorBody<'_>, raw_output: Option<&Bytes>) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(body)?;
    let Some(raw) = raw_output else {
        return Ok(out);
    };
    // `out` is a JSON object, so it ends with `}`: reopen it for one more field.
    out.pop();
    out.extend_from_slice(b",\"raw_output\":");
    if is_json(raw) {
        out.extend_from_slice(raw.trim_ascii());
    } else {
        serde_json::to_writer(&mut out, &String::from_utf8_lossy(raw))?;
    }
    out.push(b'}');
    Ok(out)
}

/// Whether `raw` is one JSON document that may go into a response verbatim. The UTF-8 check
/// comes first because skipping a value does not validate the text inside its strings, and a
/// response must never carry invalid UTF-8 (such output is sent as a string, lossily).
fn is_json(raw: &[u8]) -> bool {
    std::str::from_utf8(raw).is_ok() && serde_json::from_slice::<IgnoredAny>(raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::{Arc, RwLock};

    async fn body_json(response: Response<ResponseBody>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn unauthorized_carries_www_authenticate_and_json_body() {
        let response = GatewayError::Unauthorized {
            detail: "no credential".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = body_json(response).await;
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(body["detail"], "no credential");
        assert!(body.get("invocation_id").is_none());
    }

    #[tokio::test]
    async fn output_invalid_carries_raw_output_errors_and_invocation_id() {
        let response = GatewayError::OutputInvalid {
            detail: "output fails outputSchema".into(),
            errors: Violations {
                omitted: 0,
                listed: vec![SchemaViolation {
                    pointer: "/echo".into(),
                    message: "42 is not of type \"string\"".into(),
                }],
            },
            raw_output: Bytes::from_static(br#"{"echo":42}"#),
        }
        .into_response_with(Some("abc"));
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = body_json(response).await;
        assert_eq!(body["error"], "output_invalid");
        assert_eq!(body["raw_output"], serde_json::json!({"echo": 42}));
        assert_eq!(body["invocation_id"], "abc");
        assert_eq!(body["errors"][0]["pointer"], "/echo");
        assert!(body.get("errors_omitted").is_none(), "{body}");
    }

    fn output_invalid(raw: &'static [u8]) -> GatewayError {
        GatewayError::OutputInvalid {
            detail: "output fails outputSchema".into(),
            errors: Violations::default(),
            raw_output: Bytes::from_static(raw),
        }
    }

    #[tokio::test]
    async fn json_raw_output_is_spliced_in_as_the_model_wrote_it() {
        let response = output_invalid(b" {\"zeta\": 1, \"alpha\": [1.50]}\n").into_response();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.ends_with(r#","raw_output":{"zeta": 1, "alpha": [1.50]}}"#),
            "{text}"
        );
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["raw_output"]["zeta"], 1);
    }

    #[tokio::test]
    async fn a_json_scalar_raw_output_stays_a_scalar() {
        let body = body_json(output_invalid(b"42").into_response()).await;
        assert_eq!(body["raw_output"], 42);
        let body = body_json(output_invalid(br#""just text""#).into_response()).await;
        assert_eq!(body["raw_output"], "just text");
    }

    #[tokio::test]
    async fn raw_output_that_is_not_json_is_a_string() {
        let body = body_json(output_invalid(b"Sure! Here is {\"echo\": 1").into_response()).await;
        assert_eq!(body["raw_output"], r#"Sure! Here is {"echo": 1"#);
        let body = body_json(output_invalid(b"").into_response()).await;
        assert_eq!(body["raw_output"], "");
    }

    #[tokio::test]
    async fn raw_output_with_invalid_utf8_is_a_lossy_string_even_inside_json() {
        let body = body_json(output_invalid(b"\"caf\xff\"").into_response()).await;
        assert_eq!(body["raw_output"], "\"caf\u{fffd}\"");
    }

    /// Everything logged while the returned guard lives, as text.
    fn capture_logs() -> (tracing::subscriber::DefaultGuard, Arc<RwLock<Vec<u8>>>) {
        let logs = Arc::new(RwLock::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .finish();
        (tracing::subscriber::set_default(subscriber), logs)
    }

    struct Sink(Arc<RwLock<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_runtime_failure_keeps_its_cause_in_the_log_joined_by_the_invocation_id() {
        let (_guard, logs) = capture_logs();

        let response = GatewayError::RuntimeError {
            detail: "the runtime failed (gRPC code Internal)".into(),
            cause: "provider `openai` failed: connect 10.1.2.3:443: refused".into(),
        }
        .into_response_with(Some("inv-42"));

        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = body_json(response).await;
        assert_eq!(body["error"], "runtime_error");
        assert_eq!(body["invocation_id"], "inv-42");
        assert!(!body.to_string().contains("10.1.2.3"), "{body}");
        let logs = String::from_utf8(logs.read().unwrap().clone()).unwrap();
        let line = logs
            .lines()
            .find(|line| line.contains("10.1.2.3:443"))
            .unwrap_or_else(|| panic!("the cause was not logged: {logs}"));
        assert!(line.contains("invocation_id=\"inv-42\""), "{line}");
    }

    #[tokio::test]
    async fn a_runtime_timeout_says_it_timed_out_after_the_configured_seconds() {
        let response = GatewayError::RuntimeTimeout {
            after: Duration::from_secs(60),
        }
        .into_response_with(Some("inv-7"));

        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = body_json(response).await;
        assert_eq!(body["error"], "runtime_error");
        assert_eq!(body["detail"], "the runtime did not answer within 60 s");
        assert_eq!(body["invocation_id"], "inv-7");
    }

    #[tokio::test]
    async fn a_body_that_did_not_arrive_in_time_is_408_request_timeout() {
        let response = GatewayError::RequestTimeout {
            waited: Duration::from_millis(2500),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let body = body_json(response).await;
        assert_eq!(body["error"], "request_timeout");
        assert_eq!(
            body["detail"],
            "the request body did not arrive within 2.5 s"
        );
    }

    #[tokio::test]
    async fn method_not_allowed_and_unavailable_set_their_headers() {
        let response = GatewayError::MethodNotAllowed {
            method: "GET".into(),
            allow: "POST",
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");

        let response = GatewayError::Unavailable {
            detail: "draining".into(),
            retry_after_secs: 5,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}

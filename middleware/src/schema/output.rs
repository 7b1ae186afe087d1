//! Output validation: checks a successful inner response's body (the runtime's raw output)
//! against the function's `outputSchema`; a failure becomes 502 `output_invalid` carrying the raw
//! output so pack authors can see what the model said (a JSON value when the output is JSON, a
//! string when it is not; see `error.rs`).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::{Layer, Service};

use super::{JsonSchema, parse_json, summarise};
use crate::error::InvocationId;
use crate::{GatewayError, ResponseBody, Violations};

/// Validates successful response bodies against a compiled schema.
#[derive(Debug, Clone)]
pub struct ValidateOutputLayer {
    schema: Arc<JsonSchema>,
}

impl ValidateOutputLayer {
    /// Validate against `schema`.
    pub fn new(schema: Arc<JsonSchema>) -> Self {
        Self { schema }
    }
}

impl<S> Layer<S> for ValidateOutputLayer {
    type Service = ValidateOutput<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ValidateOutput {
            inner,
            schema: self.schema.clone(),
        }
    }
}

/// See [`ValidateOutputLayer`].
#[derive(Debug, Clone)]
pub struct ValidateOutput<S> {
    inner: S,
    schema: Arc<JsonSchema>,
}

impl<S, B> Service<Request<B>> for ValidateOutput<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        let schema = self.schema.clone();
        Box::pin(async move {
            let response = future.await?;
            if !response.status().is_success() {
                return Ok(response);
            }
            match check(&schema, &response) {
                Ok(()) => Ok(response),
                Err(error) => {
                    let id = response.extensions().get::<InvocationId>();
                    Ok(error.into_response_with(id.map(|id| id.0.as_str())))
                }
            }
        })
    }
}

fn check(schema: &JsonSchema, response: &Response<ResponseBody>) -> Result<(), GatewayError> {
    let Some(raw) = response.body().as_full() else {
        return Err(GatewayError::Internal {
            detail: "a streamed function output cannot be validated".to_owned(),
        });
    };
    let document = parse_json(raw).map_err(|detail| GatewayError::OutputInvalid {
        detail: format!("the runtime's output is not JSON: {detail}"),
        errors: Violations::default(),
        raw_output: raw.clone(),
    })?;
    schema
        .check(&document)
        .map_err(|errors| GatewayError::OutputInvalid {
            detail: summarise("the output", &errors),
            errors,
            raw_output: raw.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    fn layer() -> ValidateOutputLayer {
        let schema = json!({"type": "object", "required": ["echo"], "properties": {"echo": {"type": "string"}}});
        ValidateOutputLayer::new(Arc::new(JsonSchema::compile(&schema).unwrap()))
    }

    async fn answer(raw: &'static [u8]) -> (u16, Value) {
        let inner = service_fn(move |_: Request<()>| async move {
            let mut response = Response::new(ResponseBody::full(Bytes::from_static(raw)));
            response
                .extensions_mut()
                .insert(InvocationId("inv-1".to_owned()));
            Ok::<_, Infallible>(response)
        });
        let service = ServiceBuilder::new().layer(layer()).service(inner);
        let response = service.oneshot(Request::new(())).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn valid_output_passes_untouched() {
        assert_eq!(
            answer(br#"{"echo":"hi"}"#).await,
            (200, json!({"echo": "hi"}))
        );
    }

    #[tokio::test]
    async fn invalid_output_is_502_with_raw_output_and_invocation_id() {
        let (status, body) = answer(br#"{"echo":42}"#).await;
        assert_eq!(status, 502);
        assert_eq!(body["error"], "output_invalid");
        assert_eq!(body["raw_output"], json!({"echo": 42}));
        assert_eq!(body["invocation_id"], "inv-1");
        assert_eq!(body["errors"][0]["pointer"], "/echo");
    }

    #[tokio::test]
    async fn an_output_with_a_bad_date_time_is_502_output_invalid() {
        let schema = json!({
            "type": "object",
            "properties": {"due": {"type": "string", "format": "date-time"}}
        });
        let inner = service_fn(|_: Request<()>| async {
            let body = Bytes::from_static(br#"{"due": "next Tuesday"}"#);
            Ok::<_, Infallible>(Response::new(ResponseBody::full(body)))
        });
        let layer = ValidateOutputLayer::new(Arc::new(JsonSchema::compile(&schema).unwrap()));
        let service = ServiceBuilder::new().layer(layer).service(inner);

        let response = service.oneshot(Request::new(())).await.unwrap();

        assert_eq!(response.status(), 502);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "output_invalid");
        assert_eq!(body["errors"][0]["pointer"], "/due", "{body}");
        assert_eq!(body["raw_output"], json!({"due": "next Tuesday"}));
    }

    #[tokio::test]
    async fn non_json_output_is_502_output_invalid() {
        let (status, body) = answer(b"Sure! Here is your JSON:").await;
        assert_eq!(status, 502);
        assert_eq!(body["raw_output"], "Sure! Here is your JSON:");
    }

    #[tokio::test]
    async fn error_responses_pass_through_unvalidated() {
        let inner = service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(
                GatewayError::RuntimeError {
                    detail: "down".into(),
                    cause: "connection refused".into(),
                }
                .into_response(),
            )
        });
        let service = ServiceBuilder::new().layer(layer()).service(inner);
        let response = service.oneshot(Request::new(())).await.unwrap();
        assert_eq!(response.status(), 502);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "runtime_error");
    }
}

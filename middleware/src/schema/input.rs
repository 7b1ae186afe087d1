//! Input validation: parses the body (read whole by [`crate::read_body`] before it), checks it
//! against the function's `inputSchema`, and hands the inner service the same buffer.
//!
//! Parsing does not change the buffer: serde_json reads it and builds a separate `Value` (owning
//! copies of its strings) that is dropped after the check.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::{Layer, Service};

use super::{JsonSchema, parse_json, summarise};
use crate::{GatewayError, ResponseBody, Violations};

/// Validates request bodies against a compiled schema.
#[derive(Debug, Clone)]
pub struct ValidateInputLayer {
    schema: Arc<JsonSchema>,
}

impl ValidateInputLayer {
    /// Validate against `schema`.
    pub fn new(schema: Arc<JsonSchema>) -> Self {
        Self { schema }
    }
}

impl<S> Layer<S> for ValidateInputLayer {
    type Service = ValidateInput<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ValidateInput {
            inner,
            schema: self.schema.clone(),
        }
    }
}

/// See [`ValidateInputLayer`]. The inner service receives `Request<Bytes>`.
#[derive(Debug, Clone)]
pub struct ValidateInput<S> {
    inner: S,
    schema: Arc<JsonSchema>,
}

impl<S> Service<Request<Bytes>> for ValidateInput<S>
where
    S: Service<Request<Bytes>, Response = Response<ResponseBody>> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        // The clone is the one that was not polled ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let schema = self.schema.clone();
        Box::pin(async move {
            if let Err(error) = validate(&schema, request.body()) {
                return Ok(error.into_response());
            }
            inner.call(request).await
        })
    }
}

fn validate(schema: &JsonSchema, bytes: &[u8]) -> Result<(), GatewayError> {
    let document = parse_json(bytes).map_err(|detail| GatewayError::InputInvalid {
        detail,
        errors: Violations::default(),
    })?;
    schema
        .check(&document)
        .map_err(|errors| GatewayError::InputInvalid {
            detail: summarise("the input", &errors),
            errors,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::BodyLimitLayer;
    use crate::read_body::ReadBodyLayer;
    use http_body_util::{BodyExt, Full};
    use serde_json::{Value, json};
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    fn layer() -> ValidateInputLayer {
        let schema = json!({
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string", "maxLength": 280}},
            "additionalProperties": false
        });
        ValidateInputLayer::new(Arc::new(JsonSchema::compile(&schema).unwrap()))
    }

    /// Echoes the bytes it was handed and their address, to prove they were not copied.
    async fn echo(request: Request<Bytes>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::full(request.into_body())))
    }

    async fn call(body: &'static [u8]) -> (u16, Value) {
        let service = ServiceBuilder::new().layer(layer()).service_fn(echo);
        let response = service
            .oneshot(Request::new(Bytes::from_static(body)))
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn valid_input_reaches_the_inner_service_unchanged() {
        let (status, body) = call(br#"{"message":"hi"}"#).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"message": "hi"}));
    }

    #[tokio::test]
    async fn schema_failure_is_400_with_pointer_list() {
        let (status, body) = call(br#"{"message": 5, "extra": true}"#).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "input_invalid");
        let pointers: Vec<_> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap().to_owned())
            .collect();
        assert!(pointers.contains(&"/message".to_owned()), "{body}");
    }

    #[tokio::test]
    async fn an_input_with_a_bad_email_is_400_naming_the_field() {
        let schema = json!({
            "type": "object",
            "properties": {"contact": {"type": "string", "format": "email"}}
        });
        let layer = ValidateInputLayer::new(Arc::new(JsonSchema::compile(&schema).unwrap()));
        let service = ServiceBuilder::new().layer(layer).service_fn(echo);

        let response = service
            .oneshot(Request::new(Bytes::from_static(
                br#"{"contact": "not-an-email"}"#,
            )))
            .await
            .unwrap();

        assert_eq!(response.status(), 400);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "input_invalid");
        assert_eq!(body["errors"][0]["pointer"], "/contact", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("email"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn not_json_is_400_with_detail() {
        let (status, body) = call(b"{not json").await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "input_invalid");
        assert!(
            body["detail"].as_str().unwrap().contains("not valid JSON"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn over_limit_while_reading_is_413() {
        let service = ServiceBuilder::new()
            .layer(BodyLimitLayer::new(4))
            .layer(ReadBodyLayer::new(std::time::Duration::from_secs(60)))
            .layer(layer())
            .service_fn(echo);
        let response = service
            .oneshot(Request::new(Full::new(Bytes::from_static(
                br#"{"message":"x"}"#,
            ))))
            .await
            .unwrap();
        // Full bodies report their exact size, so this is refused as it is read.
        assert_eq!(response.status(), 413);
    }
}

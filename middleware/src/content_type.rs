//! Content type: a request that declares a Content-Type must declare JSON.
//!
//! `application/json` with parameters (`; charset=utf-8`) is accepted, case-insensitively; a
//! missing header is accepted too (curl users forget it, and the body is parsed as JSON anyway).

use http::{HeaderValue, Request, Response, header};
use tower_http::validate_request::ValidateRequest;

use crate::{GatewayError, ResponseBody};

/// Refuses declared non-JSON bodies with 415; a [`ValidateRequest`] for tower-http's
/// `ValidateRequestHeaderLayer::custom`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonContentType;

/// Whether a Content-Type value names JSON (`application/json`, any parameters).
pub fn is_json(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

impl<B> ValidateRequest<B> for JsonContentType {
    type ResponseBody = ResponseBody;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<ResponseBody>> {
        match request.headers().get(header::CONTENT_TYPE) {
            Some(value) if !is_json(value) => Err(GatewayError::UnsupportedMediaType {
                got: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            }
            .into_response()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};
    use tower_http::validate_request::ValidateRequestHeaderLayer;

    async fn ok(_: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::empty()))
    }

    async fn status_for(content_type: Option<&str>) -> u16 {
        let service = ServiceBuilder::new()
            .layer(ValidateRequestHeaderLayer::custom(JsonContentType))
            .service_fn(ok);
        let mut request = Request::builder();
        if let Some(value) = content_type {
            request = request.header("content-type", value);
        }
        service
            .oneshot(request.body(()).unwrap())
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn json_with_charset_is_accepted() {
        assert_eq!(
            status_for(Some("application/json; charset=utf-8")).await,
            200
        );
        assert_eq!(status_for(Some("Application/JSON")).await, 200);
    }

    #[tokio::test]
    async fn missing_content_type_is_accepted() {
        assert_eq!(status_for(None).await, 200);
    }

    #[tokio::test]
    async fn other_types_are_415() {
        for value in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonp",
        ] {
            assert_eq!(status_for(Some(value)).await, 415, "{value}");
        }
    }
}

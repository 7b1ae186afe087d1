//! Content type: a request that declares a Content-Type must declare JSON.
//!
//! `application/json` with parameters (`; charset=utf-8`) is accepted, case-insensitively; a
//! missing header is accepted too (curl users forget it, and the body is parsed as JSON anyway).

use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{HeaderValue, Request, Response, header};
use tower::{Layer, Service};

use crate::{GatewayError, ResponseBody};

/// Refuses declared non-JSON bodies with 415.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonContentTypeLayer;

impl<S> Layer<S> for JsonContentTypeLayer {
    type Service = JsonContentType<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JsonContentType { inner }
    }
}

/// See [`JsonContentTypeLayer`].
#[derive(Debug, Clone)]
pub struct JsonContentType<S> {
    inner: S,
}

/// Whether a Content-Type value names JSON (`application/json`, any parameters).
pub fn is_json(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

impl<S, B> Service<Request<B>> for JsonContentType<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResponseBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match request.headers().get(header::CONTENT_TYPE) {
            Some(value) if !is_json(value) => {
                let error = GatewayError::UnsupportedMediaType {
                    got: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                };
                Either::Right(ready(Ok(error.into_response())))
            }
            _ => Either::Left(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    async fn ok(_: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        Ok(Response::new(ResponseBody::empty()))
    }

    async fn status_for(content_type: Option<&str>) -> u16 {
        let service = ServiceBuilder::new()
            .layer(JsonContentTypeLayer)
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

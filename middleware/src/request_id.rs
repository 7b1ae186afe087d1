//! `x-request-id`: echoed when the client sends a sane one, minted (UUID v4) otherwise.
//!
//! tower-http's `SetRequestId` and `PropagateRequestId` do the work: the id goes into request
//! extensions ([`RequestId`]) for later layers and the runtime's `x-omnia-request-id` metadata,
//! and onto the response so clients can quote it. `SetRequestId` keeps whatever id a client
//! sends, so [`ForgetUnsafeId`] runs first and removes one we will not echo.

use http::{HeaderName, HeaderValue, Request, Response};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
pub use tower_http::request_id::RequestId;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};

use crate::ResponseBody;

/// The header carrying the request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id we echo; longer ones are replaced (they end up in logs).
const MAX_LEN: usize = 128;

/// The layers of [`layer`], outermost last.
pub type RequestIdLayer = Stack<
    PropagateRequestIdLayer,
    Stack<
        SetRequestIdLayer<MakeRequestUuid>,
        Stack<ValidateRequestHeaderLayer<ForgetUnsafeId>, Identity>,
    >,
>;

/// Adds [`RequestId`] to requests and `x-request-id` to responses.
pub fn layer() -> RequestIdLayer {
    ServiceBuilder::new()
        .layer(ValidateRequestHeaderLayer::custom(ForgetUnsafeId))
        .layer(SetRequestIdLayer::new(
            X_REQUEST_ID.clone(),
            MakeRequestUuid,
        ))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .into_inner()
}

/// Removes a client's `x-request-id` that is empty, longer than 128 bytes or not visible
/// ASCII, so `SetRequestId` mints one instead. It never refuses a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForgetUnsafeId;

impl<B> ValidateRequest<B> for ForgetUnsafeId {
    type ResponseBody = ResponseBody;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<ResponseBody>> {
        if request
            .headers()
            .get(&X_REQUEST_ID)
            .is_some_and(|id| !acceptable(id))
        {
            request.headers_mut().remove(&X_REQUEST_ID);
        }
        Ok(())
    }
}

fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    async fn echo_id(request: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.header_value().to_str().unwrap().to_owned());
        Ok(Response::new(ResponseBody::full(id.unwrap_or_default())))
    }

    async fn call(request: Request<()>) -> (String, String) {
        let service = ServiceBuilder::new().layer(layer()).service_fn(echo_id);
        let response = service.oneshot(request).await.unwrap();
        let header = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (header, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn echoes_a_client_supplied_id() {
        let request = Request::builder()
            .header("x-request-id", "abc-123")
            .body(())
            .unwrap();
        assert_eq!(call(request).await, ("abc-123".into(), "abc-123".into()));
    }

    #[tokio::test]
    async fn mints_a_uuid_when_absent() {
        let (header, seen) = call(Request::new(())).await;
        assert!(uuid::Uuid::parse_str(&header).is_ok(), "{header}");
        assert_eq!(seen, header);
    }

    #[tokio::test]
    async fn replaces_an_oversized_or_unprintable_id() {
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [long.as_str(), "has space", ""] {
            let request = Request::builder()
                .header("x-request-id", bad)
                .body(())
                .unwrap();
            let (header, seen) = call(request).await;
            assert!(
                uuid::Uuid::parse_str(&header).is_ok(),
                "{bad:?} was kept as {header:?}"
            );
            assert_eq!(seen, header);
        }
    }

    #[tokio::test]
    async fn an_error_response_carries_the_id_too() {
        async fn refuse(_: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
            Ok(crate::GatewayError::NotFound { path: "/x".into() }.into_response())
        }
        let service = ServiceBuilder::new().layer(layer()).service_fn(refuse);
        let request = Request::builder()
            .header("x-request-id", "abc-123")
            .body(())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-request-id"], "abc-123");
    }
}

//! The Tower layer running the [`AuthChain`] in front of a service, after tower-http's
//! `AsyncRequireAuthorization`: an admitted request reaches the inner service with its
//! [`Identity`](super::Identity) in the extensions; a refused one is answered with the 401 of
//! [`GatewayError::into_response`] and never reaches it.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::{Layer, Service};

use super::chain::AuthChain;
use crate::body::ResponseBody;

/// Applies an [`AuthChain`] to every request.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    chain: Arc<AuthChain>,
}

impl AuthLayer {
    /// A layer running `chain`.
    pub fn new(chain: AuthChain) -> Self {
        Self::from_shared(Arc::new(chain))
    }

    /// A layer running a chain shared with other layers (one chain per gateway, many routes).
    pub fn from_shared(chain: Arc<AuthChain>) -> Self {
        Self { chain }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            chain: self.chain.clone(),
        }
    }
}

/// The service built by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    chain: Arc<AuthChain>,
}

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The instance polled ready goes into the future; a fresh clone stays for the next call
        // (tower's clone-and-swap: a clone has not been polled ready and must not be called).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let chain = self.chain.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match chain.authenticate(&parts).await {
                Ok(identity) => {
                    parts.extensions.insert(identity);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(err) => {
                    tracing::debug!(
                        method = %parts.method,
                        path = parts.uri.path(),
                        reason = %err,
                        "request refused by the auth chain"
                    );
                    Ok(err.into_response())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::{StatusCode, header};
    use http_body_util::BodyExt;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::auth::{AuthMethod, ClientKey, ClientKeys, Identity};

    /// Answers 200 with the admitted subject and method, or 500 if no identity arrived.
    async fn echo(request: Request<()>) -> Result<Response<ResponseBody>, Infallible> {
        let Some(identity) = request.extensions().get::<Identity>() else {
            let mut response = Response::new(ResponseBody::full("no identity"));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return Ok(response);
        };
        let text = format!("{} {}", identity.subject, identity.method);
        Ok(Response::new(ResponseBody::full(text)))
    }

    fn chain() -> AuthChain {
        let keys = ClientKeys::new(vec![ClientKey::from_plaintext("ci", "sk-ci")]);
        AuthChain::builder().client_keys(keys).build().unwrap()
    }

    async fn send(chain: AuthChain, authorization: Option<&str>) -> Response<ResponseBody> {
        let service = ServiceBuilder::new()
            .layer(AuthLayer::new(chain))
            .service(service_fn(echo));
        let mut request = Request::builder().uri("/functions/echo");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        service.oneshot(request.body(()).unwrap()).await.unwrap()
    }

    async fn body_text(response: Response<ResponseBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn admitted_identity_lands_in_the_extensions() {
        let response = send(chain(), Some("Bearer sk-ci")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_text(response).await, "ci client_key");
    }

    #[tokio::test]
    async fn anonymous_identity_lands_in_the_extensions() {
        let chain = AuthChain::builder()
            .allow_unauthenticated(true)
            .build()
            .unwrap();
        let response = send(chain, None).await;
        assert_eq!(body_text(response).await, "anonymous unauthenticated");
        assert_eq!(AuthMethod::Unauthenticated.as_str(), "unauthenticated");
    }

    #[tokio::test]
    async fn refusal_is_a_json_401_with_www_authenticate() {
        let response = send(chain(), Some("Bearer sk-wrong")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(body["detail"], "unknown client key");
    }

    #[tokio::test]
    async fn refused_request_never_reaches_the_inner_service() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let inner = service_fn(move |request: Request<()>| {
            counted.fetch_add(1, Ordering::SeqCst);
            echo(request)
        });
        let service = ServiceBuilder::new()
            .layer(AuthLayer::new(AuthChain::deny_all()))
            .service(inner);
        let response = service.oneshot(Request::new(())).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}

//! Path dispatch: the OpenAPI documents, `/functions/{name}` to that function's service, `/ws`
//! and `/api/agents/...` to the agent surface, `/media/...`; everything else is a JSON 404.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use http_body_util::Limited;
use omnia_middleware::{GatewayError, ResponseBody};
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use bytes::Bytes;
use omnia_middleware::BoxError;

use crate::agent::{AgentService, is_agent_path};
use crate::function::FunctionService;
use crate::function::openapi::{self, DocsService};
use crate::media::{MEDIA_PREFIX, MediaService};
use crate::stack::Surfaces;

/// The path prefix of function calls.
pub const FUNCTIONS_PREFIX: &str = "/functions/";

/// A 200 with `value` as its JSON body (the documents and MCP answers).
pub(crate) fn json_response(value: &serde_json::Value) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from(value.to_string())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The function name in a path, if the path is `/functions/{name}` with a well-formed name.
///
/// Names are Kubernetes DNS labels, so anything else (`..`, `%2e`, a second segment) cannot be a
/// function and is refused here without being decoded.
pub fn function_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix(FUNCTIONS_PREFIX)?;
    let name = name.strip_suffix('/').unwrap_or(name);
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    valid.then_some(name)
}

/// Routes `/functions/{name}` requests (already method-checked and body-limited) by name.
pub struct FunctionRouter<B> {
    functions: Arc<HashMap<String, FunctionService<B>>>,
}

impl<B> Clone for FunctionRouter<B> {
    fn clone(&self) -> Self {
        Self {
            functions: self.functions.clone(),
        }
    }
}

impl<B> FunctionRouter<B> {
    /// A router over these functions.
    pub fn new(functions: HashMap<String, FunctionService<B>>) -> Self {
        Self {
            functions: Arc::new(functions),
        }
    }
}

impl<B> Service<Request<Limited<B>>> for FunctionRouter<B> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Either<
        Oneshot<FunctionService<B>, Request<Limited<B>>>,
        Ready<Result<Response<ResponseBody>, Infallible>>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Limited<B>>) -> Self::Future {
        let found = function_name(request.uri().path()).and_then(|name| self.functions.get(name));
        match found {
            Some(service) => Either::Left(service.clone().oneshot(request)),
            None => {
                let name = request
                    .uri()
                    .path()
                    .trim_start_matches(FUNCTIONS_PREFIX)
                    .to_owned();
                Either::Right(ready(Ok(
                    GatewayError::FunctionNotFound { name }.into_response()
                )))
            }
        }
    }
}

/// The top-level split: function calls go to `functions`, WebSocket upgrades (`/ws`,
/// `/api/agents/...`) to the agents and `/media/...` to media when there are any, anything else
/// is 404.
#[derive(Clone)]
pub struct PathRouter<F> {
    functions: F,
    agents: Option<AgentService>,
    media: Option<MediaService>,
    docs: Option<DocsService>,
}

impl<F> PathRouter<F> {
    /// A router sending `/functions/...` to `functions`, the rest to `surfaces`.
    pub fn new(functions: F, surfaces: Surfaces) -> Self {
        Self {
            functions,
            agents: surfaces.agents,
            media: surfaces.media,
            docs: surfaces.docs,
        }
    }
}

impl<F, B> Service<Request<B>> for PathRouter<F>
where
    F: Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + std::fmt::Display,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Either<
        F::Future,
        Either<
            <AgentService as Service<Request<B>>>::Future,
            Ready<Result<Response<ResponseBody>, Infallible>>,
        >,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.functions.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        // The OpenAPI documents first: `/functions/{name}/openapi.json` is no function call.
        if let Some(docs) = self
            .docs
            .as_mut()
            .filter(|_| openapi::is_document_path(path))
        {
            return Either::Right(Either::Left(docs.call(request)));
        }
        if path.starts_with(FUNCTIONS_PREFIX) {
            return Either::Left(self.functions.call(request));
        }
        if let Some(agents) = self.agents.as_mut().filter(|_| is_agent_path(path)) {
            return Either::Right(Either::Left(agents.call(request)));
        }
        if let Some(media) = self
            .media
            .as_mut()
            .filter(|_| path.starts_with(MEDIA_PREFIX))
        {
            // Both surfaces answer with a boxed future, so one variant carries either.
            return Either::Right(Either::Left(media.call(request)));
        }
        let path = path.to_owned();
        Either::Right(Either::Right(ready(Ok(
            GatewayError::NotFound { path }.into_response()
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_names_are_extracted() {
        assert_eq!(
            function_name("/functions/echo-function"),
            Some("echo-function")
        );
        assert_eq!(function_name("/functions/summarizer/"), Some("summarizer"));
    }

    #[test]
    fn traversal_encoding_and_nesting_are_not_names() {
        for path in [
            "/functions/../etc/passwd",
            "/functions/%2e%2e%2fsecret",
            "/functions/a/b",
            "/functions/",
            "/functions/UPPER",
            "/functions/-dash",
            "/functions/name%20x",
        ] {
            assert_eq!(function_name(path), None, "{path}");
        }
    }
}

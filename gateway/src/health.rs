//! The health port: `/healthz` (alive), `/readyz` (runtime answers and not draining), `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, header};
use omnia_middleware::{GatewayError, ResponseBody};

use crate::metrics::Metrics;
use crate::runtime_client::Readiness;

/// Answers one health-port request.
pub fn respond<B>(
    request: &Request<B>,
    readiness: &Readiness,
    metrics: &Metrics,
) -> Response<ResponseBody> {
    match request.uri().path() {
        "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#),
        "/readyz" if readiness.is_ready() => json(StatusCode::OK, r#"{"status":"ready"}"#),
        "/readyz" => {
            let detail = if readiness.is_draining() {
                "draining: the gateway is shutting down"
            } else {
                "the runtime has not answered its health check yet"
            };
            GatewayError::Unavailable {
                detail: detail.to_owned(),
                retry_after_secs: 1,
            }
            .into_response()
        }
        "/metrics" => {
            let mut response = Response::new(ResponseBody::full(metrics.render()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            response
        }
        path => GatewayError::NotFound {
            path: path.to_owned(),
        }
        .into_response(),
    }
}

/// The health port as a Tower service.
pub fn service<B>(
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
) -> impl tower::Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |request: Request<B>| {
        let response = respond(&request, &readiness, &metrics);
        std::future::ready(Ok::<_, Infallible>(response))
    })
}

fn json(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_is_503_until_the_runtime_answers_and_while_draining() {
        let readiness = Readiness::default();
        let metrics = Metrics::new([]);
        let request = Request::get("/readyz").body(()).unwrap();
        assert_eq!(respond(&request, &readiness, &metrics).status(), 503);
        assert_eq!(
            respond(
                &Request::get("/healthz").body(()).unwrap(),
                &readiness,
                &metrics
            )
            .status(),
            200
        );
        readiness.mark_runtime(true);
        assert_eq!(respond(&request, &readiness, &metrics).status(), 200);
        readiness.start_draining();
        assert_eq!(respond(&request, &readiness, &metrics).status(), 503);
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let response = respond(
            &Request::get("/metrics").body(()).unwrap(),
            &Readiness::default(),
            &Metrics::new([]),
        );
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
    }
}

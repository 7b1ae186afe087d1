//! The HTTP side every LLM provider shares: one pooled client per Provider resource, timeouts,
//! and retries with backoff that stop once the answer has started reaching the client.
//!
//! reqwest brings connection pooling, HTTP/2 by ALPN where the API offers it, `HTTPS_PROXY` /
//! `NO_PROXY` from the environment and the platform's trust store (which honours
//! `SSL_CERT_FILE`), none of which is worth writing again.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Response, StatusCode};

use super::ProviderError;
use super::sse::{Decoder, Event};

/// Connecting (TCP + TLS) to the provider takes at most this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Until the answer's headers (and, unstreamed, its whole body) when the Provider sets no
/// `spec.defaults.requestTimeout`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest silence inside a streamed answer when the Provider sets no
/// `spec.defaults.streamIdleTimeout`.
const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per call, the first included.
const ATTEMPTS: u32 = 3;
/// The first backoff's ceiling; each later one doubles it.
const BACKOFF: Duration = Duration::from_millis(250);
/// A `Retry-After` longer than this is not waited for: the call fails instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The most of an error body read to summarise it.
const ERROR_BODY_BYTES: usize = 16 * 1024;
/// The longest provider message carried into an error.
const SUMMARY_CHARS: usize = 300;
/// One server-sent event may hold at most this much (a whole tool call's arguments fit).
const EVENT_BYTES: usize = 4 << 20;

/// The client of one Provider resource.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    /// The Provider resource, for errors.
    provider: String,
    /// `spec.headers`, sent with every request.
    headers: HeaderMap,
    request_timeout: Duration,
    idle_timeout: Duration,
}

/// How one attempt ended, for the retry loop.
pub(crate) enum Attempt {
    /// Trying again may succeed, and nothing reached the client yet.
    Retry(ProviderError),
    /// The call is over.
    Fatal(ProviderError),
}

impl Http {
    /// The client for `provider`; its extra headers are checked here so a bad one fails at
    /// start-up rather than on every call.
    pub(crate) fn new(provider: &omnia_api::Provider) -> Result<Http, ProviderError> {
        let failed = |message: String| ProviderError::Failed {
            provider: provider.name.clone(),
            message,
        };
        // reqwest is built without a TLS provider and panics when building a client without
        // one; the runtime installs ring at start-up, tests may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| failed(format!("cannot build its HTTP client: {e}")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &provider.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| failed(format!("spec.headers: `{name}` is not a header name: {e}")))?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|e| {
                failed(format!(
                    "spec.headers: the value of `{name}` is invalid: {e}"
                ))
            })?;
            headers.insert(name, value);
        }
        Ok(Http {
            client,
            provider: provider.name.clone(),
            headers,
            request_timeout: provider.defaults.request_timeout.unwrap_or(REQUEST_TIMEOUT),
            idle_timeout: provider
                .defaults
                .stream_idle_timeout
                .unwrap_or(STREAM_IDLE_TIMEOUT),
        })
    }

    pub(crate) fn provider(&self) -> &str {
        &self.provider
    }

    /// POSTs `body` to `url` with `auth` headers (never logged) and hands the successful
    /// response to `read`. Connection failures, timeouts, 429 and 5xx answers, and failures
    /// `read` reports as [`Attempt::Retry`] are tried again, up to [`ATTEMPTS`] in all, after an
    /// exponential backoff with full jitter or the provider's `Retry-After`.
    pub(crate) async fn call<T, F>(
        &self,
        url: &str,
        auth: &HeaderMap,
        body: Bytes,
        mut read: impl FnMut(Response) -> F,
    ) -> Result<T, ProviderError>
    where
        F: Future<Output = Result<T, Attempt>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, wait) = match self.send(url, auth, body.clone()).await {
                Ok(response) => match read(response).await {
                    Ok(value) => return Ok(value),
                    Err(Attempt::Fatal(error)) => return Err(error),
                    Err(Attempt::Retry(error)) => (error, None),
                },
                Err(Sent::Fatal(error)) => return Err(error),
                Err(Sent::Retry(error, wait)) => (error, wait),
            };
            if attempt >= ATTEMPTS {
                return Err(error);
            }
            let wait = match wait {
                Some(wait) if wait > MAX_RETRY_AFTER => return Err(error),
                Some(wait) => wait,
                None => backoff(attempt),
            };
            tracing::debug!(provider = %self.provider, attempt, ?wait, %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One request, up to a 2xx answer's headers.
    async fn send(&self, url: &str, auth: &HeaderMap, body: Bytes) -> Result<Response, Sent> {
        let request = self
            .client
            .post(url)
            .headers(self.headers.clone())
            .headers(auth.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send();
        let response = match tokio::time::timeout(self.request_timeout, request).await {
            Err(_) => {
                return Err(Sent::Retry(
                    self.timeout("no answer arrived", self.request_timeout),
                    None,
                ));
            }
            Ok(Err(error)) => {
                // A certificate the trust store refuses will be refused again.
                let untrusted = is_tls_refusal(&error);
                let error = self.unreachable(error);
                return Err(if untrusted {
                    Sent::Fatal(error)
                } else {
                    Sent::Retry(error, None)
                });
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let message = summary(response, self.idle_timeout).await;
        let error = ProviderError::Http {
            provider: self.provider.clone(),
            status: status.as_u16(),
            message,
        };
        if retryable(status) {
            Err(Sent::Retry(error, retry_after))
        } else {
            Err(Sent::Fatal(error))
        }
    }

    /// A whole unstreamed body, within the request timeout.
    pub(crate) async fn body(&self, response: Response) -> Result<Bytes, Attempt> {
        match tokio::time::timeout(self.request_timeout, response.bytes()).await {
            Err(_) => Err(Attempt::Retry(
                self.timeout("the answer did not finish", self.request_timeout),
            )),
            Ok(Err(error)) => Err(Attempt::Retry(self.broken(error))),
            Ok(Ok(body)) => Ok(body),
        }
    }

    /// The events of a streamed body, read as they arrive.
    pub(crate) fn events(&self, response: Response) -> Events<'_> {
        Events {
            http: self,
            response,
            decoder: Decoder::new(EVENT_BYTES),
            ready: Vec::new(),
            next: 0,
            ended: false,
        }
    }

    fn timeout(&self, what: &str, after: Duration) -> ProviderError {
        ProviderError::Timeout {
            provider: self.provider.clone(),
            message: format!("{what} within {} ms", after.as_millis()),
        }
    }

    fn unreachable(&self, error: reqwest::Error) -> ProviderError {
        ProviderError::Unavailable {
            provider: self.provider.clone(),
            message: chain(error),
        }
    }

    /// The answer broke off (reset, truncated, not HTTP).
    fn broken(&self, error: reqwest::Error) -> ProviderError {
        ProviderError::Unavailable {
            provider: self.provider.clone(),
            message: format!("the answer broke off: {}", chain(error)),
        }
    }

    /// An answer this runtime cannot read.
    pub(crate) fn malformed(&self, what: impl std::fmt::Display) -> ProviderError {
        ProviderError::Failed {
            provider: self.provider.clone(),
            message: format!("unreadable answer: {what}"),
        }
    }
}

/// How sending ended when it did not give a 2xx response.
enum Sent {
    Retry(ProviderError, Option<Duration>),
    Fatal(ProviderError),
}

/// A streamed answer's events.
pub(crate) struct Events<'a> {
    http: &'a Http,
    response: Response,
    decoder: Decoder,
    ready: Vec<Event>,
    next: usize,
    ended: bool,
}

impl Events<'_> {
    /// The next event; `None` at the end of the body. A silence longer than the stream idle
    /// timeout, a broken body and an oversized event are errors.
    pub(crate) async fn next(&mut self) -> Result<Option<Event>, ProviderError> {
        loop {
            if self.next < self.ready.len() {
                let event = std::mem::replace(
                    &mut self.ready[self.next],
                    Event {
                        name: None,
                        data: String::new(),
                    },
                );
                self.next += 1;
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            self.ready.clear();
            self.next = 0;
            let idle = self.http.idle_timeout;
            match tokio::time::timeout(idle, self.response.chunk()).await {
                Err(_) => {
                    return Err(self
                        .http
                        .timeout("the stream went silent: nothing arrived", idle));
                }
                Ok(Err(error)) => return Err(self.http.broken(error)),
                Ok(Ok(Some(chunk))) => self
                    .decoder
                    .feed(&chunk, &mut self.ready)
                    .map_err(|e| self.http.malformed(e))?,
                Ok(Ok(None)) => {
                    self.ended = true;
                    self.ready.extend(self.decoder.finish());
                }
            }
        }
    }
}

/// Statuses worth another attempt: rate limits and the provider's own failures (Anthropic's
/// 529 "overloaded" included).
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// `Retry-After` in seconds (what the LLM APIs send; an HTTP date is not honoured).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Full jitter: a random wait up to `BACKOFF * 2^(attempt-1)`.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF.saturating_mul(1 << (attempt - 1).min(10));
    ceiling.mul_f64(fastrand::f64())
}

/// The provider's own message from an error body (`{"error": {"message": ...}}` for all three
/// APIs), else the start of the body, shortened.
async fn summary(mut response: Response, idle: Duration) -> String {
    let status = response.status();
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_BYTES {
        match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            error
                .get("message")
                .and_then(|m| m.as_str())
                .or_else(|| error.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        message
    };
    shorten(&message)
}

fn shorten(message: &str) -> String {
    match message.char_indices().nth(SUMMARY_CHARS) {
        Some((at, _)) => format!("{}...", &message[..at]),
        None => message.to_owned(),
    }
}

/// An error and its sources, which hold the OS or TLS error. The URL is left out: callers see
/// provider errors, and the Provider's name already says where the call went.
fn chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Whether the TLS handshake refused the provider's certificate.
fn is_tls_refusal(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        // The TLS error travels inside an io::Error, whose `source` skips it.
        let tls = inner.downcast_ref::<rustls::Error>().or_else(|| {
            inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|e| e.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        source = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_grows_and_stays_under_its_ceiling() {
        for attempt in 1..6 {
            let ceiling = BACKOFF * (1 << (attempt - 1));
            assert!(backoff(attempt) <= ceiling);
        }
    }

    #[test]
    fn long_messages_are_shortened_on_a_char_boundary() {
        let long = "é".repeat(SUMMARY_CHARS + 5);
        let short = shorten(&long);
        assert!(short.ends_with("..."));
        assert_eq!(short.chars().count(), SUMMARY_CHARS + 3);
    }
}

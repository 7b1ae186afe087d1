//! The legacy HTTP+SSE client transport of MCP (protocol 2024-11-05), which rmcp no longer has
//! (it removed its SSE client in 0.11). Servers still offer it (the Python SDK's
//! `mcp.run("sse")`), and Omnia lists `transport: sse`.
//!
//! The protocol: `GET <endpoint>` with `Accept: text/event-stream` opens one long-lived event
//! stream. Its first event, `endpoint`, gives the URL (usually relative, carrying the session
//! id) to POST messages to; every later `message` event's data is one JSON-RPC message from the
//! server. Each message from the client is one `POST <that URL>` with a JSON body, answered
//! `202 Accepted`; the answers come on the event stream.
//!
//! Events are decoded by the providers' SSE decoder, bounded per event. A message that is not
//! JSON-RPC is skipped (logged); the stream ending, breaking or sending an oversized event ends
//! the transport, so the session closes and its calls fail instead of waiting.

use std::borrow::Cow;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Client, Url};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::{mpsc, oneshot};

use super::session::{AbortOnDrop, error_chain};
use crate::provider::sse::{Decoder, Event};

/// The largest event accepted on the stream: above a tool result's limit, so an oversized
/// result is still read and refused as too large rather than breaking the session.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// Messages from the server waiting to be taken by the session.
const QUEUE: usize = 32;

/// Why the transport failed, as the session reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct SseError(String);

/// One open event stream and where to post to it.
#[derive(Debug)]
pub(super) struct SseTransport {
    client: Client,
    headers: HeaderMap,
    post: Url,
    messages: mpsc::Receiver<ServerJsonRpcMessage>,
    _reader: AbortOnDrop,
}

impl SseTransport {
    /// Opens the stream at `url` and waits for its `endpoint` event. `headers` go with the GET
    /// and with every POST.
    pub(super) async fn connect(
        client: Client,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<SseTransport, String> {
        let response = client
            .get(url.clone())
            .headers(headers.clone())
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot open the event stream: {}",
                    error_chain(&e.without_url())
                )
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("opening the event stream answered HTTP {status}"));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !content_type.starts_with("text/event-stream") {
            return Err(format!(
                "the event stream answered with `{content_type}`, not text/event-stream: is \
                 this an MCP SSE endpoint?"
            ));
        }
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let (tx, messages) = mpsc::channel(QUEUE);
        let reader = AbortOnDrop::spawn(read(response, url.clone(), endpoint_tx, tx));
        let post = endpoint_rx
            .await
            .map_err(|_| "the event stream ended before its `endpoint` event".to_owned())??;
        Ok(SseTransport {
            client,
            headers,
            post,
            messages,
            _reader: reader,
        })
    }
}

/// Reads the event stream until it ends: the first `endpoint` event goes to `endpoint`, the
/// JSON-RPC messages to `messages`.
async fn read(
    mut response: reqwest::Response,
    base: Url,
    endpoint: oneshot::Sender<Result<Url, String>>,
    messages: mpsc::Sender<ServerJsonRpcMessage>,
) {
    let mut endpoint = Some(endpoint);
    let mut decoder = Decoder::new(MAX_EVENT_BYTES);
    let mut events = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                tracing::debug!(url = %base, "the MCP event stream ended");
                return;
            }
            Err(e) => {
                tracing::debug!(
                    url = %base,
                    error = %error_chain(&e.without_url()),
                    "the MCP event stream broke"
                );
                return;
            }
        };
        if let Err(e) = decoder.feed(&chunk, &mut events) {
            tracing::warn!(url = %base, error = %e, "the MCP event stream is closed");
            return;
        }
        for event in events.drain(..) {
            match event.name.as_deref() {
                Some("endpoint") => {
                    // Only the first one counts: the session's URL does not move.
                    if let Some(tx) = endpoint.take() {
                        let _ = tx.send(endpoint_url(&base, &event.data));
                    }
                }
                None | Some("message") => match message(&event) {
                    Some(message) => {
                        if messages.send(message).await.is_err() {
                            return;
                        }
                    }
                    None => tracing::debug!(
                        url = %base,
                        "skipped an event that is not a JSON-RPC message"
                    ),
                },
                Some(_) => {}
            }
        }
    }
}

fn message(event: &Event) -> Option<ServerJsonRpcMessage> {
    serde_json::from_str(&event.data).ok()
}

/// The POST URL an `endpoint` event names, resolved against the stream's URL. It must stay on
/// the stream's origin: the identity headers go with every POST, and a server must not be able
/// to send them elsewhere.
pub(super) fn endpoint_url(base: &Url, data: &str) -> Result<Url, String> {
    let data = data.trim();
    if data.is_empty() {
        return Err("the server's `endpoint` event is empty".to_owned());
    }
    let url = base
        .join(data)
        .map_err(|e| format!("the server's `endpoint` event `{data}` is not a URL: {e}"))?;
    if url.origin() != base.origin() {
        return Err(format!(
            "the server's `endpoint` event points to another origin ({}), which is refused",
            url.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn name() -> Cow<'static, str> {
        "sse".into()
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), SseError>> + Send + 'static {
        let request = serde_json::to_vec(&item)
            .map_err(|e| SseError(format!("cannot encode the message: {e}")))
            .map(|body| {
                self.client
                    .post(self.post.clone())
                    .headers(self.headers.clone())
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(body)
            });
        async move {
            let response = request?.send().await.map_err(|e| {
                SseError(format!(
                    "cannot post the message: {}",
                    error_chain(&e.without_url())
                ))
            })?;
            let status = response.status();
            if !status.is_success() {
                return Err(SseError(format!(
                    "posting the message answered HTTP {status}"
                )));
            }
            Ok(())
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.messages.recv()
    }

    async fn close(&mut self) -> Result<(), SseError> {
        self.messages.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8000/sse").unwrap()
    }

    #[test]
    fn a_relative_endpoint_resolves_against_the_stream() {
        let url = endpoint_url(&base(), " /messages/?session_id=abc\n").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8000/messages/?session_id=abc"
        );
        let nested = Url::parse("http://h:1/mcp/sse").unwrap();
        assert_eq!(
            endpoint_url(&nested, "messages?s=1").unwrap().as_str(),
            "http://h:1/mcp/messages?s=1"
        );
    }

    #[test]
    fn an_absolute_endpoint_must_keep_the_origin() {
        let url = endpoint_url(&base(), "http://127.0.0.1:8000/m?s=1").unwrap();
        assert_eq!(url.path(), "/m");
        let err = endpoint_url(&base(), "http://evil.example/m").unwrap_err();
        assert!(err.contains("another origin"), "{err}");
        let err = endpoint_url(&base(), "https://127.0.0.1:8000/m").unwrap_err();
        assert!(err.contains("another origin"), "{err}");
        let err = endpoint_url(&base(), "//evil.example/m").unwrap_err();
        assert!(err.contains("another origin"), "{err}");
    }

    #[test]
    fn an_empty_or_broken_endpoint_is_an_error() {
        assert!(endpoint_url(&base(), "  ").unwrap_err().contains("empty"));
        assert!(endpoint_url(&base(), "http://[::1").is_err());
    }

    #[test]
    fn message_events_are_json_rpc_or_skipped() {
        let event = |data: &str| Event {
            name: Some("message".into()),
            data: data.into(),
        };
        assert!(message(&event(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)).is_some());
        assert!(message(&event("not json")).is_none());
        assert!(message(&event(r#"{"jsonrpc":"2.0"}"#)).is_none());
    }
}

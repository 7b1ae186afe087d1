//! What the fake answers to one request: a whole body, or an event stream with scripted timing and
//! a scripted ending (clean, stalled or reset), the cases a streaming client must handle.

use std::time::Duration;

use serde_json::Value;

/// One scripted answer; the server uses one per request, in the order they were pushed.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status + headers + body as given (error bodies, 429 with Retry-After, non-streamed JSON
    /// answers).
    Body {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A streamed 200: each event is its own body chunk, flushed, `gap` apart, then `end`.
    Stream(StreamReply),
}

impl Reply {
    /// `status` with `value` as an `application/json` body.
    pub fn json(status: u16, value: &Value) -> Self {
        Self::Body {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string(),
        }
    }

    /// `status` with `body` as given; `application/json` when the body parses as JSON, else
    /// `text/plain`, as real gateways in front of providers answer either.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        let body = body.into();
        let kind = if serde_json::from_str::<Value>(&body).is_ok() {
            "application/json"
        } else {
            "text/plain"
        };
        Self::Body {
            status,
            headers: vec![("content-type".into(), kind.into())],
            body,
        }
    }

    /// Adds a response header (e.g. `Retry-After` on a 429).
    ///
    /// # Panics
    /// On a [`Reply::Stream`]: streams carry only their content type, and dropping the header
    /// silently would make a test pass for the wrong reason.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        match &mut self {
            Self::Body { headers, .. } => headers.push((name.into(), value.into())),
            Self::Stream(_) => panic!("omnia-fakes: with_header is for Reply::Body only"),
        }
        self
    }
}

impl From<StreamReply> for Reply {
    fn from(stream: StreamReply) -> Self {
        Self::Stream(stream)
    }
}

/// A streamed 200 answer.
#[derive(Debug, Clone)]
pub struct StreamReply {
    /// Already formatted events (`"data: {...}\n\n"`, `"event: x\ndata: {...}\n\n"`), one chunk each.
    pub events: Vec<String>,
    /// Pause before every event after the first (and before the end).
    pub gap: Duration,
    pub content_type: String,
    pub end: StreamEnd,
    /// After this many events, wait for [`crate::FakeServer::release`] before going on.
    pub hold_after: Option<usize>,
}

/// How a stream ends after its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The chunked body's terminating chunk: a clean end.
    Finish,
    /// Nothing more, connection kept open until the server is dropped (idle-timeout tests).
    Stall,
    /// The connection is aborted mid-body: the client sees an incomplete body, not a clean end.
    Reset,
}

impl StreamReply {
    /// `text/event-stream` events, no gap, clean end.
    pub fn sse(events: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            events: events.into_iter().map(Into::into).collect(),
            gap: Duration::ZERO,
            content_type: "text/event-stream".into(),
            end: StreamEnd::Finish,
            hold_after: None,
        }
    }

    /// Pause `gap` between events.
    pub fn gap(mut self, gap: Duration) -> Self {
        self.gap = gap;
        self
    }

    /// End with [`StreamEnd::Stall`].
    pub fn stall(mut self) -> Self {
        self.end = StreamEnd::Stall;
        self
    }

    /// End with [`StreamEnd::Reset`].
    pub fn reset(mut self) -> Self {
        self.end = StreamEnd::Reset;
        self
    }

    /// Hold after `n` events until [`crate::FakeServer::release`].
    pub fn hold_after(mut self, n: usize) -> Self {
        self.hold_after = Some(n);
        self
    }
}

/// One unnamed SSE event: `data: {json}\n\n`.
pub fn sse_data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// One named SSE event: `event: {name}\ndata: {json}\n\n` (Anthropic names every event).
pub fn sse_event(name: &str, value: &Value) -> String {
    format!("event: {name}\ndata: {value}\n\n")
}

//! Scripted local servers that answer like OpenAI's, Anthropic's and Gemini's HTTP APIs, so the
//! runtime's provider clients can be tested (and benchmarked) without a network or a key.
//!
//! A [`FakeServer`] is not a model: each request takes the next [`Reply`] a test pushed, and every
//! request is recorded for assertions. The [`openai`], [`anthropic`] and [`gemini`] modules build
//! replies in each provider's real wire format (`docs/providers-plan.md` §3), so a test scripts
//! "two text pieces, then stop" in one line instead of hand-writing SSE.

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod otlp;
mod reply;
mod server;

pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use reply::{Reply, StreamEnd, StreamReply, sse_data, sse_event};
pub use server::{FakeServer, Recorded};

/// Token counts a fixture reports, mapped onto each provider's own usage fields.
///
/// `input` goes as is into the provider's prompt count and `cached` into its cached-prompt count
/// (OpenAI `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`, Gemini
/// `cachedContentTokenCount`); totals are `input + output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u32,
    pub output: u32,
    pub cached: u32,
}

/// A tool call the fake model makes. `id` is sent where the provider has one (OpenAI, Anthropic;
/// Gemini's `functionCall` has none and ignores it).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

impl ToolCall {
    /// A call with the given id, tool name and JSON arguments.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments,
        }
    }
}

/// Splits serialized tool arguments into two pieces (at a char boundary near the middle), so a
/// client's accumulation of argument fragments is always exercised.
pub(crate) fn split_in_two(text: &str) -> (&str, &str) {
    let mut cut = (text.len() / 2).max(1).min(text.len());
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text.split_at(cut)
}

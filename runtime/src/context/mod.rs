//! Conversation context: each session's history, kept between turns, streams and replicas.
//!
//! [`ContextStore`] is what a conversation reads and writes. [`MemoryStore`] keeps histories in
//! this process; [`RedisStore`] in Redis, shared by every replica, so a conversation goes on
//! wherever its next connection lands. Both cap a history at [`Limits::max_messages`] (the oldest
//! go first) and one stored message at [`Limits::max_message_bytes`].

mod memory;
mod redis;

use futures_util::future::BoxFuture;

pub use self::memory::MemoryStore;
pub use self::redis::{LazyRedis, RedisStore};
use crate::provider::{ChatMessage, ToolOutcome};

/// Why the store could not answer. The text names the store (never its credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the context store failed: {0}")]
pub struct StoreError(pub String);

/// Where conversation histories live.
pub trait ContextStore: Send + Sync + 'static {
    /// The session's history, oldest first; empty for a session never seen (or expired).
    fn load<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>>;

    /// Adds `entries` to the end of the session's history, drops what the cap no longer keeps,
    /// and restarts its TTL.
    fn append<'a>(
        &'a self,
        session: &'a str,
        entries: &'a [ChatMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Whether the session has a history to resume.
    fn has<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Whether the store answers now, for `Health`.
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// What the store is, for messages: `memory`, `redis at host:port/db`.
    fn describe(&self) -> String;
}

/// How much of a conversation a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages kept per session; older ones are dropped first.
    pub max_messages: usize,
    /// Bytes of text kept per message; a longer one is cut, and says so.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    /// 1,000 messages of at most 256 KiB each.
    fn default() -> Self {
        Self {
            max_messages: 1_000,
            max_message_bytes: 256 * 1024,
        }
    }
}

/// What is stored of a message longer than the limit: its start, then this.
const CUT: &str = " [cut: the message was longer than the context store keeps]";

impl Limits {
    /// `message`, with its text cut to the limit.
    pub(crate) fn bounded(&self, message: &ChatMessage) -> ChatMessage {
        let cut = |text: &String| cut(text, self.max_message_bytes);
        match message {
            ChatMessage::User { content } => ChatMessage::User {
                content: cut(content),
            },
            ChatMessage::Assistant { content } => ChatMessage::Assistant {
                content: cut(content),
            },
            ChatMessage::ToolCall(call) => {
                let mut call = call.clone();
                call.arguments_json = cut(&call.arguments_json);
                ChatMessage::ToolCall(call)
            }
            ChatMessage::ToolResult {
                call_id,
                name,
                outcome,
            } => ChatMessage::ToolResult {
                call_id: call_id.clone(),
                name: name.clone(),
                outcome: match outcome {
                    ToolOutcome::Result(text) => ToolOutcome::Result(cut(text)),
                    ToolOutcome::Rejected(text) => ToolOutcome::Rejected(cut(text)),
                    ToolOutcome::Failed(text) => ToolOutcome::Failed(cut(text)),
                },
            },
        }
    }
}

/// `text` cut at a character boundary to at most `max` bytes plus the marker.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary_and_say_so() {
        let limits = Limits {
            max_messages: 10,
            max_message_bytes: 5,
        };
        let bounded = limits.bounded(&ChatMessage::User {
            content: "abcdé-and-more".into(),
        });
        let ChatMessage::User { content } = bounded else {
            panic!("not a user message");
        };
        assert_eq!(content, format!("abcd{CUT}"));
        let short = ChatMessage::Assistant {
            content: "ok".into(),
        };
        assert_eq!(limits.bounded(&short), short);
    }
}

//! Histories in this process's memory (moka): a session expires `ttl` after it was last used,
//! and all histories together stay under a byte budget (the least recently used go first).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use moka::sync::Cache;
use parking_lot::Mutex;

use super::{ContextStore, Limits, StoreError};
use crate::provider::ChatMessage;

/// Histories in memory.
pub struct MemoryStore {
    sessions: Cache<String, Arc<Mutex<History>>>,
    limits: Limits,
}

/// One session's history, appended to in place, so a turn costs the same however long the
/// conversation is.
#[derive(Debug, Default)]
struct History {
    messages: VecDeque<ChatMessage>,
    /// What the messages weigh (see [`weight`]), kept as they come and go.
    bytes: usize,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.sessions.entry_count())
            .finish_non_exhaustive()
    }
}

/// The bytes a message is counted as: its text, plus a little for the rest.
fn weight(message: &ChatMessage) -> usize {
    message.text_len() + 64
}

impl MemoryStore {
    /// A store whose sessions expire `ttl` after their last use, holding at most `max_bytes` of
    /// histories, each capped by `limits`.
    pub fn new(ttl: Duration, max_bytes: u64, limits: Limits) -> Self {
        Self {
            sessions: Cache::builder()
                .time_to_idle(ttl)
                .weigher(|session: &String, history: &Arc<Mutex<History>>| {
                    u32::try_from(session.len() + history.lock().bytes).unwrap_or(u32::MAX)
                })
                .max_capacity(max_bytes)
                .build(),
            limits,
        }
    }
}

impl ContextStore for MemoryStore {
    fn load<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>> {
        let history = self
            .sessions
            .get(session)
            .map(|history| history.lock().messages.iter().cloned().collect())
            .unwrap_or_default();
        Box::pin(std::future::ready(Ok(history)))
    }

    fn append<'a>(
        &'a self,
        session: &'a str,
        entries: &'a [ChatMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let history = self.sessions.get_with(session.to_owned(), || {
            Arc::new(Mutex::new(History::default()))
        });
        {
            let mut guard = history.lock();
            for message in entries {
                let message = self.limits.bounded(message);
                guard.bytes += weight(&message);
                guard.messages.push_back(message);
            }
            while guard.messages.len() > self.limits.max_messages {
                if let Some(dropped) = guard.messages.pop_front() {
                    guard.bytes -= weight(&dropped);
                }
            }
        }
        // Inserting the same history again has the cache weigh it anew.
        self.sessions.insert(session.to_owned(), history);
        Box::pin(std::future::ready(Ok(())))
    }

    fn has<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        // A look that is not a turn: it leaves the idle clock alone, as Redis' EXISTS does.
        Box::pin(std::future::ready(Ok(self.sessions.contains_key(session))))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

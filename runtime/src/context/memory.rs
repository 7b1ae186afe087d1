//! Histories in this process's memory (moka): a session expires `ttl` after it was last used,
//! and all histories together stay under a byte budget (the least recently used go first).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use moka::sync::Cache;

use super::{ContextStore, Limits, StoreError};
use crate::provider::ChatMessage;

/// Histories in memory.
pub struct MemoryStore {
    sessions: Cache<String, Arc<Vec<ChatMessage>>>,
    limits: Limits,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.sessions.entry_count())
            .finish_non_exhaustive()
    }
}

/// The bytes a history is counted as: its text, plus a little per message for the rest.
fn weight(session: &str, history: &[ChatMessage]) -> u32 {
    let text: usize = history.iter().map(|m| m.text_len() + 64).sum();
    u32::try_from(session.len() + text).unwrap_or(u32::MAX)
}

impl MemoryStore {
    /// A store whose sessions expire `ttl` after their last use, holding at most `max_bytes` of
    /// histories, each capped by `limits`.
    pub fn new(ttl: Duration, max_bytes: u64, limits: Limits) -> Self {
        Self {
            sessions: Cache::builder()
                .time_to_idle(ttl)
                .weigher(|session: &String, history: &Arc<Vec<ChatMessage>>| {
                    weight(session, history)
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
            .map(|history| history.as_ref().clone())
            .unwrap_or_default();
        Box::pin(std::future::ready(Ok(history)))
    }

    fn append<'a>(
        &'a self,
        session: &'a str,
        entries: &'a [ChatMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let limits = self.limits;
        self.sessions
            .entry(session.to_owned())
            .and_upsert_with(|current| {
                let mut history = current
                    .map(|c| c.into_value().as_ref().clone())
                    .unwrap_or_default();
                history.extend(entries.iter().map(|m| limits.bounded(m)));
                let over = history.len().saturating_sub(limits.max_messages);
                history.drain(..over);
                Arc::new(history)
            });
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

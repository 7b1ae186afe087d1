//! Conversation context: each session's history, kept between turns and streams.
//!
//! [`ContextStore`] is what a conversation reads and writes; [`MemoryStore`] keeps histories in
//! this process, for as long as the agent's session TTL after their last turn. A store shared
//! by replicas (Redis) implements the same trait.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::provider::ChatMessage;

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the context store failed: {0}")]
pub struct StoreError(pub String);

/// Where conversation histories live.
pub trait ContextStore: Send + Sync + 'static {
    /// The session's history, oldest first; empty for a session never seen (or expired).
    fn load<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>>;

    /// Adds `entries` to the end of the session's history, and restarts its TTL.
    fn append<'a>(
        &'a self,
        session: &'a str,
        entries: &'a [ChatMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Whether the session has a history to resume.
    fn has<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// Histories in this process's memory; a session expires `ttl` after its last turn.
#[derive(Debug)]
pub struct MemoryStore {
    ttl: Duration,
    sessions: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    by_id: HashMap<String, Entry>,
    /// When expired sessions were last swept out.
    swept: Option<Instant>,
}

#[derive(Debug)]
struct Entry {
    history: Vec<ChatMessage>,
    touched: Instant,
}

/// How often appending sweeps expired sessions out, so memory follows the live sessions.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl MemoryStore {
    /// A store whose sessions expire `ttl` after their last turn.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            sessions: Mutex::new(Sessions::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Sessions) -> T) -> T {
        f(&mut self.sessions.lock())
    }

    fn live<'s>(&self, sessions: &'s mut Sessions, session: &str) -> Option<&'s mut Entry> {
        let ttl = self.ttl;
        sessions
            .by_id
            .get_mut(session)
            .filter(|entry| entry.touched.elapsed() < ttl)
    }
}

impl ContextStore for MemoryStore {
    fn load<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>> {
        let history = self.with(|sessions| {
            self.live(sessions, session)
                .map(|entry| entry.history.clone())
                .unwrap_or_default()
        });
        Box::pin(std::future::ready(Ok(history)))
    }

    fn append<'a>(
        &'a self,
        session: &'a str,
        entries: &'a [ChatMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        self.with(|sessions| {
            if sessions.swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                let ttl = self.ttl;
                sessions
                    .by_id
                    .retain(|_, entry| entry.touched.elapsed() < ttl);
                sessions.swept = Some(now);
            }
            if self.live(sessions, session).is_none() {
                sessions.by_id.remove(session);
            }
            let entry = sessions
                .by_id
                .entry(session.to_owned())
                .or_insert_with(|| Entry {
                    history: Vec::new(),
                    touched: now,
                });
            entry.history.extend_from_slice(entries);
            entry.touched = now;
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn has<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let found = self.with(|sessions| self.live(sessions, session).is_some());
        Box::pin(std::future::ready(Ok(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn histories_grow_by_session_and_expire_after_the_ttl() {
        let store = MemoryStore::new(Duration::from_secs(60));
        let said = [
            ChatMessage::User("hi".into()),
            ChatMessage::Assistant("hello".into()),
        ];
        store.append("a", &said).await.unwrap();
        store.append("a", &said[..1]).await.unwrap();
        assert_eq!(store.load("a").await.unwrap().len(), 3);
        assert!(store.has("a").await.unwrap());
        assert!(!store.has("b").await.unwrap());
        assert!(store.load("b").await.unwrap().is_empty());

        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!store.has("a").await.unwrap());
        assert!(store.load("a").await.unwrap().is_empty());
        // An expired history is not continued: the session starts again.
        store.append("a", &said[..1]).await.unwrap();
        assert_eq!(store.load("a").await.unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_sessions_are_swept_out_of_memory() {
        let store = MemoryStore::new(Duration::from_secs(30));
        let said = [ChatMessage::User("hi".into())];
        for id in ["a", "b", "c"] {
            store.append(id, &said).await.unwrap();
        }
        tokio::time::advance(SWEEP_EVERY).await;
        store.append("d", &said).await.unwrap();
        assert_eq!(store.with(|sessions| sessions.by_id.len()), 1);
    }
}

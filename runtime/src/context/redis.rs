//! Histories in Redis, shared by every replica.
//!
//! One multiplexed connection per store ([`ConnectionManager`]), which reconnects by itself with
//! backoff; every operation has a short deadline, so a Redis that is down fails the turn at once
//! instead of hanging it. Key layout (the hash tag keeps a session's keys on one Redis Cluster
//! slot):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `omnia:ctx:{<session_id>}:messages` | list | the history, one JSON message per element, oldest first |
//!
//! A turn appends its messages (`RPUSH`), trims the list to the cap (`LTRIM`) and restarts the
//! TTL (`EXPIRE`) in one pipelined round trip; expired sessions disappear by Redis expiry.

use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, ErrorKind, RedisError};

use super::{ContextStore, Limits, StoreError};
use crate::provider::ChatMessage;

/// Each Redis operation's deadline: past it the turn fails, typed, rather than waiting.
const DEADLINE: Duration = Duration::from_secs(2);

/// Histories in Redis.
pub struct RedisStore {
    connection: ConnectionManager,
    /// `redis at host:port/db`, for messages (the URL's password is never shown).
    name: String,
    ttl_seconds: i64,
    limits: Limits,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The key of a session's history.
fn key(session: &str) -> String {
    format!("omnia:ctx:{{{session}}}:messages")
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`), the value of
    /// the Secret `secret` names, and checks that it answers. The errors name the Secret and
    /// the address, never the URL (which holds the password).
    ///
    /// # Errors
    /// When the URL is not a Redis URL, Redis cannot be reached within the deadline, or refuses
    /// the credentials.
    pub async fn connect(
        url: &str,
        secret: &str,
        ttl: Duration,
        limits: Limits,
    ) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(|_| {
            StoreError(format!(
                "the Secret `{secret}` does not hold a Redis URL (redis://[user:password@]host:port[/db])"
            ))
        })?;
        let info = client.get_connection_info();
        let name = format!("redis at {}/{}", info.addr, info.redis.db);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(2)
            .set_factor(50)
            .set_max_delay(1_000);
        let connection =
            tokio::time::timeout(DEADLINE, client.get_connection_manager_with_config(config))
                .await
                .map_err(|_| {
                    StoreError(format!(
                        "{name} (Secret `{secret}`) did not answer within {} s",
                        DEADLINE.as_secs()
                    ))
                })?
                .map_err(|error| StoreError(refused(&name, secret, &error)))?;
        let store = Self {
            connection,
            name,
            ttl_seconds: i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX),
            limits,
        };
        store
            .check()
            .await
            .map_err(|StoreError(e)| StoreError(format!("{e} (Secret `{secret}`)")))?;
        Ok(store)
    }

    /// Runs `operation` on the shared connection within the deadline.
    async fn run<T>(
        &self,
        operation: impl AsyncFnOnce(ConnectionManager) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(DEADLINE, operation(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError(format!("{}: {}", self.name, error.category()))),
            Err(_) => Err(StoreError(format!(
                "{} did not answer within {} s",
                self.name,
                DEADLINE.as_secs()
            ))),
        }
    }
}

/// Why Redis refused a connection, without the URL.
fn refused(name: &str, secret: &str, error: &RedisError) -> String {
    match error.kind() {
        ErrorKind::AuthenticationFailed => {
            format!("{name} refused the credentials in the Secret `{secret}`")
        }
        _ if error.is_connection_refusal() || error.is_io_error() || error.is_timeout() => {
            format!(
                "{name} (Secret `{secret}`) cannot be reached: {}",
                error.category()
            )
        }
        _ => format!("{name} (Secret `{secret}`): {}", error.category()),
    }
}

impl ContextStore for RedisStore {
    fn load<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>> {
        Box::pin(async move {
            let stored: Vec<String> = self
                .run(async |mut c| c.lrange(key(session), 0, -1).await)
                .await?;
            Ok(stored
                .iter()
                .filter_map(|json| match serde_json::from_str(json) {
                    Ok(message) => Some(message),
                    Err(error) => {
                        // Someone else's writing (or a newer layout): skipped, not fatal.
                        tracing::warn!(%error, "a stored message does not parse; skipped");
                        None
                    }
                })
                .collect())
        })
    }

    fn append<'a>(
        &'a self,
        session: &'a str,
        entries: &'a [ChatMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(());
            }
            let encoded: Vec<String> = entries
                .iter()
                .map(|m| serde_json::to_string(&self.limits.bounded(m)))
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError(format!("a message does not serialise: {e}")))?;
            let key = key(session);
            let keep = isize::try_from(self.limits.max_messages.max(1)).unwrap_or(isize::MAX);
            self.run(async |mut c| {
                redis::pipe()
                    .atomic()
                    .rpush(&key, &encoded)
                    .ignore()
                    .ltrim(&key, -keep, -1)
                    .ignore()
                    .expire(&key, self.ttl_seconds)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
        })
    }

    fn has<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { self.run(async |mut c| c.exists(key(session)).await).await })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.run(async |mut c| redis::cmd("PING").query_async::<String>(&mut c).await)
                .await
                .map(|_| ())
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// A [`RedisStore`] connected on first use, or when the runtime starts
/// ([`crate::Runtime::connect`]), so compiling a configuration stays synchronous.
pub struct LazyRedis {
    url: String,
    secret: String,
    ttl: Duration,
    limits: Limits,
    store: tokio::sync::OnceCell<RedisStore>,
}

impl std::fmt::Debug for LazyRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyRedis")
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl LazyRedis {
    /// A store for the Redis at `url` (from the Secret `secret`), not connected yet.
    pub fn new(url: String, secret: String, ttl: Duration, limits: Limits) -> Self {
        Self {
            url,
            secret,
            ttl,
            limits,
            store: tokio::sync::OnceCell::new(),
        }
    }

    /// The connected store, connecting now if need be.
    pub async fn connected(&self) -> Result<&RedisStore, StoreError> {
        self.store
            .get_or_try_init(|| RedisStore::connect(&self.url, &self.secret, self.ttl, self.limits))
            .await
    }
}

impl ContextStore for LazyRedis {
    fn load<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<Vec<ChatMessage>, StoreError>> {
        Box::pin(async move { self.connected().await?.load(session).await })
    }

    fn append<'a>(
        &'a self,
        session: &'a str,
        entries: &'a [ChatMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.connected().await?.append(session, entries).await })
    }

    fn has<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { self.connected().await?.has(session).await })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.connected().await?.check().await })
    }

    fn describe(&self) -> String {
        match self.store.get() {
            Some(store) => store.describe(),
            None => format!("redis (Secret `{}`)", self.secret),
        }
    }
}

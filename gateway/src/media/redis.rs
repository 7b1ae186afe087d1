//! The media store in Redis, shared by every replica of an agent.
//!
//! Keys, under `omnia:media:{namespace}/{agent}:` so agents sharing a Redis stay apart:
//! `upload:{id}` (a pending upload, JSON, expiring [`PENDING_GRACE`] after its URL),
//! `media:{sid}:{mid}` (a record, JSON, expiring [`TOMBSTONE`] after its media), and `due`, a
//! sorted set of cleanup work scored by when it is due. Taking due work removes each member with
//! `ZREM`, and only the caller whose `ZREM` removed it gets it, so two replicas sweeping at once
//! never both delete.

use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::reference::MediaRef;
use super::store::{
    ABANDONED_AFTER, Due, MediaStore, PENDING_GRACE, Pending, Record, StoreError, TOMBSTONE,
};

/// Each Redis operation's deadline.
const DEADLINE: Duration = Duration::from_secs(2);

pub struct RedisStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    /// `omnia:media:{namespace}/{agent}:`.
    prefix: String,
    /// `redis at host:port/db` (never the URL, which may hold a password).
    name: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The store of agent `namespace/agent` in the Redis at `url`; nothing connects until the
    /// first use. The error names `secret` (where the URL came from), never the URL.
    pub fn new(url: &str, secret: &str, namespace: &str, agent: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|_| {
            format!(
                "the Secret `{secret}` does not hold a Redis URL (redis://[user:password@]host:port[/db])"
            )
        })?;
        let info = client.get_connection_info();
        let name = format!("redis at {}/{}", info.addr, info.redis.db);
        Ok(Self {
            client,
            connection: OnceCell::new(),
            prefix: format!("omnia:media:{namespace}/{agent}:"),
            name,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Duration::from_secs(1))
                    .set_response_timeout(Duration::from_secs(1))
                    .set_number_of_retries(2);
                tokio::time::timeout(
                    DEADLINE,
                    self.client.get_connection_manager_with_config(config),
                )
                .await
                .map_err(|_| self.failed("no connection within 2 s"))?
                .map_err(|e| self.failed(e))
            })
            .await?;
        Ok(connection.clone())
    }

    fn failed(&self, why: impl std::fmt::Display) -> StoreError {
        StoreError(format!("{}: {why}", self.name))
    }

    fn upload_key(&self, id: &str) -> String {
        format!("{}upload:{id}", self.prefix)
    }

    fn record_key(&self, reference: &MediaRef) -> String {
        format!(
            "{}media:{}:{}",
            self.prefix, reference.session, reference.media
        )
    }

    fn due_key(&self) -> String {
        format!("{}due", self.prefix)
    }

    /// `operation` within the deadline.
    async fn run<T>(
        &self,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(DEADLINE, operation)
            .await
            .map_err(|_| self.failed("no answer within 2 s"))?
            .map_err(|e| self.failed(e))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: String,
    ) -> Result<Option<T>, StoreError> {
        let mut connection = self.connection().await?;
        let text: Option<String> = self.run(connection.get(&key)).await?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| self.failed(format!("`{key}` is not ours: {e}")))
        })
        .transpose()
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError(e.to_string()))
}

/// Unix time `at` as a Redis `EXAT`, at least one second ahead.
fn expire_at(at: i64) -> u64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    u64::try_from(at.max(now + 1)).unwrap_or(1)
}

impl MediaStore for RedisStore {
    fn put_pending<'a>(&'a self, pending: &'a Pending) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            let mut pipe = redis::pipe();
            pipe.atomic()
                .set_options(
                    self.upload_key(&pending.upload_id),
                    json(pending)?,
                    redis::SetOptions::default().with_expiration(redis::SetExpiry::EXAT(
                        expire_at(pending.upload_expires_at + PENDING_GRACE),
                    )),
                )
                .ignore()
                .zadd(
                    self.due_key(),
                    Due::Abandoned(pending.reference()).encode(),
                    pending.upload_expires_at + ABANDONED_AFTER,
                )
                .ignore();
            self.run(pipe.query_async::<()>(&mut connection)).await
        })
    }

    fn pending<'a>(
        &'a self,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Pending>, StoreError>> {
        Box::pin(self.get_json(self.upload_key(upload_id)))
    }

    fn confirm<'a>(
        &'a self,
        upload_id: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            let reference = record.reference();
            let mut confirmed: Option<Pending> = self.get_json(self.upload_key(upload_id)).await?;
            if let Some(pending) = &mut confirmed {
                pending.confirmed = true;
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            if let Some(pending) = &confirmed {
                pipe.set_options(
                    self.upload_key(upload_id),
                    json(pending)?,
                    redis::SetOptions::default().with_expiration(redis::SetExpiry::KEEPTTL),
                )
                .ignore();
            }
            pipe.zrem(self.due_key(), Due::Abandoned(reference.clone()).encode())
                .ignore()
                .set_options(
                    self.record_key(&reference),
                    json(record)?,
                    redis::SetOptions::default().with_expiration(redis::SetExpiry::EXAT(
                        expire_at(record.expires_at + TOMBSTONE),
                    )),
                )
                .ignore()
                .zadd(
                    self.due_key(),
                    Due::Expired(reference).encode(),
                    record.expires_at,
                )
                .ignore();
            self.run(pipe.query_async::<()>(&mut connection)).await
        })
    }

    fn drop_pending<'a>(&'a self, upload_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            self.run(connection.del::<_, ()>(self.upload_key(upload_id)))
                .await
        })
    }

    fn record<'a>(
        &'a self,
        reference: &'a MediaRef,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(self.get_json(self.record_key(reference)))
    }

    fn take_due(&self, now: i64, limit: usize) -> BoxFuture<'_, Result<Vec<Due>, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            let members: Vec<String> = self
                .run(connection.zrangebyscore_limit(
                    self.due_key(),
                    "-inf",
                    now,
                    0,
                    isize::try_from(limit).unwrap_or(isize::MAX),
                ))
                .await?;
            let mut due = Vec::new();
            for member in members {
                let removed: i64 = self.run(connection.zrem(self.due_key(), &member)).await?;
                if removed == 1 {
                    match Due::decode(&member) {
                        Some(item) => due.push(item),
                        None => tracing::warn!(member, "a media cleanup entry that is not ours"),
                    }
                }
            }
            Ok(due)
        })
    }

    fn reschedule<'a>(&'a self, due: &'a Due, at: i64) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            self.run(connection.zadd::<_, _, _, ()>(self.due_key(), due.encode(), at))
                .await
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

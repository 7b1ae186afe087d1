//! What the media surface remembers: uploads requested and not yet confirmed, the media they
//! became, and when each must be cleaned up. [`MemoryStore`] keeps it in this process;
//! [`super::redis::RedisStore`] in Redis, so any replica can confirm an upload another one
//! started, serve its media, and sweep it.
//!
//! Times are Unix seconds (UTC). A pending upload is kept [`PENDING_GRACE`] past its URL's
//! expiry, so a client that finished uploading just in time can still confirm; an upload not
//! confirmed by [`ABANDONED_AFTER`] past the URL's expiry is abandoned and its object removed.
//! A media record outlives its media by [`TOMBSTONE`], so `info` and `download` can answer 410
//! (gone) rather than 404 for a while.

use std::collections::{BTreeSet, HashMap};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::reference::MediaRef;

/// How long past its URL's expiry a pending upload may still be confirmed.
pub const PENDING_GRACE: i64 = 10 * 60;
/// How long past its URL's expiry an unconfirmed upload's object is removed.
pub const ABANDONED_AFTER: i64 = 20 * 60;
/// How long a media record outlives its media.
pub const TOMBSTONE: i64 = 24 * 3600;

/// The store failed (Redis unreachable, ...). The text never carries credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the media store failed: {0}")]
pub struct StoreError(pub String);

/// An upload requested and not yet confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub upload_id: String,
    pub session: String,
    pub media: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: u64,
    pub created_at: i64,
    /// When the upload URL stops working.
    pub upload_expires_at: i64,
    /// How long the media is kept once confirmed, seconds.
    pub ttl_secs: u64,
    /// Confirmed: the media is recorded, and confirming again answers its record.
    #[serde(default)]
    pub confirmed: bool,
}

impl Pending {
    pub fn reference(&self) -> MediaRef {
        MediaRef {
            session: self.session.clone(),
            media: self.media.clone(),
        }
    }
}

/// A confirmed upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub session: String,
    pub media: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: u64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Record {
    pub fn reference(&self) -> MediaRef {
        MediaRef {
            session: self.session.clone(),
            media: self.media.clone(),
        }
    }
}

/// Cleanup work that has come due.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Due {
    /// Media past its expiry: its object goes.
    Expired(MediaRef),
    /// An upload never confirmed: whatever was uploaded goes.
    Abandoned(MediaRef),
}

impl Due {
    /// The schedule's member text: `m|sid|mid` or `u|sid|mid` (ids hold no `|`).
    pub fn encode(&self) -> String {
        match self {
            Due::Expired(r) => format!("m|{}|{}", r.session, r.media),
            Due::Abandoned(r) => format!("u|{}|{}", r.session, r.media),
        }
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '|');
        let kind = parts.next()?;
        let reference = MediaRef::from_parts(parts.next()?, parts.next()?)?;
        match kind {
            "m" => Some(Due::Expired(reference)),
            "u" => Some(Due::Abandoned(reference)),
            _ => None,
        }
    }
}

/// Where the media surface keeps its state.
pub trait MediaStore: Send + Sync + 'static {
    /// Keeps `pending` until [`PENDING_GRACE`] past its URL's expiry, and schedules its
    /// abandonment.
    fn put_pending<'a>(&'a self, pending: &'a Pending) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The pending upload `upload_id`, if it is still kept.
    fn pending<'a>(
        &'a self,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Pending>, StoreError>>;

    /// Records `record`, marks the pending upload `upload_id` confirmed (kept until its own
    /// expiry, so a repeated confirmation finds it), forgets its abandonment, and schedules the
    /// media's expiry.
    fn confirm<'a>(
        &'a self,
        upload_id: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Forgets the pending upload `upload_id` (refused at confirmation).
    fn drop_pending<'a>(&'a self, upload_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The media `reference`, if its record is still kept (expired or not).
    fn record<'a>(
        &'a self,
        reference: &'a MediaRef,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;

    /// Takes up to `limit` cleanup items due by `now`: each is handed to one caller only, even
    /// across replicas.
    fn take_due(&self, now: i64, limit: usize) -> BoxFuture<'_, Result<Vec<Due>, StoreError>>;

    /// Puts `due` back on the schedule, due at `at` (its cleanup failed and is to be retried).
    fn reschedule<'a>(&'a self, due: &'a Due, at: i64) -> BoxFuture<'a, Result<(), StoreError>>;

    /// What the store is, for messages: `memory`, `redis at host:port/db`.
    fn describe(&self) -> String;
}

/// The state in this process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Memory>,
}

#[derive(Debug, Default)]
struct Memory {
    pending: HashMap<String, Pending>,
    records: HashMap<MediaRef, Record>,
    /// (when, what), soonest first.
    schedule: BTreeSet<(i64, Due)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl MediaStore for MemoryStore {
    fn put_pending<'a>(&'a self, pending: &'a Pending) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut inner = self.inner.lock();
        inner
            .pending
            .insert(pending.upload_id.clone(), pending.clone());
        inner.schedule.insert((
            pending.upload_expires_at + ABANDONED_AFTER,
            Due::Abandoned(pending.reference()),
        ));
        Box::pin(async { Ok(()) })
    }

    fn pending<'a>(
        &'a self,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Pending>, StoreError>> {
        let mut inner = self.inner.lock();
        let found = match inner.pending.get(upload_id) {
            Some(p) if p.upload_expires_at + PENDING_GRACE < now() => {
                inner.pending.remove(upload_id);
                None
            }
            other => other.cloned(),
        };
        Box::pin(async move { Ok(found) })
    }

    fn confirm<'a>(
        &'a self,
        upload_id: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut inner = self.inner.lock();
        let abandoned = Due::Abandoned(record.reference());
        inner.schedule.retain(|(_, due)| *due != abandoned);
        if let Some(pending) = inner.pending.get_mut(upload_id) {
            pending.confirmed = true;
        }
        inner.records.insert(record.reference(), record.clone());
        inner
            .schedule
            .insert((record.expires_at, Due::Expired(record.reference())));
        Box::pin(async { Ok(()) })
    }

    fn drop_pending<'a>(&'a self, upload_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.lock().pending.remove(upload_id);
        Box::pin(async { Ok(()) })
    }

    fn record<'a>(
        &'a self,
        reference: &'a MediaRef,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        let mut inner = self.inner.lock();
        let found = match inner.records.get(reference) {
            Some(r) if r.expires_at + TOMBSTONE < now() => {
                inner.records.remove(reference);
                None
            }
            other => other.cloned(),
        };
        Box::pin(async move { Ok(found) })
    }

    fn take_due(&self, now: i64, limit: usize) -> BoxFuture<'_, Result<Vec<Due>, StoreError>> {
        let mut inner = self.inner.lock();
        let mut due = Vec::new();
        while due.len() < limit {
            match inner.schedule.first() {
                Some((when, _)) if *when <= now => {
                    if let Some((_, item)) = inner.schedule.pop_first() {
                        due.push(item);
                    }
                }
                _ => break,
            }
        }
        // Forgotten records and pending uploads go too, so the maps do not grow for ever.
        inner.records.retain(|_, r| r.expires_at + TOMBSTONE >= now);
        inner
            .pending
            .retain(|_, p| p.upload_expires_at + PENDING_GRACE >= now);
        Box::pin(async move { Ok(due) })
    }

    fn reschedule<'a>(&'a self, due: &'a Due, at: i64) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.lock().schedule.insert((at, due.clone()));
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn pending(id: &str, expires: i64) -> Pending {
        Pending {
            upload_id: id.into(),
            session: "s".into(),
            media: format!("m{id}"),
            filename: "a.png".into(),
            mime_type: "image/png".into(),
            size_bytes: 3,
            created_at: expires - 900,
            upload_expires_at: expires,
            ttl_secs: 60,
            confirmed: false,
        }
    }

    fn record(of: &Pending, expires: i64) -> Record {
        Record {
            session: of.session.clone(),
            media: of.media.clone(),
            filename: of.filename.clone(),
            mime_type: of.mime_type.clone(),
            size_bytes: of.size_bytes,
            created_at: of.created_at,
            expires_at: expires,
        }
    }

    #[test]
    fn due_codes_round_trip() {
        let due = Due::Abandoned(MediaRef::from_parts("s", "m").unwrap());
        assert_eq!(Due::decode(&due.encode()), Some(due));
        assert_eq!(Due::decode("x|s|m"), None);
        assert_eq!(Due::decode("m|s/..|m"), None);
    }

    #[tokio::test]
    async fn a_confirmed_upload_is_not_abandoned_and_expires_once() {
        let store = MemoryStore::new();
        let t = now();
        let (a, b) = (pending("1", t), pending("2", t));
        store.put_pending(&a).await.unwrap();
        store.put_pending(&b).await.unwrap();
        store.confirm("1", &record(&a, t + 100)).await.unwrap();
        assert!(store.pending("1").await.unwrap().unwrap().confirmed);
        assert_eq!(store.pending("2").await.unwrap(), Some(b.clone()));
        assert!(store.take_due(t + 99, 10).await.unwrap().is_empty());
        let due = store.take_due(t + 100, 10).await.unwrap();
        assert_eq!(due, [Due::Expired(a.reference())]);
        let due = store.take_due(t + ABANDONED_AFTER, 10).await.unwrap();
        assert_eq!(due, [Due::Abandoned(b.reference())]);
        assert!(
            store
                .take_due(t + 2 * ABANDONED_AFTER, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // The record stays, past its expiry, as a tombstone.
        assert!(store.record(&a.reference()).await.unwrap().is_some());
    }
}

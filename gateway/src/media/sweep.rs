//! Removes what media storage no longer keeps: expired media and abandoned uploads (requested,
//! perhaps uploaded, never confirmed). Each agent's sweeper takes the cleanup work that has come
//! due from its store (each item goes to one replica only) and deletes the objects.

use std::sync::Arc;
use std::time::Duration;

use super::MediaAgent;
use super::store::Due;

/// How often each agent's store is asked for due work.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// The most items one pass takes; the next pass takes the rest.
const BATCH: usize = 100;
/// How long a failed removal waits before it is tried again.
pub const RETRY_AFTER: i64 = 300;

/// One pass over `agent`'s due work: how many objects it removed.
pub async fn once(agent: &MediaAgent) -> usize {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let due = match agent.store.take_due(now, BATCH).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(agent = %agent.name, %error, "media sweep: cannot read the schedule");
            return 0;
        }
    };
    let mut removed = 0;
    for item in due {
        let (reference, why) = match &item {
            Due::Expired(r) => (r, "expired"),
            Due::Abandoned(r) => (r, "abandoned"),
        };
        let key = reference.key(&agent.prefix);
        match agent.backend.delete(&key).await {
            Ok(()) => {
                removed += 1;
                tracing::debug!(agent = %agent.name, %reference, why, "media removed");
            }
            Err(error) => {
                tracing::warn!(
                    agent = %agent.name,
                    %reference,
                    why,
                    %error,
                    "media sweep: cannot remove the object; trying again in {RETRY_AFTER} s"
                );
                if let Err(error) = agent.store.reschedule(&item, now + RETRY_AFTER).await {
                    tracing::warn!(
                        agent = %agent.name,
                        %reference,
                        %error,
                        "media sweep: cannot reschedule the removal; the object stays"
                    );
                }
            }
        }
    }
    removed
}

/// Sweeps every agent of `agents` every [`INTERVAL`], until the task is dropped.
pub fn spawn(agents: Vec<Arc<MediaAgent>>) -> Option<tokio::task::JoinHandle<()>> {
    if agents.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for agent in &agents {
                once(agent).await;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use omnia_api::{Media, MediaBackend};
    use omnia_middleware::auth::AuthChain;

    use super::*;
    use crate::media::store::{ABANDONED_AFTER, Pending, Record};

    fn agent(dir: &std::path::Path) -> MediaAgent {
        let mut media = Media::none();
        media.backend = MediaBackend::Local {
            base_path: dir.to_path_buf(),
        };
        let api = omnia_api::load_str(
            "a.yaml",
            "apiVersion: omnia.altairalabs.ai/v1alpha1\nkind: AgentRuntime\nmetadata: {name: a}\n\
             spec: {promptPackRef: {name: p}, providers: [{name: default, providerRef: {name: m}}]}\n\
             ---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: PromptPack\nmetadata: {name: p}\n\
             spec: {source: {type: configmap, configMapRef: {name: cm}}, version: '1.0.0'}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {pack.json: '{\"id\": \"p\"}'}\n\
             ---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: Provider\nmetadata: {name: m}\n\
             spec: {type: mock}\n",
        )
        .unwrap();
        let mut agent = api.agents.into_iter().next().unwrap();
        agent.media = media;
        let chain = AuthChain::builder()
            .allow_unauthenticated(true)
            .build()
            .unwrap();
        MediaAgent::build(&agent, Arc::new(chain)).unwrap().unwrap()
    }

    #[tokio::test]
    async fn expired_media_and_abandoned_uploads_are_removed_once() {
        let dir = tempfile::tempdir().unwrap();
        let agent = agent(dir.path());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let write = |key: &str| {
            let path = dir.path().join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
            path
        };
        // Media that expired a moment ago.
        let expired = Record {
            session: "s".into(),
            media: "old".into(),
            filename: "a".into(),
            mime_type: "text/plain".into(),
            size_bytes: 1,
            created_at: now - 100,
            expires_at: now - 1,
        };
        let expired_file = write(&expired.reference().key(""));
        agent.store.confirm("u-old", &expired).await.unwrap();
        // An upload whose URL expired long enough ago to count as abandoned.
        let abandoned = Pending {
            upload_id: "u-gone".into(),
            session: "s".into(),
            media: "gone".into(),
            filename: "b".into(),
            mime_type: "text/plain".into(),
            size_bytes: 1,
            created_at: now - ABANDONED_AFTER - 1000,
            upload_expires_at: now - ABANDONED_AFTER - 1,
            ttl_secs: 60,
            confirmed: false,
        };
        let abandoned_file = write(&abandoned.reference().key(""));
        agent.store.put_pending(&abandoned).await.unwrap();
        // Media still live.
        let live = Record {
            media: "live".into(),
            expires_at: now + 3600,
            ..expired.clone()
        };
        let live_file = write(&live.reference().key(""));
        agent.store.confirm("u-live", &live).await.unwrap();

        assert_eq!(once(&agent).await, 2);
        assert!(!expired_file.exists() && !abandoned_file.exists());
        assert!(live_file.exists());
        // Nothing is taken twice.
        assert_eq!(once(&agent).await, 0);
    }

    #[tokio::test]
    async fn a_removal_that_fails_is_tried_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let agent = agent(dir.path());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let record = Record {
            session: "s".into(),
            media: "stuck".into(),
            filename: "a".into(),
            mime_type: "text/plain".into(),
            size_bytes: 1,
            created_at: now - 100,
            expires_at: now - 1,
        };
        // A directory where the file should be: removing it as a file fails.
        let path = dir.path().join(record.reference().key(""));
        std::fs::create_dir_all(&path).unwrap();
        agent.store.confirm("u", &record).await.unwrap();
        assert_eq!(once(&agent).await, 0);
        // Rescheduled, not dropped: due again after the retry delay.
        let due = agent
            .store
            .take_due(now + RETRY_AFTER + 1, 10)
            .await
            .unwrap();
        assert_eq!(due, [Due::Expired(record.reference())]);
    }
}

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
            Err(error) => tracing::warn!(
                agent = %agent.name,
                %reference,
                why,
                %error,
                "media sweep: cannot remove the object; it stays until removed by hand"
            ),
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

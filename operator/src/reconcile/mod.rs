//! The reconcilers: AgentRuntimes into their objects and status ([`agent`]), and the status of
//! the PromptPacks, Providers and ToolRegistries they reference ([`dependency`]).

pub mod agent;
pub mod conditions;
pub mod dependency;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use parking_lot::Mutex;

use crate::health::Metrics;
use crate::render::Settings;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    /// The time written into conditions (the clock, or a fixed one in tests).
    pub now: fn() -> Time,
    pub metrics: Arc<Metrics>,
    /// Failures in a row per object, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(client: Client, settings: Settings) -> Self {
        Self::with_clock(client, settings, || {
            Time(k8s_openapi::jiff::Timestamp::now())
        })
    }

    pub fn with_clock(client: Client, settings: Settings, now: fn() -> Time) -> Self {
        Self {
            client,
            settings,
            now,
            metrics: Arc::new(Metrics::default()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets `key`'s failures (it reconciled).
    pub fn succeeded(&self, key: &str) {
        self.failures.lock().remove(key);
    }

    /// How long to wait before retrying `key` after another failure: 5 s, doubling, at most 5
    /// minutes.
    pub fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock();
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let seconds = 5u64.saturating_mul(1u64 << (*n - 1).min(6));
        Duration::from_secs(seconds.min(300))
    }
}

/// A reconcile that could not finish: the API server refused or could not be reached. Problems
/// in the objects themselves are not errors: they go into the status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

/// `namespace/name`, the key of the backoff.
pub fn key<K: ResourceExt>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// Requeues a failed reconcile with backoff.
pub fn error_policy<K: ResourceExt>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let wait = ctx.backoff(&key(object.as_ref()));
    tracing::warn!(object = %key(object.as_ref()), %error, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

/// Merge-patches `status` onto `object`'s status subresource.
///
/// # Errors
/// When the API server refuses the patch or cannot be reached.
pub async fn patch_status<K, S>(ctx: &Context, object: &K, status: &S) -> Result<(), Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: serde::Serialize,
{
    let api: kube::Api<K> =
        kube::Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    api.patch_status(
        &object.name_any(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({ "status": status })),
    )
    .await?;
    Ok(())
}

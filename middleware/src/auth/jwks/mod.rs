//! Public keys for JWT validation: loaded from a JWKS file, a JWKS URL, the JWKS an issuer's OIDC
//! discovery document points at, a static set or a PEM key.
//!
//! Keys fetched over HTTP are kept fresh by a background task (the `refresh` module): on the
//! schedule the response's `Cache-Control` asks for, within a floor and a ceiling, and when a token
//! names a key the set does not hold (key rotation). A request reads an immutable snapshot of the
//! current set and never waits on a fetch, unless its token names an unknown key.

mod fetch;
mod keyset;
mod refresh;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::AuthConfigError;
use fetch::Fetcher;
pub(crate) use keyset::KeySet;
pub use refresh::JwksRefresh;
use refresh::{OnDemand, Snapshot};

/// Where a JWT validator gets its public keys.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A JWKS JSON file, read once at construction.
    File(PathBuf),
    /// A JWKS URL, fetched at construction and then kept fresh (see [`JwksRefresh`]).
    /// Any URL, even plain `http`, needs a rustls `CryptoProvider` installed process-wide first:
    /// reqwest is built without one (the gateway installs it at start-up).
    Url(String),
    /// The JWKS at the `jwks_uri` of the validator's issuer's discovery document
    /// (`{issuer}/.well-known/openid-configuration`), discovered at construction and then kept
    /// fresh like [`JwksSource::Url`]. The document must name the same issuer.
    Discover,
    /// A key set already in memory.
    Static(JwkSet),
}

/// Client-chosen text echoed in an error stays short.
pub(crate) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A key set, refreshed in the background when it came from HTTP.
pub(crate) struct Jwks {
    current: watch::Receiver<Snapshot>,
    remote: Option<Remote>,
}

/// The refresh task of an HTTP key set, stopped when the set is dropped.
struct Remote {
    on_demand: Arc<OnDemand>,
    /// The longest a request naming an unknown key waits for the fetch it asked for: the task may
    /// be finishing another fetch first, and discovery plus JWKS is two requests.
    wait: Duration,
    task: JoinHandle<()>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Jwks {
    /// Loads the keys of `source` usable with `accepted` (files are read and URLs fetched now;
    /// [`JwksSource::Discover`] discovers the keys of `issuer`).
    pub(crate) async fn load(
        source: JwksSource,
        accepted: &'static [Algorithm],
        refresh: JwksRefresh,
        issuer: &str,
    ) -> Result<Self, AuthConfigError> {
        let fetcher = match source {
            JwksSource::File(path) => {
                let bytes =
                    tokio::fs::read(&path)
                        .await
                        .map_err(|source| AuthConfigError::Read {
                            path: path.clone(),
                            source,
                        })?;
                let set = KeySet::from_json(&bytes, accepted, &path.display().to_string())?;
                return Ok(Self::fixed(set));
            }
            JwksSource::Static(set) => {
                return Ok(Self::fixed(KeySet::from_jwk_set(
                    &set,
                    accepted,
                    "static JWKS",
                )?));
            }
            JwksSource::Url(url) => Fetcher::url(url, accepted, refresh.fetch_timeout)?,
            JwksSource::Discover => Fetcher::discover(issuer, accepted, refresh.fetch_timeout)?,
        };
        Self::fetch_first(fetcher, accepted, refresh, false).await
    }

    /// A URL set whose first fetch may fail: the failure is logged and the set starts empty, to
    /// be fetched again on schedule or when a token names a key. This is how Omnia's facade
    /// treats the dashboard's JWKS: a facade must start while the dashboard is down, and its
    /// tokens are accepted once it is back.
    pub(crate) async fn load_url_lenient(
        url: String,
        accepted: &'static [Algorithm],
        refresh: JwksRefresh,
    ) -> Result<Self, AuthConfigError> {
        let fetcher = Fetcher::url(url, accepted, refresh.fetch_timeout)?;
        Self::fetch_first(fetcher, accepted, refresh, true).await
    }

    /// A fixed key set that never refreshes.
    pub(crate) fn fixed(set: KeySet) -> Self {
        let (_, current) = watch::channel(Snapshot {
            keys: Arc::new(set),
            refresh_in: None,
        });
        Self {
            current,
            remote: None,
        }
    }

    async fn fetch_first(
        mut fetcher: Fetcher,
        accepted: &'static [Algorithm],
        refresh: JwksRefresh,
        lenient: bool,
    ) -> Result<Self, AuthConfigError> {
        let (keys, first) = match fetcher.fetch().await {
            Ok(fetched) => {
                let keys = fetched.keys.non_empty(accepted, fetcher.origin())?;
                (keys, refresh.interval_for(fetched.fresh_for))
            }
            Err(err) if lenient => {
                tracing::warn!(
                    source = %fetcher.origin(),
                    error = %err,
                    "JWKS not available at start-up; fetching again on schedule or when a \
                     token arrives"
                );
                (KeySet::empty(), refresh.min_interval)
            }
            Err(err) => return Err(err),
        };
        let (published, current) = watch::channel(Snapshot {
            keys: Arc::new(keys),
            refresh_in: Some(first),
        });
        let on_demand = Arc::new(OnDemand::new(refresh.unknown_kid_interval));
        let task = refresh::spawn(fetcher, refresh, first, published, on_demand.clone());
        Ok(Self {
            current,
            remote: Some(Remote {
                on_demand,
                wait: refresh
                    .fetch_timeout
                    .saturating_mul(2)
                    .saturating_add(Duration::from_secs(1)),
                task,
            }),
        })
    }

    /// The current key set: a snapshot, never waiting on a fetch.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        self.current.borrow().keys.clone()
    }

    /// The delay the last successful fetch scheduled before the next one (`None` for sets that
    /// never refresh).
    #[cfg(test)]
    pub(crate) fn refresh_in(&self) -> Option<Duration> {
        self.current.borrow().refresh_in
    }

    /// The key set to verify a token naming `kid`. When it is an HTTP set that does not hold
    /// `kid`, this asks the refresh task for a fetch (if the rate limit allows one) and waits for
    /// it, so a token signed with a freshly rotated key is admitted at once.
    pub(crate) async fn keys_for(&self, kid: Option<&str>) -> Arc<KeySet> {
        let set = self.current();
        match (kid, &self.remote) {
            (Some(kid), Some(remote)) if !set.has_kid(kid) => self.refetch(remote, kid).await,
            _ => set,
        }
    }

    async fn refetch(&self, remote: &Remote, kid: &str) -> Arc<KeySet> {
        // Subscribe before looking again, so a fetch that completes from here on is not missed.
        let mut changes = self.current.clone();
        let set = changes.borrow_and_update().keys.clone();
        if set.has_kid(kid) {
            return set;
        }
        if remote.on_demand.allowed() {
            remote.on_demand.ring();
        } else if !remote.on_demand.in_flight() {
            // Rate-limited, and nothing on its way: the keys we have are the answer.
            return set;
        }
        // Woken by the fetch this asked for or joined, or by the task saying there will be none.
        // An error means the task is gone; the current keys are all there is either way.
        let _ = tokio::time::timeout(remote.wait, changes.changed()).await;
        self.current()
    }
}

#[cfg(test)]
mod tests;

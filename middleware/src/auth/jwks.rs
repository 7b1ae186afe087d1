//! Public keys for JWT validation: loaded from a JWKS file, a JWKS URL, a static set or a PEM key,
//! and, for URLs, re-fetched when a token names a key we do not know (key rotation).
//!
//! The current key set is an `Arc` behind a `tokio::sync::watch` channel: a request takes a
//! snapshot with a short synchronous borrow and never waits on a fetch. Only a request naming an
//! unknown `kid` goes to the refresh path, which fetches at most once per interval so a stream of
//! made-up key ids cannot turn the gateway into a flood against the identity provider.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use super::{AuthConfigError, unauthorized};
use crate::error::GatewayError;

/// Shortest time between two fetches of a JWKS URL.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// A JWKS document larger than this is refused: real ones hold a handful of keys.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where a JWT validator gets its public keys.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A JWKS JSON file, read once at construction.
    File(PathBuf),
    /// A JWKS URL, fetched at construction and again when a token names an unknown `kid`.
    /// Any URL, even plain `http`, needs a rustls `CryptoProvider` installed process-wide first:
    /// reqwest is built without one (the gateway installs it at start-up).
    Url(String),
    /// A key set already in memory.
    Static(JwkSet),
}

/// One public key, converted once so requests do not re-parse JWKs.
struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// A set of usable verification keys.
pub(crate) struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// No key at all: what a URL set holds until its first successful fetch.
    fn empty() -> Self {
        Self { keys: Vec::new() }
    }

    /// One key without a `kid` (a PEM public key): it verifies tokens whatever `kid` they name.
    pub(crate) fn single(key: DecodingKey, alg: Algorithm) -> Self {
        Self {
            keys: vec![VerifyingKey {
                kid: None,
                alg,
                key,
            }],
        }
    }

    /// The keys of a JWKS usable with one of `accepted`; keys for other algorithms, encryption
    /// keys and unsupported key types are skipped. An empty result is an error: a validator that
    /// can never admit anything is a misconfiguration.
    pub(crate) fn from_jwk_set(
        set: &JwkSet,
        accepted: &[Algorithm],
        origin: &str,
    ) -> Result<Self, AuthConfigError> {
        let keys: Vec<VerifyingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| convert(jwk, accepted))
            .collect();
        if keys.is_empty() {
            return Err(AuthConfigError::Keys {
                origin: origin.to_owned(),
                detail: format!("no usable key for {}", alg_list(accepted)),
            });
        }
        Ok(Self { keys })
    }

    /// Parses a JWKS document. Each key is read on its own so one exotic entry (an unknown key
    /// type, an encryption key) does not make the whole document unusable.
    pub(crate) fn from_json(
        bytes: &[u8],
        accepted: &[Algorithm],
        origin: &str,
    ) -> Result<Self, AuthConfigError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(bytes).map_err(|err| AuthConfigError::Keys {
                origin: origin.to_owned(),
                detail: format!("not a JWKS document: {err}"),
            })?;
        let keys = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .collect();
        Self::from_jwk_set(&JwkSet { keys }, accepted, origin)
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key that verifies a token with this `kid` and `alg`.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&DecodingKey, GatewayError> {
        if let Some(kid) = kid
            && let Some(found) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
        {
            if found.alg != alg {
                return Err(unauthorized(format!(
                    "key {:?} is for {:?}, the token uses {alg:?}",
                    truncate(kid),
                    found.alg
                )));
            }
            return Ok(&found.key);
        }
        // No kid, or a kid we do not know: a sole candidate for the algorithm is unambiguous.
        // With a kid, only kid-less keys (a configured PEM key) are candidates.
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.alg == alg && (kid.is_none() || k.kid.is_none()));
        match (candidates.next(), candidates.next(), kid) {
            (Some(only), None, _) => Ok(&only.key),
            (_, _, Some(kid)) => Err(unauthorized(format!("no key with kid {:?}", truncate(kid)))),
            (None, _, None) => Err(unauthorized(format!("no key for {alg:?} tokens"))),
            (Some(_), Some(_), None) => Err(unauthorized(
                "the token has no kid and several keys could have signed it",
            )),
        }
    }
}

fn convert(jwk: &Jwk, accepted: &[Algorithm]) -> Option<VerifyingKey> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) if matches!(declared, None | Some(KeyAlgorithm::RS256)) => {
            Algorithm::RS256
        }
        AlgorithmParameters::EllipticCurve(p)
            if p.curve == EllipticCurve::P256
                && matches!(declared, None | Some(KeyAlgorithm::ES256)) =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    if !accepted.contains(&alg) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

fn alg_list(accepted: &[Algorithm]) -> String {
    accepted
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join("/")
}

/// Client-chosen text echoed in an error stays short.
pub(crate) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A key set that may refresh itself from a URL.
pub(crate) struct Jwks {
    current: watch::Sender<Arc<KeySet>>,
    remote: Option<Remote>,
    accepted: &'static [Algorithm],
}

struct Remote {
    url: String,
    client: reqwest::Client,
    /// When the last fetch started; held across a fetch so concurrent misses share it.
    last_fetch: Mutex<Instant>,
    /// The shortest time between two fetches, in milliseconds. Atomic so a set shared by several
    /// validators can still be tuned through `&self`.
    min_refresh_ms: AtomicU64,
}

impl Remote {
    fn new(url: String, client: reqwest::Client) -> Self {
        Self {
            url,
            client,
            last_fetch: Mutex::new(Instant::now()),
            min_refresh_ms: AtomicU64::new(millis(DEFAULT_MIN_REFRESH_INTERVAL)),
        }
    }

    fn min_refresh(&self) -> Duration {
        Duration::from_millis(self.min_refresh_ms.load(Ordering::Relaxed))
    }
}

fn millis(interval: Duration) -> u64 {
    u64::try_from(interval.as_millis()).unwrap_or(u64::MAX)
}

impl Jwks {
    /// Loads the keys of `source` usable with `accepted` (files are read and URLs fetched now).
    pub(crate) async fn load(
        source: JwksSource,
        accepted: &'static [Algorithm],
    ) -> Result<Self, AuthConfigError> {
        let (set, remote) = match source {
            JwksSource::File(path) => {
                let bytes =
                    tokio::fs::read(&path)
                        .await
                        .map_err(|source| AuthConfigError::Read {
                            path: path.clone(),
                            source,
                        })?;
                (
                    KeySet::from_json(&bytes, accepted, &path.display().to_string())?,
                    None,
                )
            }
            JwksSource::Static(set) => (KeySet::from_jwk_set(&set, accepted, "static JWKS")?, None),
            JwksSource::Url(url) => {
                let client = http_client()?;
                let set = fetch(&client, &url, accepted).await?;
                (set, Some(Remote::new(url, client)))
            }
        };
        Ok(Self::from_parts(set, remote, accepted))
    }

    /// A URL set whose first fetch may fail: the failure is logged and the set starts empty, to
    /// be fetched again when a token names a key (and the refresh interval allows). This is how
    /// Omnia's facade treats the dashboard's JWKS: a facade must start while the dashboard is
    /// down, and its tokens are accepted once it is back.
    pub(crate) async fn load_url_lenient(
        url: String,
        accepted: &'static [Algorithm],
    ) -> Result<Self, AuthConfigError> {
        let client = http_client()?;
        let set = match fetch(&client, &url, accepted).await {
            Ok(set) => set,
            Err(err) => {
                tracing::warn!(
                    %url,
                    error = %err,
                    "JWKS not available at start-up; fetching again when a token arrives"
                );
                KeySet::empty()
            }
        };
        Ok(Self::from_parts(
            set,
            Some(Remote::new(url, client)),
            accepted,
        ))
    }

    /// A fixed key set that never refreshes.
    pub(crate) fn fixed(set: KeySet, accepted: &'static [Algorithm]) -> Self {
        Self::from_parts(set, None, accepted)
    }

    fn from_parts(set: KeySet, remote: Option<Remote>, accepted: &'static [Algorithm]) -> Self {
        let (current, _) = watch::channel(Arc::new(set));
        Self {
            current,
            remote,
            accepted,
        }
    }

    /// Changes the shortest time between two fetches of a JWKS URL.
    pub(crate) fn set_min_refresh_interval(&self, interval: Duration) {
        if let Some(remote) = &self.remote {
            remote
                .min_refresh_ms
                .store(millis(interval), Ordering::Relaxed);
        }
    }

    /// The key set to verify a token naming `kid`, refreshed first when it is a URL set that does
    /// not know `kid` and the refresh interval allows.
    pub(crate) async fn keys_for(&self, kid: Option<&str>) -> Arc<KeySet> {
        let set = self.current.borrow().clone();
        match (kid, &self.remote) {
            (Some(kid), Some(remote)) if !set.has_kid(kid) => self.refresh(remote, kid).await,
            _ => set,
        }
    }

    async fn refresh(&self, remote: &Remote, kid: &str) -> Arc<KeySet> {
        let mut last_fetch = remote.last_fetch.lock().await;
        // Another request may have fetched the rotated set while this one waited for the lock.
        let set = self.current.borrow().clone();
        if set.has_kid(kid) || last_fetch.elapsed() < remote.min_refresh() {
            return set;
        }
        // Counted from the start, and on failure too: a down identity provider is not retried
        // on every request.
        *last_fetch = Instant::now();
        match fetch(&remote.client, &remote.url, self.accepted).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                self.current.send_replace(fresh.clone());
                tracing::info!(
                    url = %remote.url,
                    "refreshed JWKS after a token named an unknown key"
                );
                fresh
            }
            Err(err) => {
                tracing::warn!(
                    url = %remote.url,
                    error = %err,
                    "JWKS refresh failed; keeping the old keys"
                );
                set
            }
        }
    }
}

fn http_client() -> Result<reqwest::Client, AuthConfigError> {
    // reqwest is built without a TLS provider and panics when building a client without one,
    // even for plain http; fail with a message instead.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        return Err(AuthConfigError::Invalid(
            "fetching a JWKS URL needs a rustls CryptoProvider installed first".into(),
        ));
    }
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|err| {
            AuthConfigError::Invalid(format!("cannot build the JWKS HTTP client: {err}"))
        })
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    accepted: &[Algorithm],
) -> Result<KeySet, AuthConfigError> {
    let failed = |detail: String| AuthConfigError::Fetch {
        url: url.to_owned(),
        detail,
    };
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("status {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(failed(format!(
                "document larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    KeySet::from_json(&body, accepted, url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::*;

    const BOTH: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];

    #[tokio::test]
    async fn file_source_loads_rsa_and_ec_keys() {
        let jwks = Jwks::load(JwksSource::File(testdata("jwks.json")), BOTH)
            .await
            .unwrap();
        let set = jwks.keys_for(Some("rsa-1")).await;
        assert!(set.select(Some("rsa-1"), Algorithm::RS256).is_ok());
        assert!(set.select(Some("ec-1"), Algorithm::ES256).is_ok());
    }

    #[tokio::test]
    async fn missing_file_is_a_config_error_naming_the_path() {
        let err = Jwks::load(JwksSource::File(testdata("absent.json")), BOTH)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("absent.json"), "{err}");
    }

    #[tokio::test]
    async fn set_without_usable_keys_is_a_config_error() {
        // The management plane accepts RS256 only, so an EC-only set can never admit anything.
        let set = jwk_set(&[EC1_JWK]);
        let err = Jwks::load(JwksSource::Static(set), &[Algorithm::RS256])
            .await
            .err()
            .unwrap();
        assert!(matches!(err, AuthConfigError::Keys { .. }), "{err}");
    }

    #[tokio::test]
    async fn kid_naming_a_key_of_another_algorithm_is_refused() {
        let jwks = Jwks::load(JwksSource::Static(jwk_set(&[RSA1_JWK, EC1_JWK])), BOTH)
            .await
            .unwrap();
        let set = jwks.keys_for(Some("ec-1")).await;
        assert!(set.select(Some("ec-1"), Algorithm::RS256).is_err());
    }

    #[tokio::test]
    async fn no_kid_with_two_keys_of_the_algorithm_is_refused() {
        let jwks = Jwks::load(JwksSource::Static(jwk_set(&[RSA1_JWK, RSA2_JWK])), BOTH)
            .await
            .unwrap();
        let set = jwks.keys_for(None).await;
        assert!(set.select(None, Algorithm::RS256).is_err());
    }

    #[tokio::test]
    async fn url_source_is_fetched_at_construction() {
        install_crypto_provider();
        let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
        let jwks = Jwks::load(JwksSource::Url(server.url()), BOTH)
            .await
            .unwrap();
        assert_eq!(server.hits(), 1);
        let set = jwks.keys_for(Some("rsa-1")).await;
        assert!(set.select(Some("rsa-1"), Algorithm::RS256).is_ok());
        assert_eq!(server.hits(), 1, "a known kid must not refetch");
    }

    #[tokio::test]
    async fn unreachable_url_is_a_config_error() {
        install_crypto_provider();
        let url = closed_port_url().await;
        let err = Jwks::load(JwksSource::Url(url), BOTH).await.err().unwrap();
        assert!(matches!(err, AuthConfigError::Fetch { .. }), "{err}");
    }

    #[tokio::test]
    async fn unknown_kid_refetches_a_rotated_set() {
        install_crypto_provider();
        let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
        let jwks = Jwks::load(JwksSource::Url(server.url()), BOTH)
            .await
            .unwrap();
        jwks.set_min_refresh_interval(Duration::ZERO);
        server.serve(jwks_json(&[RSA1_JWK, RSA2_JWK]));
        let set = jwks.keys_for(Some("rsa-2")).await;
        assert_eq!(server.hits(), 2);
        assert!(set.select(Some("rsa-2"), Algorithm::RS256).is_ok());
    }

    #[tokio::test]
    async fn refetch_happens_at_most_once_per_interval() {
        install_crypto_provider();
        let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
        // The default interval: the construction fetch counts, so no refetch within 30 s.
        let jwks = Jwks::load(JwksSource::Url(server.url()), BOTH)
            .await
            .unwrap();
        server.serve(jwks_json(&[RSA2_JWK]));
        for _ in 0..3 {
            let set = jwks.keys_for(Some("rsa-2")).await;
            assert!(set.select(Some("rsa-2"), Algorithm::RS256).is_err());
        }
        assert_eq!(server.hits(), 1);
    }

    #[tokio::test]
    async fn lenient_url_starts_empty_when_the_first_fetch_fails_and_fetches_on_demand() {
        install_crypto_provider();
        let server = JwksServer::start("the dashboard is restarting".into()).await;
        let jwks = Jwks::load_url_lenient(server.url(), BOTH).await.unwrap();
        jwks.set_min_refresh_interval(Duration::ZERO);
        assert!(
            jwks.keys_for(None)
                .await
                .select(None, Algorithm::RS256)
                .is_err()
        );
        server.serve(jwks_json(&[RSA1_JWK]));
        let set = jwks.keys_for(Some("rsa-1")).await;
        assert!(set.select(Some("rsa-1"), Algorithm::RS256).is_ok());
        assert_eq!(server.hits(), 2);
    }
}

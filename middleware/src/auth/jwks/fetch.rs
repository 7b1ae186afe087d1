//! Fetching a JWKS over HTTP: the client, OIDC discovery of `jwks_uri`, and how long a response
//! says it stays fresh.
//!
//! Discovery reads two fields of `{issuer}/.well-known/openid-configuration` with a small serde
//! struct: the OIDC crates (`openidconnect`, `openid`) bring their own JOSE stack, an OAuth2
//! client and a dozen more crates to do what jsonwebtoken already does here.

use std::time::Duration;

use http::HeaderMap;
use http::header::{AGE, CACHE_CONTROL};
use jsonwebtoken::Algorithm;

use super::super::AuthConfigError;
use super::keyset::KeySet;

/// A JWKS or discovery document larger than this is refused: real ones are a few KiB.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// The path OIDC Discovery 1.0 (section 4) puts the provider's metadata at, under the issuer.
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// A fetched key set and how long its response said it stays fresh (`None`: it did not say).
pub(super) struct Fetched {
    pub keys: KeySet,
    pub fresh_for: Option<Duration>,
}

/// Where the JWKS lives.
enum Endpoint {
    /// A configured JWKS URL.
    Fixed(String),
    /// Found through the issuer's discovery document; `None` until discovered, and again after
    /// a failed fetch, so a provider that moved its keys is followed without a restart.
    Discovered {
        issuer: String,
        jwks_uri: Option<String>,
    },
}

/// Fetches one JWKS. Owned by the refresh task, so at most one fetch is ever in flight.
pub(super) struct Fetcher {
    client: reqwest::Client,
    endpoint: Endpoint,
    accepted: &'static [Algorithm],
}

impl Fetcher {
    /// Fetches the JWKS at `url`.
    pub(super) fn url(
        url: String,
        accepted: &'static [Algorithm],
        timeout: Duration,
    ) -> Result<Self, AuthConfigError> {
        Ok(Self {
            client: http_client(timeout)?,
            endpoint: Endpoint::Fixed(url),
            accepted,
        })
    }

    /// Fetches the JWKS that `issuer`'s discovery document points at.
    pub(super) fn discover(
        issuer: &str,
        accepted: &'static [Algorithm],
        timeout: Duration,
    ) -> Result<Self, AuthConfigError> {
        http_url(issuer).map_err(|detail| {
            AuthConfigError::Invalid(format!(
                "cannot discover the keys of issuer {issuer:?}: {detail}"
            ))
        })?;
        Ok(Self {
            client: http_client(timeout)?,
            endpoint: Endpoint::Discovered {
                issuer: issuer.to_owned(),
                jwks_uri: None,
            },
            accepted,
        })
    }

    /// What the logs call this key source: the JWKS URL, or the issuer it is discovered from.
    pub(super) fn origin(&self) -> &str {
        match &self.endpoint {
            Endpoint::Fixed(url) => url,
            Endpoint::Discovered {
                jwks_uri: Some(url),
                ..
            } => url,
            Endpoint::Discovered { issuer, .. } => issuer,
        }
    }

    /// Fetches the key set, discovering its URL first when needed. The set may be empty.
    pub(super) async fn fetch(&mut self) -> Result<Fetched, AuthConfigError> {
        let url = match &mut self.endpoint {
            Endpoint::Fixed(url) => url.clone(),
            Endpoint::Discovered {
                jwks_uri: Some(url),
                ..
            } => url.clone(),
            Endpoint::Discovered { issuer, jwks_uri } => {
                let url = discover(&self.client, issuer).await?;
                *jwks_uri = Some(url.clone());
                url
            }
        };
        let fetched = get(&self.client, &url).await.and_then(|(body, headers)| {
            Ok(Fetched {
                keys: KeySet::parse(&body, self.accepted, &url)?,
                fresh_for: freshness(&headers),
            })
        });
        if fetched.is_err()
            && let Endpoint::Discovered { jwks_uri, .. } = &mut self.endpoint
        {
            *jwks_uri = None;
        }
        fetched
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, AuthConfigError> {
    // reqwest is built without a TLS provider and panics when building a client without one,
    // even for plain http; fail with a message instead.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        return Err(AuthConfigError::Invalid(
            "fetching a JWKS URL needs a rustls CryptoProvider installed first".into(),
        ));
    }
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .build()
        .map_err(|err| {
            AuthConfigError::Invalid(format!("cannot build the JWKS HTTP client: {err}"))
        })
}

/// The body and headers of a successful GET, at most [`MAX_DOCUMENT_BYTES`] long.
async fn get(client: &reqwest::Client, url: &str) -> Result<(Vec<u8>, HeaderMap), AuthConfigError> {
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
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(failed(format!(
                "document larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, headers))
}

/// The `jwks_uri` of `issuer`'s discovery document. As OIDC Discovery requires, the document
/// must name the same issuer, or it describes some other provider's keys.
async fn discover(client: &reqwest::Client, issuer: &str) -> Result<String, AuthConfigError> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        issuer: String,
        jwks_uri: String,
    }
    let url = format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'));
    let (body, _) = get(client, &url).await?;
    let bad = |detail: String| AuthConfigError::Keys {
        origin: url.clone(),
        detail,
    };
    let metadata: Metadata = serde_json::from_slice(&body)
        .map_err(|err| bad(format!("not an OpenID provider configuration: {err}")))?;
    if metadata.issuer != issuer {
        return Err(bad(format!(
            "the document is for issuer {:?}, not {issuer:?}",
            super::truncate(&metadata.issuer)
        )));
    }
    check_jwks_uri(issuer, &metadata.jwks_uri)
        .map_err(|detail| bad(format!("jwks_uri: {detail}")))?;
    Ok(metadata.jwks_uri)
}

/// A discovered `jwks_uri` is an http(s) URL, and https when the issuer is: a provider served
/// over https does not hand its keys out over plain http, where anyone on the path could swap them.
pub(super) fn check_jwks_uri(issuer: &str, jwks_uri: &str) -> Result<(), String> {
    let jwks = http_url(jwks_uri)?;
    if jwks.scheme() == "http" && http_url(issuer).is_ok_and(|i| i.scheme() == "https") {
        return Err(format!(
            "{:?} is plain http for an https issuer",
            super::truncate(jwks_uri)
        ));
    }
    Ok(())
}

fn http_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|err| format!("not a URL: {err}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("scheme {other:?} is not http or https")),
    }
}

/// How long a response stays fresh by its headers: `Cache-Control: max-age` less `Age`;
/// `no-cache` and `no-store` mean not at all. `None` when the headers do not say.
pub(super) fn freshness(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for directive in directives {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-cache" | "no-store" => return Some(Duration::ZERO),
            "max-age" => max_age = value.trim().trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    max_age.map(|secs: u64| Duration::from_secs(secs.saturating_sub(age)))
}

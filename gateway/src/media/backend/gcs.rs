//! The `gcs` backend: a Google Cloud Storage bucket, reached through V4 signed URLs
//! (`GOOG4-RSA-SHA256`) that we sign with the service account's RSA key (ring).
//!
//! Why our own signer: Google's Rust client (`google-cloud-storage`) does sign URLs, but brings
//! its whole gRPC/gax stack (about 30 direct dependencies) for one RSA signature over a string;
//! the algorithm is short and Google publishes conformance data for it (the tests below check it
//! against `googleapis/conformance-tests` `storage/v1/v4_signatures.json`).
//!
//! The signed PUT binds `Content-Type` and `x-goog-content-length-range: N,N`, so GCS refuses a
//! body of another type or size. The gateway's own checks also use signed URLs: the size and
//! type of an upload come from a signed one-byte `GET` (`Range: bytes=0-0`, whose
//! `Content-Range` carries the total), and a delete is a signed `DELETE`. With `endpoint` (a GCS
//! emulator), URLs point there instead and deletes use its JSON API, which emulators serve
//! without credentials (gcp-storage-emulator has no XML `DELETE`).

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use futures_util::future::BoxFuture;
use omnia_api::ApiKey;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Backend, BackendError, Download, ObjectMeta, Upload, UploadTarget, percent_encode};

const GOOGLE: &str = "https://storage.googleapis.com";
/// How long the gateway's own signed requests live.
const OWN_REQUEST_TTL: Duration = Duration::from_secs(60);
/// The gateway's own requests to the bucket take at most this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a V4 signed URL may live.
const MAX_TTL: u64 = 7 * 24 * 3600;

/// Signs V4 URLs with a service account's key.
pub struct Signer {
    email: String,
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    /// The signer of a service-account JSON key (`client_email`, `private_key` as PKCS#8 PEM).
    pub fn from_json(json: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Account {
            client_email: String,
            private_key: String,
        }
        let account: Account = serde_json::from_str(json)
            .map_err(|e| format!("the service-account key is not a JSON key file: {e}"))?;
        let body: String = account
            .private_key
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| format!("the service account's private_key is not PEM: {e}"))?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("the service account's private_key is not an RSA key: {e}"))?;
        Ok(Self {
            email: account.client_email,
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The signed URL of `method` on `path` (`/bucket/object`, already encoded) at
    /// `scheme://host`, valid `expires` seconds from `at`, covering `headers` (and `host`) and
    /// `query`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        method: &str,
        scheme: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        query: &[(&str, &str)],
        expires: u64,
        at: OffsetDateTime,
    ) -> Result<String, String> {
        let stamp = at
            .format(format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .map_err(|e| e.to_string())?;
        let day = &stamp[..8];
        let scope = format!("{day}/auto/storage/goog4_request");
        let mut canonical_headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), collapse(value)))
            .chain(std::iter::once(("host".to_owned(), host.to_owned())))
            .collect();
        canonical_headers.sort();
        let signed_headers = canonical_headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let credential = format!("{}/{scope}", self.email);
        let expires = expires.min(MAX_TTL).to_string();
        let mut params: Vec<(String, String)> = [
            ("X-Goog-Algorithm", "GOOG4-RSA-SHA256"),
            ("X-Goog-Credential", credential.as_str()),
            ("X-Goog-Date", stamp.as_str()),
            ("X-Goog-Expires", expires.as_str()),
            ("X-Goog-SignedHeaders", signed_headers.as_str()),
        ]
        .iter()
        .chain(query)
        .map(|(k, v)| (percent_encode(k, true), percent_encode(v, true)))
        .collect();
        params.sort();
        let canonical_query = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut canonical = format!("{method}\n{path}\n{canonical_query}\n");
        for (name, value) in &canonical_headers {
            let _ = writeln!(canonical, "{name}:{value}");
        }
        let _ = write!(canonical, "\n{signed_headers}\nUNSIGNED-PAYLOAD");
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        let to_sign = format!(
            "GOOG4-RSA-SHA256\n{stamp}\n{scope}\n{}",
            hex(digest.as_ref())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                to_sign.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "the RSA signature failed".to_owned())?;
        Ok(format!(
            "{scheme}://{host}{path}?{canonical_query}&X-Goog-Signature={}",
            hex(&signature)
        ))
    }
}

/// A header value as V4 signs it: trimmed, inner runs of whitespace made one space, and
/// lower-cased (Google's conformance cases sign `BAR-value` as `bar-value`).
fn collapse(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

pub struct GcsBackend {
    signer: Signer,
    bucket: String,
    scheme: String,
    /// `storage.googleapis.com`, or the emulator's `host:port`.
    host: String,
    /// The emulator's base URL, for its JSON API.
    emulator: Option<String>,
    http: reqwest::Client,
    name: String,
}

impl std::fmt::Debug for GcsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsBackend")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl GcsBackend {
    /// The backend of `bucket`; the service-account JSON key is required (it signs every URL).
    pub fn new(
        bucket: &str,
        service_account: Option<&ApiKey>,
        endpoint: Option<&str>,
    ) -> Result<Self, String> {
        let account = service_account.ok_or_else(|| {
            format!(
                "the GCS bucket {bucket} needs a service-account JSON key to sign URLs: set \
                 spec.media.storage.secretRef (key GOOGLE_APPLICATION_CREDENTIALS_JSON)"
            )
        })?;
        let signer = Signer::from_json(account.expose())?;
        let base = endpoint.unwrap_or(GOOGLE).trim_end_matches('/');
        let url = reqwest::Url::parse(base).map_err(|e| format!("`{base}` is not a URL: {e}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(format!("`{base}` has no host")),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the GCS HTTP client: {e}"))?;
        Ok(Self {
            signer,
            bucket: bucket.to_owned(),
            scheme: url.scheme().to_owned(),
            host,
            emulator: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            http,
            name: format!("gs://{bucket}"),
        })
    }

    fn path(&self, key: &str) -> String {
        format!("/{}/{}", self.bucket, percent_encode(key, false))
    }

    fn signed(
        &self,
        method: &str,
        key: &str,
        headers: &[(&str, &str)],
        query: &[(&str, &str)],
        ttl: Duration,
    ) -> Result<String, BackendError> {
        self.signer
            .sign(
                method,
                &self.scheme,
                &self.host,
                &self.path(key),
                headers,
                query,
                ttl.as_secs(),
                OffsetDateTime::now_utc(),
            )
            .map_err(|e| self.failed("cannot sign", e))
    }

    fn failed(&self, what: &str, why: impl std::fmt::Display) -> BackendError {
        BackendError(format!("{}: {what}: {why}", self.name))
    }
}

impl Backend for GcsBackend {
    fn kind(&self) -> &'static str {
        "gcs"
    }

    fn upload_target<'a>(
        &'a self,
        upload: Upload<'a>,
    ) -> BoxFuture<'a, Result<Option<UploadTarget>, BackendError>> {
        Box::pin(async move {
            let range = format!("{0},{0}", upload.size);
            let headers = [
                ("content-type", upload.mime_type),
                ("x-goog-content-length-range", range.as_str()),
            ];
            let url = self.signed("PUT", upload.key, &headers, &[], upload.ttl)?;
            Ok(Some(UploadTarget {
                url,
                method: "PUT",
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            }))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, BackendError>> {
        Box::pin(async move {
            let url = self.signed("GET", key, &[("range", "bytes=0-0")], &[], OWN_REQUEST_TTL)?;
            let response = self
                .http
                .get(url)
                .header("range", "bytes=0-0")
                .send()
                .await
                .map_err(|e| self.failed("GET", e.without_url()))?;
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            match response.status().as_u16() {
                206 => {
                    let size = header("content-range")
                        .and_then(|r| r.rsplit('/').next()?.parse().ok())
                        .ok_or_else(|| self.failed("GET", "no total in Content-Range"))?;
                    Ok(Some(ObjectMeta {
                        size,
                        content_type: header("content-type"),
                    }))
                }
                // A one-byte object answers the range whole.
                200 => Ok(Some(ObjectMeta {
                    size: header("content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0),
                    content_type: header("content-type"),
                })),
                404 => Ok(None),
                status => Err(self.failed("GET", format!("HTTP {status}"))),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let request = match &self.emulator {
                Some(base) => self.http.delete(format!(
                    "{base}/storage/v1/b/{}/o/{}",
                    self.bucket,
                    percent_encode(key, true)
                )),
                None => self
                    .http
                    .delete(self.signed("DELETE", key, &[], &[], OWN_REQUEST_TTL)?),
            };
            let response = request
                .send()
                .await
                .map_err(|e| self.failed("DELETE", e.without_url()))?;
            match response.status().as_u16() {
                200 | 204 | 404 => Ok(()),
                status => Err(self.failed("DELETE", format!("HTTP {status}"))),
            }
        })
    }

    fn download<'a>(
        &'a self,
        key: &'a str,
        filename: &'a str,
        mime_type: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Download, BackendError>> {
        Box::pin(async move {
            let disposition = super::disposition(filename, mime_type);
            let query = [
                ("response-content-disposition", disposition.as_str()),
                ("response-content-type", mime_type),
            ];
            Ok(Download::Redirect(self.signed(
                "GET",
                key,
                &[],
                &query,
                ttl,
            )?))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::Value;
    use time::format_description::well_known::Rfc3339;

    use super::*;

    /// Google's dummy (inactive) service account and a selection of its V4 signing cases, from
    /// `googleapis/conformance-tests` (`storage/v1/service-account`, `v4_signatures.json`).
    const ACCOUNT: &str = include_str!("../../../tests/fixtures/gcs/service-account.json");
    const CASES: &str = include_str!("../../../tests/fixtures/gcs/v4_signatures.json");

    #[test]
    fn signatures_match_googles_conformance_cases() {
        let signer = Signer::from_json(ACCOUNT).unwrap();
        let cases: Vec<Value> = serde_json::from_str(CASES).unwrap();
        assert!(cases.len() >= 5);
        for case in &cases {
            let text = |k: &str| case[k].as_str().unwrap_or_default().to_owned();
            let pairs = |k: &str| -> Vec<(String, String)> {
                case[k]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let headers = pairs("headers");
            let query = pairs("queryParameters");
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let query: Vec<(&str, &str)> = query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let path = match case["object"].as_str() {
                Some(object) => format!("/{}/{}", text("bucket"), percent_encode(object, false)),
                None => format!("/{}", text("bucket")),
            };
            let url = signer
                .sign(
                    &text("method"),
                    "https",
                    "storage.googleapis.com",
                    &path,
                    &headers,
                    &query,
                    text("expiration").parse().unwrap(),
                    OffsetDateTime::parse(&text("timestamp"), &Rfc3339).unwrap(),
                )
                .unwrap();
            assert_eq!(url, text("expectedUrl"), "{}", text("description"));
        }
    }

    #[test]
    fn a_key_that_is_not_a_service_account_is_refused() {
        assert!(Signer::from_json("{}").is_err());
        let broken = r#"{"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#;
        let error = Signer::from_json(broken).err().unwrap();
        assert!(error.contains("not an RSA key"), "{error}");
    }
}

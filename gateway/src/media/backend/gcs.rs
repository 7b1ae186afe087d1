//! The `gcs` backend: a Google Cloud Storage bucket, reached through V4 signed URLs that we sign:
//! `GOOG4-HMAC-SHA256` with an HMAC key when the Secret has one (as cheap as SigV4), else
//! `GOOG4-RSA-SHA256` with the service account's RSA key (ring; one RSA-2048 operation per URL,
//! about 0.55 ms here, see BENCHMARKS.md).
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

use super::{
    Backend, BackendError, Download, ObjectMeta, Upload, UploadTarget, delete_answer,
    percent_encode,
};

const GOOGLE: &str = "https://storage.googleapis.com";
/// How long the gateway's own signed requests live.
const OWN_REQUEST_TTL: Duration = Duration::from_secs(60);
/// The longest a V4 signed URL may live.
const MAX_TTL: u64 = 7 * 24 * 3600;

/// The names a V4 signature uses: Google's, or (for the cross-check in the tests) AWS's, whose
/// SigV4 is the same algorithm under other names.
#[derive(Debug, Clone, Copy)]
struct Names {
    /// `GOOG4`: the algorithm's prefix and the HMAC key's.
    vendor: &'static str,
    /// `X-Goog-`.
    params: &'static str,
    region: &'static str,
    service: &'static str,
    /// `goog4_request`.
    request: &'static str,
}

const GOOGLE_NAMES: Names = Names {
    vendor: "GOOG4",
    params: "X-Goog-",
    region: "auto",
    service: "storage",
    request: "goog4_request",
};

/// What signs.
enum Key {
    /// A service account's RSA key (`GOOG4-RSA-SHA256`): one RSA-2048 operation per URL.
    Rsa {
        key: Box<RsaKeyPair>,
        rng: SystemRandom,
    },
    /// An HMAC key (`GOOG4-HMAC-SHA256`, GCS's interoperability keys): as cheap as SigV4.
    Hmac { secret: String },
}

/// Signs V4 URLs.
pub struct Signer {
    /// The service account's email, or the HMAC key's access id.
    id: String,
    key: Key,
    names: Names,
}

impl Signer {
    /// The signer of an HMAC key: its access id and secret.
    pub fn hmac(access_id: &str, secret: &str) -> Self {
        Self {
            id: access_id.to_owned(),
            key: Key::Hmac {
                secret: secret.to_owned(),
            },
            names: GOOGLE_NAMES,
        }
    }

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
            id: account.client_email,
            key: Key::Rsa {
                key: Box::new(key),
                rng: SystemRandom::new(),
            },
            names: GOOGLE_NAMES,
        })
    }

    fn algorithm(&self) -> String {
        match self.key {
            Key::Rsa { .. } => format!("{}-RSA-SHA256", self.names.vendor),
            Key::Hmac { .. } => format!("{}-HMAC-SHA256", self.names.vendor),
        }
    }

    /// The hex signature of `to_sign` for the day `day` (`YYYYMMDD`).
    fn signature(&self, day: &str, to_sign: &str) -> Result<String, String> {
        match &self.key {
            Key::Rsa { key, rng } => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, rng, to_sign.as_bytes(), &mut signature)
                    .map_err(|_| "the RSA signature failed".to_owned())?;
                Ok(hex(&signature))
            }
            Key::Hmac { secret } => {
                let names = self.names;
                let first = format!("{}{secret}", names.vendor);
                let mut key = hmac(first.as_bytes(), day.as_bytes())?;
                for part in [names.region, names.service, names.request] {
                    key = hmac(&key, part.as_bytes())?;
                }
                Ok(hex(&hmac(&key, to_sign.as_bytes())?))
            }
        }
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
        let names = self.names;
        let scope = format!("{day}/{}/{}/{}", names.region, names.service, names.request);
        let algorithm = self.algorithm();
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
        let credential = format!("{}/{scope}", self.id);
        let expires = expires.min(MAX_TTL).to_string();
        let own = [
            ("Algorithm", algorithm.as_str()),
            ("Credential", credential.as_str()),
            ("Date", stamp.as_str()),
            ("Expires", expires.as_str()),
            ("SignedHeaders", signed_headers.as_str()),
        ];
        let mut params: Vec<(String, String)> = own
            .iter()
            .map(|(k, v)| (format!("{}{k}", names.params), *v))
            .chain(query.iter().map(|(k, v)| ((*k).to_owned(), *v)))
            .map(|(k, v)| (percent_encode(&k, true), percent_encode(v, true)))
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
        let to_sign = format!("{algorithm}\n{stamp}\n{scope}\n{}", hex(digest.as_ref()));
        let signature = self.signature(day, &to_sign)?;
        Ok(format!(
            "{scheme}://{host}{path}?{canonical_query}&{}Signature={signature}",
            names.params
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

fn hmac(key: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
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
    /// The backend of `bucket`, signing with the HMAC key when there is one, else the
    /// service-account JSON key; one of them is required (it signs every URL).
    pub fn new(
        bucket: &str,
        service_account: Option<&ApiKey>,
        hmac: Option<&(String, ApiKey)>,
        endpoint: Option<&str>,
    ) -> Result<Self, String> {
        let signer = match (hmac, service_account) {
            (Some((id, secret)), _) => Signer::hmac(id, secret.expose()),
            (None, Some(account)) => Signer::from_json(account.expose())?,
            (None, None) => {
                return Err(format!(
                    "the GCS bucket {bucket} needs a key to sign URLs: set \
                     spec.media.storage.secretRef to a Secret with GCS_HMAC_ACCESS_ID and \
                     GCS_HMAC_SECRET, or with GOOGLE_APPLICATION_CREDENTIALS_JSON"
                ));
            }
        };
        let base = endpoint.unwrap_or(GOOGLE).trim_end_matches('/');
        let url = reqwest::Url::parse(base).map_err(|e| format!("`{base}` is not a URL: {e}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(format!("`{base}` has no host")),
        };
        let http = super::http_client("GCS")?;
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
            delete_answer(&self.name, response.status().as_u16())
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
    fn the_hmac_signature_is_sigv4_under_googles_names() {
        // GOOG4-HMAC-SHA256 is AWS SigV4 with Google's names: signed with AWS's names, ours must
        // equal aws-sigv4's signature of the same request.
        use aws_sigv4::http_request::{
            SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
        };
        let aws = Names {
            vendor: "AWS4",
            params: "X-Amz-",
            region: "us-east-1",
            service: "s3",
            request: "aws4_request",
        };
        let (id, secret) = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let signer = Signer {
            id: id.into(),
            key: Key::Hmac {
                secret: secret.into(),
            },
            names: aws,
        };
        let at = OffsetDateTime::parse("2013-05-24T00:00:00Z", &Rfc3339).unwrap();
        let headers = [("content-type", "image/png"), ("content-length", "4")];
        let ours = signer
            .sign(
                "PUT",
                "https",
                "examplebucket.s3.amazonaws.com",
                "/sessions/s/media/m",
                &headers,
                &[],
                900,
                at,
            )
            .unwrap();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(900));
        let identity = aws_credential_types::Credentials::new(id, secret, None, None, "t").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new(
            "PUT",
            "https://examplebucket.s3.amazonaws.com/sessions/s/media/m",
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .unwrap();
        let (instructions, signature) = sign(request, &params).unwrap().into_parts();
        assert!(
            ours.ends_with(&format!("&X-Amz-Signature={signature}")),
            "{ours} vs {signature}"
        );
        let signed_headers = instructions
            .params()
            .iter()
            .find(|(k, _)| *k == "X-Amz-SignedHeaders")
            .map(|(_, v)| v.to_string())
            .unwrap();
        assert!(
            ours.contains(&format!(
                "X-Amz-SignedHeaders={}",
                signed_headers.replace(';', "%3B")
            )),
            "{ours}"
        );
    }

    #[test]
    fn a_key_that_is_not_a_service_account_is_refused() {
        assert!(Signer::from_json("{}").is_err());
        let broken = r#"{"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#;
        let error = Signer::from_json(broken).err().unwrap();
        assert!(error.contains("not an RSA key"), "{error}");
    }
}

//! The `azure` backend: an Azure Blob Storage container, or Azurite (`endpoint`, addressed
//! path-style: `{endpoint}/{account}/{container}/{blob}`). Every request carries a service SAS for
//! its one blob (`sr=b`): the client's upload and download, and the gateway's own `HEAD` and
//! `DELETE`, which it sends through its pooled `reqwest` client.
//!
//! We sign the SAS ourselves (HMAC-SHA256 of Azure's string-to-sign with the account key) because
//! no maintained crate signs a service SAS with a shared key: the official `azure_storage_sas`
//! builds user-delegation SAS only (which needs an Entra ID token), the unofficial
//! `azure_storage_blobs` is abandoned and brings an HTTP stack of its own, and `object_store`
//! cannot sign the response headers a download needs (docs/media-crates.md, section 2).
//!
//! The upload SAS grants `c` (create) alone, so an upload URL writes a new blob and cannot
//! overwrite one. A SAS cannot bind the body's size or type: the upload URL stores whatever is
//! sent, and it is confirmation's `HEAD` check (`routes::confirm`) that enforces the declared
//! size and type, deleting a blob that is not what was declared. The download SAS grants `r` and
//! signs the file's name (`rscd`) and type (`rsct`), which the service then answers with.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use omnia_api::ApiKey;
use sha2::Sha256;
use time::{OffsetDateTime, UtcOffset};

use super::{
    Backend, BackendError, Download, ObjectMeta, Upload, UploadTarget, delete_answer, head_answer,
};

/// The SAS version (`sv`), which also sets the REST API version of the request it signs; any
/// version from 2020-12-06 on has the string-to-sign below.
const SAS_VERSION: &str = "2022-11-02";
/// How long the gateway's own `HEAD` and `DELETE` SAS live.
const OWN_REQUEST_TTL: Duration = Duration::from_secs(60);
/// How far back a SAS starts: the storage service's clock may be behind ours, and a SAS whose
/// start is still in its future is refused.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

pub struct AzureBackend {
    account: String,
    container: String,
    /// The account key, decoded: the HMAC key.
    key: Vec<u8>,
    /// The container's URL, without a trailing `/`.
    container_url: String,
    /// Whether the endpoint is `https`: a SAS then allows `https` only (`spr`).
    https: bool,
    http: reqwest::Client,
    /// `azure://account/container` or `azure://account/container at endpoint`, for messages.
    name: String,
}

impl std::fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBackend")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What one SAS allows on its blob, and when.
#[derive(Debug, Clone, Copy)]
struct Grant<'a> {
    /// `sp`, letters in Azure's canonical order (`racwd...`).
    permissions: &'static str,
    start: OffsetDateTime,
    expiry: OffsetDateTime,
    /// `rscd`: the `Content-Disposition` the service answers a GET with.
    content_disposition: Option<&'a str>,
    /// `rsct`: the `Content-Type` the service answers a GET with.
    content_type: Option<&'a str>,
}

impl AzureBackend {
    /// The backend of `container` in `account`, signing with the account `key` (base64) from the
    /// agent's Secret or `OMNIA_MEDIA_AZURE_KEY`; with `endpoint` (Azurite), addressed path-style.
    pub fn new(
        account: &str,
        container: &str,
        endpoint: Option<&str>,
        key: Option<&ApiKey>,
    ) -> Result<Self, String> {
        let Some(key) = key else {
            return Err(format!(
                "no account key for the Azure container {account}/{container}: set \
                 spec.media.storage.secretRef (a Secret with AZURE_STORAGE_KEY), or \
                 OMNIA_MEDIA_AZURE_KEY"
            ));
        };
        // The message names where the key comes from, never the key.
        let key = STANDARD
            .decode(key.expose().trim())
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                format!(
                    "the account key for the Azure container {account}/{container} \
                     (spec.media.storage.secretRef or OMNIA_MEDIA_AZURE_KEY) is not base64"
                )
            })?;
        let (container_url, https, name) = match endpoint.map(|e| e.trim_end_matches('/')) {
            Some(endpoint) => (
                format!(
                    "{endpoint}/{}/{}",
                    encode(account, false),
                    encode(container, false)
                ),
                endpoint
                    .get(..8)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
                format!("azure://{account}/{container} at {endpoint}"),
            ),
            None => (
                format!(
                    "https://{}.blob.core.windows.net/{}",
                    encode(account, false),
                    encode(container, false)
                ),
                true,
                format!("azure://{account}/{container}"),
            ),
        };
        let http = super::http_client("Azure")?;
        Ok(Self {
            account: account.to_owned(),
            container: container.to_owned(),
            key,
            container_url,
            https,
            http,
            name,
        })
    }

    fn failed(&self, what: &str, why: impl std::fmt::Display) -> BackendError {
        BackendError(format!("{}: {what}: {why}", self.name))
    }

    /// The blob's URL, without a SAS: each segment of the name percent-encoded, `/` kept.
    fn blob_url(&self, blob: &str) -> String {
        format!("{}/{}", self.container_url, encode(blob, true))
    }

    /// A grant of `permissions` from `now` (less the clock skew) for `ttl`.
    fn grant(
        &self,
        permissions: &'static str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Grant<'static>, BackendError> {
        let expiry = time::Duration::try_from(ttl)
            .ok()
            .and_then(|ttl| now.checked_add(ttl))
            .ok_or_else(|| self.failed("cannot sign", "the URL lifetime is out of range"))?;
        let start = now
            .checked_sub(CLOCK_SKEW)
            .ok_or_else(|| self.failed("cannot sign", "the clock is out of range"))?;
        Ok(Grant {
            permissions,
            start,
            expiry,
            content_disposition: None,
            content_type: None,
        })
    }

    /// What a service SAS signs, version 2020-12-06 and later: 16 fields, un-encoded, absent ones
    /// empty. The resource is `/blob/{account}/{container}/{blob}` whatever the endpoint.
    fn string_to_sign(&self, blob: &str, grant: &Grant<'_>) -> String {
        let resource = format!("/blob/{}/{}/{blob}", self.account, self.container);
        let (start, expiry) = (timestamp(grant.start), timestamp(grant.expiry));
        [
            grant.permissions,
            &start,
            &expiry,
            &resource,
            "", // si: no stored access policy
            "", // sip: any address
            self.protocol(),
            SAS_VERSION,
            "b", // sr: one blob
            "",  // snapshot time
            "",  // ses: no encryption scope
            "",  // rscc
            grant.content_disposition.unwrap_or_default(),
            "", // rsce
            "", // rscl
            grant.content_type.unwrap_or_default(),
        ]
        .join("\n")
    }

    /// `spr`: `https` only when the endpoint is (Azurite speaks plain HTTP).
    fn protocol(&self) -> &'static str {
        if self.https { "https" } else { "" }
    }

    /// The SAS query string: every field the string-to-sign has a value for, and the signature.
    fn sas(&self, blob: &str, grant: &Grant<'_>) -> Result<String, BackendError> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).map_err(|e| self.failed("cannot sign", e))?;
        mac.update(self.string_to_sign(blob, grant).as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        let (start, expiry) = (timestamp(grant.start), timestamp(grant.expiry));
        let mut fields = vec![
            ("sv", SAS_VERSION),
            ("sr", "b"),
            ("sp", grant.permissions),
            ("st", &start),
            ("se", &expiry),
        ];
        if self.https {
            fields.push(("spr", "https"));
        }
        if let Some(disposition) = grant.content_disposition {
            fields.push(("rscd", disposition));
        }
        if let Some(content_type) = grant.content_type {
            fields.push(("rsct", content_type));
        }
        fields.push(("sig", &signature));
        Ok(fields
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value, false)))
            .collect::<Vec<_>>()
            .join("&"))
    }

    /// The blob's URL with a SAS of `grant`.
    fn signed_url(&self, blob: &str, grant: &Grant<'_>) -> Result<String, BackendError> {
        Ok(format!(
            "{}?{}",
            self.blob_url(blob),
            self.sas(blob, grant)?
        ))
    }

    /// Sends a request of the gateway's own, under a short SAS of `permissions`.
    async fn send(
        &self,
        what: &str,
        method: reqwest::Method,
        blob: &str,
        permissions: &'static str,
    ) -> Result<reqwest::Response, BackendError> {
        let grant = self.grant(permissions, OffsetDateTime::now_utc(), OWN_REQUEST_TTL)?;
        let url = self.signed_url(blob, &grant)?;
        self.http
            .request(method, url)
            .send()
            .await
            // The URL carries the SAS: it stays out of the message.
            .map_err(|e| self.failed(what, e.without_url()))
    }
}

impl Backend for AzureBackend {
    fn kind(&self) -> &'static str {
        "azure"
    }

    fn upload_target<'a>(
        &'a self,
        upload: Upload<'a>,
    ) -> BoxFuture<'a, Result<Option<UploadTarget>, BackendError>> {
        Box::pin(async move {
            let grant = self.grant("c", OffsetDateTime::now_utc(), upload.ttl)?;
            Ok(Some(UploadTarget {
                url: self.signed_url(upload.key, &grant)?,
                method: "PUT",
                headers: vec![
                    // Put Blob requires the type; the content type is stored with the blob,
                    // where confirmation checks it.
                    ("x-ms-blob-type".to_owned(), "BlockBlob".to_owned()),
                    ("content-type".to_owned(), upload.mime_type.to_owned()),
                ],
            }))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, BackendError>> {
        Box::pin(async move {
            let response = self.send("HEAD", reqwest::Method::HEAD, key, "r").await?;
            head_answer(&self.name, &response)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let response = self
                .send("DELETE", reqwest::Method::DELETE, key, "d")
                .await?;
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
            let grant = Grant {
                content_disposition: Some(&disposition),
                content_type: Some(mime_type),
                ..self.grant("r", OffsetDateTime::now_utc(), ttl)?
            };
            Ok(Download::Redirect(self.signed_url(key, &grant)?))
        })
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, in UTC: the form a SAS signs its times in.
fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Percent-encodes all but the unreserved characters (and `/` when `keep_slash`, for paths).
/// Spaces become `%20`, not `+`, which Azure would not read back as a space in a path.
fn encode(value: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep_slash && byte == b'/' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    /// Azurite's well-known development account key.
    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    const NOW: OffsetDateTime = datetime!(2025-01-02 03:04:05 UTC);

    fn backend(endpoint: Option<&str>) -> AzureBackend {
        AzureBackend::new(
            "devstoreaccount1",
            "media",
            endpoint,
            Some(&ApiKey::new(DEV_KEY)),
        )
        .unwrap()
    }

    fn download_grant<'a>(backend: &AzureBackend, disposition: &'a str) -> Grant<'a> {
        Grant {
            content_disposition: Some(disposition),
            content_type: Some("application/pdf"),
            ..backend.grant("r", NOW, Duration::from_secs(3600)).unwrap()
        }
    }

    const DISPOSITION: &str = "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf";
    const BLOB: &str = "uploads/sessions/s-1/media/m-1";

    #[test]
    fn the_string_to_sign_has_the_sixteen_fields_in_order() {
        let azurite = backend(Some("http://127.0.0.1:10000"));
        assert_eq!(
            azurite.string_to_sign(BLOB, &download_grant(&azurite, DISPOSITION)),
            "r\n2025-01-02T02:59:05Z\n2025-01-02T04:04:05Z\n\
             /blob/devstoreaccount1/media/uploads/sessions/s-1/media/m-1\n\
             \n\n\n2022-11-02\nb\n\n\n\n\
             attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf\n\
             \n\napplication/pdf"
        );
        // Over https the SAS is for https only, and signs that.
        let azure = backend(None);
        let upload = azure.grant("c", NOW, Duration::from_secs(900)).unwrap();
        assert_eq!(
            azure.string_to_sign(BLOB, &upload),
            "c\n2025-01-02T02:59:05Z\n2025-01-02T03:19:05Z\n\
             /blob/devstoreaccount1/media/uploads/sessions/s-1/media/m-1\n\
             \n\nhttps\n2022-11-02\nb\n\n\n\n\n\n\n"
        );
    }

    #[test]
    fn the_signature_is_the_one_azurite_computes() {
        let azurite = backend(Some("http://127.0.0.1:10000"));
        let query = azurite
            .sas(BLOB, &download_grant(&azurite, DISPOSITION))
            .unwrap();
        let fields: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        // Computed independently, by Azurite 3.35's own validator
        // (`generateBlobSASSignature` in dist/src/blob/authentication/IBlobSASSignatureValues.js)
        // on these values and the development key.
        let expected_sig = "fPsMKwjSBwTw19gTo6IxZotgSXlWOXme35fXzmUxfUc=";
        assert_eq!(
            fields,
            [
                ("sv", "2022-11-02"),
                ("sr", "b"),
                ("sp", "r"),
                ("st", "2025-01-02T02:59:05Z"),
                ("se", "2025-01-02T04:04:05Z"),
                ("rscd", DISPOSITION),
                ("rsct", "application/pdf"),
                ("sig", expected_sig),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // Nothing in the query is left for a reader to take as a space or a separator.
        assert!(!query.contains(' ') && !query.contains('+'), "{query}");
    }

    #[test]
    fn an_https_sas_says_so_in_its_query() {
        let azure = backend(None);
        let upload = azure.grant("c", NOW, Duration::from_secs(900)).unwrap();
        let query = azure.sas(BLOB, &upload).unwrap();
        let names: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
        assert_eq!(names, ["sv", "sr", "sp", "st", "se", "spr", "sig"]);
        assert!(query.contains("&spr=https&"), "{query}");
    }

    #[test]
    fn blob_urls_are_path_style_on_an_endpoint_and_encoded_per_segment() {
        assert_eq!(
            backend(Some("http://127.0.0.1:10000/")).blob_url("a b/ü+%.txt"),
            "http://127.0.0.1:10000/devstoreaccount1/media/a%20b/%C3%BC%2B%25.txt"
        );
        assert_eq!(
            backend(None).blob_url(BLOB),
            "https://devstoreaccount1.blob.core.windows.net/media/\
             uploads/sessions/s-1/media/m-1"
        );
        let signed = backend(None)
            .signed_url(
                BLOB,
                &backend(None)
                    .grant("r", NOW, Duration::from_secs(60))
                    .unwrap(),
            )
            .unwrap();
        assert!(
            signed.starts_with(
                "https://devstoreaccount1.blob.core.windows.net/media/\
                 uploads/sessions/s-1/media/m-1?sv=2022-11-02&sr=b&sp=r&\
                 st=2025-01-02T02%3A59%3A05Z&se=2025-01-02T03%3A05%3A05Z&spr=https&sig="
            ),
            "{signed}"
        );
        assert!(backend(Some("HTTPS://example.test")).https);
        assert!(!backend(Some("http://127.0.0.1:10000")).https);
    }

    #[test]
    fn the_key_is_required_and_must_be_base64() {
        let missing = AzureBackend::new("acct", "media", None, None).unwrap_err();
        assert!(
            missing.contains("spec.media.storage.secretRef")
                && missing.contains("OMNIA_MEDIA_AZURE_KEY"),
            "{missing}"
        );
        let garbled = AzureBackend::new("acct", "media", None, Some(&ApiKey::new("s3cr3t key!")))
            .unwrap_err();
        assert!(
            garbled.contains("not base64") && garbled.contains("OMNIA_MEDIA_AZURE_KEY"),
            "{garbled}"
        );
        assert!(!garbled.contains("s3cr3t"), "the key is in {garbled}");
    }

    #[test]
    fn a_lifetime_past_the_calendar_is_an_error_not_a_panic() {
        let azure = backend(None);
        let error = azure.grant("r", NOW, Duration::MAX).unwrap_err();
        assert!(
            error.0.contains("azure://devstoreaccount1/media"),
            "{error}"
        );
    }
}

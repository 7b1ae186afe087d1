//! The `s3` backend: an S3 bucket, or any S3-compatible server (`endpoint`, addressed
//! path-style). Every request is presigned (SigV4 in the query string, pure local computation)
//! with `aws-sigv4`, the signer `aws-sdk-s3` itself uses: the client's upload and download, and
//! the gateway's own `HEAD` and `DELETE`, which it sends through its pooled `reqwest` client.
//!
//! Why the signer and not `aws-sdk-s3`'s presigner: the SDK runs its whole request pipeline
//! (interceptors, endpoint rules, config layers) for each URL, about 50 µs of CPU, which capped
//! `request-upload` at 15,000 per second on one core (BENCHMARKS.md, media); the same signature
//! straight from `aws-sigv4` costs a fraction of that.
//!
//! The signed PUT binds `Content-Type` and `Content-Length`: S3 refuses a body of another size or
//! type (403), so what was declared is what can be stored. The signed GET names the file
//! (`response-content-disposition`) and its type.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use futures_util::future::BoxFuture;
use omnia_api::S3Credentials;

use super::{
    Backend, BackendError, Download, ObjectMeta, Upload, UploadTarget, delete_answer, head_answer,
    percent_encode,
};

/// How long the gateway's own presigned `HEAD` and `DELETE` live.
const OWN_REQUEST_TTL: Duration = Duration::from_secs(60);
/// The longest a SigV4 presigned URL may live.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct S3Backend {
    credentials: Credentials,
    region: String,
    /// The bucket's URL, without a trailing `/`: `{endpoint}/{bucket}` (path style) or
    /// `https://{bucket}.s3.{region}.amazonaws.com`.
    bucket_url: String,
    http: reqwest::Client,
    /// `s3://bucket` or `s3://bucket at endpoint`, for messages.
    name: String,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl S3Backend {
    /// The backend of `bucket`; credentials from the agent's Secret, else the standard
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) variables.
    pub fn new(
        bucket: &str,
        region: &str,
        endpoint: Option<&str>,
        credentials: Option<&S3Credentials>,
    ) -> Result<Self, String> {
        let credentials = match credentials {
            Some(c) => Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.expose().to_owned(),
                None,
                None,
                "omnia-secret",
            ),
            None => {
                let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let (Some(id), Some(secret)) =
                    (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
                else {
                    return Err(format!(
                        "no credentials for the S3 bucket {bucket}: set spec.media.storage.\
                         secretRef, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    ));
                };
                Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "environment")
            }
        };
        let bucket_url = match endpoint {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        let http = super::http_client("S3")?;
        Ok(Self {
            credentials,
            region: region.to_owned(),
            bucket_url,
            http,
            name: match endpoint {
                Some(endpoint) => format!("s3://{bucket} at {endpoint}"),
                None => format!("s3://{bucket}"),
            },
        })
    }

    fn failed(&self, what: &str, why: impl std::fmt::Display) -> BackendError {
        BackendError(format!("{}: {what}: {why}", self.name))
    }

    /// The presigned URL of `method` on `key` (with `query`, signed too), valid for `ttl`,
    /// covering `headers` (and `host`), which the request must then carry as they are.
    fn presign(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        ttl: Duration,
    ) -> Result<String, BackendError> {
        let mut url = format!("{}/{}", self.bucket_url, percent_encode(key, false));
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(name, true));
            url.push('=');
            url.push_str(&percent_encode(value, true));
        }
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl.min(MAX_TTL));
        // S3's canonical form: the path encoded once, and not normalised (a key may hold `//`).
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| self.failed("cannot presign", e))?
            .into();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| self.failed("cannot presign", e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| self.failed("cannot presign", e))?
            .into_parts();
        let mut request = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(())
            .map_err(|e| self.failed("cannot presign", e))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }

    /// Sends a presigned request of the gateway's own.
    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
    ) -> Result<reqwest::Response, BackendError> {
        let what = method.to_string();
        self.http
            .request(method, url)
            .send()
            .await
            .map_err(|e| self.failed(&what, e.without_url()))
    }
}

impl Backend for S3Backend {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn upload_target<'a>(
        &'a self,
        upload: Upload<'a>,
    ) -> BoxFuture<'a, Result<Option<UploadTarget>, BackendError>> {
        let size = upload.size.to_string();
        let headers = [
            ("content-length", size.as_str()),
            ("content-type", upload.mime_type),
        ];
        let signed = self.presign("PUT", upload.key, &[], &headers, upload.ttl);
        let target = signed.map(|url| {
            Some(UploadTarget {
                url,
                method: "PUT",
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            })
        });
        Box::pin(async move { target })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, BackendError>> {
        Box::pin(async move {
            let url = self.presign("HEAD", key, &[], &[], OWN_REQUEST_TTL)?;
            let response = self.send(reqwest::Method::HEAD, url).await?;
            head_answer(&self.name, &response)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let url = self.presign("DELETE", key, &[], &[], OWN_REQUEST_TTL)?;
            let response = self.send(reqwest::Method::DELETE, url).await?;
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
            let url = self.presign("GET", key, &query, &[], ttl)?;
            Ok(Download::Redirect(url))
        })
    }
}

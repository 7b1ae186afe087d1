//! The `s3` backend: an S3 bucket, or any S3-compatible server (`endpoint`, addressed
//! path-style). Every request is presigned with `aws-sdk-s3` (SigV4, pure local computation):
//! the client's upload and download, and the gateway's own `HEAD` and `DELETE`, which it sends
//! through its pooled `reqwest` client rather than the SDK's, so the SDK brings no HTTP client or
//! TLS stack of its own.
//!
//! The signed PUT binds `Content-Type` and `Content-Length`: S3 refuses a body of another size or
//! type (403), so what was declared is what can be stored. The signed GET names the file
//! (`response-content-disposition`) and its type.

use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use futures_util::future::BoxFuture;
use omnia_api::S3Credentials;

use super::{Backend, BackendError, Download, ObjectMeta, Upload, UploadTarget};

/// How long the gateway's own presigned `HEAD` and `DELETE` live.
const OWN_REQUEST_TTL: Duration = Duration::from_secs(60);
/// The gateway's own requests to the bucket take at most this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct S3Backend {
    client: aws_sdk_s3::Client,
    bucket: String,
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
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        // reqwest is built without a TLS provider; the gateway installs ring at start-up, tests
        // may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the S3 HTTP client: {e}"))?;
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: bucket.to_owned(),
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

    fn presigning(&self, ttl: Duration) -> Result<PresigningConfig, BackendError> {
        PresigningConfig::expires_in(ttl).map_err(|e| self.failed("cannot presign", e))
    }

    /// Sends a presigned request of the gateway's own: its status and headers.
    async fn send(
        &self,
        what: &str,
        presigned: PresignedRequest,
    ) -> Result<reqwest::Response, BackendError> {
        let method = reqwest::Method::from_bytes(presigned.method().as_bytes())
            .map_err(|e| self.failed(what, e))?;
        let mut request = self.http.request(method, presigned.uri());
        for (name, value) in presigned.headers() {
            request = request.header(name, value);
        }
        request
            .send()
            .await
            .map_err(|e| self.failed(what, e.without_url()))
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
        Box::pin(async move {
            let size = i64::try_from(upload.size).map_err(|e| self.failed("size", e))?;
            let presigned = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(upload.key)
                .content_type(upload.mime_type)
                .content_length(size)
                .presigned(self.presigning(upload.ttl)?)
                .await
                .map_err(|e| self.failed("cannot presign the upload", e))?;
            Ok(Some(UploadTarget {
                url: presigned.uri().to_owned(),
                method: "PUT",
                headers: presigned
                    .headers()
                    .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
                    .collect(),
            }))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, BackendError>> {
        Box::pin(async move {
            let presigned = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(self.presigning(OWN_REQUEST_TTL)?)
                .await
                .map_err(|e| self.failed("cannot presign HEAD", e))?;
            let response = self.send("HEAD", presigned).await?;
            match response.status().as_u16() {
                200 => {
                    let header = |name| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let size = header(reqwest::header::CONTENT_LENGTH)
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| self.failed("HEAD", "no Content-Length"))?;
                    Ok(Some(ObjectMeta {
                        size,
                        content_type: header(reqwest::header::CONTENT_TYPE),
                    }))
                }
                404 => Ok(None),
                status => Err(self.failed("HEAD", format!("HTTP {status}"))),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let presigned = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(self.presigning(OWN_REQUEST_TTL)?)
                .await
                .map_err(|e| self.failed("cannot presign DELETE", e))?;
            let response = self.send("DELETE", presigned).await?;
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
            let presigned = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .response_content_disposition(super::disposition(filename, mime_type))
                .response_content_type(mime_type)
                .presigned(self.presigning(ttl)?)
                .await
                .map_err(|e| self.failed("cannot presign the download", e))?;
            Ok(Download::Redirect(presigned.uri().to_owned()))
        })
    }
}

//! `spec.media.storage` resolved, with the `OMNIA_MEDIA_*` variables laid over it.

use std::path::PathBuf;
use std::time::Duration;

use super::ApiKey;

/// Where an agent's uploaded files go, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub backend: MediaBackend,
    /// How long media is kept after upload (default 24 h).
    pub default_ttl: Duration,
    /// How long an upload URL stays valid (default 15 min).
    pub upload_url_ttl: Duration,
    /// How long a download URL stays valid (default 1 h).
    pub download_url_ttl: Duration,
    /// The largest file accepted, in bytes (default 100 MiB).
    pub max_file_size: u64,
    /// MIME types accepted (`image/*` matches every image type); empty accepts any.
    pub allowed_mime_types: Vec<String>,
}

impl Media {
    /// Media storage off: Omnia's default.
    pub fn none() -> Self {
        Self {
            backend: MediaBackend::None,
            default_ttl: Duration::from_secs(24 * 3600),
            upload_url_ttl: Duration::from_secs(15 * 60),
            download_url_ttl: Duration::from_secs(3600),
            max_file_size: 100 * 1024 * 1024,
            allowed_mime_types: Vec::new(),
        }
    }

    /// Whether media storage is on.
    pub fn enabled(&self) -> bool {
        self.backend != MediaBackend::None
    }
}

/// The storage backend.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaBackend {
    /// No media storage: the media routes answer `media_not_enabled`.
    None,
    /// Files on the gateway's disk under `base_path` (default `/var/lib/omnia/media`); uploads
    /// and downloads go through the gateway.
    Local { base_path: PathBuf },
    /// An S3 bucket; with `endpoint`, an S3-compatible server addressed path-style.
    S3 {
        bucket: String,
        /// Default `us-east-1`.
        region: String,
        prefix: String,
        endpoint: Option<String>,
        /// From the `secretRef` Secret; `None` leaves the credentials to the environment
        /// (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
        credentials: Option<S3Credentials>,
    },
    /// A Google Cloud Storage bucket.
    Gcs {
        bucket: String,
        prefix: String,
        /// A service-account JSON key, for V4 signing (RSA).
        service_account: Option<ApiKey>,
        /// An HMAC key (access id, secret), for V4 signing with `GOOG4-HMAC-SHA256`; preferred
        /// over the service account when both are given (far cheaper to sign with).
        hmac: Option<(String, ApiKey)>,
        /// An emulator or other endpoint instead of `https://storage.googleapis.com`.
        endpoint: Option<String>,
    },
    /// An Azure Blob Storage container.
    Azure {
        account: String,
        container: String,
        prefix: String,
        /// The account key (base64), for SAS signing.
        key: Option<ApiKey>,
        /// Another blob endpoint (Azurite) instead of `https://{account}.blob.core.windows.net`.
        endpoint: Option<String>,
    },
}

/// An S3 access key pair.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: ApiKey,
}

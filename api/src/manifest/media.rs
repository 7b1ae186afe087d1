//! `spec.media` of an AgentRuntime: where uploaded files go (`storage`) and for how long.
//!
//! Omnia's AgentRuntime carries only `spec.media.basePath` (mock:// resolution in its runtime)
//! and takes the backend from `OMNIA_MEDIA_*` variables alone; `storage` is the same settings as
//! a manifest field (issue 12), and the variables still apply on top (see `resolved::Media`).

use serde::Deserialize;

/// `spec.media`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MediaSpec {
    /// Omnia's: where its runtime resolves `mock://` media. Loads, not acted on.
    #[serde(default)]
    pub base_path: Option<String>,
    #[serde(default)]
    pub storage: Option<MediaStorageSpec>,
}

/// `spec.media.storage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MediaStorageSpec {
    /// `none` (default), `local`, `s3`, `gcs`, `azure`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub local: Option<LocalStorageSpec>,
    #[serde(default)]
    pub s3: Option<S3StorageSpec>,
    #[serde(default)]
    pub gcs: Option<GcsStorageSpec>,
    #[serde(default)]
    pub azure: Option<AzureStorageSpec>,
    /// Go durations: how long media is kept (24h), how long an upload URL and a download URL
    /// stay valid (15m, 1h).
    #[serde(default, rename = "defaultTTL")]
    pub default_ttl: Option<String>,
    #[serde(default, rename = "uploadURLTTL")]
    pub upload_url_ttl: Option<String>,
    #[serde(default, rename = "downloadURLTTL")]
    pub download_url_ttl: Option<String>,
    /// Default 100 MiB.
    #[serde(default)]
    pub max_file_size_bytes: Option<u64>,
    /// A Secret with the backend's credentials (`AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`; `AZURE_STORAGE_KEY`; a GCS service-account JSON key under
    /// `GOOGLE_APPLICATION_CREDENTIALS_JSON` or `key.json`).
    #[serde(default)]
    pub secret_ref: Option<SecretNameSpec>,
    /// Ours: MIME types accepted at upload request (`image/*`, `application/pdf`); empty takes
    /// any.
    #[serde(default)]
    pub allowed_mime_types: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalStorageSpec {
    #[serde(default)]
    pub base_path: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct S3StorageSpec {
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// An S3-compatible server (MinIO, ...): path-style addressing.
    #[serde(default)]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GcsStorageSpec {
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// Ours: another endpoint than Google's (an emulator).
    #[serde(default)]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureStorageSpec {
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// Ours: another blob endpoint than `https://{account}.blob.core.windows.net` (Azurite).
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// A Secret by name (its keys are fixed by the backend).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretNameSpec {
    pub name: String,
}

//! `spec.media` of an AgentRuntime: where uploaded files go (`storage`) and for how long.
//!
//! Omnia's AgentRuntime carries only `spec.media.basePath` (mock:// resolution in its runtime)
//! and takes the backend from `OMNIA_MEDIA_*` variables alone; `storage` is the same settings as
//! a manifest field (issue 12), and the variables still apply on top (see `resolved::Media`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `spec.media`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MediaSpec {
    /// Omnia's: where its runtime resolves `mock://` media. Loads, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<MediaStorageSpec>,
}

/// `spec.media.storage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MediaStorageSpec {
    /// `none` (default), `local`, `s3`, `gcs`, `azure`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalStorageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3StorageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsStorageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureStorageSpec>,
    /// Go durations: how long media is kept (24h), how long an upload URL and a download URL
    /// stay valid (15m, 1h).
    #[serde(
        default,
        rename = "defaultTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_ttl: Option<String>,
    #[serde(
        default,
        rename = "uploadURLTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub upload_url_ttl: Option<String>,
    #[serde(
        default,
        rename = "downloadURLTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub download_url_ttl: Option<String>,
    /// Default 100 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size_bytes: Option<u64>,
    /// A Secret with the backend's credentials (`AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`; `AZURE_STORAGE_KEY`; a GCS service-account JSON key under
    /// `GOOGLE_APPLICATION_CREDENTIALS_JSON` or `key.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretNameSpec>,
    /// Ours: MIME types accepted at upload request (`image/*`, `application/pdf`); empty takes
    /// any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_mime_types: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalStorageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct S3StorageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// An S3-compatible server (MinIO, ...): path-style addressing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GcsStorageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Ours: another endpoint than Google's (an emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureStorageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Ours: another blob endpoint than `https://{account}.blob.core.windows.net` (Azurite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A Secret by name (its keys are fixed by the backend).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretNameSpec {
    pub name: String,
}

//! Where media bytes live: one [`Backend`] per agent. Cloud backends hand out signed URLs, so
//! bytes go between the client and the bucket without passing through the gateway; the local
//! backend receives and serves them itself.

pub mod local;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;

/// How the client uploads: a signed request straight to the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    pub url: String,
    pub method: &'static str,
    /// Headers the client must send as they are: the signature covers them.
    pub headers: Vec<(String, String)>,
}

/// A stored object, as its backend reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
}

/// How a download is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    /// A signed URL to redirect to (307).
    Redirect(String),
    /// A file the gateway streams.
    File(PathBuf),
}

/// The backend failed: unreachable, refused our credentials, ... The text is for the logs and
/// the caller; it never carries a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// What an upload is to be: the object key, its type and exact size, and how long the URL lives.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub key: &'a str,
    pub mime_type: &'a str,
    pub size: u64,
    pub ttl: Duration,
}

/// One storage backend.
pub trait Backend: Send + Sync + 'static {
    /// `local`, `s3`, `gcs`, `azure`.
    fn kind(&self) -> &'static str;

    /// The signed upload request; `None` when the client uploads to the gateway
    /// (`PUT /media/upload/{id}`).
    fn upload_target<'a>(
        &'a self,
        upload: Upload<'a>,
    ) -> BoxFuture<'a, Result<Option<UploadTarget>, BackendError>>;

    /// The object at `key`, if there is one.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, BackendError>>;

    /// Removes the object at `key`; removing what is not there is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>>;

    /// How to serve the object at `key` as `filename` of type `mime_type`.
    fn download<'a>(
        &'a self,
        key: &'a str,
        filename: &'a str,
        mime_type: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Download, BackendError>>;

    /// The local backend, for the routes that receive and serve bytes themselves.
    fn local(&self) -> Option<&local::LocalBackend> {
        None
    }
}

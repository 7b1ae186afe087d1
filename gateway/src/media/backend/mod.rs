//! Where media bytes live: one [`Backend`] per agent. Cloud backends hand out signed URLs, so
//! bytes go between the client and the bucket without passing through the gateway; the local
//! backend receives and serves them itself.

pub mod azure;
pub mod gcs;
pub mod local;
pub mod s3;

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

/// The gateway's own requests to a bucket take at most this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The pooled client a cloud backend sends its own `HEAD` and `DELETE` through: bounded in time,
/// following no redirect (a signed URL is for one host).
pub fn http_client(backend: &str) -> Result<reqwest::Client, String> {
    // reqwest is built without a TLS provider; the gateway installs ring at start-up, tests may
    // not have.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the {backend} HTTP client: {e}"))
}

/// A `HEAD` answer of `backend` (for messages) as the object's size and type; `None` for 404.
pub fn head_answer(
    backend: &str,
    response: &reqwest::Response,
) -> Result<Option<ObjectMeta>, BackendError> {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match response.status().as_u16() {
        200 => {
            let size = header(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| BackendError(format!("{backend}: HEAD: no Content-Length")))?;
            Ok(Some(ObjectMeta {
                size,
                content_type: header(reqwest::header::CONTENT_TYPE),
            }))
        }
        404 => Ok(None),
        status => Err(BackendError(format!("{backend}: HEAD: HTTP {status}"))),
    }
}

/// Whether a `DELETE` answer of `backend` means the object is gone (404: it already was).
pub fn delete_answer(backend: &str, status: u16) -> Result<(), BackendError> {
    match status {
        200 | 202 | 204 | 404 => Ok(()),
        status => Err(BackendError(format!("{backend}: DELETE: HTTP {status}"))),
    }
}

/// RFC 3986 percent-encoding: unreserved characters stay, `/` too unless `slash`; everything
/// else is `%XX`. What the signature schemes' canonical forms and URLs both use.
pub fn percent_encode(text: &str, slash: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (byte == b'/' && !slash)
        {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `Content-Disposition`: `inline` for images, audio and video a browser shows, `attachment`
/// for everything else; the name quoted, and in full as RFC 5987 `filename*`.
pub fn disposition(filename: &str, mime_type: &str) -> String {
    let shown = ["image/", "audio/", "video/"]
        .iter()
        .any(|p| mime_type.starts_with(p))
        && mime_type != "image/svg+xml";
    let kind = if shown { "inline" } else { "attachment" };
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_quote_and_encode_the_name() {
        assert_eq!(
            disposition("ré\"sumé.html", "text/html"),
            "attachment; filename=\"r__sum_.html\"; filename*=UTF-8''r%C3%A9%22sum%C3%A9.html"
        );
        assert!(disposition("cat.png", "image/png").starts_with("inline;"));
        assert!(disposition("x.svg", "image/svg+xml").starts_with("attachment;"));
    }
}

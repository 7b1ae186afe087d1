//! The media REST routes of one agent (DESIGN.md 4.3), each a function from the request to a
//! response or a [`GatewayError`]:
//!
//! - `POST /media/request-upload` `{session_id, filename, mime_type, size_bytes}`: checks the
//!   declaration (size, MIME allowlist) and answers how to upload: a signed URL for cloud
//!   backends, `PUT /media/upload/{id}` on this gateway for `local`.
//! - `PUT /media/upload/{id}` (`local` only): the bytes, stored as they arrive, exactly the
//!   declared size; the upload is then confirmed (as Omnia, which has no confirm step for local).
//! - `POST /media/confirm-upload/{id}`: checks the stored object (size, type) against the
//!   declaration, refusing and deleting a mismatch, and records the media. Confirming again
//!   answers the same record.
//! - `GET /media/info/{sid}/{mid}`, `GET /media/download/{sid}/{mid}`: the record, the bytes
//!   (`local`) or a 307 to a signed URL; 410 once the media has expired.

use std::time::Duration;

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION,
};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt as _;
use omnia_middleware::{BoxError, GatewayError, ResponseBody};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::MediaAgent;
use super::backend::local::Receive;
use super::backend::{BackendError, Download, Upload, disposition};
use super::reference::{MediaRef, new_id, valid_id};
use super::store::{Pending, Record, StoreError};

/// The largest `request-upload` body read.
const DECLARATION_BYTES: usize = 16 * 1024;
/// The longest file name kept.
const MAX_FILENAME: usize = 255;

#[derive(Debug, Deserialize)]
struct Declaration {
    session_id: String,
    filename: String,
    mime_type: String,
    size_bytes: u64,
}

/// How to upload: `request-upload`'s answer, and the WebSocket's `upload_ready`.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub upload_id: String,
    pub upload_url: String,
    pub method: &'static str,
    /// Headers the upload must carry as they are (the signature covers them).
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub storage_ref: String,
    pub expires_at: String,
    /// `expires_at` in Unix seconds.
    #[serde(skip)]
    pub expires_unix: i64,
}

#[derive(Debug, Serialize)]
struct Info<'a> {
    storage_ref: String,
    filename: &'a str,
    mime_type: &'a str,
    size_bytes: u64,
    created_at: String,
    expires_at: String,
}

pub(super) async fn request_upload<B>(
    agent: &MediaAgent,
    body: B,
) -> Result<Response<ResponseBody>, GatewayError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<BoxError>,
{
    let bytes = read_declaration(body, agent.body_timeout).await?;
    let declared: Declaration =
        serde_json::from_slice(&bytes).map_err(|e| GatewayError::BadRequest {
            detail: format!(
                "the body is not an upload request {{session_id, filename, mime_type, \
                 size_bytes}}: {e}"
            ),
        })?;
    let ticket = create_upload(
        agent,
        &declared.session_id,
        &declared.filename,
        &declared.mime_type,
        declared.size_bytes,
    )
    .await?;
    json(StatusCode::OK, &ticket)
}

/// A new upload of `session`: checked against the agent's limits, signed, and kept pending.
/// The REST route and the WebSocket's `upload_request` both come here.
pub(super) async fn create_upload(
    agent: &MediaAgent,
    session: &str,
    filename_text: &str,
    mime_text: &str,
    size_bytes: u64,
) -> Result<Ticket, GatewayError> {
    if !valid_id(session) {
        return Err(GatewayError::BadRequest {
            detail: "session_id must be 1 to 128 of A-Z a-z 0-9 . _ -".to_owned(),
        });
    }
    let filename = filename(filename_text)?;
    let mime_type = mime_essence(mime_text).ok_or_else(|| GatewayError::BadRequest {
        detail: format!("{mime_text:?} is not a MIME type (type/subtype)"),
    })?;
    let media = &agent.media;
    if !allowed(&media.allowed_mime_types, &mime_type) {
        return Err(GatewayError::MimeTypeNotAllowed {
            mime: mime_type,
            allowed: media.allowed_mime_types.join(", "),
        });
    }
    if size_bytes == 0 {
        return Err(GatewayError::BadRequest {
            detail: "size_bytes must be at least 1".to_owned(),
        });
    }
    if size_bytes > media.max_file_size {
        return Err(GatewayError::PayloadTooLarge {
            limit: media.max_file_size,
        });
    }
    let reference = MediaRef::new(session);
    let upload_id = new_id();
    let key = reference.key(&agent.prefix);
    let now = OffsetDateTime::now_utc();
    let expires = now + media.upload_url_ttl;
    let target = agent
        .backend
        .upload_target(Upload {
            key: &key,
            mime_type: &mime_type,
            size: size_bytes,
            ttl: media.upload_url_ttl,
        })
        .await
        .map_err(|e| storage("cannot sign the upload URL", &e))?;
    let (upload_url, method, headers) = match target {
        Some(target) => (target.url, target.method, target.headers),
        None => (
            agent.upload_path.replace("{id}", &upload_id),
            "PUT",
            vec![(CONTENT_TYPE.as_str().to_owned(), mime_type.clone())],
        ),
    };
    let pending = Pending {
        upload_id: upload_id.clone(),
        session: reference.session.clone(),
        media: reference.media.clone(),
        filename,
        mime_type,
        size_bytes,
        created_at: now.unix_timestamp(),
        upload_expires_at: expires.unix_timestamp(),
        ttl_secs: media.default_ttl.as_secs(),
        confirmed: false,
    };
    agent.store.put_pending(&pending).await.map_err(store)?;
    Ok(Ticket {
        upload_id,
        upload_url,
        method,
        headers: headers
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
        storage_ref: reference.to_string(),
        expires_at: rfc3339(expires.unix_timestamp()),
        expires_unix: expires.unix_timestamp(),
    })
}

/// `PUT /media/upload/{id}`: a `local` upload's bytes.
pub(super) async fn upload<B>(
    agent: &MediaAgent,
    parts: &Parts,
    body: B,
    upload_id: &str,
) -> Result<Response<ResponseBody>, GatewayError>
where
    B: Body<Data = Bytes> + Send + Unpin,
    B::Error: std::fmt::Display,
{
    let Some(local) = agent.backend.local() else {
        return Err(GatewayError::BadRequest {
            detail: format!(
                "agent {:?} stores media in {}: upload to the signed URL request-upload gave",
                agent.name,
                agent.backend.kind()
            ),
        });
    };
    let pending = live_pending(agent, upload_id).await?;
    if pending.confirmed {
        return Err(GatewayError::UploadFailed {
            detail: format!("upload {upload_id:?} is already complete"),
        });
    }
    if let Some(sent) = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(mime_essence)
        && sent != pending.mime_type
    {
        return Err(GatewayError::UploadFailed {
            detail: format!(
                "the upload was declared {} and is sent as {sent}",
                pending.mime_type
            ),
        });
    }
    let declared_length = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared_length {
        Some(length) if length > pending.size_bytes => {
            return Err(GatewayError::PayloadTooLarge {
                limit: pending.size_bytes,
            });
        }
        Some(length) if length < pending.size_bytes => {
            return Err(GatewayError::UploadFailed {
                detail: format!(
                    "the upload is {length} bytes and was declared {}",
                    pending.size_bytes
                ),
            });
        }
        _ => {}
    }
    let key = pending.reference().key(&agent.prefix);
    local
        .receive(&key, body, pending.size_bytes, agent.idle_timeout)
        .await
        .map_err(|error| match error {
            Receive::TooLarge { declared } => GatewayError::PayloadTooLarge { limit: declared },
            Receive::Short { .. } => GatewayError::UploadFailed {
                detail: error.to_string(),
            },
            Receive::Stalled(waited) => GatewayError::RequestTimeout { waited },
            Receive::Broken(_) => GatewayError::BadRequest {
                detail: error.to_string(),
            },
            Receive::Disk(_) => {
                storage("cannot store the upload", &BackendError(error.to_string()))
            }
        })?;
    confirm_pending(agent, &pending).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /media/confirm-upload/{id}`.
pub(super) async fn confirm(
    agent: &MediaAgent,
    upload_id: &str,
) -> Result<Response<ResponseBody>, GatewayError> {
    let pending = live_pending(agent, upload_id).await?;
    if pending.confirmed {
        return info_of(agent, &pending.reference()).await;
    }
    if agent.backend.local().is_some() {
        return Err(GatewayError::UploadFailed {
            detail: "nothing has been uploaded yet: PUT the file to the upload_url first"
                .to_owned(),
        });
    }
    let key = pending.reference().key(&agent.prefix);
    let stored = agent
        .backend
        .head(&key)
        .await
        .map_err(|e| storage("cannot check the upload", &e))?;
    let Some(stored) = stored else {
        return Err(GatewayError::UploadFailed {
            detail: "nothing has been uploaded to the upload_url yet".to_owned(),
        });
    };
    let wrong_type = stored
        .content_type
        .as_deref()
        .and_then(mime_essence)
        .filter(|t| *t != pending.mime_type);
    let refusal = if stored.size != pending.size_bytes {
        Some(format!(
            "the upload is {} bytes and was declared {}",
            stored.size, pending.size_bytes
        ))
    } else {
        wrong_type.map(|t| {
            format!(
                "the upload was declared {} and was stored as {t}",
                pending.mime_type
            )
        })
    };
    if let Some(detail) = refusal {
        // What was declared is what is kept: anything else goes, and the upload with it.
        if let Err(error) = agent.backend.delete(&key).await {
            tracing::warn!(%error, key, "cannot delete a refused upload; the sweep will retry");
        }
        agent.store.drop_pending(upload_id).await.map_err(store)?;
        return Err(GatewayError::UploadFailed { detail });
    }
    let record = confirm_pending(agent, &pending).await?;
    info_json(&record)
}

/// `GET /media/info/{sid}/{mid}`.
pub(super) async fn info(
    agent: &MediaAgent,
    reference: &MediaRef,
) -> Result<Response<ResponseBody>, GatewayError> {
    info_of(agent, reference).await
}

/// `GET /media/download/{sid}/{mid}`.
pub(super) async fn download(
    agent: &MediaAgent,
    reference: &MediaRef,
) -> Result<Response<ResponseBody>, GatewayError> {
    let record = live_record(agent, reference).await?;
    let key = reference.key(&agent.prefix);
    let how = agent
        .backend
        .download(
            &key,
            &record.filename,
            &record.mime_type,
            agent.media.download_url_ttl,
        )
        .await
        .map_err(|e| storage("cannot sign the download URL", &e))?;
    match how {
        Download::Redirect(url) => {
            let mut response = empty(StatusCode::TEMPORARY_REDIRECT);
            let location = HeaderValue::try_from(url).map_err(|_| GatewayError::Internal {
                detail: "the signed download URL is not a valid header".to_owned(),
            })?;
            response.headers_mut().insert(LOCATION, location);
            Ok(response)
        }
        Download::File(path) => {
            let file = tokio::fs::File::open(&path).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    GatewayError::MediaNotFound {
                        detail: format!("{reference} is no longer stored"),
                    }
                } else {
                    storage("cannot read the media", &BackendError(e.to_string()))
                }
            })?;
            let mut response = Response::new(ResponseBody::stream(file_body(file)));
            let headers = response.headers_mut();
            headers.insert(CONTENT_LENGTH, HeaderValue::from(record.size_bytes));
            if let Ok(value) = HeaderValue::try_from(record.mime_type.as_str()) {
                headers.insert(CONTENT_TYPE, value);
            }
            if let Ok(value) =
                HeaderValue::try_from(disposition(&record.filename, &record.mime_type))
            {
                headers.insert(CONTENT_DISPOSITION, value);
            }
            // Uploaded bytes are the uploader's: a browser must not run them as this origin's
            // page (an HTML or SVG "image"), nor guess another type.
            headers.insert(
                http::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                http::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            );
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            Ok(response)
        }
    }
}

/// Records `pending` as media, from now for its TTL.
async fn confirm_pending(agent: &MediaAgent, pending: &Pending) -> Result<Record, GatewayError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let record = Record {
        session: pending.session.clone(),
        media: pending.media.clone(),
        filename: pending.filename.clone(),
        mime_type: pending.mime_type.clone(),
        size_bytes: pending.size_bytes,
        created_at: now,
        expires_at: now.saturating_add(i64::try_from(pending.ttl_secs).unwrap_or(i64::MAX)),
    };
    agent
        .store
        .confirm(&pending.upload_id, &record)
        .await
        .map_err(store)?;
    // Whoever waits here for it (a WebSocket that asked for the upload) hears at once; a
    // waiter on another replica finds it in the store.
    let _ = agent.confirmed.send(pending.upload_id.clone());
    Ok(record)
}

/// The pending upload `upload_id`, refused when unknown or when its URL has expired (and it was
/// not confirmed in time).
async fn live_pending(agent: &MediaAgent, upload_id: &str) -> Result<Pending, GatewayError> {
    let not_found = || GatewayError::UploadNotFound {
        upload_id: upload_id.to_owned(),
    };
    if !valid_id(upload_id) {
        return Err(not_found());
    }
    let pending = agent
        .store
        .pending(upload_id)
        .await
        .map_err(store)?
        .ok_or_else(not_found)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if !pending.confirmed && agent.backend.local().is_some() && now > pending.upload_expires_at {
        return Err(GatewayError::UploadFailed {
            detail: format!(
                "the upload URL expired at {}",
                rfc3339(pending.upload_expires_at)
            ),
        });
    }
    Ok(pending)
}

async fn info_of(
    agent: &MediaAgent,
    reference: &MediaRef,
) -> Result<Response<ResponseBody>, GatewayError> {
    let record = live_record(agent, reference).await?;
    info_json(&record)
}

/// The record of `reference`: 404 when there is none, 410 when its media has expired.
pub(super) async fn live_record(
    agent: &MediaAgent,
    reference: &MediaRef,
) -> Result<Record, GatewayError> {
    let record = agent
        .store
        .record(reference)
        .await
        .map_err(store)?
        .ok_or_else(|| GatewayError::MediaNotFound {
            detail: format!("no media {reference}"),
        })?;
    if OffsetDateTime::now_utc().unix_timestamp() >= record.expires_at {
        return Err(GatewayError::MediaExpired {
            detail: format!(
                "media {reference} expired at {}",
                rfc3339(record.expires_at)
            ),
        });
    }
    Ok(record)
}

fn info_json(record: &Record) -> Result<Response<ResponseBody>, GatewayError> {
    json(
        StatusCode::OK,
        &Info {
            storage_ref: record.reference().to_string(),
            filename: &record.filename,
            mime_type: &record.mime_type,
            size_bytes: record.size_bytes,
            created_at: rfc3339(record.created_at),
            expires_at: rfc3339(record.expires_at),
        },
    )
}

async fn read_declaration<B>(body: B, timeout: Duration) -> Result<Bytes, GatewayError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, DECLARATION_BYTES);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(GatewayError::RequestTimeout { waited: timeout }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => {
            if error.is::<http_body_util::LengthLimitError>() {
                Err(GatewayError::PayloadTooLarge {
                    limit: DECLARATION_BYTES as u64,
                })
            } else {
                Err(GatewayError::BadRequest {
                    detail: format!("the request body could not be read: {error}"),
                })
            }
        }
    }
}

/// The file name kept: its last path segment, without control characters, at most 255
/// characters.
fn filename(text: &str) -> Result<String, GatewayError> {
    let base = text.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." {
        return Err(GatewayError::BadRequest {
            detail: format!("{text:?} is not a file name"),
        });
    }
    if base.chars().any(char::is_control) {
        return Err(GatewayError::BadRequest {
            detail: "the file name has control characters".to_owned(),
        });
    }
    Ok(base.chars().take(MAX_FILENAME).collect())
}

/// `type/subtype` of a MIME type, lower-cased, without parameters; `None` if it is not one.
pub(super) fn mime_essence(text: &str) -> Option<String> {
    let essence = text.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(kind) && token(sub)).then_some(essence)
}

/// Whether `mime` is in `allowlist` (`image/*` covers `image/png`); an empty list takes all.
fn allowed(allowlist: &[String], mime: &str) -> bool {
    allowlist.is_empty()
        || allowlist
            .iter()
            .any(|pattern| match pattern.strip_suffix("/*") {
                Some(kind) => mime.split('/').next() == Some(kind),
                None => pattern == mime,
            })
}

/// A file as a response body, 64 KiB at a time.
fn file_body(
    file: tokio::fs::File,
) -> http_body_util::StreamBody<
    impl futures_util::Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send,
> {
    use tokio::io::AsyncReadExt as _;
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(http_body::Frame::data(Bytes::from(buffer))), Some(file)))
            }
            // The error ends the body; the next poll ends the stream.
            Err(error) => Some((Err(error), None)),
        }
    });
    http_body_util::StreamBody::new(chunks)
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn json<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<Response<ResponseBody>, GatewayError> {
    let bytes = serde_json::to_vec(value).map_err(|e| GatewayError::Internal {
        detail: format!("cannot encode the answer: {e}"),
    })?;
    let mut response = Response::new(ResponseBody::full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response
}

fn storage(detail: &str, error: &BackendError) -> GatewayError {
    GatewayError::StorageUnavailable {
        detail: format!("{detail}: the media storage failed"),
        cause: error.0.clone(),
    }
}

fn store(error: StoreError) -> GatewayError {
    GatewayError::StorageUnavailable {
        detail: "the media store failed".to_owned(),
        cause: error.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_and_the_allowlist() {
        assert_eq!(mime_essence("Image/PNG; q=1"), Some("image/png".into()));
        assert_eq!(mime_essence("png"), None);
        assert_eq!(mime_essence("a/b/c"), None);
        let list = vec!["image/*".to_owned(), "application/pdf".to_owned()];
        assert!(allowed(&list, "image/jpeg"));
        assert!(allowed(&list, "application/pdf"));
        assert!(!allowed(&list, "text/html"));
        assert!(!allowed(&list, "imagex/png"));
        assert!(allowed(&[], "text/html"));
    }

    #[test]
    fn file_names_keep_their_last_segment() {
        assert_eq!(filename("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(filename("C:\\docs\\cv.pdf").unwrap(), "cv.pdf");
        assert!(filename("..").is_err());
        assert!(filename("a\nb").is_err());
    }
}

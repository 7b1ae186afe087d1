//! The `local` backend: files under a base directory on the gateway's disk. Uploads come to the
//! gateway (`PUT /media/upload/{id}`) and are written as they arrive, never past the declared
//! size; downloads are streamed from disk.
//!
//! Keys are made only of checked ids (see `reference.rs`) joined by `/`, so a key cannot leave
//! the base directory; [`LocalBackend::path`] checks that again anyway. A partial upload is
//! written to a temporary file beside its target and renamed into place only when complete, so a
//! reader never sees half a file.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body::Body;
use http_body_util::BodyExt as _;
use tokio::io::AsyncWriteExt as _;

use super::{Backend, BackendError, Download, ObjectMeta, Upload, UploadTarget};
use crate::media::reference::new_id;

/// Why a local upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum Receive {
    #[error("the upload is larger than the {declared} bytes declared")]
    TooLarge { declared: u64 },
    #[error("the upload ended after {got} of the {declared} bytes declared")]
    Short { got: u64, declared: u64 },
    #[error("no bytes arrived for {} s", .0.as_secs())]
    Stalled(Duration),
    #[error("the upload broke off: {0}")]
    Broken(String),
    #[error("cannot write the file: {0}")]
    Disk(io::Error),
}

#[derive(Debug)]
pub struct LocalBackend {
    base: PathBuf,
}

impl LocalBackend {
    /// The backend over `base`, created when missing.
    pub fn new(base: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(base)
            .map_err(|e| format!("cannot create the media directory {}: {e}", base.display()))?;
        Ok(Self {
            base: base.to_path_buf(),
        })
    }

    /// The file of `key`, or an error when the key would leave the base directory.
    pub fn path(&self, key: &str) -> Result<PathBuf, BackendError> {
        let segments_ok = key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
        let relative = Path::new(key);
        if !segments_ok
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(BackendError(format!("`{key}` is not a media key")));
        }
        Ok(self.base.join(relative))
    }

    /// Writes `body` to `key`: exactly `declared` bytes, each frame within `idle` of the one
    /// before. Anything else leaves nothing behind.
    pub async fn receive<B>(
        &self,
        key: &str,
        mut body: B,
        declared: u64,
        idle: Duration,
    ) -> Result<u64, Receive>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let target = self
            .path(key)
            .map_err(|e| Receive::Disk(io::Error::other(e.0)))?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(Receive::Disk)?;
        }
        let partial = target.with_extension(format!("part-{}", new_id()));
        let result = async {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)
                .await
                .map_err(Receive::Disk)?;
            let mut written: u64 = 0;
            loop {
                let frame = match tokio::time::timeout(idle, body.frame()).await {
                    Err(_) => return Err(Receive::Stalled(idle)),
                    Ok(None) => break,
                    Ok(Some(Err(error))) => return Err(Receive::Broken(error.to_string())),
                    Ok(Some(Ok(frame))) => frame,
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                written += data.len() as u64;
                if written > declared {
                    return Err(Receive::TooLarge { declared });
                }
                file.write_all(&data).await.map_err(Receive::Disk)?;
            }
            if written != declared {
                return Err(Receive::Short {
                    got: written,
                    declared,
                });
            }
            file.sync_all().await.map_err(Receive::Disk)?;
            drop(file);
            tokio::fs::rename(&partial, &target)
                .await
                .map_err(Receive::Disk)?;
            Ok(written)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        result
    }
}

impl Backend for LocalBackend {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn upload_target<'a>(
        &'a self,
        _upload: Upload<'a>,
    ) -> BoxFuture<'a, Result<Option<UploadTarget>, BackendError>> {
        Box::pin(async { Ok(None) })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, BackendError>> {
        Box::pin(async move {
            let path = self.path(key)?;
            match tokio::fs::metadata(&path).await {
                Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta {
                    size: meta.len(),
                    content_type: None,
                })),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(BackendError(format!("cannot read {}: {e}", path.display()))),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let path = self.path(key)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(BackendError(format!(
                    "cannot remove {}: {e}",
                    path.display()
                ))),
            }
        })
    }

    fn download<'a>(
        &'a self,
        key: &'a str,
        _filename: &'a str,
        _mime_type: &'a str,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<Download, BackendError>> {
        Box::pin(async move { Ok(Download::File(self.path(key)?)) })
    }

    fn local(&self) -> Option<&LocalBackend> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use http_body_util::{BodyExt as _, Full, StreamBody};

    use super::*;

    #[test]
    fn keys_cannot_leave_the_base_directory() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalBackend::new(dir.path()).unwrap();
        assert!(local.path("sessions/s/media/m").is_ok());
        for key in ["../x", "sessions/../../x", "/etc/passwd", "", "a/./b"] {
            assert!(local.path(key).is_err(), "{key}");
        }
    }

    #[tokio::test]
    async fn only_the_declared_size_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalBackend::new(dir.path()).unwrap();
        let idle = Duration::from_secs(5);
        let body = |text: &'static str| Full::new(Bytes::from_static(text.as_bytes()));
        assert_eq!(local.receive("a/b", body("abc"), 3, idle).await.unwrap(), 3);
        assert_eq!(std::fs::read(dir.path().join("a/b")).unwrap(), b"abc");
        assert!(matches!(
            local.receive("a/c", body("abcd"), 3, idle).await,
            Err(Receive::TooLarge { declared: 3 })
        ));
        assert!(matches!(
            local.receive("a/d", body("ab"), 3, idle).await,
            Err(Receive::Short {
                got: 2,
                declared: 3
            })
        ));
        // Nothing but the complete file is left.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_upload_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalBackend::new(dir.path()).unwrap();
        let stream = futures_util::stream::pending::<Result<http_body::Frame<Bytes>, io::Error>>();
        let body = StreamBody::new(stream).boxed();
        let result = local.receive("a/b", body, 3, Duration::from_secs(30)).await;
        assert!(matches!(result, Err(Receive::Stalled(_))), "{result:?}");
    }
}

//! `spec.media.storage` and the `OMNIA_MEDIA_*` variables (Omnia's only way to configure media)
//! into one [`Media`]: each variable that is set wins over its manifest field, so a pod's
//! environment can adjust a manifest. Then the CRD's rules: `type: s3` needs its bucket, and so
//! on, each failure naming the field and the variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::index::{Index, Origin};
use crate::manifest::media::{MediaSpec, MediaStorageSpec};
use crate::resolved::{ApiKey, Media, MediaBackend, S3Credentials};

/// Omnia's default local directory.
const DEFAULT_LOCAL_PATH: &str = "/var/lib/omnia/media";
const DEFAULT_REGION: &str = "us-east-1";
/// The longest a presigned S3 URL may live (SigV4's limit), and so any of ours.
const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Secret keys of each backend's credentials.
const AWS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
const AWS_SECRET: &str = "AWS_SECRET_ACCESS_KEY";
const AZURE_KEYS: [&str; 2] = ["AZURE_STORAGE_KEY", "key"];
const GCS_KEYS: [&str; 2] = ["GOOGLE_APPLICATION_CREDENTIALS_JSON", "key.json"];
const GCS_HMAC_ID: &str = "GCS_HMAC_ACCESS_ID";
const GCS_HMAC_SECRET: &str = "GCS_HMAC_SECRET";

/// The variables, by the setting they carry.
mod var {
    pub const TYPE: &str = "OMNIA_MEDIA_STORAGE_TYPE";
    pub const PATH: &str = "OMNIA_MEDIA_STORAGE_PATH";
    pub const MAX_SIZE: &str = "OMNIA_MEDIA_MAX_FILE_SIZE";
    pub const DEFAULT_TTL: &str = "OMNIA_MEDIA_DEFAULT_TTL";
    pub const UPLOAD_TTL: &str = "OMNIA_MEDIA_UPLOAD_URL_TTL";
    pub const DOWNLOAD_TTL: &str = "OMNIA_MEDIA_DOWNLOAD_URL_TTL";
    pub const ALLOWED: &str = "OMNIA_MEDIA_ALLOWED_MIME_TYPES";
    pub const S3_BUCKET: &str = "OMNIA_MEDIA_S3_BUCKET";
    pub const S3_REGION: &str = "OMNIA_MEDIA_S3_REGION";
    pub const S3_PREFIX: &str = "OMNIA_MEDIA_S3_PREFIX";
    pub const S3_ENDPOINT: &str = "OMNIA_MEDIA_S3_ENDPOINT";
    pub const GCS_BUCKET: &str = "OMNIA_MEDIA_GCS_BUCKET";
    pub const GCS_PREFIX: &str = "OMNIA_MEDIA_GCS_PREFIX";
    pub const GCS_ENDPOINT: &str = "OMNIA_MEDIA_GCS_ENDPOINT";
    pub const AZURE_ACCOUNT: &str = "OMNIA_MEDIA_AZURE_ACCOUNT";
    pub const AZURE_CONTAINER: &str = "OMNIA_MEDIA_AZURE_CONTAINER";
    pub const AZURE_PREFIX: &str = "OMNIA_MEDIA_AZURE_PREFIX";
    pub const AZURE_KEY: &str = "OMNIA_MEDIA_AZURE_KEY";
    pub const AZURE_ENDPOINT: &str = "OMNIA_MEDIA_AZURE_ENDPOINT";
}

/// The environment as the resolver reads it: a lookup, so tests pass their own.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment (unset and empty variables alike count as unset).
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub(crate) fn resolve(
    origin: &Origin,
    namespace: &str,
    spec: Option<&MediaSpec>,
    index: &Index,
    env: Env<'_>,
) -> Result<Media, ConfigError> {
    let storage = spec.and_then(|m| m.storage.clone()).unwrap_or_default();
    let at = |field: &str, variable: &str| format!("spec.media.storage.{field} (or {variable})");
    // A setting: the variable when set, else the manifest's field.
    let pick = |variable: &str, field: Option<&String>| env(variable).or_else(|| field.cloned());
    let mut media = Media::none();
    if let Some(ttl) = duration(
        origin,
        &at("defaultTTL", var::DEFAULT_TTL),
        pick(var::DEFAULT_TTL, storage.default_ttl.as_ref()),
    )? {
        media.default_ttl = ttl;
    }
    if let Some(ttl) = duration(
        origin,
        &at("uploadURLTTL", var::UPLOAD_TTL),
        pick(var::UPLOAD_TTL, storage.upload_url_ttl.as_ref()),
    )? {
        media.upload_url_ttl = ttl;
    }
    if let Some(ttl) = duration(
        origin,
        &at("downloadURLTTL", var::DOWNLOAD_TTL),
        pick(var::DOWNLOAD_TTL, storage.download_url_ttl.as_ref()),
    )? {
        media.download_url_ttl = ttl;
    }
    for (field, ttl) in [
        ("uploadURLTTL", media.upload_url_ttl),
        ("downloadURLTTL", media.download_url_ttl),
    ] {
        if ttl > MAX_URL_TTL {
            return Err(origin.error(
                format!("spec.media.storage.{field}"),
                "a signed URL can live at most 7 days (168h)",
            ));
        }
    }
    match env(var::MAX_SIZE) {
        Some(text) => {
            media.max_file_size = text.trim().parse().map_err(|_| {
                origin.error(
                    at("maxFileSizeBytes", var::MAX_SIZE),
                    format!("`{text}` is not a number of bytes"),
                )
            })?;
        }
        None => {
            if let Some(size) = storage.max_file_size_bytes {
                media.max_file_size = size;
            }
        }
    }
    if media.max_file_size == 0 {
        return Err(origin.error(
            at("maxFileSizeBytes", var::MAX_SIZE),
            "must be at least 1 byte",
        ));
    }
    media.allowed_mime_types = match env(var::ALLOWED) {
        Some(list) => list
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect(),
        None => storage
            .allowed_mime_types
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .collect(),
    };
    for pattern in &media.allowed_mime_types {
        if !valid_pattern(pattern) {
            return Err(origin.error(
                at("allowedMimeTypes", var::ALLOWED),
                format!("`{pattern}` is not a MIME type or `type/*`"),
            ));
        }
    }
    let kind = pick(var::TYPE, storage.kind.as_ref()).unwrap_or_else(|| "none".to_owned());
    media.backend = backend(origin, namespace, &kind, &storage, index, env, &at)?;
    Ok(media)
}

fn backend(
    origin: &Origin,
    namespace: &str,
    kind: &str,
    storage: &MediaStorageSpec,
    index: &Index,
    env: Env<'_>,
    at: &dyn Fn(&str, &str) -> String,
) -> Result<MediaBackend, ConfigError> {
    let pick = |variable: &str, field: Option<&String>| env(variable).or_else(|| field.cloned());
    let required = |value: Option<String>, field: &str, variable: &str| {
        value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            origin.error(
                at(field, variable),
                format!("required when the storage type is {kind}"),
            )
        })
    };
    let secret = storage.secret_ref.as_ref().map(|r| r.name.as_str());
    Ok(match kind.trim().to_ascii_lowercase().as_str() {
        "none" | "" => MediaBackend::None,
        "local" => {
            let local = storage.local.clone().unwrap_or_default();
            let path = pick(var::PATH, local.base_path.as_ref())
                .unwrap_or_else(|| DEFAULT_LOCAL_PATH.to_owned());
            MediaBackend::Local {
                base_path: PathBuf::from(path),
            }
        }
        "s3" => {
            let s3 = storage.s3.clone().unwrap_or_default();
            let credentials = match secret {
                None => None,
                Some(name) => {
                    let id = secret_value(origin, namespace, name, &[AWS_KEY_ID], index)?;
                    let key = secret_value(origin, namespace, name, &[AWS_SECRET], index)?;
                    Some(S3Credentials {
                        access_key_id: id,
                        secret_access_key: ApiKey::new(key),
                    })
                }
            };
            MediaBackend::S3 {
                bucket: required(
                    pick(var::S3_BUCKET, s3.bucket.as_ref()),
                    "s3.bucket",
                    var::S3_BUCKET,
                )?,
                region: pick(var::S3_REGION, s3.region.as_ref())
                    .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
                prefix: prefix(pick(var::S3_PREFIX, s3.prefix.as_ref())),
                endpoint: pick(var::S3_ENDPOINT, s3.endpoint.as_ref()),
                credentials,
            }
        }
        "gcs" => {
            let gcs = storage.gcs.clone().unwrap_or_default();
            // An HMAC key pair in the Secret wins; else its service-account JSON key.
            let hmac = match secret {
                Some(name) => {
                    let id = secret_value(origin, namespace, name, &[GCS_HMAC_ID], index).ok();
                    let key = secret_value(origin, namespace, name, &[GCS_HMAC_SECRET], index).ok();
                    id.zip(key).map(|(id, key)| (id, ApiKey::new(key)))
                }
                None => None,
            };
            let service_account = match (secret, &hmac) {
                (Some(name), None) => Some(ApiKey::new(secret_value(
                    origin, namespace, name, &GCS_KEYS, index,
                )?)),
                _ => None,
            };

            MediaBackend::Gcs {
                bucket: required(
                    pick(var::GCS_BUCKET, gcs.bucket.as_ref()),
                    "gcs.bucket",
                    var::GCS_BUCKET,
                )?,
                prefix: prefix(pick(var::GCS_PREFIX, gcs.prefix.as_ref())),
                service_account,
                hmac,
                endpoint: pick(var::GCS_ENDPOINT, gcs.endpoint.as_ref()),
            }
        }
        "azure" => {
            let azure = storage.azure.clone().unwrap_or_default();
            let key = match env(var::AZURE_KEY) {
                Some(key) => Some(ApiKey::new(key)),
                None => secret
                    .map(|name| {
                        secret_value(origin, namespace, name, &AZURE_KEYS, index).map(ApiKey::new)
                    })
                    .transpose()?,
            };
            MediaBackend::Azure {
                account: required(
                    pick(var::AZURE_ACCOUNT, azure.account.as_ref()),
                    "azure.account",
                    var::AZURE_ACCOUNT,
                )?,
                container: required(
                    pick(var::AZURE_CONTAINER, azure.container.as_ref()),
                    "azure.container",
                    var::AZURE_CONTAINER,
                )?,
                prefix: prefix(pick(var::AZURE_PREFIX, azure.prefix.as_ref())),
                key,
                endpoint: pick(var::AZURE_ENDPOINT, azure.endpoint.as_ref()),
            }
        }
        other => {
            return Err(origin.error(
                at("type", var::TYPE),
                format!("`{other}` is not a storage type (none, local, s3, gcs, azure)"),
            ));
        }
    })
}

fn duration(
    origin: &Origin,
    field: &str,
    text: Option<String>,
) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let ttl = parse_duration(text.trim()).map_err(|e| origin.error(field, e))?;
    if ttl.is_zero() {
        return Err(origin.error(field, "must be longer than zero"));
    }
    Ok(Some(ttl))
}

/// A key prefix without slashes at its ends (`media/` and `/media` are `media`).
fn prefix(text: Option<String>) -> String {
    text.map(|p| p.trim().trim_matches('/').to_owned())
        .unwrap_or_default()
}

/// `type/subtype` or `type/*`.
fn valid_pattern(pattern: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match pattern.split_once('/') {
        Some((kind, "*")) => token(kind),
        Some((kind, sub)) => token(kind) && token(sub),
        None => false,
    }
}

/// The first of `keys` the Secret `name` holds, or an error naming the Secret and the keys.
fn secret_value(
    origin: &Origin,
    namespace: &str,
    name: &str,
    keys: &[&str],
    index: &Index,
) -> Result<String, ConfigError> {
    let field = "spec.media.storage.secretRef.name";
    let Some(secret) = index.secrets.get(&(namespace.to_owned(), name.to_owned())) else {
        return Err(origin.error(field, format!("Secret `{namespace}/{name}` not found")));
    };
    for key in keys {
        let value = secret
            .obj
            .get_text(key)
            .map_err(|e| secret.origin.field_error(e))?;
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            return Ok(value);
        }
    }
    Err(origin.error(
        field,
        format!(
            "Secret `{namespace}/{name}` has no {} (its keys: {})",
            keys.join(" or "),
            secret.obj.keys().join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;

    use super::*;

    fn origin() -> Origin {
        Origin {
            file: PathBuf::from("agent.yaml"),
            document: 1,
            object: "AgentRuntime a".into(),
        }
    }

    fn spec(yaml: &str) -> MediaSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn with_env(spec: Option<&MediaSpec>, vars: &[(&str, &str)]) -> Result<Media, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| vars.get(name).cloned();
        resolve(&origin(), "default", spec, &Index::default(), &env)
    }

    #[test]
    fn nothing_set_is_omnias_defaults_with_storage_off() {
        let media = with_env(None, &[]).unwrap();
        assert_eq!(media, Media::none());
        assert!(!media.enabled());
        assert_eq!(media.max_file_size, 100 * 1024 * 1024);
        assert_eq!(media.upload_url_ttl, Duration::from_secs(900));
    }

    #[test]
    fn the_manifest_configures_s3_and_variables_win() {
        let spec = spec(
            "storage: {type: s3, s3: {bucket: media, prefix: /uploads/, endpoint: 'http://127.0.0.1:9000'},
              uploadURLTTL: 5m, maxFileSizeBytes: 1024, allowedMimeTypes: [image/*, Application/PDF]}",
        );
        let media = with_env(Some(&spec), &[]).unwrap();
        assert_eq!(
            media.backend,
            MediaBackend::S3 {
                bucket: "media".into(),
                region: "us-east-1".into(),
                prefix: "uploads".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                credentials: None,
            }
        );
        assert_eq!(media.upload_url_ttl, Duration::from_secs(300));
        assert_eq!(media.max_file_size, 1024);
        assert_eq!(media.allowed_mime_types, ["image/*", "application/pdf"]);
        let media = with_env(
            Some(&spec),
            &[
                ("OMNIA_MEDIA_S3_BUCKET", "other"),
                ("OMNIA_MEDIA_MAX_FILE_SIZE", "2048"),
                ("OMNIA_MEDIA_UPLOAD_URL_TTL", "1m"),
            ],
        )
        .unwrap();
        assert!(matches!(media.backend, MediaBackend::S3 { ref bucket, .. } if bucket == "other"));
        assert_eq!(media.max_file_size, 2048);
        assert_eq!(media.upload_url_ttl, Duration::from_secs(60));
    }

    #[test]
    fn variables_alone_configure_a_backend_as_in_omnia() {
        let media = with_env(
            None,
            &[
                ("OMNIA_MEDIA_STORAGE_TYPE", "local"),
                ("OMNIA_MEDIA_STORAGE_PATH", "/tmp/m"),
            ],
        )
        .unwrap();
        assert_eq!(
            media.backend,
            MediaBackend::Local {
                base_path: "/tmp/m".into()
            }
        );
        let media = with_env(None, &[("OMNIA_MEDIA_STORAGE_TYPE", "local")]).unwrap();
        assert_eq!(
            media.backend,
            MediaBackend::Local {
                base_path: DEFAULT_LOCAL_PATH.into()
            }
        );
    }

    #[test]
    fn a_backend_without_its_block_fails_naming_the_field() {
        for (kind, field) in [
            (
                "s3",
                "spec.media.storage.s3.bucket (or OMNIA_MEDIA_S3_BUCKET)",
            ),
            (
                "gcs",
                "spec.media.storage.gcs.bucket (or OMNIA_MEDIA_GCS_BUCKET)",
            ),
            (
                "azure",
                "spec.media.storage.azure.account (or OMNIA_MEDIA_AZURE_ACCOUNT)",
            ),
        ] {
            let spec = spec(&format!("storage: {{type: {kind}}}"));
            let error = with_env(Some(&spec), &[]).unwrap_err();
            assert_eq!(error.field_path(), Some(field), "{error}");
            assert!(error.reason().contains(kind), "{error}");
        }
        let error = with_env(Some(&spec("storage: {type: ftp}")), &[]).unwrap_err();
        assert!(
            error.reason().contains("`ftp` is not a storage type"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_are_refused_naming_where_they_came_from() {
        let error = with_env(None, &[("OMNIA_MEDIA_MAX_FILE_SIZE", "lots")]).unwrap_err();
        assert!(
            error
                .field_path()
                .unwrap()
                .contains("OMNIA_MEDIA_MAX_FILE_SIZE"),
            "{error}"
        );
        let error = with_env(Some(&spec("storage: {downloadURLTTL: 200h}")), &[]).unwrap_err();
        assert!(error.reason().contains("7 days"), "{error}");
        let error =
            with_env(Some(&spec("storage: {allowedMimeTypes: [images]}")), &[]).unwrap_err();
        assert!(error.reason().contains("`images`"), "{error}");
        let error = with_env(Some(&spec("storage: {defaultTTL: 0s}")), &[]).unwrap_err();
        assert!(error.reason().contains("longer than zero"), "{error}");
    }

    #[test]
    fn a_missing_secret_is_an_error_naming_it() {
        let spec = spec("storage: {type: s3, s3: {bucket: b}, secretRef: {name: aws}}");
        let error = with_env(Some(&spec), &[]).unwrap_err();
        assert!(
            error.reason().contains("Secret `default/aws` not found"),
            "{error}"
        );
    }
}

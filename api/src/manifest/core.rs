//! Core `v1` kinds: `Secret` and `ConfigMap`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::FieldError;
use super::common::Metadata;

/// A `v1` Secret. `stringData` wins over `data` for the same key, as on an API server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Secret {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default, rename = "type")]
    pub secret_type: Option<String>,
    /// Base64-encoded values.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Plain values.
    #[serde(default)]
    pub string_data: BTreeMap<String, String>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

/// A value read from a Secret, with the field it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValue {
    pub bytes: Vec<u8>,
    /// `data.KEY` or `stringData.KEY`.
    pub field: String,
}

impl Secret {
    /// The value under `key`, decoded, or `None` when the Secret has no such key.
    ///
    /// # Errors
    /// The field and reason when `data.KEY` is not valid base64.
    pub fn get(&self, key: &str) -> Result<Option<SecretValue>, FieldError> {
        if let Some(text) = self.string_data.get(key) {
            return Ok(Some(SecretValue {
                bytes: text.as_bytes().to_vec(),
                field: format!("stringData.{key}"),
            }));
        }
        let Some(encoded) = self.data.get(key) else {
            return Ok(None);
        };
        let field = format!("data.{key}");
        // Kubernetes accepts base64 with surrounding whitespace from block scalars.
        match STANDARD.decode(encoded.trim()) {
            Ok(bytes) => Ok(Some(SecretValue { bytes, field })),
            Err(e) => Err(FieldError::new(&field, format!("not valid base64: {e}"))),
        }
    }

    /// The value under `key` as trimmed UTF-8 text.
    ///
    /// # Errors
    /// As [`Secret::get`], or when the value is not UTF-8.
    pub fn get_text(&self, key: &str) -> Result<Option<String>, FieldError> {
        let Some(value) = self.get(key)? else {
            return Ok(None);
        };
        match String::from_utf8(value.bytes) {
            // Values are often written with `echo`, which leaves a trailing newline.
            Ok(text) => Ok(Some(text.trim().to_owned())),
            Err(_) => Err(FieldError::new(&value.field, "not UTF-8 text")),
        }
    }

    /// Every key the Secret holds (`data` and `stringData`).
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .data
            .keys()
            .chain(self.string_data.keys())
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// A `v1` ConfigMap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigMap {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Base64-encoded values.
    #[serde(default)]
    pub binary_data: BTreeMap<String, String>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

impl ConfigMap {
    /// The text under `key` (from `data`, else decoded from `binaryData`).
    ///
    /// # Errors
    /// The field and reason when a `binaryData` value is not base64 or not UTF-8.
    pub fn get_text(&self, key: &str) -> Result<Option<String>, FieldError> {
        if let Some(text) = self.data.get(key) {
            return Ok(Some(text.clone()));
        }
        let Some(encoded) = self.binary_data.get(key) else {
            return Ok(None);
        };
        let field = format!("binaryData.{key}");
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|e| FieldError::new(&field, format!("not valid base64: {e}")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| FieldError::new(&field, "not UTF-8 text"))
    }

    /// Every key (`data` and `binaryData`), sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .data
            .keys()
            .chain(self.binary_data.keys())
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Kept for exported objects that carry a `status`; never read.
pub(crate) type Status = Option<IgnoredAny>;

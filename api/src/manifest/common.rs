//! Pieces shared by several kinds: object metadata, references, numbers written as strings.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

/// `metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    /// Absent means `default`, as in a cluster.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    // Written by the API server and kept by `kubectl get -o yaml`; accepted so exported objects
    // load, and ignored because they mean nothing outside a cluster.
    #[serde(default, rename = "uid")]
    _uid: Option<IgnoredAny>,
    #[serde(default, rename = "resourceVersion")]
    _resource_version: Option<IgnoredAny>,
    #[serde(default, rename = "creationTimestamp")]
    _creation_timestamp: Option<IgnoredAny>,
    #[serde(default, rename = "generation")]
    _generation: Option<IgnoredAny>,
}

impl Metadata {
    /// `metadata.namespace`, or `default`.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// A reference by name, optionally in another namespace (`providerRef`, `toolRegistryRef`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A reference by name in the same namespace (Kubernetes' `LocalObjectReference`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalRef {
    pub name: String,
}

/// A key of a Secret; `key` absent means "the conventional key for the use".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    #[serde(default)]
    pub key: Option<String>,
}

/// A decimal that Omnia's CRDs write as a string (`temperature: "0.7"`) and people write as a
/// number; both are accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decimal(pub f64);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DecimalVisitor;

        impl Visitor<'_> for DecimalVisitor {
            type Value = Decimal;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string holding a number")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                if v.is_finite() {
                    Ok(Decimal(v))
                } else {
                    Err(E::custom(format!("`{v}` is not a finite number")))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                // Manifest values are small; the conversion is exact for them.
                #[allow(clippy::cast_precision_loss)]
                Ok(Decimal(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                #[allow(clippy::cast_precision_loss)]
                Ok(Decimal(v as f64))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                match v.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() => Ok(Decimal(n)),
                    _ => Err(E::custom(format!("`{v}` is not a number"))),
                }
            }
        }

        deserializer.deserialize_any(DecimalVisitor)
    }
}

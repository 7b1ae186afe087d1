//! Pieces shared by several kinds: object metadata, references, numbers written as strings.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `metadata`: Kubernetes' own `ObjectMeta`, so everything a cluster writes (`uid`,
/// `ownerReferences`, `finalizers`, `managedFields`, `generateName`, ...) loads unchanged.
pub type Metadata = ObjectMeta;

/// What the loader reads from [`Metadata`].
pub trait MetadataExt {
    /// `metadata.name`; empty when absent (the index refuses such documents).
    fn name_str(&self) -> &str;
    /// `metadata.namespace`, or `default`, as in a cluster.
    fn namespace_or_default(&self) -> &str;
    /// The label `key`, if set.
    fn label(&self, key: &str) -> Option<&str>;
}

impl MetadataExt for ObjectMeta {
    fn name_str(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn namespace_or_default(&self) -> &str {
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns,
            _ => "default",
        }
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }
}

/// A reference by name, optionally in another namespace (`providerRef`, `toolRegistryRef`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference by name in the same namespace (Kubernetes' `LocalObjectReference`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalRef {
    pub name: String,
}

/// A key of a Secret; `key` absent means "the conventional key for the use".
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A decimal that Omnia's CRDs write as a string (`temperature: "0.7"`) and people write as a
/// number; both are accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decimal(pub f64);

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl JsonSchema for Decimal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }

    /// A number or a string: a structural schema cannot say "one of two types", so the API
    /// server keeps the value as written and the loader checks it.
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        super::kube_schema::any_value(generator)
    }
}

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

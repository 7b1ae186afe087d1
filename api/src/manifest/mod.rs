//! The raw manifests, exactly as written: serde types that refuse unknown fields, so a typo fails
//! at start-up with its path instead of being silently ignored.
//!
//! [`parse_document`] turns one YAML/JSON document into a [`Document`]; resolving references
//! between documents is the loader's job ([`crate::load`]).

pub mod agent_runtime;
pub mod auth;
pub mod common;
pub mod core;
pub mod kube_schema;
pub mod media;
pub mod prompt_pack;
pub mod provider;
pub mod status;
pub mod tool_registry;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use self::agent_runtime::AgentRuntimeSpec;
pub use self::common::{Metadata, MetadataExt};
pub use self::core::{ConfigMap, Secret};
pub use self::prompt_pack::PromptPackSpec;
pub use self::provider::ProviderSpec;
pub use self::tool_registry::ToolRegistrySpec;

/// The API group/version of Omnia's custom resources.
pub const OMNIA_API_VERSION: &str = "omnia.altairalabs.ai/v1alpha1";

/// A custom resource: `apiVersion`, `kind`, `metadata`, `spec` (and an exported `status`, ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resource<S> {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
    // Present in objects exported from a cluster; the loader has no use for it.
    #[serde(default, rename = "status")]
    _status: self::core::Status,
}

impl<S> Resource<S> {
    /// Whether the document carries a `status` (exported from a cluster); it is never read.
    pub fn has_status(&self) -> bool {
        self._status.is_some()
    }
}

/// An `AgentRuntime`.
pub type AgentRuntime = Resource<AgentRuntimeSpec>;
/// A `PromptPack`.
pub type PromptPack = Resource<PromptPackSpec>;
/// A `Provider`.
pub type Provider = Resource<ProviderSpec>;
/// A `ToolRegistry`.
pub type ToolRegistry = Resource<ToolRegistrySpec>;

/// One manifest document of a kind the loader understands.
#[derive(Debug, Clone)]
pub enum Document {
    AgentRuntime(Box<AgentRuntime>),
    PromptPack(Box<PromptPack>),
    Provider(Box<Provider>),
    ToolRegistry(Box<ToolRegistry>),
    Secret(Box<Secret>),
    ConfigMap(Box<ConfigMap>),
}

impl Document {
    /// The document's `metadata`.
    pub fn metadata(&self) -> &Metadata {
        match self {
            Self::AgentRuntime(o) => &o.metadata,
            Self::PromptPack(o) => &o.metadata,
            Self::Provider(o) => &o.metadata,
            Self::ToolRegistry(o) => &o.metadata,
            Self::Secret(o) => &o.metadata,
            Self::ConfigMap(o) => &o.metadata,
        }
    }

    /// The document's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AgentRuntime(_) => "AgentRuntime",
            Self::PromptPack(_) => "PromptPack",
            Self::Provider(_) => "Provider",
            Self::ToolRegistry(_) => "ToolRegistry",
            Self::Secret(_) => "Secret",
            Self::ConfigMap(_) => "ConfigMap",
        }
    }
}

/// Why a document did not parse: the field path (`spec.facade.type`) when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Option<String>,
    pub reason: String,
}

impl FieldError {
    /// An error at `field`.
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            reason: reason.into(),
        }
    }
}

/// The API group of Omnia's custom resources.
pub const OMNIA_GROUP: &str = "omnia.altairalabs.ai";

const OMNIA_KINDS: &[&str] = &["AgentRuntime", "PromptPack", "Provider", "ToolRegistry"];
const CORE_KINDS: &[&str] = &["Secret", "ConfigMap"];
/// Omnia's other kinds (its `config/crd/bases`): real Omnia resources that configure nothing the
/// gateway or runtime serves, so a file exported from an Omnia cluster may hold them.
const OMNIA_UNUSED_KINDS: &[&str] = &[
    "AgentPolicy",
    "ArenaConfig",
    "ArenaDevSession",
    "ArenaJob",
    "ArenaSource",
    "ArenaTemplateSource",
    "MemoryPolicy",
    "MemoryRetentionPolicy",
    "PromptPackSource",
    "RolloutAnalysis",
    "SessionAnalyticsSync",
    "SessionPrivacyPolicy",
    "SessionRetentionPolicy",
    "SessionStreamingConfig",
    "SkillSource",
    "ToolPolicy",
    "Workspace",
];

/// One parsed document: a kind the loader uses, or one it skips.
#[derive(Debug, Clone)]
pub enum Parsed {
    Used(Document),
    /// A kind nothing here acts on (a Namespace, a Deployment, Omnia's Workspace, ...).
    Skipped {
        api_version: String,
        kind: String,
    },
}

/// Parses one document (already read from YAML or JSON) by its `apiVersion` and `kind`.
///
/// Kinds outside Omnia's API group that are not Secrets or ConfigMaps are skipped, and so are
/// Omnia's kinds that configure nothing served here; a kind in Omnia's group that Omnia does not
/// define is an error, since it is most likely a typo.
///
/// # Errors
/// The field path and reason when the kind is unknown or a field is unknown, missing or bad.
pub fn parse_document(value: Value) -> Result<Parsed, FieldError> {
    let Value::Object(map) = &value else {
        return Err(FieldError {
            field: None,
            reason: format!(
                "a manifest document must be a mapping with apiVersion and kind, found {}",
                json_type(&value)
            ),
        });
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let api_version = text("apiVersion").ok_or_else(|| FieldError::new("apiVersion", "missing"))?;
    let kind = text("kind").ok_or_else(|| FieldError::new("kind", "missing"))?;
    let in_omnia_group = api_version.split('/').next() == Some(OMNIA_GROUP);
    let expected = if OMNIA_KINDS.contains(&kind.as_str()) {
        OMNIA_API_VERSION
    } else if CORE_KINDS.contains(&kind.as_str()) {
        "v1"
    } else if !in_omnia_group || OMNIA_UNUSED_KINDS.contains(&kind.as_str()) {
        return Ok(Parsed::Skipped { api_version, kind });
    } else {
        return Err(FieldError::new(
            "kind",
            format!(
                "unknown kind `{kind}` in {OMNIA_GROUP}: the kinds used here are AgentRuntime, \
                 PromptPack, Provider and ToolRegistry; Omnia also defines {}",
                OMNIA_UNUSED_KINDS.join(", ")
            ),
        ));
    };
    check_metadata_fields(map.get("metadata"))?;
    if api_version != expected {
        return Err(FieldError::new(
            "apiVersion",
            format!(
                "unsupported apiVersion `{api_version}` for kind {kind}: expected `{expected}`"
            ),
        ));
    }
    Ok(Parsed::Used(match kind.as_str() {
        "AgentRuntime" => Document::AgentRuntime(typed(value)?),
        "PromptPack" => Document::PromptPack(typed(value)?),
        "Provider" => Document::Provider(typed(value)?),
        "ToolRegistry" => Document::ToolRegistry(typed(value)?),
        "Secret" => Document::Secret(typed(value)?),
        _ => Document::ConfigMap(typed(value)?),
    }))
}

/// Every field of Kubernetes' `ObjectMeta`.
const OBJECT_META_FIELDS: &[&str] = &[
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// `ObjectMeta`'s own deserializer ignores unknown fields; a typo such as `lables` would then
/// silently drop the labels that select client keys, so it is refused here instead.
fn check_metadata_fields(metadata: Option<&Value>) -> Result<(), FieldError> {
    let Some(Value::Object(fields)) = metadata else {
        return Ok(());
    };
    match fields
        .keys()
        .find(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
    {
        Some(unknown) => Err(FieldError::new(
            &format!("metadata.{unknown}"),
            format!(
                "unknown field `{unknown}`, expected one of {}",
                OBJECT_META_FIELDS.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Deserializes with the failing field's path recorded.
fn typed<T: DeserializeOwned>(value: Value) -> Result<Box<T>, FieldError> {
    serde_path_to_error::deserialize(value)
        .map(Box::new)
        .map_err(|e| {
            let path = e.path().to_string();
            // serde_path_to_error renders the root as "."; the root has no field to name.
            let field = (path != ".").then_some(path);
            FieldError {
                field,
                reason: e.into_inner().to_string(),
            }
        })
}

/// `a string`, `a list`, ...: for messages about the wrong kind of value.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

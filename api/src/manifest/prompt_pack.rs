//! `PromptPack` (`omnia.altairalabs.ai/v1alpha1`): a versioned pack whose JSON lives in a
//! ConfigMap (or, as our convenience, inline).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::LocalRef;
use super::status::DependencyStatus;

/// `PromptPack.spec`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, CustomResource)]
#[kube(
    group = "omnia.altairalabs.ai",
    version = "v1alpha1",
    kind = "PromptPack",
    root = "PromptPackObject",
    namespaced,
    doc = "A versioned PromptPack whose JSON lives in a ConfigMap (or inline).",
    status = "DependencyStatus",
    shortname = "pp",
    printcolumn = r#"{"name": "Version", "type": "string", "jsonPath": ".spec.version"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromptPackSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_name: Option<String>,
    pub source: PackSourceSpec,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
    /// Skill bindings (`[{source, include, mountAs}]`), kept for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub skills: Option<Value>,
    /// `{maxActive, selector}`, kept for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub skills_config: Option<Value>,
}

/// `spec.source`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackSourceSpec {
    #[serde(rename = "type")]
    pub kind: PackSourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalRef>,
    /// Ours: the pack itself, so one file can hold everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub inline: Option<Value>,
}

/// `spec.source.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackSourceType {
    Configmap,
    Inline,
}

/// `spec.rollout`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutSpec {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<RolloutType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::kube_schema::any_value")]
    pub canary: Option<Value>,
}

/// `spec.rollout.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutType {
    Immediate,
    Canary,
}

//! `PromptPack` (`omnia.altairalabs.ai/v1alpha1`): a versioned pack whose JSON lives in a
//! ConfigMap (or, as our convenience, inline).

use serde::Deserialize;
use serde_json::Value;

use super::common::LocalRef;

/// `PromptPack.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromptPackSpec {
    #[serde(default)]
    pub pack_name: Option<String>,
    pub source: PackSourceSpec,
    pub version: String,
    #[serde(default)]
    pub rollout: Option<RolloutSpec>,
    /// Skill bindings (`[{source, include, mountAs}]`), kept for the operator.
    #[serde(default)]
    pub skills: Option<Value>,
    /// `{maxActive, selector}`, kept for the operator.
    #[serde(default)]
    pub skills_config: Option<Value>,
}

/// `spec.source`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackSourceSpec {
    #[serde(rename = "type")]
    pub kind: PackSourceType,
    #[serde(default)]
    pub config_map_ref: Option<LocalRef>,
    /// Ours: the pack itself, so one file can hold everything.
    #[serde(default)]
    pub inline: Option<Value>,
}

/// `spec.source.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackSourceType {
    Configmap,
    Inline,
}

/// `spec.rollout`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutSpec {
    #[serde(default, rename = "type")]
    pub kind: Option<RolloutType>,
    #[serde(default)]
    pub canary: Option<Value>,
}

/// `spec.rollout.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutType {
    Immediate,
    Canary,
}

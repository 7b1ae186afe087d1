//! `AgentRuntime.spec.externalAuth`: the data-plane validators.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::LocalRef;

/// `spec.externalAuth`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalAuthSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_keys: Option<ClientKeysSpec>,
    /// Omnia's older name for `clientKeys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<ClientKeysSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_trust: Option<EdgeTrustSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_token: Option<SharedTokenSpec>,
}

/// `clientKeys` / `apiKeys`: a policy toggle; the keys live in labelled Secrets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientKeysSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_end_user_header: Option<bool>,
}

/// `oidc`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcSpec {
    pub issuer: String,
    pub audience: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_mapping: Option<ClaimMappingSpec>,
    /// Our extension: a local JWKS file (relative paths are relative to the manifest file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// Our extension: an explicit JWKS URL instead of the one OIDC discovery finds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
}

/// `oidc.claimMapping`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimMappingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
}

/// `edgeTrust`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EdgeTrustSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_mapping: Option<HeaderMappingSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims_from_headers: BTreeMap<String, String>,
}

/// `edgeTrust.headerMapping`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeaderMappingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `sharedToken`: one bearer token in a Secret (key `token`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SharedTokenSpec {
    pub secret_ref: LocalRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_end_user_header: Option<bool>,
}

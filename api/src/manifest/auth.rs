//! `AgentRuntime.spec.externalAuth`: the data-plane validators.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::common::LocalRef;

/// `spec.externalAuth`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalAuthSpec {
    #[serde(default)]
    pub client_keys: Option<ClientKeysSpec>,
    /// Omnia's older name for `clientKeys`.
    #[serde(default)]
    pub api_keys: Option<ClientKeysSpec>,
    #[serde(default)]
    pub oidc: Option<OidcSpec>,
    #[serde(default)]
    pub edge_trust: Option<EdgeTrustSpec>,
    #[serde(default)]
    pub shared_token: Option<SharedTokenSpec>,
}

/// `clientKeys` / `apiKeys`: a policy toggle; the keys live in labelled Secrets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientKeysSpec {
    #[serde(default)]
    pub default_role: Option<String>,
    #[serde(default)]
    pub trust_end_user_header: Option<bool>,
}

/// `oidc`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcSpec {
    pub issuer: String,
    pub audience: String,
    #[serde(default)]
    pub claim_mapping: Option<ClaimMappingSpec>,
    /// Our extension: a local JWKS file (relative paths are relative to the manifest file).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Our extension: an explicit JWKS URL instead of the one OIDC discovery finds.
    #[serde(default)]
    pub jwks_url: Option<String>,
}

/// `oidc.claimMapping`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimMappingSpec {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub end_user: Option<String>,
}

/// `edgeTrust`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EdgeTrustSpec {
    #[serde(default)]
    pub header_mapping: Option<HeaderMappingSpec>,
    #[serde(default)]
    pub claims_from_headers: BTreeMap<String, String>,
}

/// `edgeTrust.headerMapping`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeaderMappingSpec {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub end_user: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `sharedToken`: one bearer token in a Secret (key `token`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SharedTokenSpec {
    pub secret_ref: LocalRef,
    #[serde(default)]
    pub trust_end_user_header: Option<bool>,
}

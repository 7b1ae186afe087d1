//! `spec.externalAuth`, and the client-key Secrets labelled for the agent.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::provider::relative_to;
use crate::error::ConfigError;
use crate::index::{Entry, Index};
use crate::manifest::AgentRuntime;
use crate::manifest::Secret;
use crate::manifest::auth::{ClientKeysSpec, EdgeTrustSpec, OidcSpec};
use crate::resolved::{ClientKey, ClientKeysPolicy, EdgeTrust, ExternalAuth, JwksSource, Oidc};

/// Label marking a Secret as a client key.
const CREDENTIAL_KIND_LABEL: &str = "omnia.altairalabs.ai/credential-kind";
/// Value of [`CREDENTIAL_KIND_LABEL`] for client keys.
const CLIENT_KEY_KIND: &str = "agent-client-key";
/// Label naming the agent a client key admits to.
const AGENT_LABEL: &str = "omnia.altairalabs.ai/agent";

/// Resolves the agent's external auth; client keys are collected only when asked for.
pub(super) fn resolve(
    entry: &Entry<AgentRuntime>,
    index: &Index,
) -> Result<ExternalAuth, ConfigError> {
    let Some(spec) = &entry.obj.spec.external_auth else {
        return Ok(ExternalAuth::default());
    };
    let origin = &entry.origin;
    let policy = match (&spec.client_keys, &spec.api_keys) {
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "spec.externalAuth.apiKeys",
                "set only one of clientKeys and apiKeys (apiKeys is the older name)",
            ));
        }
        (Some(p), None) | (None, Some(p)) => Some(client_keys(entry, p, index)?),
        (None, None) => None,
    };
    let oidc = match &spec.oidc {
        Some(o) => Some(oidc(entry, o)?),
        None => None,
    };
    Ok(ExternalAuth {
        client_keys: policy,
        oidc,
        edge_trust: spec.edge_trust.as_ref().map(edge_trust),
    })
}

fn client_keys(
    entry: &Entry<AgentRuntime>,
    spec: &ClientKeysSpec,
    index: &Index,
) -> Result<ClientKeysPolicy, ConfigError> {
    let agent = &entry.obj.metadata;
    let default_role = spec.default_role.clone().filter(|r| !r.is_empty());
    let mut keys = Vec::new();
    for ((ns, _), secret) in &index.secrets {
        let labels = &secret.obj.metadata.labels;
        let is_ours = ns == agent.namespace()
            && labels.get(CREDENTIAL_KIND_LABEL).map(String::as_str) == Some(CLIENT_KEY_KIND)
            && labels.get(AGENT_LABEL) == Some(&agent.name);
        if is_ours {
            keys.push(client_key(secret, default_role.as_deref())?);
        }
    }
    Ok(ClientKeysPolicy {
        default_role,
        trust_end_user_header: spec.trust_end_user_header.unwrap_or(false),
        keys,
    })
}

/// One client-key Secret: `keyHash` (base64 of the raw SHA-256 digest), `expiresAt`, `scopes`,
/// `role`.
fn client_key(
    secret: &Entry<Secret>,
    default_role: Option<&str>,
) -> Result<ClientKey, ConfigError> {
    let err = |e| secret.origin.field_error(e);
    let text = |key: &str| secret.obj.get_text(key).map_err(err);
    let Some(hash) = secret.obj.get("keyHash").map_err(err)? else {
        return Err(secret
            .origin
            .error("data.keyHash", "missing: a client-key Secret needs keyHash"));
    };
    let digest = STANDARD.decode(hash.bytes.trim_ascii()).map_err(|e| {
        secret.origin.error(
            hash.field.clone(),
            format!("not the base64 text of a SHA-256 digest: {e}"),
        )
    })?;
    let sha256: [u8; 32] = digest.as_slice().try_into().map_err(|_| {
        secret.origin.error(
            hash.field.clone(),
            format!(
                "decodes to {} bytes; a SHA-256 digest is 32 bytes",
                digest.len()
            ),
        )
    })?;
    let expires_at_unix = match text("expiresAt")? {
        Some(when) if !when.is_empty() => Some(
            OffsetDateTime::parse(&when, &Rfc3339)
                .map_err(|e| {
                    let field = field_of(&secret.obj, "expiresAt");
                    secret
                        .origin
                        .error(field, format!("`{when}` is not an RFC 3339 time: {e}"))
                })?
                .unix_timestamp(),
        ),
        _ => None,
    };
    let scopes = text("scopes")?
        .map(|s| {
            s.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let role = text("role")?
        .filter(|r| !r.is_empty())
        .or_else(|| default_role.map(str::to_owned));
    Ok(ClientKey {
        name: secret.obj.metadata.name.clone(),
        sha256,
        expires_at_unix,
        scopes,
        role,
    })
}

/// `stringData.KEY` when the value came from there, else `data.KEY`.
fn field_of(secret: &Secret, key: &str) -> String {
    if secret.string_data.contains_key(key) {
        format!("stringData.{key}")
    } else {
        format!("data.{key}")
    }
}

fn oidc(entry: &Entry<AgentRuntime>, spec: &OidcSpec) -> Result<Oidc, ConfigError> {
    let origin = &entry.origin;
    if spec.issuer.is_empty() {
        return Err(origin.error("spec.externalAuth.oidc.issuer", "must not be empty"));
    }
    if spec.audience.is_empty() {
        return Err(origin.error("spec.externalAuth.oidc.audience", "must not be empty"));
    }
    let jwks = match (&spec.jwks_file, &spec.jwks_url) {
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "spec.externalAuth.oidc.jwksUrl",
                "set only one of jwksFile and jwksUrl",
            ));
        }
        (Some(file), None) => JwksSource::File(relative_to(&origin.file, file)),
        (None, Some(url)) => JwksSource::Url(url.clone()),
        (None, None) => JwksSource::Url(format!(
            "{}/.well-known/jwks.json",
            spec.issuer.trim_end_matches('/')
        )),
    };
    let mapping = spec.claim_mapping.clone().unwrap_or_default();
    let or = |v: Option<String>, default: &str| {
        v.filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    Ok(Oidc {
        issuer: spec.issuer.clone(),
        audience: spec.audience.clone(),
        jwks,
        subject_claim: or(mapping.subject, "sub"),
        role_claim: or(mapping.role, "omnia.role"),
        end_user_claim: or(mapping.end_user, "sub"),
    })
}

fn edge_trust(spec: &EdgeTrustSpec) -> EdgeTrust {
    let mapping = spec.header_mapping.clone().unwrap_or_default();
    // Header names are case-insensitive; consumers compare against lower case.
    let header = |v: Option<String>, default: &str| {
        v.filter(|v| !v.is_empty())
            .map_or_else(|| default.to_owned(), |v| v.to_ascii_lowercase())
    };
    EdgeTrust {
        subject_header: header(mapping.subject, "x-user-id"),
        role_header: header(mapping.role, "x-user-roles"),
        end_user_header: header(mapping.end_user, "x-user-id"),
        email_header: header(mapping.email, "x-user-email"),
        claims_from_headers: spec
            .claims_from_headers
            .iter()
            .map(|(h, c)| (h.to_ascii_lowercase(), c.clone()))
            .collect(),
    }
}

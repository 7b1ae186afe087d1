//! `spec.externalAuth`, and the client-key Secrets labelled for the agent.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::provider::relative_to;
use crate::error::ConfigError;
use crate::index::{Entry, Index};
use crate::manifest::auth::{ClientKeysSpec, EdgeTrustSpec, OidcSpec};
use crate::manifest::{AgentRuntime, Metadata, MetadataExt as _, Secret};
use crate::resolved::{
    ClientKey, ClientKeysPolicy, EdgeTrust, ExternalAuth, JwksSource, Notice, Oidc,
};

/// Label marking a Secret as a client key.
const CREDENTIAL_KIND_LABEL: &str = "omnia.altairalabs.ai/credential-kind";
/// Value of [`CREDENTIAL_KIND_LABEL`] for client keys.
const CLIENT_KEY_KIND: &str = "agent-client-key";
/// Label naming the agent a client key admits to.
const AGENT_LABEL: &str = "omnia.altairalabs.ai/agent";

/// Omnia's default role for client keys whose Secret names no claims.
const DEFAULT_ROLE: &str = "viewer";
/// The infix of the Secret names Omnia's dashboard mints: `agent-<agent>-clientkey-<id>`.
const KEY_NAME_INFIX: &str = "-clientkey-";

/// Resolves the agent's external auth; client keys are collected only when asked for. A
/// malformed key Secret is left out with a warning (as Omnia), so one bad Secret does not lock
/// every caller out.
pub(super) fn resolve(
    entry: &Entry<AgentRuntime>,
    index: &Index,
    notices: &mut Vec<Notice>,
) -> Result<ExternalAuth, ConfigError> {
    let Some(spec) = &entry.obj.spec.external_auth else {
        return Ok(ExternalAuth::default());
    };
    let origin = &entry.origin;
    if spec.shared_token.is_some() {
        return Err(origin.error(
            "spec.externalAuth.sharedToken",
            "no longer supported (Omnia removed it): issue per-caller keys with \
             spec.externalAuth.clientKeys and client-key Secrets instead",
        ));
    }
    let policy = match (&spec.client_keys, &spec.api_keys) {
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "spec.externalAuth.apiKeys",
                "set only one of clientKeys and apiKeys (apiKeys is the older name)",
            ));
        }
        (Some(p), None) | (None, Some(p)) => Some(client_keys(entry, p, index, notices)),
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
    notices: &mut Vec<Notice>,
) -> ClientKeysPolicy {
    let agent = &entry.obj.metadata;
    let name = agent.name_str();
    let default_role = spec
        .default_role
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| DEFAULT_ROLE.to_owned());
    let mut keys = Vec::new();
    for ((ns, _), secret) in &index.secrets {
        let meta = &secret.obj.metadata;
        let labelled = ns == agent.namespace_or_default()
            && meta.label(CREDENTIAL_KIND_LABEL) == Some(CLIENT_KEY_KIND)
            && meta.label(AGENT_LABEL) == Some(name);
        if !labelled {
            continue;
        }
        if let Some(why) = not_owned_by(agent, meta) {
            notices.push(Notice::warning(format!(
                "{}: not a client key of AgentRuntime {name}: {why}",
                secret.origin.label()
            )));
            continue;
        }
        match client_key(secret, name, &default_role) {
            Ok(key) => keys.push(key),
            Err(e) => notices.push(Notice::warning(format!(
                "client-key Secret left out, the agent's other keys still work: {e}"
            ))),
        }
    }
    ClientKeysPolicy {
        default_role,
        trust_end_user_header: spec.trust_end_user_header.unwrap_or(false),
        keys,
    }
}

/// Why `secret` does not belong to `agent` by its owner references, if it does not.
///
/// As Omnia: when the AgentRuntime has a `uid` (it came from a cluster), the Secret must name it
/// among its owners. Without one, a Secret owned by an AgentRuntime of another name is not ours.
fn not_owned_by(agent: &Metadata, secret: &Metadata) -> Option<String> {
    let owners = secret.owner_references.as_deref().unwrap_or_default();
    if let Some(uid) = agent.uid.as_deref().filter(|u| !u.is_empty()) {
        if owners.iter().any(|o| o.uid == uid) {
            return None;
        }
        return Some(format!(
            "its ownerReferences do not name the AgentRuntime's uid {uid}"
        ));
    }
    let runtimes: Vec<_> = owners.iter().filter(|o| o.kind == "AgentRuntime").collect();
    let name = agent.name_str();
    if runtimes.is_empty() || runtimes.iter().any(|o| o.name == name) {
        return None;
    }
    Some(format!(
        "its ownerReferences name AgentRuntime {}",
        runtimes
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// One client-key Secret as Omnia stores it: `data.keyHash` the raw 32-byte SHA-256 digest of
/// the key (so its YAML is the base64 of those bytes), `data.scopes` a JSON object of string
/// claims, `data.expiresAt` RFC 3339.
fn client_key(
    secret: &Entry<Secret>,
    agent: &str,
    default_role: &str,
) -> Result<ClientKey, ConfigError> {
    let err = |e| secret.origin.field_error(e);
    let Some(hash) = secret.obj.get("keyHash").map_err(err)? else {
        return Err(secret
            .origin
            .error("data.keyHash", "missing: a client-key Secret needs keyHash"));
    };
    let sha256: [u8; 32] = hash.bytes.as_slice().try_into().map_err(|_| {
        secret.origin.error(
            hash.field.clone(),
            format!(
                "holds {} bytes; it must be the raw 32-byte SHA-256 digest of the key (in \
                 `data`, the base64 of those 32 bytes: `printf %s \"$KEY\" | sha256sum | \
                 xxd -r -p | base64`), not hex or base64 text",
                hash.bytes.len()
            ),
        )
    })?;
    let expires_at_unix = match secret.obj.get_text("expiresAt").map_err(err)? {
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
    let mut claims = match secret.obj.get("scopes").map_err(err)? {
        Some(scopes) if !scopes.bytes.is_empty() => serde_json::from_slice::<
            BTreeMap<String, String>,
        >(&scopes.bytes)
        .map_err(|e| {
            secret.origin.error(
                scopes.field.clone(),
                format!("not a JSON object of string claims (e.g. {{\"role\": \"editor\"}}): {e}"),
            )
        })?,
        _ => BTreeMap::new(),
    };
    if claims.is_empty() {
        claims.insert("role".to_owned(), default_role.to_owned());
    }
    let secret_name = secret.obj.metadata.name_str();
    let prefix = format!("agent-{agent}{KEY_NAME_INFIX}");
    let id = secret_name
        .strip_prefix(&prefix)
        .filter(|id| !id.is_empty())
        .unwrap_or(secret_name);
    Ok(ClientKey {
        id: id.to_owned(),
        secret: secret_name.to_owned(),
        sha256,
        expires_at_unix,
        claims,
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
        (None, None) => JwksSource::Discover,
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

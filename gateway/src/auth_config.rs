//! Turns an AgentRuntime's `spec.externalAuth` (and `OMNIA_FACADE_ALLOW_UNAUTHENTICATED`) into that
//! function's external [`AuthChain`], and the process-wide management-plane key into the
//! [`ManagementPlane`] of the internal listener.

use std::collections::HashMap;

use http::HeaderName;
use omnia_api::{Agent, JwksSource as ApiJwks};
use omnia_middleware::auth::{
    AuthChain, ClaimNames, ClientKey, ClientKeys, EdgeTrust, JwksSource, JwtConfig, JwtValidator,
    ManagementKey, ManagementPlane,
};

use crate::app::GatewayOptions;

/// The external chain for `agent`, validators in DESIGN.md 4.5's order. The management plane is
/// not in it: dashboard tokens are for the internal listener only.
pub async fn chain_for(agent: &Agent, options: &GatewayOptions) -> Result<AuthChain, String> {
    let auth = &agent.auth;
    // Both only ever open a chain with no validator: the chain ignores the flag otherwise.
    let allow = options.allow_unauthenticated || options.open_when_unconfigured;
    let mut builder = AuthChain::builder().allow_unauthenticated(allow);
    if let Some(policy) = &auth.client_keys {
        let keys = policy
            .keys
            .iter()
            .map(|key| {
                let mut client_key = ClientKey::from_digest(key.id.clone(), key.sha256);
                client_key.expires_at_unix = key.expires_at_unix;
                client_key.claims = key.claims.clone();
                client_key
            })
            .collect();
        builder = builder.client_keys(ClientKeys {
            keys,
            default_role: Some(policy.default_role.clone()),
            trust_end_user_header: policy.trust_end_user_header,
        });
    }
    if let Some(oidc) = &auth.oidc {
        let jwks = match &oidc.jwks {
            ApiJwks::File(path) => JwksSource::File(path.clone()),
            ApiJwks::Url(url) => JwksSource::Url(url.clone()),
            ApiJwks::Discover => JwksSource::Discover,
        };
        let mut config = JwtConfig::new(oidc.issuer.clone(), oidc.audience.clone(), jwks);
        config.claims = ClaimNames {
            subject: oidc.subject_claim.clone(),
            role: oidc.role_claim.clone(),
            end_user: oidc.end_user_claim.clone(),
            ..ClaimNames::default()
        };
        let validator = JwtValidator::new(config)
            .await
            .map_err(|e| format!("oidc: {e}"))?;
        builder = builder.oidc(validator);
    }
    if let Some(edge) = &auth.edge_trust {
        builder = builder.edge_trust(EdgeTrust {
            subject_header: header(&edge.subject_header)?,
            role_header: header(&edge.role_header)?,
            end_user_header: header(&edge.end_user_header)?,
            email_header: header(&edge.email_header)?,
            default_role: None,
            claims_from_headers: edge
                .claims_from_headers
                .iter()
                .map(|(h, claim)| Ok((header(h)?, claim.clone())))
                .collect::<Result<HashMap<_, _>, String>>()?,
        });
    }
    builder.build().map_err(|e| e.to_string())
}

/// The dashboard's keys, from `--management-plane-key` (a PEM file) or
/// `OMNIA_MGMT_PLANE_JWKS_URL`; `None` when neither is set (the internal listener then refuses
/// every call, as Omnia's does without a dashboard).
pub async fn management_plane(options: &GatewayOptions) -> Result<Option<ManagementPlane>, String> {
    let key = match (
        &options.management_plane_key,
        &options.management_plane_jwks_url,
    ) {
        (Some(_), Some(_)) => {
            return Err(
                "set either a management-plane key file or a JWKS URL, not both".to_owned(),
            );
        }
        (Some(path), None) => ManagementKey::PemFile(path.clone()),
        (None, Some(url)) => ManagementKey::Jwks(JwksSource::Url(url.clone())),
        (None, None) => return Ok(None),
    };
    ManagementPlane::new(key)
        .await
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The internal listener's chain for `agent`: management-plane tokens only, scoped to the agent
/// and, when it is known, its workspace.
pub fn management_chain_for(
    agent: &Agent,
    plane: Option<&ManagementPlane>,
    workspace: Option<&str>,
) -> AuthChain {
    AuthChain::management(plane.map(|p| p.for_agent(agent.name.clone(), workspace)))
}

fn header(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))
}

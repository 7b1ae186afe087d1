//! Turns an AgentRuntime's `spec.externalAuth` (and the process-wide management-plane key and
//! `OMNIA_FACADE_ALLOW_UNAUTHENTICATED`) into that function's [`AuthChain`].

use std::collections::HashMap;

use http::HeaderName;
use omnia_api::{Agent, JwksSource as ApiJwks};
use omnia_middleware::auth::{
    AuthChain, ClaimNames, ClientKey, ClientKeys, EdgeTrust, JwksSource, JwtConfig, JwtValidator,
    ManagementKey, ManagementPlane,
};

use crate::app::GatewayOptions;

/// The chain for `agent`, validators in DESIGN.md 4.5's order.
pub async fn chain_for(agent: &Agent, options: &GatewayOptions) -> Result<AuthChain, String> {
    let auth = &agent.auth;
    let unconfigured =
        auth.client_keys.is_none() && auth.oidc.is_none() && auth.edge_trust.is_none();
    let allow = options.allow_unauthenticated || (options.open_when_unconfigured && unconfigured);
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
    if let Some(path) = &options.management_plane_key {
        let plane = ManagementPlane::new(ManagementKey::PemFile(path.clone()))
            .await
            .map_err(|e| format!("management plane: {e}"))?;
        builder = builder.management_plane(plane);
    }
    builder.build().map_err(|e| e.to_string())
}

fn header(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))
}

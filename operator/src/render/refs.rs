//! The names an AgentRuntime reaches through: its PromptPack, Providers, ToolRegistry and the
//! Secrets they all name, so the reconciler knows what to fetch and the watches know which
//! agents a changed object concerns.

use std::collections::BTreeSet;

use omnia_api::crd::{AgentRuntime, Provider, ToolRegistry};
use omnia_api::manifest::provider::CredentialSpec;

/// `(namespace, name)` of a referenced object.
pub type Ref = (String, String);

fn namespace(agent: &AgentRuntime) -> String {
    agent
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned())
}

/// The PromptPack the agent runs.
pub fn prompt_pack(agent: &AgentRuntime) -> Ref {
    let r = &agent.spec.prompt_pack_ref;
    (
        r.namespace.clone().unwrap_or_else(|| namespace(agent)),
        r.name.clone(),
    )
}

/// The Provider objects the agent names (`providers[]` and the older `providerRef`).
pub fn providers(agent: &AgentRuntime) -> Vec<Ref> {
    let own = namespace(agent);
    let mut out: Vec<Ref> = agent
        .spec
        .providers
        .iter()
        .map(|p| &p.provider_ref)
        .chain(agent.spec.provider_ref.as_ref())
        .map(|r| {
            (
                r.namespace.clone().unwrap_or_else(|| own.clone()),
                r.name.clone(),
            )
        })
        .collect();
    out.dedup();
    out
}

/// The ToolRegistry the agent names, if any.
pub fn tool_registry(agent: &AgentRuntime) -> Option<Ref> {
    agent.spec.tool_registry_ref.as_ref().map(|r| {
        (
            r.namespace.clone().unwrap_or_else(|| namespace(agent)),
            r.name.clone(),
        )
    })
}

/// The Secrets (in the agent's namespace, where a pod can read them) that the agent and the
/// objects it references name.
pub fn secrets(
    agent: &AgentRuntime,
    providers: &[Provider],
    tools: Option<&ToolRegistry>,
) -> BTreeSet<String> {
    let spec = &agent.spec;
    let mut out = BTreeSet::new();
    if let Some(inline) = &spec.provider {
        out.extend(inline.api_key_secret_ref.iter().map(|r| r.name.clone()));
        out.extend(inline.secret_ref.iter().map(|r| r.name.clone()));
    }
    for session in [&spec.session, &spec.context].into_iter().flatten() {
        out.extend(session.store_ref.iter().map(|r| r.name.clone()));
    }
    if let Some(storage) = spec.media.as_ref().and_then(|m| m.storage.as_ref()) {
        out.extend(storage.secret_ref.iter().map(|r| r.name.clone()));
    }
    if let Some(token) = spec
        .external_auth
        .as_ref()
        .and_then(|a| a.shared_token.as_ref())
    {
        out.insert(token.secret_ref.name.clone());
    }
    for provider in providers {
        let p = &provider.spec;
        out.extend(p.secret_ref.iter().map(|r| r.name.clone()));
        let credentials = [&p.credential, &p.credentials_ref].into_iter().flatten();
        out.extend(
            credentials
                .filter_map(|c: &CredentialSpec| c.secret_ref.as_ref().map(|r| r.name.clone())),
        );
    }
    for handler in tools.iter().flat_map(|t| &t.spec.handlers) {
        if let Some(http) = &handler.http_config {
            out.extend(http.auth_secret_ref.iter().map(|r| r.name.clone()));
        }
        if let Some(openapi) = &handler.open_api_config {
            out.extend(openapi.auth_secret_ref.iter().map(|r| r.name.clone()));
        }
    }
    out
}

//! Omnia's current manifests load unchanged: the agent and function shapes of its repository,
//! objects exported from a cluster, the kinds kept next to an agent, its key Secrets; and both
//! AgentRuntime shapes resolve to one configuration.

use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{FUNCTION, agent_error, agent_ok, fixture};
use crate::{
    FacadeType, Handler, Mode, NoticeLevel, OutputFormat, ProviderRole, ProviderType,
    ResolvedConfig, SessionStore, load,
};

fn infos(config: &ResolvedConfig) -> Vec<&str> {
    config
        .notices
        .iter()
        .filter(|n| n.level == NoticeLevel::Info)
        .map(|n| n.message.as_str())
        .collect()
}

#[test]
fn omnia_agent_with_facades_context_and_roles_loads() {
    let config = load(&[fixture("omnia/agent.yaml")]).unwrap();
    let agent = config.agent("support-agent").unwrap();
    assert_eq!(agent.mode, Mode::Agent);
    let kinds: Vec<FacadeType> = agent.facades.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FacadeType::Websocket, FacadeType::A2a]);
    assert_eq!(agent.facade.kind, FacadeType::Websocket);
    assert_eq!(agent.facade.handler, Handler::Runtime);
    assert_eq!(agent.facade.drain_timeout, Some(Duration::from_secs(45)));
    assert_eq!(
        agent.facade.client_tool_timeout,
        Some(Duration::from_secs(90))
    );
    assert_eq!(agent.session.kind, SessionStore::Redis);
    assert_eq!(agent.session.ttl, Duration::from_secs(12 * 3600));
    assert_eq!(
        agent.session.store_url.as_deref(),
        Some("redis://:secret@redis.cache.svc.cluster.local:6379/2")
    );
    assert_eq!(agent.replicas, 2);
    assert_eq!(agent.provider.kind, ProviderType::Claude);
    assert_eq!(agent.provider.headers["X-Tenant"], "support");
    let embeddings = &agent.providers["embeddings"];
    assert_eq!(embeddings.kind, ProviderType::VoyageAi);
    assert_eq!(embeddings.role, ProviderRole::Embedding);
}

#[test]
fn omnia_key_secret_owned_by_the_agent_admits_with_its_claims() {
    let config = load(&[fixture("omnia/agent.yaml")]).unwrap();
    let policy = config.agents[0].auth.client_keys.as_ref().unwrap();
    assert_eq!(policy.default_role, "editor");
    let key = &policy.keys[0];
    assert_eq!(key.id, "ci");
    assert_eq!(
        key.sha256,
        <[u8; 32]>::from(Sha256::digest(b"sk-support-ci"))
    );
    assert_eq!(key.claims["role"], "admin");
    assert_eq!(key.claims["tenant"], "acme");
    assert_eq!(key.expires_at_unix, Some(1_893_456_000));
}

#[test]
fn omnia_fields_not_acted_on_are_listed_once_per_document() {
    let config = load(&[fixture("omnia/agent.yaml")]).unwrap();
    let infos = infos(&config);
    let agent = infos
        .iter()
        .find(|n| n.contains("(AgentRuntime support-agent)"))
        .unwrap();
    for field in [
        "spec.runtime",
        "spec.context",
        "spec.duplex",
        "spec.memory",
        "spec.podOverrides",
        "spec.rollout",
        "spec.serviceGroup",
        "spec.privacyPolicyRef",
        "spec.providers[0].requiredCapabilities",
        "spec.facades[0].drainTimeout",
        "spec.facades[0].expose",
        "spec.facades[1] (type a2a)",
    ] {
        assert!(agent.contains(field), "{field} missing from: {agent}");
    }
    assert!(agent.contains(": accepted, not yet acted on: "), "{agent}");
    let provider = infos
        .iter()
        .find(|n| n.contains("(Provider claude-sonnet)"))
        .unwrap();
    for field in ["spec.platform", "spec.auth"] {
        assert!(provider.contains(field), "{field} missing from: {provider}");
    }
    // Acted on: the provider's HTTP client sends the headers and keeps the timeouts.
    for field in [
        "spec.headers",
        "spec.defaults.requestTimeout",
        "spec.defaults.streamIdleTimeout",
    ] {
        assert!(!provider.contains(field), "{field} listed in: {provider}");
    }
    let pack = infos
        .iter()
        .find(|n| n.contains("(PromptPack support-pack)"))
        .unwrap();
    assert!(pack.ends_with("spec.skills, spec.skillsConfig"), "{pack}");
    for kind in [
        "Namespace",
        "Workspace",
        "SkillSource",
        "ToolPolicy",
        "MemoryPolicy",
    ] {
        let skipped = infos
            .iter()
            .filter(|n| n.contains(&format!("skipped: kind {kind} ")))
            .count();
        assert_eq!(skipped, 1, "{kind}: {infos:#?}");
    }
}

#[test]
fn omnia_function_exported_from_a_cluster_loads_with_rest_and_mcp_facades() {
    let config = load(&[fixture("omnia/function.yaml")]).unwrap();
    let function = config.agent("classify").unwrap();
    assert_eq!(function.mode, Mode::Function);
    assert_eq!(function.facade.kind, FacadeType::Function);
    let kinds: Vec<FacadeType> = function.facades.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FacadeType::Function, FacadeType::Mcp]);
    assert_eq!(function.output_format, Some(OutputFormat::Json));
    assert_eq!(function.provider.kind, ProviderType::Vllm);
    assert_eq!(
        function.provider.base_url.as_deref(),
        Some("http://vllm.functions.svc:8000/v1")
    );
    assert!(
        infos(&config)
            .iter()
            .any(|n| n.contains("skipped: kind Deployment (apps/v1)")),
    );
}

#[test]
fn seed_and_omnia_shapes_of_the_summarizer_resolve_to_the_same_function() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seed = load(&[examples.join("summarizer")])
        .unwrap()
        .agents
        .remove(0);
    let mut omnia = load(&[examples.join("summarizer-omnia")])
        .unwrap()
        .agents
        .remove(0);
    // Only what names the copy differs: its name, namespace and files.
    assert_eq!(omnia.name, "summarizer-omnia");
    for agent in [&mut seed, &mut omnia] {
        agent.name = String::new();
        agent.namespace = String::new();
        agent.source = PathBuf::new();
        agent.pack.origin = String::new();
        agent.provider.namespace = String::new();
        for provider in agent.providers.values_mut() {
            provider.namespace = String::new();
        }
    }
    assert_eq!(seed, omnia);
}

#[test]
fn function_mode_needs_exactly_one_rest_facade_and_nothing_of_agent_mode() {
    let cases = [
        (
            "[{type: mcp}]",
            "spec.facades",
            "requires exactly one 'rest' facade",
        ),
        (
            "[{type: rest}, {type: websocket}]",
            "spec.facades[1].type",
            "allows only",
        ),
        (
            "[{type: rest}, {type: rest}]",
            "spec.facades[1].type",
            "duplicate",
        ),
        ("[]", "spec.facades", "at least one"),
    ];
    for (facades, field, reason) in cases {
        let e = agent_error(&format!("{FUNCTION}  facades: {facades}\n"), "");
        assert_eq!(e.field_path(), Some(field), "{facades}: {e}");
        assert!(e.reason().contains(reason), "{facades}: {e}");
    }
}

#[test]
fn agent_mode_refuses_rest_facades_and_custom_needs_an_image() {
    let agent = "  promptPackRef: {name: pack}\n  providers: [{name: default, providerRef: {name: prov}}]\n";
    let e = agent_error(&format!("{agent}  facades: [{{type: rest}}]\n"), "");
    assert_eq!(e.field_path(), Some("spec.facades[0].type"));
    let e = agent_error(&format!("{agent}  facades: [{{type: custom}}]\n"), "");
    assert_eq!(e.field_path(), Some("spec.facades[0].image"));
    let ok = agent_ok(
        &format!("{agent}  facades: [{{type: custom, image: 'ghcr.io/me/facade:1'}}]\n"),
        "",
    );
    assert_eq!(ok.facade.kind, FacadeType::Custom);
}

#[test]
fn facade_and_facades_together_is_an_error() {
    let e = agent_error(
        &format!("{FUNCTION}  facade: {{type: grpc}}\n  facades: [{{type: rest}}]\n"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.facades"));
}

#[test]
fn session_and_context_take_each_shapes_default_ttl_and_not_both() {
    let agent = "  promptPackRef: {name: pack}\n  providers: [{name: default, providerRef: {name: prov}}]\n";
    let seed = agent_ok(&format!("{agent}  session: {{type: memory}}\n"), "");
    assert_eq!(seed.session.ttl, Duration::from_secs(3600));
    let omnia = agent_ok(&format!("{agent}  context: {{type: memory}}\n"), "");
    assert_eq!(omnia.session.ttl, Duration::from_secs(24 * 3600));
    let e = agent_error(
        &format!("{agent}  session: {{type: memory}}\n  context: {{type: memory}}\n"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.context"));
}

#[test]
fn output_format_is_for_functions_only_and_defaults_to_json_schema() {
    assert_eq!(
        agent_ok(FUNCTION, "").output_format,
        Some(OutputFormat::JsonSchema)
    );
    let agent = "  promptPackRef: {name: pack}\n  providers: [{name: default, providerRef: {name: prov}}]\n  outputFormat: text\n";
    let e = agent_error(agent, "");
    assert_eq!(e.field_path(), Some("spec.outputFormat"));
}

#[test]
fn provider_binding_role_must_match_the_providers_role() {
    let spec = FUNCTION.replace(
        "providers: [{name: default, providerRef: {name: prov}}]",
        "providers: [{name: default, role: embedding, providerRef: {name: prov}}]",
    );
    let e = agent_error(&spec, "");
    assert_eq!(e.field_path(), Some("spec.providers[0].role"));
    assert!(e.reason().contains("has role llm"), "{e}");
}

#[test]
fn an_mcp_facade_listens_on_omnias_port_by_default() {
    let spec = super::FUNCTION.replace(
        "  mode: function\n",
        "  mode: function\n  facades: [{type: rest}, {type: mcp}]\n",
    );
    let agent = super::agent_ok(&spec, "");
    let ports: Vec<(FacadeType, u16)> = agent.facades.iter().map(|f| (f.kind, f.port)).collect();
    assert_eq!(
        ports,
        [(FacadeType::Function, 8080), (FacadeType::Mcp, 9998)]
    );
}

//! The seed manifests users were promised load unchanged, with the right values.

use std::time::Duration;

use serde_json::json;

use super::fixture;
use crate::{FacadeType, Handler, Mode, ProviderType, SessionStore, load};

#[test]
fn summarizer_loads_as_a_function() {
    let config = load(&[fixture("summarizer.yaml")]).unwrap();
    let agent = config.agent("summarizer").unwrap();
    assert_eq!(agent.namespace, "my-workspace");
    assert_eq!(agent.mode, Mode::Function);
    assert_eq!(agent.facade.kind, FacadeType::Function);
    assert_eq!(agent.facade.port, 8080);
    assert_eq!(agent.facade.handler, Handler::Runtime);
    assert_eq!(agent.source, fixture("summarizer.yaml"));
    let input = agent.input_schema.as_ref().unwrap();
    assert_eq!(input["required"], json!(["text"]));
    assert_eq!(input["properties"]["maxWords"]["maximum"], json!(500));
    assert_eq!(
        agent.output_schema.as_ref().unwrap()["required"],
        json!(["summary"])
    );
    assert_eq!(config.functions().count(), 1);
}

#[test]
fn summarizer_resolves_pack_and_provider() {
    let config = load(&[fixture("summarizer.yaml")]).unwrap();
    let agent = config.agent("summarizer").unwrap();
    assert_eq!(agent.pack.name, "summarizer-pack");
    assert_eq!(agent.pack.version, "1.0.0");
    assert_eq!(agent.pack.document["id"], json!("summarizer"));
    assert!(
        agent
            .pack
            .origin
            .ends_with("summarizer.yaml: ConfigMap summarizer-pack-contents key pack.json"),
        "{}",
        agent.pack.origin
    );
    let provider = &agent.provider;
    assert_eq!(provider.name, "claude-sonnet");
    assert_eq!(provider.kind, ProviderType::Claude);
    assert_eq!(provider.model, "claude-sonnet-4-20250514");
    // No key named: the conventional ANTHROPIC_API_KEY is used.
    assert_eq!(
        provider.api_key.as_ref().map(crate::ApiKey::expose),
        Some("sk-ant-test-key")
    );
    assert_eq!(provider.defaults.temperature, Some(0.2));
    assert_eq!(provider.defaults.max_tokens, Some(1024));
    assert_eq!(provider.pricing.input_per_1k, 0.003);
    assert_eq!(provider.pricing.output_per_1k, 0.015);
    assert_eq!(agent.providers.keys().collect::<Vec<_>>(), vec!["default"]);
}

#[test]
fn production_agent_loads_the_reference_doc_shape() {
    let config = load(&[fixture("production-agent.yaml")]).unwrap();
    let agent = config.agent("production-agent").unwrap();
    assert_eq!(agent.namespace, "agents");
    assert_eq!(agent.mode, Mode::Agent);
    assert_eq!(agent.replicas, 3);
    assert_eq!(agent.facade.kind, FacadeType::Websocket);
    assert_eq!(agent.facade.handler, Handler::Runtime);
    assert_eq!(agent.input_schema, None);
    assert_eq!(agent.provider.name, "inline");
    assert_eq!(agent.provider.kind, ProviderType::Openai);
    assert_eq!(agent.provider.model, "gpt-4-turbo");
    assert_eq!(
        agent.provider.api_key.as_ref().map(crate::ApiKey::expose),
        Some("sk-openai-test-key")
    );
    assert_eq!(agent.providers["default"], agent.provider);
}

#[test]
fn production_agent_resolves_session_and_yaml_pack() {
    let config = load(&[fixture("production-agent.yaml")]).unwrap();
    let agent = config.agent("production-agent").unwrap();
    assert_eq!(agent.session.kind, SessionStore::Redis);
    assert_eq!(agent.session.ttl, Duration::from_secs(24 * 3600));
    assert_eq!(
        agent.session.store_ref.as_deref(),
        Some("redis-credentials")
    );
    assert_eq!(
        agent.session.store_url.as_deref(),
        Some("redis://redis.agents.svc:6379/0")
    );
    // The ConfigMap's only key holds YAML text.
    assert_eq!(agent.pack.name, "customer-service-prompts");
    assert_eq!(agent.pack.version, "2.1.0");
    assert_eq!(agent.pack.document["id"], json!("customer-service"));
    assert!(
        agent.pack.origin.ends_with("key pack.yaml"),
        "{}",
        agent.pack.origin
    );
}

#[test]
fn echo_function_directory_loads_unchanged() {
    let config = load(&[fixture("echo-function")]).unwrap();
    assert_eq!(config.agents.len(), 1);
    let agent = &config.agents[0];
    assert_eq!(agent.name, "echo-function");
    assert_eq!(agent.namespace, "default");
    assert_eq!(agent.mode, Mode::Function);
    assert_eq!(agent.facade.kind, FacadeType::Function);
    assert_eq!(agent.replicas, 1);
    assert_eq!(agent.source, fixture("echo-function/agentruntime.yaml"));
    assert_eq!(agent.pack.name, "echo-pack");
    assert_eq!(
        agent.pack.document["prompts"]["default"]["user_template"],
        json!("{{input}}")
    );
    assert_eq!(
        agent.input_schema.as_ref().unwrap()["properties"]["message"]["maxLength"],
        json!(280)
    );
    assert_eq!(agent.provider.name, "echo-provider");
    assert_eq!(agent.provider.kind, ProviderType::Claude);
    assert_eq!(agent.provider.model, "claude-3-5-haiku-latest");
}

#[test]
fn echo_function_placeholder_key_counts_as_absent() {
    let config = load(&[fixture("echo-function")]).unwrap();
    assert_eq!(config.agents[0].provider.api_key, None);
}

#[test]
fn all_fixtures_load_together() {
    let config = load(&[
        fixture("summarizer.yaml"),
        fixture("production-agent.yaml"),
        fixture("echo-function"),
    ])
    .unwrap();
    let names: Vec<&str> = config.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["summarizer", "production-agent", "echo-function"]);
    let functions: Vec<&str> = config.functions().map(|a| a.name.as_str()).collect();
    assert_eq!(functions, ["summarizer", "echo-function"]);
}

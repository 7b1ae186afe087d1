//! Choosing the agent's provider among `providers[]`, `providerRef` and the inline shapes.

use serde_json::json;

use super::{FUNCTION, agent_error, agent_ok};
use crate::{MockScenario, ProviderType};

/// A second Provider, `other`, of type openai.
const OTHER: &str = "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: Provider\n\
                     metadata: {name: other}\nspec: {type: openai, model: gpt-4o}\n";

fn with_providers(list: &str) -> String {
    FUNCTION.replace(
        "  providers: [{name: default, providerRef: {name: prov}}]\n",
        &format!("  providers: {list}\n"),
    )
}

#[test]
fn default_wins_among_several() {
    let spec = with_providers(
        "[{name: judge, providerRef: {name: other}}, {name: default, providerRef: {name: prov}}]",
    );
    let agent = agent_ok(&spec, OTHER);
    assert_eq!(agent.provider.name, "prov");
    assert_eq!(agent.providers.len(), 2);
    assert_eq!(agent.providers["judge"].kind, ProviderType::Openai);
    assert_eq!(agent.providers["judge"].model, "gpt-4o");
}

#[test]
fn the_only_provider_is_the_default_whatever_its_name() {
    let agent = agent_ok(
        &with_providers("[{name: main, providerRef: {name: other}}]"),
        OTHER,
    );
    assert_eq!(agent.provider.name, "other");
    assert_eq!(agent.providers.keys().collect::<Vec<_>>(), vec!["main"]);
}

#[test]
fn several_providers_without_a_default_is_an_error() {
    let spec = with_providers(
        "[{name: judge, providerRef: {name: other}}, {name: main, providerRef: {name: prov}}]",
    );
    let e = agent_error(&spec, OTHER);
    assert_eq!(e.field_path(), Some("spec.providers"));
    assert_eq!(
        e.reason(),
        "no provider named `default` among 2 (judge, main): name one `default`"
    );
}

#[test]
fn duplicate_provider_roles_are_an_error() {
    let spec = with_providers(
        "[{name: default, providerRef: {name: other}}, {name: default, providerRef: {name: prov}}]",
    );
    let e = agent_error(&spec, OTHER);
    assert_eq!(e.field_path(), Some("spec.providers[1].name"));
}

#[test]
fn two_provider_sources_are_an_error() {
    let e = agent_error(&format!("{FUNCTION}  providerRef: {{name: prov}}\n"), "");
    assert_eq!(e.field_path(), Some("spec.providerRef"));
    assert_eq!(
        e.reason(),
        "set only one of spec.providers, spec.providerRef"
    );
}

#[test]
fn function_without_provider_is_an_error() {
    let e = agent_error(&with_providers("[]"), "");
    assert_eq!(e.field_path(), Some("spec.providers"));
    assert!(e.reason().starts_with("no provider: "), "{e}");
}

#[test]
fn runtime_agent_without_provider_is_an_error() {
    let e = agent_error(
        "  promptPackRef: {name: pack}\n  facade: {handler: runtime}\n",
        "",
    );
    assert_eq!(e.field_path(), Some("spec.providers"));
}

#[test]
fn demo_agent_may_have_no_provider() {
    let agent = agent_ok(
        "  promptPackRef: {name: pack}\n  facade: {type: websocket, handler: demo}\n",
        "",
    );
    assert_eq!(agent.provider.name, "none");
    assert_eq!(agent.provider.kind, ProviderType::Mock);
    assert!(agent.providers.is_empty());
}

#[test]
fn inline_provider_in_omnia_shape() {
    let spec = "  promptPackRef: {name: pack}
  provider:
    type: claude
    model: claude-sonnet-4-20250514
    secretRef: {name: creds}
    baseURL: http://127.0.0.1:9999
    config: {temperature: \"0.7\", topP: \"0.9\", maxTokens: 2048, contextWindow: 100000, truncationStrategy: sliding}
    pricing: {inputCostPer1K: \"0.003\", outputCostPer1K: \"0.015\", cachedCostPer1K: \"0.0003\"}
    additionalConfig: {keep_alive: 5m}
";
    let creds = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n\
                 stringData: {ANTHROPIC_API_KEY: sk-ant}\n";
    let agent = agent_ok(spec, creds);
    let p = &agent.provider;
    assert_eq!(p.name, "inline");
    assert_eq!(p.kind, ProviderType::Claude);
    assert_eq!(p.base_url.as_deref(), Some("http://127.0.0.1:9999"));
    assert_eq!(p.api_key.as_deref(), Some("sk-ant"));
    assert_eq!(p.defaults.temperature, Some(0.7));
    assert_eq!(p.defaults.top_p, Some(0.9));
    assert_eq!(p.defaults.max_tokens, Some(2048));
    assert_eq!(p.pricing.input_per_1k, 0.003);
    assert_eq!(p.pricing.output_per_1k, 0.015);
}

#[test]
fn inline_provider_with_both_name_and_type_is_an_error() {
    let spec = "  promptPackRef: {name: pack}\n  provider: {name: openai, type: openai}\n";
    let e = agent_error(spec, "");
    assert_eq!(e.field_path(), Some("spec.provider.type"));
}

#[test]
fn provider_type_aliases_fold() {
    let spec =
        "  promptPackRef: {name: pack}\n  provider: {name: google, model: gemini-2.0-flash}\n";
    assert_eq!(agent_ok(spec, "").provider.kind, ProviderType::Gemini);
}

#[test]
fn unknown_provider_type_is_an_error() {
    let text = super::manifest(FUNCTION, "").replace("spec: {type: mock}", "spec: {type: gpt}");
    let e = crate::load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.object.as_deref(), Some("Provider prov"));
    assert_eq!(e.field_path(), Some("spec.type"));
    assert!(e.reason().starts_with("unknown variant `gpt`"), "{e}");
}

#[test]
fn defaults_accept_numbers_and_refuse_words() {
    let text = super::manifest(FUNCTION, "").replace(
        "spec: {type: mock}",
        "spec: {type: mock, defaults: {temperature: 0.5, topP: 1}}",
    );
    let agent = crate::load_str("t.yaml", &text).unwrap().agents.remove(0);
    assert_eq!(agent.provider.defaults.temperature, Some(0.5));
    assert_eq!(agent.provider.defaults.top_p, Some(1.0));
    let text = super::manifest(FUNCTION, "").replace(
        "spec: {type: mock}",
        "spec: {type: mock, defaults: {temperature: warm}}",
    );
    let e = crate::load_str("t.yaml", &text).unwrap_err();
    assert_eq!(e.field_path(), Some("spec.defaults.temperature"));
    assert_eq!(e.reason(), "`warm` is not a number");
}

#[test]
fn mock_scenarios_are_resolved() {
    let text = super::manifest(FUNCTION, "").replace(
        "spec: {type: mock}",
        "spec:\n  type: mock\n  mock:\n    scenarios:\n      - name: hi\n        when: {text: hello}\n        output: {summary: \"{{input.text}}\"}\n      - output: fallback\n",
    );
    let agent = crate::load_str("t.yaml", &text).unwrap().agents.remove(0);
    assert_eq!(
        agent.provider.mock_scenarios,
        vec![
            MockScenario {
                name: Some("hi".into()),
                when: Some(json!({"text": "hello"})),
                output: json!({"summary": "{{input.text}}"}),
            },
            MockScenario {
                name: None,
                when: None,
                output: json!("fallback")
            },
        ]
    );
}

#[test]
fn mock_scenarios_on_a_real_provider_are_an_error() {
    let text = super::manifest(FUNCTION, "").replace(
        "spec: {type: mock}",
        "spec: {type: openai, mock: {scenarios: []}}",
    );
    let e = crate::load_str("t.yaml", &text).unwrap_err();
    assert_eq!(e.field_path(), Some("spec.mock"));
    assert_eq!(e.reason(), "only allowed when spec.type is mock");
}

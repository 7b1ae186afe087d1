//! Choosing the agent's provider among `providers[]`, `providerRef` and the inline shapes.

use serde_json::json;

use std::time::Duration;

use super::{FUNCTION, agent_error, agent_ok};
use crate::{ApiKey, ConfigError, CredentialSource, MockScenario, Provider, ProviderType};

/// A second Provider, `other`, of type openai.
const OTHER: &str = "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: Provider\n\
                     metadata: {name: other}\nspec: {type: openai, model: gpt-4o}\n";

/// The default provider of [`FUNCTION`], with Provider `prov` given `spec` (a flow mapping) and
/// `extra` documents.
fn load_prov(spec: &str, extra: &str) -> Result<Provider, ConfigError> {
    let text =
        super::manifest(FUNCTION, extra).replace("spec: {type: mock}", &format!("spec: {spec}"));
    crate::load_str("t.yaml", &text).map(|mut c| c.agents.remove(0).provider)
}

fn prov(spec: &str, extra: &str) -> Provider {
    load_prov(spec, extra).unwrap_or_else(|e| panic!("expected success: {e}"))
}

/// A Secret `creds` with `string_data` (a flow mapping).
fn creds(string_data: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\nstringData: {string_data}\n"
    )
}

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
    assert_eq!(
        p.api_key.as_ref().map(crate::ApiKey::expose),
        Some("sk-ant")
    );
    assert_eq!(p.defaults.temperature, Some(0.7));
    assert_eq!(p.defaults.top_p, Some(0.9));
    assert_eq!(p.defaults.max_tokens, Some(2048));
    assert_eq!(p.pricing.input_per_1k, 0.003);
    assert_eq!(p.pricing.output_per_1k, 0.015);
    assert_eq!(p.pricing.cached_per_1k, Some(0.0003));
    assert_eq!(p.missing_credential(), None);
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

#[test]
fn cached_pricing_is_resolved_and_absent_is_none() {
    let p = prov(
        "{type: openai, pricing: {inputCostPer1K: \"0.0025\", outputCostPer1K: \"0.01\", cachedCostPer1K: \"0.00125\"}}",
        "",
    );
    assert_eq!(p.pricing.input_per_1k, 0.0025);
    assert_eq!(p.pricing.cached_per_1k, Some(0.00125));
    let p = prov("{type: openai, pricing: {inputCostPer1K: \"0.0025\"}}", "");
    assert_eq!(p.pricing.output_per_1k, 0.0);
    assert_eq!(p.pricing.cached_per_1k, None);
}

#[test]
fn timeouts_are_go_durations() {
    let p = prov(
        "{type: mock, defaults: {requestTimeout: 30s, streamIdleTimeout: 1m30s}}",
        "",
    );
    assert_eq!(p.defaults.request_timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        p.defaults.stream_idle_timeout,
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        prov("{type: mock, defaults: {}}", "")
            .defaults
            .request_timeout,
        None
    );
    let inline = "  promptPackRef: {name: pack}\n  provider: {type: mock, config: {streamIdleTimeout: 2m}}\n";
    let p = agent_ok(inline, "").provider;
    assert_eq!(
        p.defaults.stream_idle_timeout,
        Some(Duration::from_secs(120))
    );
    assert_eq!(p.defaults.request_timeout, None);
}

#[test]
fn bad_timeouts_are_errors_naming_field_and_value() {
    let cases = [
        (
            "requestTimeout: soon",
            "spec.defaults.requestTimeout",
            "`soon`",
        ),
        ("requestTimeout: 30", "spec.defaults.requestTimeout", "`30`"),
        (
            "streamIdleTimeout: 0s",
            "spec.defaults.streamIdleTimeout",
            "`0s`",
        ),
        (
            "streamIdleTimeout: \"0\"",
            "spec.defaults.streamIdleTimeout",
            "`0`",
        ),
        (
            "requestTimeout: -5s",
            "spec.defaults.requestTimeout",
            "`-5s`",
        ),
    ];
    for (defaults, field, value) in cases {
        let e = load_prov(&format!("{{type: mock, defaults: {{{defaults}}}}}"), "").unwrap_err();
        assert_eq!(e.object.as_deref(), Some("Provider prov"), "{e}");
        assert_eq!(e.field_path(), Some(field), "{e}");
        assert!(e.reason().contains(value), "{e}");
    }
    let inline =
        "  promptPackRef: {name: pack}\n  provider: {type: mock, config: {requestTimeout: 0s}}\n";
    let e = agent_error(inline, "");
    assert_eq!(e.field_path(), Some("spec.provider.config.requestTimeout"));
    assert_eq!(
        e.reason(),
        "`0s` is not a positive duration: a timeout must be greater than 0"
    );
}

#[test]
fn a_found_key_is_redacted_and_needs_nothing() {
    let p = prov(
        "{type: openai, secretRef: {name: creds}}",
        &creds("{OPENAI_API_KEY: sk-very-secret}"),
    );
    assert_eq!(
        p.api_key.as_ref().map(ApiKey::expose),
        Some("sk-very-secret")
    );
    assert_eq!(p.missing_credential(), None);
    assert_eq!(p.credential_problem, None);
    for shown in [format!("{p:?}"), format!("{p:#?}")] {
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.contains("ApiKey(***)"), "{shown}");
    }
    assert_eq!(ApiKey::new("sk-x").to_string(), "***");
}

#[test]
fn the_secret_looked_for_is_remembered() {
    let p = prov("{type: gemini, credential: {secretRef: {name: creds}}}", "");
    assert_eq!(p.api_key, None);
    assert_eq!(
        p.credential,
        Some(CredentialSource::Secret {
            namespace: "default".into(),
            name: "creds".into(),
            keys: vec![
                "GEMINI_API_KEY".into(),
                "GOOGLE_API_KEY".into(),
                "api-key".into()
            ],
        })
    );
}

/// `missing_credential()` of Provider `prov` given `spec` and `extra` documents.
fn missing(spec: &str, extra: &str) -> Option<String> {
    prov(spec, extra).missing_credential()
}

#[test]
fn missing_secret_or_key_is_explained() {
    const WHO: &str = "Provider `prov` (namespace `default`)";
    let secret_ref = "{type: openai, secretRef: {name: creds}}";
    assert_eq!(
        missing(secret_ref, ""),
        Some(format!("{WHO}: Secret `default/creds` was not found"))
    );
    assert_eq!(
        missing(secret_ref, &creds("{other: sk-x}")),
        Some(format!(
            "{WHO}: Secret `default/creds` has no key `OPENAI_API_KEY` (also tried `api-key`)"
        ))
    );
    assert_eq!(
        missing(
            "{type: claude, secretRef: {name: creds, key: k}}",
            &creds("{ANTHROPIC_API_KEY: sk-x}")
        ),
        Some(format!("{WHO}: Secret `default/creds` has no key `k`"))
    );
    assert_eq!(
        missing(
            secret_ref,
            &creds("{OPENAI_API_KEY: REPLACE_ME, api-key: sk-x}")
        ),
        Some(format!(
            "{WHO}: key `OPENAI_API_KEY` of Secret `default/creds` holds the placeholder REPLACE_ME"
        ))
    );
    assert_eq!(
        missing(secret_ref, &creds("{api-key: ' '}")),
        Some(format!(
            "{WHO}: key `api-key` of Secret `default/creds` is empty"
        ))
    );
}

#[test]
fn missing_env_var_or_file_is_explained() {
    const WHO: &str = "Provider `prov` (namespace `default`)";
    // No test sets this variable.
    assert_eq!(
        missing(
            "{type: openai, credential: {envVar: OMNIA_TEST_SURELY_UNSET_VAR}}",
            ""
        ),
        Some(format!(
            "{WHO}: environment variable `OMNIA_TEST_SURELY_UNSET_VAR` is not set"
        ))
    );
    let why = missing(
        "{type: openai, credential: {filePath: /nonexistent/omnia-key}}",
        "",
    );
    let why = why.unwrap_or_default();
    assert!(
        why.starts_with(&format!(
            "{WHO}: file `/nonexistent/omnia-key` cannot be read: "
        )),
        "{why}"
    );
}

#[test]
fn no_credential_is_explained_only_for_types_that_need_one() {
    assert_eq!(
        missing("{type: openai}", ""),
        Some(
            "Provider `prov` (namespace `default`) has no credential: set \
             spec.credential.secretRef (spec.provider.secretRef for an inline provider) to a \
             Secret with key `OPENAI_API_KEY`"
                .into()
        )
    );
    for keyless in ["ollama", "vllm", "mock", "echo"] {
        assert_eq!(
            missing(&format!("{{type: {keyless}}}"), ""),
            None,
            "{keyless}"
        );
    }
    // A local server takes no key, but one that is configured and missing is still reported.
    let why = missing("{type: ollama, secretRef: {name: creds}}", "");
    assert!(why.is_some_and(|w| w.ends_with("Secret `default/creds` was not found")));
}

#[test]
fn inline_provider_credentials_are_explained() {
    let spec =
        "  promptPackRef: {name: pack}\n  provider: {type: claude, secretRef: {name: creds}}\n";
    assert_eq!(
        agent_ok(spec, "").provider.missing_credential(),
        Some(
            "Provider `inline` (namespace `default`): Secret `default/creds` was not found".into()
        )
    );
}

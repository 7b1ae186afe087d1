use std::collections::BTreeMap;

use futures_util::FutureExt;
use omnia_api::{MockScenario, Pricing, ProviderDefaults, ProviderRole};
use omnia_proto::Utf8Bytes;
use serde_json::{Value, json};

use super::*;

fn config(
    kind: ProviderType,
    api_key: Option<&str>,
    scenarios: Vec<MockScenario>,
) -> omnia_api::Provider {
    omnia_api::Provider {
        name: "my-provider".into(),
        namespace: "default".into(),
        kind,
        role: ProviderRole::Llm,
        headers: BTreeMap::new(),
        model: String::new(),
        base_url: None,
        api_key: api_key.map(omnia_api::ApiKey::new),
        credential: None,
        credential_problem: None,
        pricing: Pricing {
            input_per_1k: 3.0,
            output_per_1k: 15.0,
            cached_per_1k: None,
        },
        defaults: ProviderDefaults::default(),
        mock_scenarios: scenarios,
    }
}

fn scenario(when: Option<Value>, output: Value) -> MockScenario {
    MockScenario {
        name: None,
        when,
        output,
    }
}

/// Calls a provider whose future is ready at once (echo and mock never wait).
fn complete(provider: &dyn Provider, input: &Utf8Bytes, schema: Option<&Value>) -> Completion {
    let request = CompletionRequest {
        system: "system prompt",
        user: "user",
        input_json: input,
        output: match schema {
            Some(schema) => Output::JsonSchema { name: "f", schema },
            None => Output::Json,
        },
        parameters: Parameters::default(),
        rounds: &[],
        tools: &[],
        tool_choice: ToolChoice::Auto,
    };
    provider
        .complete(request)
        .now_or_never()
        .expect("echo and mock answer without waiting")
        .unwrap()
}

fn json_of(completion: &Completion) -> Value {
    serde_json::from_slice(completion.content.as_bytes()).unwrap()
}

#[test]
fn echo_returns_the_input_buffer_itself() {
    let provider = build(&config(ProviderType::Echo, None, vec![]), false, None)
        .unwrap()
        .provider;
    let input = Utf8Bytes::from(r#"{"message":"hello"}"#.to_owned());

    let completion = complete(&*provider, &input, None);

    assert_eq!(completion.content, input);
    assert_eq!(
        completion.content.as_bytes().as_ptr(),
        input.as_bytes().as_ptr(),
        "the answer must share the input's buffer"
    );
}

#[test]
fn usage_estimates_four_bytes_per_token_priced_per_thousand() {
    let usage = Usage::estimate(
        17,
        8,
        Pricing {
            input_per_1k: 3.0,
            output_per_1k: 15.0,
            cached_per_1k: None,
        },
    );

    assert_eq!(usage.input_tokens, 5);
    assert_eq!(usage.output_tokens, 2);
    assert!((usage.cost_usd - (5.0 * 3.0 + 2.0 * 15.0) / 1000.0).abs() < 1e-12);
}

#[test]
fn mock_reports_usage_from_prompt_and_answer_sizes() {
    let provider = build(&config(ProviderType::Mock, None, vec![]), false, None)
        .unwrap()
        .provider;

    let completion = complete(&*provider, &Utf8Bytes::from_static("{}"), None);

    // "system prompt" + "user" = 17 bytes; the default answer is 28 bytes.
    assert_eq!(completion.usage.input_tokens, 5);
    assert_eq!(completion.usage.output_tokens, 7);
}

#[test]
fn mock_answers_with_the_first_scenario_whose_when_the_input_contains() {
    let provider = MockProvider::new(
        "m".into(),
        &[
            scenario(
                Some(json!({"kind": "greeting", "meta": {"lang": "fr"}})),
                json!({"answer": "bonjour"}),
            ),
            scenario(
                Some(json!({"kind": "greeting"})),
                json!({"answer": "hello"}),
            ),
            scenario(None, json!({"answer": "fallback"})),
        ],
        Pricing::default(),
        None,
    )
    .unwrap();
    let ask =
        |input: &'static str| json_of(&complete(&provider, &Utf8Bytes::from_static(input), None));

    assert_eq!(
        ask(r#"{"kind": "greeting", "meta": {"lang": "fr", "x": 1}}"#),
        json!({"answer": "bonjour"})
    );
    assert_eq!(
        ask(r#"{"kind": "greeting", "meta": {"lang": "de"}}"#),
        json!({"answer": "hello"})
    );
    assert_eq!(ask(r#"{"kind": "other"}"#), json!({"answer": "fallback"}));
}

#[test]
fn mock_substitutes_input_references_in_scenario_output() {
    let provider = MockProvider::new(
        "m".into(),
        &[scenario(
            None,
            json!({"echo": "{{input.message}}", "first": "{{ input.items.0 }}", "missing": "{{input.nope.deeper}}",
                   "whole": "{{input}}", "text": "not {{input.message}} exactly"}),
        )],
        Pricing::default(),
        None,
    )
    .unwrap();
    let input = Utf8Bytes::from_static(r#"{"message": "hello", "items": [{"id": 7}]}"#);

    let answer = json_of(&complete(&provider, &input, None));

    assert_eq!(
        answer,
        json!({"echo": "hello", "first": {"id": 7}, "missing": null,
               "whole": {"message": "hello", "items": [{"id": 7}]},
               "text": "not {{input.message}} exactly"})
    );
}

#[test]
fn mock_matches_numbers_by_value() {
    let provider = MockProvider::new(
        "m".into(),
        &[
            scenario(Some(json!({"n": 1})), json!("one")),
            scenario(None, json!("other")),
        ],
        Pricing::default(),
        None,
    )
    .unwrap();

    let answer = json_of(&complete(
        &provider,
        &Utf8Bytes::from_static(r#"{"n": 1.0}"#),
        None,
    ));

    assert_eq!(answer, json!("one"));
}

#[test]
fn mock_without_scenario_or_schema_gives_the_default_answer() {
    let provider = MockProvider::new("m".into(), &[], Pricing::default(), None).unwrap();

    let answer = json_of(&complete(&provider, &Utf8Bytes::from_static("{}"), None));

    assert_eq!(answer, json!({"response": "mock response"}));
}

#[test]
fn mock_without_matching_scenario_answers_from_the_output_schema() {
    let schema =
        json!({"type": "object", "required": ["echo"], "properties": {"echo": {"type": "string"}}});
    let provider = MockProvider::new(
        "m".into(),
        &[scenario(Some(json!({"never": true})), json!("no"))],
        Pricing::default(),
        Some(&schema),
    )
    .unwrap();

    let answer = json_of(&complete(&provider, &Utf8Bytes::from_static("{}"), None));

    assert_eq!(answer, json!({"echo": "mock echo"}));
}

#[test]
fn mock_synthesises_its_schema_answer_once_and_shares_it_with_every_call() {
    let schema = json!({"type": "object", "required": ["summary"],
                        "properties": {"summary": {"type": "string"}}});
    let provider = MockProvider::new("m".into(), &[], Pricing::default(), Some(&schema)).unwrap();

    let first = complete(&provider, &Utf8Bytes::from_static(r#"{"a": 1}"#), None);
    let second = complete(&provider, &Utf8Bytes::from_static(r#"{"b": 2}"#), None);

    assert_eq!(json_of(&first), json!({"summary": "mock summary"}));
    assert_eq!(
        first.content.as_bytes().as_ptr(),
        second.content.as_bytes().as_ptr(),
        "each call built its own answer"
    );
}

#[test]
fn a_schema_the_mock_cannot_satisfy_is_refused_naming_the_failing_field() {
    // The synthesiser does not honour `pattern`, so its "mock code" fails the schema.
    let schema = json!({"type": "object", "required": ["code"],
                        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}});

    let err = MockProvider::new("m".into(), &[], Pricing::default(), Some(&schema)).unwrap_err();

    let message = err.to_string();
    assert!(message.contains("mock provider `m`"), "{message}");
    assert!(message.contains("/code: "), "{message}");
}

#[test]
fn a_schema_the_mock_cannot_satisfy_is_fine_behind_a_catch_all_scenario() {
    let schema = json!({"type": "object", "required": ["code"],
                        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}});
    let scenarios = [scenario(None, json!({"code": "ABC"}))];

    let provider =
        MockProvider::new("m".into(), &scenarios, Pricing::default(), Some(&schema)).unwrap();

    let answer = json_of(&complete(&provider, &Utf8Bytes::from_static("{}"), None));
    assert_eq!(answer, json!({"code": "ABC"}));
}

#[test]
fn a_schema_answer_with_formats_passes_its_schema() {
    let schema = json!({"type": "object", "required": ["contact", "at"], "properties": {
        "contact": {"type": "string", "format": "email"},
        "at": {"type": "string", "format": "date-time"}
    }});

    let provider = MockProvider::new("m".into(), &[], Pricing::default(), Some(&schema));

    assert!(provider.is_ok(), "{provider:?}");
}

#[test]
fn build_makes_echo_and_mock_without_dev_mode() {
    assert_eq!(
        build(&config(ProviderType::Echo, None, vec![]), false, None)
            .unwrap()
            .provider
            .name(),
        "my-provider"
    );
    assert_eq!(
        build(&config(ProviderType::Mock, None, vec![]), false, None)
            .unwrap()
            .provider
            .name(),
        "my-provider"
    );
}

#[test]
fn build_refuses_unsupported_types_outside_dev_mode_naming_resource_and_type() {
    let err = build(
        &config(ProviderType::Bedrock, Some("sk-real"), vec![]),
        false,
        None,
    )
    .expect_err("bedrock has no implementation");

    assert_eq!(
        err,
        ProviderError::Unsupported {
            name: "my-provider".into(),
            kind: "bedrock"
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("`my-provider`") && message.contains("`bedrock`"),
        "{message}"
    );
    assert!(
        message.contains("`openai`") && message.contains("`mock`"),
        "{message}"
    );
}

#[test]
fn build_makes_llm_providers_that_have_a_key() {
    for kind in [
        ProviderType::Openai,
        ProviderType::Claude,
        ProviderType::Gemini,
    ] {
        let built = build(&config(kind, Some("sk-real"), vec![]), false, None).unwrap();
        assert_eq!(built.provider.name(), "my-provider");
        assert_eq!(built.stand_in, None);
    }
    // Local servers take no key, but must be told the model.
    let mut ollama = config(ProviderType::Ollama, None, vec![]);
    let err = build(&ollama, false, None).expect_err("no model");
    assert!(err.to_string().contains("spec.model is required"), "{err}");
    ollama.model = "llama3.2".into();
    assert!(build(&ollama, false, None).is_ok());
}

#[test]
fn build_refuses_a_missing_key_outside_dev_mode_naming_the_secret_and_key() {
    let mut provider = config(ProviderType::Openai, None, vec![]);
    provider.credential = Some(omnia_api::CredentialSource::Secret {
        namespace: "default".into(),
        name: "openai-creds".into(),
        keys: vec!["OPENAI_API_KEY".into(), "api-key".into()],
    });
    provider.credential_problem = Some(omnia_api::CredentialProblem::KeyNotFound);

    let err = build(&provider, false, None).expect_err("no key");

    assert!(
        matches!(err, ProviderError::MissingCredential { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("default/openai-creds") && message.contains("`OPENAI_API_KEY`"),
        "{message}"
    );
}

#[test]
fn build_substitutes_the_mock_for_llm_providers_in_dev_mode() {
    let scenarios = vec![scenario(None, json!({"from": "scenario"}))];
    let built = build(&config(ProviderType::Openai, None, scenarios), true, None).unwrap();

    let answer = json_of(&complete(
        &*built.provider,
        &Utf8Bytes::from_static("{}"),
        None,
    ));

    assert_eq!(built.provider.name(), "my-provider");
    assert_eq!(answer, json!({"from": "scenario"}));
    assert_eq!(
        built.stand_in,
        Some(StandIn {
            kind: "openai",
            reason: "it has no usable credentials"
        })
    );
}

#[test]
fn prompt_parameters_win_over_provider_defaults() {
    let prompt = Parameters {
        temperature: Some(0.1),
        max_tokens: None,
        top_p: None,
    };
    let defaults = Parameters {
        temperature: Some(0.9),
        max_tokens: Some(100),
        top_p: None,
    };

    assert_eq!(
        prompt.or(defaults),
        Parameters {
            temperature: Some(0.1),
            max_tokens: Some(100),
            top_p: None
        }
    );
}

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;
use crate::pack::{Pack, Prompt, Variable};
use crate::provider::Parameters;

fn pack(system: &str, user: &str, variables: Vec<Variable>, fragments: &[(&str, &str)]) -> Pack {
    Pack {
        id: "test".into(),
        version: "1.0.0".into(),
        prompt_key: "default".into(),
        prompt: Prompt {
            system_template: system.into(),
            user_template: user.into(),
            variables,
            parameters: Parameters::default(),
            tools: Vec::new(),
            tool_policy: crate::pack::ToolPolicy::default(),
            validators: crate::pack::Validators::default(),
        },
        fragments: fragments
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn var(name: &str, required: bool, default: Option<Value>) -> Variable {
    Variable {
        name: name.into(),
        required,
        default,
        rules: None,
    }
}

fn render(system: &str, input: &str) -> Result<String, TemplateError> {
    render_with(pack(system, "", vec![], &[]), input)
}

fn render_with(pack: Pack, input: &str) -> Result<String, TemplateError> {
    let input = Bytes::copy_from_slice(input.as_bytes());
    PromptTemplates::compile(&pack)
        .render(&input)
        .map(|r| r.system)
}

#[test]
fn input_fields_fill_placeholders_strings_verbatim_others_as_compact_json() {
    let out = render(
        "Summarise {{text}} in {{maxWords}} words; tags {{tags}}; opts {{opts}}",
        r#"{"text": "the \"news\"", "maxWords": 20, "tags": ["a", "b"], "opts": {"x": null}}"#,
    );

    assert_eq!(
        out.unwrap(),
        r#"Summarise the "news" in 20 words; tags ["a","b"]; opts {"x":null}"#
    );
}

#[test]
fn input_placeholder_is_the_raw_request_text() {
    let raw = r#"{ "message" : "hi" }"#;
    let templates = PromptTemplates::compile(&pack("You echo.", "Input: {{input}}", vec![], &[]));

    let rendered = templates
        .render(&Bytes::from_static(raw.as_bytes()))
        .unwrap();

    assert_eq!(
        rendered,
        Rendered {
            system: "You echo.".into(),
            user: format!("Input: {raw}")
        }
    );
}

#[test]
fn declared_defaults_apply_when_the_input_lacks_the_field() {
    let p = || {
        pack(
            "{{tone}} / {{limit}}",
            "",
            vec![
                var("tone", false, Some(json!("calm"))),
                var("limit", false, Some(json!(5))),
            ],
            &[],
        )
    };

    assert_eq!(render_with(p(), "{}").unwrap(), "calm / 5");
    assert_eq!(
        render_with(p(), r#"{"tone": "brisk"}"#).unwrap(),
        "brisk / 5"
    );
}

#[test]
fn a_missing_required_variable_is_an_error_naming_it() {
    let p = pack("Summarise {{text}}", "", vec![var("text", true, None)], &[]);

    let err = render_with(p, r#"{"other": 1}"#).unwrap_err();

    assert_eq!(err, TemplateError::MissingVariable("text".into()));
    assert!(err.to_string().contains("`text`"));
}

#[test]
fn a_required_variable_present_in_the_input_renders() {
    let p = pack("Summarise {{text}}", "", vec![var("text", true, None)], &[]);

    assert_eq!(
        render_with(p, r#"{"text": "this"}"#).unwrap(),
        "Summarise this"
    );
}

#[test]
fn required_input_is_always_satisfied() {
    let p = pack("x", "{{input}}", vec![var("input", true, None)], &[]);

    assert!(render_with(p, "not even json").is_ok());
}

#[test]
fn unknown_placeholders_are_left_as_written() {
    let out = render("Hello {{ who }} and {{what}}!", r#"{"other": 1}"#);

    assert_eq!(out.unwrap(), "Hello {{ who }} and {{what}}!");
}

#[test]
fn whitespace_inside_braces_is_allowed() {
    let out = render(
        "[{{ name }}] [{{name}}] [{{\tname\n}}]",
        r#"{"name": "Ada"}"#,
    );

    assert_eq!(out.unwrap(), "[Ada] [Ada] [Ada]");
}

#[test]
fn text_that_is_not_a_placeholder_is_kept() {
    let out = render(
        "{{{name}}} {{#if x}} {{}} {{ a b }} {{unclosed",
        r#"{"name": "Ada"}"#,
    );

    assert_eq!(out.unwrap(), "{Ada} {{#if x}} {{}} {{ a b }} {{unclosed");
}

#[test]
fn fragments_render_by_name_with_their_own_placeholders() {
    let p = pack(
        "{{greeting}} {{context}}",
        "",
        vec![],
        &[
            ("greeting", "Hello!"),
            ("context", "Customer: {{customer}}"),
        ],
    );

    assert_eq!(
        render_with(p, r#"{"customer": "Ada"}"#).unwrap(),
        "Hello! Customer: Ada"
    );
}

#[test]
fn fragments_that_include_each_other_terminate() {
    let p = pack("{{a}}", "", vec![], &[("a", "a{{b}}"), ("b", "b{{a}}")]);

    let out = render_with(p, "{}").unwrap();

    assert!(out.starts_with("abab"), "{out}");
    assert!(out.ends_with("{{a}}") || out.ends_with("{{b}}"), "{out}");
}

#[test]
fn input_that_is_not_an_object_has_no_fields() {
    assert_eq!(render("{{x}} {{input}}", "[1,2]").unwrap(), "{{x}} [1,2]");
}

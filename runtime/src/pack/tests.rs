use serde_json::json;

use super::*;

/// Omnia's `examples/echo-function` pack, as its ConfigMap holds it.
fn omnia_echo_pack() -> Value {
    json!({
        "$schema": "https://promptpack.org/schema/latest/promptpack.schema.json",
        "id": "echo",
        "name": "Echo Function",
        "version": "1.0.0",
        "description": "Echoes the request's `message` field back as `echo`.",
        "template_engine": {"version": "v1", "syntax": "{{variable}}", "features": ["basic_substitution"]},
        "prompts": {
            "default": {
                "id": "default",
                "name": "Echo",
                "description": "Single-turn echo prompt.",
                "version": "1.0.0",
                "system_template": "You are an echo service. Respond with {\"echo\": <message>}.",
                "user_template": "{{input}}",
                "parameters": {"temperature": 0.0, "max_tokens": 512},
                "variables": [{"name": "input", "type": "string", "required": true,
                               "description": "Raw request body forwarded by the runtime."}]
            }
        }
    })
}

fn prompt(id: &str) -> Value {
    json!({"id": id, "name": id, "version": "1.0.0", "system_template": format!("You are {id}.")})
}

fn pack_with(prompts: Value) -> Value {
    json!({
        "id": "summarizer",
        "name": "Summarizer",
        "version": "1.2.0",
        "template_engine": {"version": "v1", "syntax": "{{variable}}"},
        "prompts": prompts,
    })
}

#[test]
fn a_valid_pack_yields_its_prompt_variables_parameters_and_fragments() {
    let mut document = pack_with(json!({
        "summarize": {
            "id": "summarize",
            "name": "Summarize",
            "version": "1.0.0",
            "system_template": "Summarise in {{maxWords}} words. {{style}}",
            "variables": [
                {"name": "text", "type": "string", "required": true},
                {"name": "maxWords", "type": "number", "required": false, "default": 50}
            ],
            "parameters": {"temperature": 0.3, "max_tokens": 400, "top_p": 0.9}
        }
    }));
    document["fragments"] = json!({"style": "Be terse."});

    let pack = load(&document).unwrap();

    assert_eq!(pack.id, "summarizer");
    assert_eq!(pack.version, "1.2.0");
    assert_eq!(pack.prompt_key, "summarize");
    assert_eq!(
        pack.prompt.system_template,
        "Summarise in {{maxWords}} words. {{style}}"
    );
    assert_eq!(pack.prompt.user_template, DEFAULT_USER_TEMPLATE);
    assert_eq!(
        pack.prompt.variables,
        vec![
            Variable {
                name: "text".into(),
                required: true,
                default: None,
                rules: None,
            },
            Variable {
                name: "maxWords".into(),
                required: false,
                default: Some(json!(50)),
                rules: None,
            },
        ]
    );
    assert_eq!(
        pack.prompt.parameters,
        Parameters {
            temperature: Some(0.3),
            max_tokens: Some(400),
            top_p: Some(0.9)
        }
    );
    assert_eq!(
        pack.fragments.get("style").map(String::as_str),
        Some("Be terse.")
    );
}

#[test]
fn omnia_echo_pack_with_user_template_is_accepted_and_keeps_it() {
    let pack = load(&omnia_echo_pack()).unwrap();

    assert_eq!(pack.prompt_key, "default");
    assert_eq!(pack.prompt.user_template, "{{input}}");
    assert_eq!(pack.prompt.parameters.max_tokens, Some(512));
}

#[test]
fn user_template_is_kept_verbatim() {
    let mut document = omnia_echo_pack();
    document["prompts"]["default"]["user_template"] = json!("Echo this: {{ message }}");

    let pack = load(&document).unwrap();

    assert_eq!(pack.prompt.user_template, "Echo this: {{ message }}");
}

#[test]
fn a_user_template_that_is_not_a_string_is_an_error() {
    let mut document = omnia_echo_pack();
    document["prompts"]["default"]["user_template"] = json!(42);

    let err = load(&document).unwrap_err();

    assert_eq!(err, PackError::UserTemplateNotString("default".into()));
}

#[test]
fn schema_violations_name_each_json_pointer() {
    let mut document = omnia_echo_pack();
    document["id"] = json!("Not A Valid Id");
    document["prompts"]["default"]["temprature"] = json!(0.5);

    let err = load(&document).unwrap_err();

    let PackError::Invalid(violations) = &err else {
        panic!("expected a schema error, got {err:?}");
    };
    let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
    assert!(pointers.contains(&"/id"), "{pointers:?}");
    assert!(pointers.contains(&"/prompts/default"), "{pointers:?}");
    let message = err.to_string();
    assert!(message.contains("/id: "), "{message}");
    assert!(message.contains("temprature"), "{message}");
}

#[test]
fn a_pack_without_prompts_is_rejected_at_the_root() {
    let mut document = omnia_echo_pack();
    document.as_object_mut().unwrap().remove("prompts");

    let err = load(&document).unwrap_err();

    assert!(err.to_string().contains("(document root): "), "{err}");
    assert!(err.to_string().contains("prompts"), "{err}");
}

#[test]
fn several_prompts_without_default_is_an_error_naming_them() {
    let document =
        pack_with(json!({"summarize": prompt("summarize"), "translate": prompt("translate")}));

    let err = load(&document).unwrap_err();

    assert_eq!(
        err,
        PackError::AmbiguousPrompt(vec!["summarize".into(), "translate".into()])
    );
    assert!(err.to_string().contains("summarize, translate"), "{err}");
}

#[test]
fn the_default_prompt_wins_among_several() {
    let document =
        pack_with(json!({"default": prompt("default"), "translate": prompt("translate")}));

    let pack = load(&document).unwrap();

    assert_eq!(pack.prompt_key, "default");
    assert_eq!(pack.prompt.system_template, "You are default.");
}

#[test]
fn a_prompts_tools_come_from_the_pack_less_the_blocklist_with_the_policy() {
    let mut document = pack_with(json!({"default": prompt("default")}));
    document["tools"] = json!({
        "lookup": {"name": "lookup", "description": "Looks up",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "wipe": {"name": "wipe", "description": "Wipes",
            "parameters": {"type": "object", "properties": {}}}
    });
    document["prompts"]["default"]["tools"] = json!(["lookup", "wipe"]);
    document["prompts"]["default"]["tool_policy"] =
        json!({"tool_choice": "required", "max_rounds": 3, "blocklist": ["wipe"]});

    let pack = load(&document).unwrap();

    let names: Vec<&str> = pack.prompt.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["lookup"]);
    assert_eq!(
        pack.prompt.tools[0].parameters["properties"]["id"]["type"],
        "string"
    );
    assert_eq!(
        pack.prompt.tool_policy,
        ToolPolicy {
            choice: crate::provider::ToolChoice::Required,
            max_rounds: 3,
            max_calls_per_turn: 10,
            blocklist: vec!["wipe".into()],
        }
    );
}

#[test]
fn a_tool_the_pack_does_not_define_is_an_error_at_its_pointer() {
    let mut document = pack_with(json!({"default": prompt("default")}));
    document["prompts"]["default"]["tools"] = json!(["missing"]);

    let message = load(&document).unwrap_err().to_string();

    assert!(message.contains("/prompts/default/tools/0"), "{message}");
    assert!(message.contains("`missing` is not defined"), "{message}");
}

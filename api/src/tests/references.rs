//! References between documents: present, in the right namespace, and holding what they should.

use serde_json::json;

use super::{FUNCTION, agent_error, agent_ok};
use crate::load_str;

#[test]
fn missing_prompt_pack_is_an_error_at_the_reference() {
    let e = agent_error(&FUNCTION.replace("{name: pack}", "{name: nopack}"), "");
    assert_eq!(e.document, Some(1));
    assert_eq!(e.field_path(), Some("spec.promptPackRef.name"));
    assert_eq!(
        e.reason(),
        "PromptPack `nopack` not found in namespace `default`"
    );
}

#[test]
fn missing_config_map_is_an_error_at_the_prompt_pack() {
    let text = super::manifest(FUNCTION, "").replace(
        "configMapRef: {name: pack-cm}",
        "configMapRef: {name: gone}",
    );
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.document, Some(2));
    assert_eq!(e.object.as_deref(), Some("PromptPack pack"));
    assert_eq!(e.field_path(), Some("spec.source.configMapRef.name"));
    assert_eq!(
        e.reason(),
        "ConfigMap `gone` not found in namespace `default`"
    );
}

#[test]
fn unparseable_pack_json_is_an_error_at_the_config_map() {
    let text = super::manifest(FUNCTION, "").replace(r#"'{"id": "p"}'"#, r#"'{"id": }'"#);
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.document, Some(3));
    assert_eq!(e.object.as_deref(), Some("ConfigMap pack-cm"));
    assert_eq!(e.field_path(), Some("data.pack.json"));
    assert!(
        e.reason().starts_with("the pack is not valid JSON: "),
        "{e}"
    );
}

#[test]
fn config_map_with_several_keys_and_no_pack_json_is_an_error() {
    let text = super::manifest(FUNCTION, "").replace(
        r#"  pack.json: '{"id": "p"}'"#,
        "  a.json: '{}'\n  b.json: '{}'",
    );
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.field_path(), Some("data"));
    assert_eq!(
        e.reason(),
        "no `pack.json` key and 2 keys (a.json, b.json): cannot tell which holds the pack"
    );
}

#[test]
fn pack_must_be_an_object() {
    let text = super::manifest(FUNCTION, "").replace(r#"'{"id": "p"}'"#, "'[1, 2]'");
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.reason(), "the pack must be a JSON object, found a list");
}

#[test]
fn inline_pack_source_is_our_convenience() {
    let text = super::manifest(FUNCTION, "").replace(
        "source: {type: configmap, configMapRef: {name: pack-cm}}",
        "source: {type: inline, inline: {id: inline-pack, prompts: {}}}",
    );
    let agent = load_str("one.yaml", &text).unwrap().agents.remove(0);
    assert_eq!(
        agent.pack.document,
        json!({"id": "inline-pack", "prompts": {}})
    );
    assert_eq!(
        agent.pack.origin,
        "one.yaml: PromptPack pack spec.source.inline"
    );
}

#[test]
fn prompt_pack_version_must_match_the_reference() {
    let e = agent_error(
        &FUNCTION.replace(
            "promptPackRef: {name: pack}",
            "promptPackRef: {name: pack, version: 2.0.0}",
        ),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.promptPackRef.version"));
    assert_eq!(
        e.reason(),
        "`2.0.0` does not match PromptPack `pack` version `1.0.0`"
    );
}

#[test]
fn missing_provider_is_an_error_at_the_reference() {
    let e = agent_error(
        &FUNCTION.replace("providerRef: {name: prov}", "providerRef: {name: nope}"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.providers[0].providerRef.name"));
    assert_eq!(
        e.reason(),
        "Provider `nope` not found in namespace `default`"
    );
}

#[test]
fn missing_deprecated_provider_ref_is_an_error() {
    let spec = "  promptPackRef: {name: pack}\n  providerRef: {name: nope}\n";
    let e = agent_error(spec, "");
    assert_eq!(e.field_path(), Some("spec.providerRef.name"));
}

#[test]
fn missing_tool_registry_is_an_error() {
    let e = agent_error(
        &format!("{FUNCTION}  toolRegistryRef: {{name: tools}}\n"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.toolRegistryRef.name"));
    assert_eq!(
        e.reason(),
        "ToolRegistry `tools` not found in namespace `default`"
    );
}

#[test]
fn references_resolve_in_the_agent_namespace() {
    let text = super::manifest(FUNCTION, "").replace(
        "metadata: {name: a}",
        "metadata: {name: a, namespace: team}",
    );
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(
        e.reason(),
        "PromptPack `pack` not found in namespace `team`"
    );
}

#[test]
fn explicit_namespace_on_a_reference_wins() {
    let text = super::manifest(FUNCTION, "")
        .replace(
            "metadata: {name: a}",
            "metadata: {name: a, namespace: team}",
        )
        .replace(
            "promptPackRef: {name: pack}",
            "promptPackRef: {name: pack, namespace: default}",
        )
        .replace(
            "providerRef: {name: prov}",
            "providerRef: {name: prov, namespace: default}",
        );
    let agent = load_str("test.yaml", &text).unwrap().agents.remove(0);
    assert_eq!(agent.namespace, "team");
    assert_eq!(agent.pack.name, "pack");
    assert_eq!(agent.provider.name, "prov");
}

#[test]
fn tool_registry_in_the_files_resolves() {
    let tools = "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: ToolRegistry\n\
                 metadata: {name: tools}\nspec: {handlers: [{name: ask, type: client}]}\n";
    let agent = agent_ok(
        &format!("{FUNCTION}  toolRegistryRef: {{name: tools}}\n"),
        tools,
    );
    assert_eq!(agent.name, "a");
    let tools = agent.tools.expect("the referenced ToolRegistry");
    assert_eq!(tools.name, "tools");
    assert_eq!(tools.handlers[0].name, "ask");
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The AgentRuntime CRD's CEL rules, evaluated with a CEL interpreter (the `cel` crate) as the
//! API server would: every example manifest passes every rule, and each rule refuses the
//! manifests it is there to refuse, with its message.

use std::path::Path;

use omnia_operator::rules::{AGENT_RUNTIME, Rule};
use serde_json::Value;

/// The messages of the rules `manifest` breaks.
fn broken(manifest: &Value) -> Vec<&'static str> {
    AGENT_RUNTIME
        .iter()
        .filter(|rule| !holds(rule, manifest))
        .map(|rule| rule.message)
        .collect()
}

fn holds(rule: &Rule, manifest: &Value) -> bool {
    // The API server checks a rule only where its node exists.
    let Some(node) = manifest.pointer(rule.at) else {
        return true;
    };
    let program = cel::Program::compile(rule.rule)
        .unwrap_or_else(|e| panic!("rule {:?} does not compile: {e:?}", rule.rule));
    let mut context = cel::Context::default();
    context.add_variable("self", node).unwrap();
    match program.execute(&context) {
        Ok(cel::Value::Bool(holds)) => holds,
        other => panic!("rule {:?} gave {other:?}", rule.rule),
    }
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn agent(spec: &str) -> Value {
    yaml(&format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1\nkind: AgentRuntime\nmetadata: {{name: a}}\n\
         spec:\n{spec}"
    ))
}

#[test]
fn every_example_agent_passes_every_rule() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path().join("agentruntime.yaml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(document).unwrap();
            if value["kind"] == "AgentRuntime" {
                assert_eq!(broken(&value), Vec::<&str>::new(), "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 7, "only {checked} example agents found");
}

#[test]
fn function_mode_needs_both_schemas() {
    let missing = agent("  mode: function\n  inputSchema: {type: object}\n");
    assert_eq!(
        broken(&missing),
        ["function mode requires spec.inputSchema and spec.outputSchema"]
    );
    let both = agent("  mode: function\n  inputSchema: {type: object}\n  outputSchema: {}\n");
    assert!(broken(&both).is_empty());
}

#[test]
fn agent_mode_takes_no_schemas() {
    for spec in [
        "  inputSchema: {type: object}\n",
        "  mode: agent\n  outputSchema: {type: object}\n",
    ] {
        assert_eq!(
            broken(&agent(spec)),
            ["spec.inputSchema and spec.outputSchema are for function mode only"],
            "{spec}"
        );
    }
    assert!(broken(&agent("  mode: agent\n")).is_empty());
}

#[test]
fn function_mode_serves_no_websocket() {
    let spec =
        "  mode: function\n  inputSchema: {}\n  outputSchema: {}\n  facade: {type: websocket}\n";
    assert_eq!(
        broken(&agent(spec)),
        ["function mode serves no websocket facade: use type rest (or grpc)"]
    );
    let rest = "  mode: function\n  inputSchema: {}\n  outputSchema: {}\n  facade: {type: rest}\n";
    assert!(broken(&agent(rest)).is_empty());
    // Omnia's shape: one facade per protocol.
    let facades = "  mode: function\n  inputSchema: {}\n  outputSchema: {}\n  \
                   facades: [{type: rest}, {type: websocket, port: 8090}]\n";
    assert_eq!(
        broken(&agent(facades)),
        ["function mode serves no websocket facade: spec.facades[] may not hold type websocket"]
    );
    let agent_facades = "  facades: [{type: websocket}, {type: a2a}]\n";
    assert!(broken(&agent(agent_facades)).is_empty());
}

#[test]
fn a_media_backend_needs_its_settings() {
    for (storage, message) in [
        ("{type: s3}", "storage type s3 requires s3.bucket"),
        (
            "{type: s3, s3: {region: eu-west-1}}",
            "storage type s3 requires s3.bucket",
        ),
        ("{type: gcs}", "storage type gcs requires gcs.bucket"),
        (
            "{type: azure, azure: {account: a}}",
            "storage type azure requires azure.account and azure.container",
        ),
    ] {
        let manifest = agent(&format!("  media:\n    storage: {storage}\n"));
        assert_eq!(broken(&manifest), [message], "{storage}");
    }
    for storage in [
        "{type: none}",
        "{type: local}",
        "{type: s3, s3: {bucket: media}}",
        "{type: gcs, gcs: {bucket: media}}",
        "{type: azure, azure: {account: a, container: c}}",
    ] {
        let manifest = agent(&format!("  media:\n    storage: {storage}\n"));
        assert!(broken(&manifest).is_empty(), "{storage}");
    }
}

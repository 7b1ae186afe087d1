#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The generated CRDs: the committed YAML is what `crdgen` writes now (so CI fails on a stale
//! file), every schema is one the API server accepts as structural, and every manifest in
//! `examples/` and the seed and Omnia fixtures fits it, with no field the API server would prune.

use std::path::{Path, PathBuf};

use omnia_operator::crd;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Each CRD's `openAPIV3Schema` as JSON, by kind.
fn schemas() -> Vec<(String, Value)> {
    crd::all()
        .into_iter()
        .map(|(_, crd)| {
            let kind = crd.spec.names.kind.clone();
            let schema = crd.spec.versions[0]
                .schema
                .clone()
                .unwrap()
                .open_api_v3_schema;
            (kind, serde_json::to_value(schema.unwrap()).unwrap())
        })
        .collect()
}

#[test]
fn committed_crds_are_what_crdgen_writes() {
    for (file, crd) in crd::all() {
        let path = root().join("deploy/crds").join(&file);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run crdgen", path.display()));
        assert!(
            committed == crd::to_yaml(&crd).unwrap(),
            "{} is stale: run `cargo run -p omnia-operator --bin crdgen`",
            path.display()
        );
    }
}

/// Why `node` (at `path`) is not structural, as the API server checks it.
fn structural_problems(path: &str, node: &Value, out: &mut Vec<String>) {
    let Some(object) = node.as_object() else {
        out.push(format!("{path}: not a schema object"));
        return;
    };
    let preserve = object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let kind = object.get("type").and_then(Value::as_str);
    if kind.is_none() && !preserve && !int_or_string {
        out.push(format!("{path}: no type"));
    }
    if object.contains_key("properties") && object.contains_key("additionalProperties") {
        out.push(format!("{path}: both properties and additionalProperties"));
    }
    for key in ["anyOf", "oneOf", "allOf", "not"] {
        if object.contains_key(key) {
            out.push(format!(
                "{path}: {key} (value validation only, kept out of the derive)"
            ));
        }
    }
    if let Some(values) = object.get("enum").and_then(Value::as_array) {
        for value in values {
            let fits = match kind {
                Some("string") => value.is_string(),
                Some("integer") => value.is_i64() || value.is_u64(),
                _ => true,
            };
            if !fits {
                out.push(format!("{path}: enum value {value} is not a {kind:?}"));
            }
        }
    }
    let properties = object.get("properties").and_then(Value::as_object);
    for required in object
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = required.as_str().unwrap();
        if !properties.is_some_and(|p| p.contains_key(name)) {
            out.push(format!("{path}: required `{name}` is not a property"));
        }
    }
    for (name, child) in properties.into_iter().flatten() {
        structural_problems(&format!("{path}.{name}"), child, out);
    }
    if let Some(items) = object.get("items") {
        structural_problems(&format!("{path}[]"), items, out);
    }
    if let Some(values @ Value::Object(_)) = object.get("additionalProperties") {
        structural_problems(&format!("{path}{{}}"), values, out);
    }
}

#[test]
fn every_schema_is_structural() {
    for (kind, schema) in schemas() {
        let mut problems = Vec::new();
        structural_problems(&kind, &schema, &mut problems);
        assert_eq!(problems, Vec::<String>::new(), "{kind}");
    }
}

#[test]
fn printer_columns_name_fields_the_schema_has() {
    for (_, crd) in crd::all() {
        let version = &crd.spec.versions[0];
        let schema =
            serde_json::to_value(version.schema.clone().unwrap().open_api_v3_schema.unwrap())
                .unwrap();
        let columns = version.additional_printer_columns.clone().unwrap();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        assert!(
            names.contains(&"Phase") && names.contains(&"Age"),
            "{names:?}"
        );
        for column in &columns {
            if column.json_path.starts_with(".metadata") {
                continue;
            }
            let pointer: String = column
                .json_path
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| format!("/properties/{s}"))
                .collect();
            assert!(
                schema.pointer(&pointer).is_some(),
                "{}: column {} names {}",
                crd.spec.names.kind,
                column.name,
                column.json_path
            );
        }
    }
    let ar = crd::all().remove(0).1;
    assert_eq!(ar.spec.names.kind, "AgentRuntime");
    let ready = ar.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap();
    assert!(
        ready
            .iter()
            .any(|c| c.json_path == ".status.replicas.ready")
    );
    let pp = crd::all().remove(1).1;
    assert_eq!(pp.spec.names.short_names, Some(vec!["pp".to_owned()]));
}

#[test]
fn the_agent_runtime_crd_carries_every_cel_rule_where_it_applies() {
    let (_, schema) = schemas().remove(0);
    for rule in omnia_operator::rules::AGENT_RUNTIME {
        let pointer: String = rule
            .at
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| format!("/properties/{s}"))
            .collect();
        let rules = schema
            .pointer(&format!("{pointer}/x-kubernetes-validations"))
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no rules at {}", rule.at));
        assert!(
            rules
                .iter()
                .any(|r| r["rule"] == rule.rule && r["message"] == rule.message),
            "{} at {}",
            rule.message,
            rule.at
        );
    }
}

/// The fields of `value` (at `path`) the API server would drop because `schema` does not
/// declare them.
fn pruned(path: &str, value: &Value, schema: &Value, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let values = schema.get("additionalProperties");
            for (name, child) in fields {
                match (properties.and_then(|p| p.get(name)), values) {
                    (Some(child_schema), _) | (None, Some(child_schema @ Value::Object(_))) => {
                        pruned(&format!("{path}.{name}"), child, child_schema, out);
                    }
                    _ => out.push(format!("{path}.{name}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    pruned(&format!("{path}[{i}]"), item, item_schema, out);
                }
            }
        }
        _ => {}
    }
}

/// Every document of a kind these CRDs define in the YAML files under `dir` (recursively).
fn manifests(dir: &Path, out: &mut Vec<(PathBuf, Value)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            manifests(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                let value: Value = serde::Deserialize::deserialize(document).unwrap();
                let served = ["AgentRuntime", "PromptPack", "Provider", "ToolRegistry"];
                if value["apiVersion"] == "omnia.altairalabs.ai/v1alpha1"
                    && served.iter().any(|k| value["kind"] == *k)
                {
                    out.push((path.clone(), value));
                }
            }
        }
    }
}

/// Why `manifest` does not fit its kind's CRD schema: JSON Schema failures and pruned fields.
fn misfits(manifest: &Value) -> Vec<String> {
    let kind = manifest["kind"].as_str().unwrap();
    let (_, schema) = schemas().into_iter().find(|(k, _)| k == kind).unwrap();
    // The API server fills in apiVersion, kind and metadata itself; the spec is what is checked.
    let validator = jsonschema::validator_for(&schema["properties"]["spec"]).unwrap();
    let mut out: Vec<String> = validator
        .iter_errors(&manifest["spec"])
        .map(|e| format!("spec{}: {e}", e.instance_path()))
        .collect();
    pruned(
        "spec",
        &manifest["spec"],
        &schema["properties"]["spec"],
        &mut out,
    );
    out
}

#[test]
fn every_example_seed_and_omnia_manifest_fits_its_crd() {
    let mut all = Vec::new();
    manifests(&root().join("examples"), &mut all);
    manifests(&root().join("api/tests/fixtures"), &mut all);
    let kinds: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|(_, m)| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["AgentRuntime", "PromptPack", "Provider", "ToolRegistry"]
    );
    assert!(all.len() >= 20, "only {} manifests found", all.len());
    for (path, manifest) in &all {
        assert_eq!(
            misfits(manifest),
            Vec::<String>::new(),
            "{} {}",
            path.display(),
            manifest["metadata"]["name"]
        );
    }
}

#[test]
fn a_misspelt_or_mistyped_field_is_reported() {
    let manifest: Value = serde_yaml_ng::from_str(
        "apiVersion: omnia.altairalabs.ai/v1alpha1\nkind: AgentRuntime\nmetadata: {name: a}\n\
         spec:\n  promptPackRef: {name: p}\n  facade: {type: websocket, prot: 8080}\n  \
         replicas: many\n",
    )
    .unwrap();
    let found = misfits(&manifest);
    assert!(found.iter().any(|m| m == "spec.facade.prot"), "{found:?}");
    assert!(
        found.iter().any(|m| m.starts_with("spec/replicas")),
        "{found:?}"
    );
}

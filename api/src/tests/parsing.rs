//! Unknown fields, bad values and unknown kinds fail with the file, document, field and reason.

use std::path::Path;

use super::{FUNCTION, agent_error, agent_ok, manifest};
use crate::load_str;

#[test]
fn unknown_spec_field_is_named_with_its_path() {
    let e = agent_error(&format!("{FUNCTION}  facde: {{type: grpc}}\n"), "");
    assert_eq!(e.file_path(), Some(Path::new("test.yaml")));
    assert_eq!(e.document, Some(1));
    assert_eq!(e.object.as_deref(), Some("AgentRuntime a"));
    assert_eq!(e.field_path(), Some("spec.facde"));
    assert!(
        e.reason()
            .starts_with("unknown field `facde`, expected one of"),
        "{e}"
    );
}

#[test]
fn bad_enum_value_names_the_field_and_the_choices() {
    let e = agent_error(&format!("{FUNCTION}  facade: {{type: socket}}\n"), "");
    assert_eq!(e.field_path(), Some("spec.facade.type"));
    assert_eq!(
        e.reason(),
        "unknown variant `socket`, expected one of `websocket`, `grpc`, `rest`, `a2a`, `mcp`, \
         `custom`"
    );
    assert_eq!(
        e.to_string(),
        "test.yaml: document 1 (AgentRuntime a): spec.facade.type: unknown variant `socket`, \
         expected one of `websocket`, `grpc`, `rest`, `a2a`, `mcp`, `custom`"
    );
}

#[test]
fn unknown_field_deep_in_a_list_is_named() {
    let spec = FUNCTION.replace(
        "providerRef: {name: prov}",
        "providerRef: {name: prov, nmespace: x}",
    );
    let e = agent_error(&spec, "");
    assert_eq!(
        e.field_path(),
        Some("spec.providers[0].providerRef.nmespace")
    );
}

#[test]
fn missing_required_field_names_its_parent() {
    let spec = FUNCTION.replace("  promptPackRef: {name: pack}\n", "");
    let e = agent_error(&spec, "");
    assert_eq!(e.field_path(), Some("spec"));
    assert_eq!(e.reason(), "missing field `promptPackRef`");
}

#[test]
fn unknown_metadata_field_is_refused() {
    let text =
        manifest(FUNCTION, "").replace("metadata: {name: a}", "metadata: {name: a, lables: {}}");
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.field_path(), Some("metadata.lables"));
}

#[test]
fn exported_metadata_and_status_are_accepted() {
    let text = manifest(FUNCTION, "").replace(
        "metadata: {name: a}",
        "metadata: {name: a, uid: 1f0c, resourceVersion: '42', generation: 3, \
         creationTimestamp: '2025-01-01T00:00:00Z', labels: {app: x}, annotations: {note: y}}\n\
         status: {phase: Running}",
    );
    let config = load_str("test.yaml", &text).unwrap();
    assert_eq!(config.agents[0].name, "a");
}

#[test]
fn metadata_exported_from_a_cluster_loads() {
    let text = manifest(FUNCTION, "").replace(
        "metadata: {name: a}",
        "metadata:\n  name: a\n  generateName: a-\n  uid: 1f0c\n  resourceVersion: '42'\n  \
         finalizers: [omnia.altairalabs.ai/finalizer]\n  ownerReferences:\n  - {apiVersion: v1, \
         kind: Namespace, name: default, uid: ns-1, controller: true}\n  managedFields:\n  - \
         {manager: kubectl, operation: Apply, apiVersion: omnia.altairalabs.ai/v1alpha1, \
         fieldsType: FieldsV1, fieldsV1: {f:spec: {}}}\n  selfLink: /x",
    );
    let config = load_str("test.yaml", &text).unwrap();
    assert_eq!(config.agents[0].name, "a");
}

#[test]
fn kinds_the_gateway_does_not_use_are_skipped_with_a_notice() {
    let others = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n\
                  ---\napiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n\
                  ---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: Workspace\n\
                  metadata: {name: w}\nspec: {displayName: W}\n\
                  ---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: ToolPolicy\n\
                  metadata: {name: t}\nspec: {anything: [1, 2]}\n";
    let config = load_str("test.yaml", &format!("{}{others}", manifest(FUNCTION, ""))).unwrap();
    assert_eq!(config.agents.len(), 1);
    let notices: Vec<&str> = config.notices.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        notices,
        [
            "test.yaml: document 5 (Deployment d): skipped: kind Deployment (apps/v1) \
             configures nothing served here",
            "test.yaml: document 6 (Namespace demo): skipped: kind Namespace (v1) configures \
             nothing served here",
            "test.yaml: document 7 (Workspace w): skipped: kind Workspace \
             (omnia.altairalabs.ai/v1alpha1) configures nothing served here",
            "test.yaml: document 8 (ToolPolicy t): skipped: kind ToolPolicy \
             (omnia.altairalabs.ai/v1alpha1) configures nothing served here",
        ]
    );
}

#[test]
fn unknown_kind_in_omnias_group_is_an_error_naming_it() {
    let text = format!(
        "{}---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: AgentRuntim\nmetadata: {{name: d}}\n",
        manifest(FUNCTION, "")
    );
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.document, Some(5));
    assert_eq!(e.object.as_deref(), Some("AgentRuntim d"));
    assert_eq!(e.field_path(), Some("kind"));
    assert!(
        e.reason()
            .starts_with("unknown kind `AgentRuntim` in omnia.altairalabs.ai"),
        "{e}"
    );
}

#[test]
fn wrong_api_version_for_a_known_kind_is_an_error() {
    let text = manifest(FUNCTION, "").replacen(
        "apiVersion: omnia.altairalabs.ai/v1alpha1",
        "apiVersion: omnia.altairalabs.ai/v1",
        1,
    );
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.field_path(), Some("apiVersion"));
    assert_eq!(
        e.reason(),
        "unsupported apiVersion `omnia.altairalabs.ai/v1` for kind AgentRuntime: expected \
         `omnia.altairalabs.ai/v1alpha1`"
    );
}

#[test]
fn yaml_syntax_error_names_the_document() {
    let text = format!("{}---\nkind: [unclosed\n", manifest(FUNCTION, ""));
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.document, Some(5));
    assert_eq!(e.field, None);
    assert!(e.reason().starts_with("invalid YAML: "), "{e}");
}

#[test]
fn a_document_that_is_not_a_mapping_is_an_error() {
    let text = format!("{}---\n- just\n- a list\n", manifest(FUNCTION, ""));
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.document, Some(5));
    assert!(e.reason().contains("found a list"), "{e}");
}

#[test]
fn empty_documents_are_skipped_but_counted() {
    let text = format!(
        "---\n---\n# only a comment\n---\n{}---\nkind: Nope\n",
        manifest(FUNCTION, "")
    );
    let e = load_str("test.yaml", &text).unwrap_err();
    // Documents 1 and 2 are empty; the agent is 3, the support objects 4 to 6.
    assert_eq!(e.document, Some(7));
    let text = format!("---\n---\n{}---\n", manifest(FUNCTION, ""));
    assert_eq!(load_str("test.yaml", &text).unwrap().agents.len(), 1);
}

#[test]
fn agent_name_must_be_a_dns_label() {
    let text = manifest(FUNCTION, "").replace("metadata: {name: a}", "metadata: {name: My_Agent}");
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.field_path(), Some("metadata.name"));
    assert!(
        e.reason().starts_with("`My_Agent` is not a DNS-1123 label"),
        "{e}"
    );
}

#[test]
fn duplicate_agent_names_are_an_error() {
    let agent = "apiVersion: omnia.altairalabs.ai/v1alpha1\nkind: AgentRuntime\n\
                 metadata: {name: a, namespace: other}\nspec:\n";
    let text = format!("{}---\n{agent}{FUNCTION}", manifest(FUNCTION, ""));
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(e.document, Some(5));
    assert_eq!(e.field_path(), Some("metadata.name"));
    assert!(
        e.reason()
            .starts_with("duplicate AgentRuntime `a` (first in test.yaml document 1)"),
        "{e}"
    );
}

#[test]
fn duplicate_objects_in_one_namespace_are_an_error() {
    let e = agent_error(
        FUNCTION,
        "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: Provider\nmetadata: {name: prov}\nspec: {type: mock}\n",
    );
    assert_eq!(e.document, Some(5));
    assert_eq!(e.object.as_deref(), Some("Provider prov"));
    assert!(
        e.reason()
            .starts_with("duplicate Provider prov in namespace `default`"),
        "{e}"
    );
}

#[test]
fn bad_duration_is_an_error_at_its_field() {
    let e = agent_error(&format!("{FUNCTION}  session: {{ttl: 1day}}\n"), "");
    assert_eq!(e.field_path(), Some("spec.session.ttl"));
    assert!(e.reason().starts_with("invalid duration `1day`"), "{e}");
}

#[test]
fn session_ttl_is_parsed() {
    let agent = agent_ok(
        &format!("{FUNCTION}  session: {{type: memory, ttl: 1h30m}}\n"),
        "",
    );
    assert_eq!(agent.session.ttl, std::time::Duration::from_secs(5400));
    assert_eq!(agent.session.store_url, None);
}

#[test]
fn out_of_range_port_is_an_error() {
    let e = agent_error(
        &format!("{FUNCTION}  facade: {{type: grpc, port: 70000}}\n"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.facade.port"));
    let e = agent_error(
        &format!("{FUNCTION}  facade: {{type: grpc, port: 0}}\n"),
        "",
    );
    assert_eq!(e.reason(), "must be between 1 and 65535");
}

#[test]
fn conflicting_replica_counts_are_an_error() {
    let e = agent_error(
        &format!("{FUNCTION}  replicas: 2\n  runtime: {{replicas: 3}}\n"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.runtime.replicas"));
    assert_eq!(
        agent_ok(&format!("{FUNCTION}  runtime: {{replicas: 4}}\n"), "").replicas,
        4
    );
}

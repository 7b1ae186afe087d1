//! Paths: files, directories walked in sorted order, and what counts as nothing to load.

use std::fs;

use super::{FUNCTION, SUPPORT};
use crate::load;

fn agent(name: &str) -> String {
    format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1\nkind: AgentRuntime\nmetadata: {{name: {name}}}\nspec:\n{FUNCTION}"
    )
}

#[test]
fn directory_is_walked_recursively_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("b/nested")).unwrap();
    fs::write(dir.path().join("support.yml"), SUPPORT).unwrap();
    fs::write(dir.path().join("b/nested/z.yaml"), agent("zed")).unwrap();
    fs::write(dir.path().join("a.yaml"), agent("alpha")).unwrap();
    // JSON is YAML too.
    let json = serde_json::json!({
        "apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "AgentRuntime",
        "metadata": {"name": "json-agent"},
        "spec": {"mode": "function", "promptPackRef": {"name": "pack"},
                 "providerRef": {"name": "prov"},
                 "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"}}
    });
    fs::write(dir.path().join("c.json"), json.to_string()).unwrap();
    // Not manifests: skipped.
    fs::write(dir.path().join("README.md"), "# notes").unwrap();
    fs::create_dir(dir.path().join(".github")).unwrap();
    fs::write(dir.path().join(".github/ci.yaml"), "on: push").unwrap();
    let config = load(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<&str> = config.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["alpha", "zed", "json-agent"]);
    assert_eq!(config.agents[1].source, dir.path().join("b/nested/z.yaml"));
}

#[test]
fn errors_name_the_file_they_are_in() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("support.yaml"), SUPPORT).unwrap();
    fs::write(
        dir.path().join("bad.yaml"),
        agent("a").replace("mode: function", "mode: fn"),
    )
    .unwrap();
    let e = load(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(e.file_path(), Some(dir.path().join("bad.yaml").as_path()));
    assert_eq!(e.field_path(), Some("spec.mode"));
    assert!(
        e.to_string()
            .contains("bad.yaml: document 1 (AgentRuntime a): spec.mode: unknown variant `fn`"),
        "{e}"
    );
}

#[test]
fn empty_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "").unwrap();
    let e = load(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(e.file_path(), Some(dir.path()));
    assert_eq!(
        e.reason(),
        "no manifest files (*.yaml, *.yml, *.json) in this directory"
    );
}

#[test]
fn no_agent_runtime_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("support.yaml");
    fs::write(&file, SUPPORT).unwrap();
    let e = load(std::slice::from_ref(&file)).unwrap_err();
    assert_eq!(e.file_path(), Some(file.as_path()));
    assert_eq!(e.reason(), "no AgentRuntime found");
    let e = crate::load_str("empty.yaml", "---\n").unwrap_err();
    assert_eq!(e.reason(), "no AgentRuntime found");
}

#[test]
fn missing_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone.yaml");
    let e = load(std::slice::from_ref(&gone)).unwrap_err();
    assert_eq!(e.file_path(), Some(gone.as_path()));
    assert!(e.reason().starts_with("cannot read: "), "{e}");
}

#[test]
fn explicit_files_are_combined() {
    let dir = tempfile::tempdir().unwrap();
    let support = dir.path().join("support.txt");
    let agent_file = dir.path().join("agent.yaml");
    fs::write(&support, SUPPORT).unwrap();
    fs::write(&agent_file, agent("a")).unwrap();
    // A file named explicitly is read whatever its extension.
    let config = load(&[agent_file, support]).unwrap();
    assert_eq!(config.agents[0].pack.name, "pack");
}

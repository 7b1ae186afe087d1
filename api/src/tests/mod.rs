//! Loader tests: each loads manifests and asserts what a user of the result sees.

mod client_keys;
mod credentials;
mod files;
mod fixtures;
mod omnia;
mod parsing;
mod providers;
mod references;
mod rules;
mod tool_registry;

use std::path::PathBuf;

use crate::{ConfigError, ResolvedConfig, load_str};

/// A PromptPack with its ConfigMap and a mock Provider, for agents under test to reference.
const SUPPORT: &str = r#"apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata: {name: pack}
spec:
  source: {type: configmap, configMapRef: {name: pack-cm}}
  version: "1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: pack-cm}
data:
  pack.json: '{"id": "p"}'
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {name: prov}
spec: {type: mock}
"#;

/// A valid function-mode spec (indented for `spec:`).
const FUNCTION: &str = "  mode: function
  promptPackRef: {name: pack}
  providers: [{name: default, providerRef: {name: prov}}]
  inputSchema: {type: object}
  outputSchema: {type: object}
";

/// An AgentRuntime named `a` with `spec` (lines indented by two spaces), as document 1,
/// followed by [`SUPPORT`] and `extra` documents.
fn manifest(spec: &str, extra: &str) -> String {
    format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1\nkind: AgentRuntime\nmetadata: {{name: a}}\n\
         spec:\n{spec}---\n{SUPPORT}{extra}"
    )
}

/// Loads [`manifest`] from `test.yaml`.
fn load_agent(spec: &str, extra: &str) -> Result<ResolvedConfig, ConfigError> {
    load_str("test.yaml", &manifest(spec, extra))
}

/// Loads [`manifest`] and expects an error.
fn agent_error(spec: &str, extra: &str) -> ConfigError {
    match load_agent(spec, extra) {
        Ok(config) => panic!("expected an error, loaded {config:#?}"),
        Err(e) => e,
    }
}

/// Loads [`manifest`] and returns agent `a`.
fn agent_ok(spec: &str, extra: &str) -> crate::Agent {
    match load_agent(spec, extra) {
        Ok(mut config) => config.agents.remove(0),
        Err(e) => panic!("expected success: {e}"),
    }
}

/// `api/tests/fixtures/NAME`.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

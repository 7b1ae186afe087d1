//! Omnia's CRD CEL rules on function mode, and schema compilation.

use super::{FUNCTION, agent_error, agent_ok};
use crate::{FacadeType, Mode};

/// An agent-mode spec with the runtime handler and a provider.
const AGENT: &str = "  promptPackRef: {name: pack}
  providerRef: {name: prov}
";

#[test]
fn function_requires_an_input_schema() {
    let e = agent_error(&FUNCTION.replace("  inputSchema: {type: object}\n", ""), "");
    assert_eq!(e.field_path(), Some("spec.inputSchema"));
    assert_eq!(e.reason(), "required when spec.mode is function");
}

#[test]
fn function_requires_an_output_schema() {
    let e = agent_error(
        &FUNCTION.replace("  outputSchema: {type: object}\n", ""),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.outputSchema"));
    assert_eq!(e.reason(), "required when spec.mode is function");
}

#[test]
fn agent_mode_forbids_schemas() {
    let e = agent_error(&format!("{AGENT}  outputSchema: {{type: object}}\n"), "");
    assert_eq!(e.field_path(), Some("spec.outputSchema"));
    assert!(
        e.reason()
            .starts_with("only allowed when spec.mode is function"),
        "{e}"
    );
    let e = agent_error(
        &format!("  mode: agent\n{AGENT}  inputSchema: {{type: object}}\n"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.inputSchema"));
}

#[test]
fn function_rejects_the_websocket_facade() {
    let e = agent_error(&format!("{FUNCTION}  facade: {{type: websocket}}\n"), "");
    assert_eq!(e.field_path(), Some("spec.facade.type"));
    assert_eq!(
        e.reason(),
        "mode 'function' allows only 'rest' (or 'grpc') and 'mcp' facades"
    );
}

#[test]
fn facade_type_defaults_by_mode() {
    let function = agent_ok(FUNCTION, "");
    assert_eq!(function.mode, Mode::Function);
    assert_eq!(function.facade.kind, FacadeType::Function);
    assert_eq!(function.facade.port, 8080);
    let agent = agent_ok(AGENT, "");
    assert_eq!(agent.mode, Mode::Agent);
    assert_eq!(agent.facade.kind, FacadeType::Websocket);
}

#[test]
fn invalid_input_schema_reports_the_compile_error() {
    let spec = FUNCTION.replace(
        "inputSchema: {type: object}",
        "inputSchema: {type: object, properties: {n: {type: integr}}}",
    );
    let e = agent_error(&spec, "");
    assert_eq!(e.field_path(), Some("spec.inputSchema"));
    assert!(e.reason().starts_with("not a valid JSON Schema: "), "{e}");
    assert!(e.reason().contains("/properties/n/type"), "{e}");
}

#[test]
fn invalid_output_schema_reports_the_compile_error() {
    let spec = FUNCTION.replace(
        "outputSchema: {type: object}",
        "outputSchema: {minimum: ten}",
    );
    let e = agent_error(&spec, "");
    assert_eq!(e.field_path(), Some("spec.outputSchema"));
    assert!(e.reason().contains("(at /minimum)"), "{e}");
}

#[test]
fn schemas_are_kept_as_written() {
    let spec = FUNCTION.replace(
        "inputSchema: {type: object}",
        "inputSchema: {type: object, required: [text], properties: {text: {type: string}}}",
    );
    let agent = agent_ok(&spec, "");
    assert_eq!(
        agent.input_schema,
        Some(
            serde_json::json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}})
        )
    );
}

//! The message schemas of Omnia's AsyncAPI file (vendored in `gateway/spec/`), as validators a
//! test runs every frame the gateway sent through.
//!
//! The file's `#/components/...` references resolve against the whole document, so each validator
//! is the document's `components` plus a `$ref` to one message's payload. The file lists no
//! server `tool_result` message (only the `ToolResultInfo` schema its demo agent's frames carry),
//! so that one is assembled here from `ToolResultInfo` in the shape of the other messages.

use std::collections::HashMap;

use serde_json::{Value, json};

/// Server frame `type` -> the AsyncAPI message that describes it.
const SERVER_MESSAGES: [(&str, &str); 10] = [
    ("connected", "Connected"),
    ("chunk", "Chunk"),
    ("done", "Done"),
    ("tool_call", "ToolCall"),
    ("error", "Error"),
    ("upload_ready", "UploadReady"),
    ("upload_complete", "UploadComplete"),
    ("media_chunk", "MediaChunk"),
    ("interrupt", "Interrupt"),
    ("session_config", "SessionConfig"),
];

pub struct AsyncApi {
    validators: HashMap<&'static str, jsonschema::Validator>,
}

impl AsyncApi {
    pub fn load() -> Self {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/spec/omnia-websocket-asyncapi.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let document: Value = serde_yaml_ng::from_str(&text).unwrap();
        let mut components = document["components"].clone();
        components["messages"]["ToolResult"] = json!({"payload": {
            "type": "object",
            "required": ["type", "tool_result", "timestamp"],
            "properties": {
                "type": {"type": "string", "const": "tool_result"},
                "session_id": {"type": "string"},
                "tool_result": {"$ref": "#/components/schemas/ToolResultInfo"},
                "timestamp": {"type": "string", "format": "date-time"}
            }
        }});
        let mut validators = HashMap::new();
        for (kind, message) in SERVER_MESSAGES
            .into_iter()
            .chain([("tool_result", "ToolResult")])
        {
            let schema = json!({
                "$ref": format!("#/components/messages/{message}/payload"),
                "components": components,
            });
            let validator = omnia_api::json_schema_validator(&schema)
                .unwrap_or_else(|e| panic!("the {message} schema does not compile: {e}"));
            validators.insert(kind, validator);
        }
        Self { validators }
    }

    /// Panics unless `frame` is JSON whose `type` is a server message and which validates.
    pub fn check(&self, frame: &[u8]) -> Value {
        let (value, errors) = self.errors(frame);
        assert!(
            errors.is_empty(),
            "{value} fails the AsyncAPI schema: {errors:?}"
        );
        value
    }

    /// The frame, and how it fails its message's schema (empty when it validates). Panics when
    /// it is not JSON or its `type` is no server message.
    pub fn errors(&self, frame: &[u8]) -> (Value, Vec<String>) {
        let value: Value = serde_json::from_slice(frame).unwrap_or_else(|e| {
            panic!(
                "frame is not JSON ({e}): {}",
                String::from_utf8_lossy(frame)
            )
        });
        let kind = value["type"].as_str().unwrap_or_default();
        let validator = self
            .validators
            .get(kind)
            .unwrap_or_else(|| panic!("`{kind}` is not a server message type: {value}"));
        let errors = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        (value, errors)
    }
}

//! JSON Schema validation of function input (400 `input_invalid`) and output (502
//! `output_invalid`).
//!
//! Schemas are compiled once at start-up ([`JsonSchema::compile`]), with `format` asserted. On the
//! request path a valid document costs one parse and one `is_valid` walk; the error list is
//! collected only on failure.

mod input;
mod output;

pub use input::{ValidateInput, ValidateInputLayer};
pub use output::{ValidateOutput, ValidateOutputLayer};

use serde_json::Value;

use crate::{SchemaViolation, Violations};

/// A compiled JSON Schema.
#[derive(Debug)]
pub struct JsonSchema {
    validator: jsonschema::Validator,
}

impl JsonSchema {
    /// Compiles `schema`; the error says why it is not a usable schema.
    ///
    /// `format` is asserted (2020-12 would make it an annotation, so `"format": "email"` would
    /// pass any string); formats this build does not know stay annotations. These are the options
    /// of `omnia_api::json_schema_validator`, which the loader and the runtime use, so a schema
    /// means the same everywhere.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map(|validator| Self { validator })
            .map_err(|error| error.to_string())
    }

    /// Checks `document`; on failure lists up to [`Violations::MAX_LISTED`] violations with their
    /// JSON pointers and counts the rest without rendering them.
    pub fn check(&self, document: &Value) -> Result<(), Violations> {
        if self.validator.is_valid(document) {
            return Ok(());
        }
        let mut errors = self.validator.iter_errors(document);
        let listed = errors
            .by_ref()
            .take(Violations::MAX_LISTED)
            .map(|error| SchemaViolation {
                pointer: error.instance_path().to_string(),
                message: error.to_string(),
            })
            .collect();
        Err(Violations {
            listed,
            omitted: errors.count(),
        })
    }
}

/// Parses a JSON document. serde_json refuses nesting deeper than 128 levels, so a hostile body
/// of 100,000 nested arrays is an error here rather than a stack overflow later.
pub fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the body is empty; send a JSON document".to_owned());
    }
    serde_json::from_slice(bytes).map_err(|error| format!("the body is not valid JSON: {error}"))
}

/// "what fails its schema: first; second; third (and n more)" for the `detail` field.
fn summarise(what: &str, violations: &Violations) -> String {
    let mut detail = format!("{what} fails its schema:");
    for (i, violation) in violations.listed.iter().take(3).enumerate() {
        let sep = if i == 0 { " " } else { "; " };
        let at = if violation.pointer.is_empty() {
            "/"
        } else {
            &violation.pointer
        };
        detail.push_str(&format!("{sep}{at}: {}", violation.message));
    }
    let total = violations.total();
    if total > 3 {
        detail.push_str(&format!(" (and {} more)", total - 3));
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn echo_schema() -> JsonSchema {
        JsonSchema::compile(&json!({
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string", "maxLength": 5}},
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn valid_document_passes() {
        assert!(echo_schema().check(&json!({"message": "hi"})).is_ok());
    }

    #[test]
    fn violations_carry_pointers() {
        let errors = echo_schema()
            .check(&json!({"message": "too long", "x": 1}))
            .unwrap_err();
        let pointers: Vec<_> = errors.listed.iter().map(|e| e.pointer.as_str()).collect();
        assert!(pointers.contains(&"/message"), "{errors:?}");
        assert!(
            pointers.contains(&""),
            "additionalProperties is reported at the root: {errors:?}"
        );
    }

    #[test]
    fn formats_are_checked() {
        let schema = JsonSchema::compile(&json!({
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "at": {"type": "string", "format": "date-time"}
            }
        }))
        .unwrap();

        assert!(
            schema
                .check(&json!({"email": "ana@example.com", "at": "2025-01-31T12:00:00Z"}))
                .is_ok()
        );
        let errors = schema
            .check(&json!({"email": "not an email", "at": "tomorrow"}))
            .unwrap_err();
        let mut pointers: Vec<_> = errors.listed.iter().map(|e| e.pointer.as_str()).collect();
        pointers.sort_unstable();
        assert_eq!(pointers, ["/at", "/email"], "{errors:?}");
    }

    #[test]
    fn a_broken_schema_does_not_compile() {
        let error = JsonSchema::compile(&json!({"type": "not-a-type"})).unwrap_err();
        assert!(!error.is_empty());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let error = parse_json(deep.as_bytes()).unwrap_err();
        assert!(error.contains("recursion limit"), "{error}");
    }

    #[test]
    fn invalid_utf8_and_empty_bodies_are_errors() {
        assert!(parse_json(b"{\"a\": \"\xff\xfe\"}").is_err());
        assert!(parse_json(b"").unwrap_err().contains("empty"));
        assert!(parse_json(b"  \n").unwrap_err().contains("empty"));
    }

    #[test]
    fn summary_names_the_first_failures() {
        let errors = echo_schema().check(&json!({"message": 1})).unwrap_err();
        let detail = summarise("input", &errors);
        assert!(
            detail.starts_with("input fails its schema: /message:"),
            "{detail}"
        );
    }

    #[test]
    fn a_huge_array_of_wrong_items_lists_fifty_violations_and_counts_the_rest() {
        let schema =
            JsonSchema::compile(&json!({"type": "array", "items": {"type": "string"}})).unwrap();
        let document = Value::Array((0..10_000).map(|i| json!(i)).collect());

        let errors = schema.check(&document).unwrap_err();

        assert_eq!(errors.listed.len(), Violations::MAX_LISTED);
        assert_eq!(errors.omitted, 10_000 - Violations::MAX_LISTED);
        assert_eq!(errors.listed[0].pointer, "/0");
        let detail = summarise("the input", &errors);
        assert!(detail.ends_with("(and 9997 more)"), "{detail}");
    }
}

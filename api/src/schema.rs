//! How every part of Omnia compiles a function's `inputSchema` and `outputSchema`: the loader
//! (to fail at start-up), the runtime (to check the mock provider's synthesised answer) and, with
//! the same options, the gateway's validators (`omnia-middleware`, which does not depend on this
//! crate).

use serde_json::Value;

/// Compiles `schema` with `format` asserted.
///
/// JSON Schema 2020-12 makes `format` an annotation by default, so without this
/// `"format": "email"` would pass any string. Formats this build does not know (custom ones such
/// as `"int64"`) stay annotations, as the specification allows. External `$ref`s are not fetched:
/// the workspace builds jsonschema without its file and HTTP resolvers.
pub fn json_schema_validator(
    schema: &Value,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'_>> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_are_asserted() {
        let validator = json_schema_validator(&json!({
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "at": {"type": "string", "format": "date-time"},
                "host": {"type": "string", "format": "idn-hostname"}
            }
        }))
        .unwrap();

        assert!(validator.is_valid(&json!({"email": "ana@example.com"})));
        assert!(!validator.is_valid(&json!({"email": "not an email"})));
        assert!(!validator.is_valid(&json!({"at": "yesterday"})));
        assert!(validator.is_valid(&json!({"host": "bücher.example"})));
        assert!(!validator.is_valid(&json!({"host": "-bad-.example"})));
    }

    #[test]
    fn unknown_formats_stay_annotations() {
        let validator =
            json_schema_validator(&json!({"type": "string", "format": "int64"})).unwrap();

        assert!(validator.is_valid(&json!("anything")));
    }
}

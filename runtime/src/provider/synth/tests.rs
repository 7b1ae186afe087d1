use serde_json::json;

use super::*;

/// Synthesises a value for `schema` and checks it with a real validator (formats asserted).
fn valid_sample(schema: Value) -> Value {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let value = synthesize(&schema);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{value} is invalid: {errors:?}");
    value
}

#[test]
fn echo_output_schema() {
    let value = valid_sample(json!({
        "type": "object", "required": ["echo"],
        "properties": {"echo": {"type": "string"}}, "additionalProperties": false
    }));

    assert_eq!(value, json!({"echo": "mock echo"}));
}

#[test]
fn summarizer_output_schema() {
    let value = valid_sample(json!({
        "type": "object", "required": ["summary"], "properties": {"summary": {"type": "string"}}
    }));

    assert_eq!(value, json!({"summary": "mock summary"}));
}

#[test]
fn richer_schema_with_nesting_arrays_enums_ranges_and_refs() {
    let value = valid_sample(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["id", "status", "score", "items", "owner", "created", "contact", "link"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"enum": ["open", "closed"]},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "score": {"type": "integer", "exclusiveMinimum": 10, "maximum": 100, "multipleOf": 7},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "negative": {"type": "number", "maximum": -3.5},
            "items": {"type": "array", "minItems": 3, "uniqueItems": true, "items": {"$ref": "#/$defs/item"}},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 12, "maxLength": 14}},
            "none": {"type": "array", "maxItems": 0},
            "owner": {"$ref": "#/$defs/person"},
            "created": {"type": "string", "format": "date-time"},
            "contact": {"type": "string", "format": "email"},
            "link": {"type": "string", "format": "uri"},
            "flag": {"type": "boolean"},
            "code": {"const": "X1"},
            "mode": {"type": "string", "default": "fast"},
            "nullable": {"type": ["null", "string"]},
            "either": {"oneOf": [{"type": "integer", "minimum": 3}, {"type": "string"}]},
            "both": {"allOf": [
                {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "minimum": 2}}},
                {"type": "object", "required": ["b"], "properties": {"b": {"type": "string", "maxLength": 2}}}
            ]}
        },
        "$defs": {
            "item": {
                "type": "object", "required": ["sku", "qty"],
                "properties": {
                    "sku": {"type": "string", "minLength": 3},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 10}
                }
            },
            "person": {
                "type": "object", "required": ["name", "role"],
                "properties": {
                    "name": {"type": "string", "maxLength": 6},
                    "role": {"type": "string", "enum": ["admin", "viewer"]},
                    "manager": {"$ref": "#/$defs/person"}
                }
            }
        }
    }));

    assert_eq!(value["status"], json!("open"));
    assert_eq!(value["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(value["score"], json!(14));
    assert_eq!(value["priority"], json!(1));
    assert_eq!(value["owner"]["role"], json!("admin"));
    assert_eq!(value["mode"], json!("fast"));
}

#[test]
fn draft_7_definitions_and_boolean_exclusive_bounds() {
    valid_sample(json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"port": {"type": "integer", "minimum": 1024, "exclusiveMaximum": 65536}},
        "type": "object",
        "required": ["port", "pair"],
        "properties": {
            "port": {"$ref": "#/definitions/port"},
            "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "minItems": 2}
        }
    }));
}

#[test]
fn recursive_schemas_terminate() {
    let value = valid_sample(json!({
        "$ref": "#/$defs/node",
        "$defs": {"node": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}
        }}
    }));

    assert_eq!(value["name"], json!("mock name"));
}

#[test]
fn a_self_referencing_all_of_does_not_explode() {
    let schema = json!({"allOf": [{"$ref": "#"}, {"$ref": "#"}, {"$ref": "#"}], "type": "string"});

    assert_eq!(synthesize(&schema), json!("mock"));
}

#[test]
fn min_properties_adds_extra_properties() {
    let value = valid_sample(
        json!({"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}}),
    );

    assert_eq!(value.as_object().map(Map::len), Some(2));
}

//! An OpenAPI document's schemas as plain JSON Schema for a tool's `inputSchema`: every local
//! `$ref` inlined (a recursive one cut off where it recurs), OpenAPI 3.0's dialect converted
//! (`nullable`, boolean `exclusiveMinimum` / `exclusiveMaximum`), OpenAPI-only keywords dropped,
//! and `readOnly` properties left out (an input never carries them).
//!
//! Inlining rather than keeping `$ref`s: the providers differ in what they accept in a function's
//! parameters (Gemini takes no `$ref`), and a flat schema is what every one of them reads.

use serde_json::{Map, Value, json};

/// The deepest a schema may nest once its references are inlined.
const MAX_DEPTH: usize = 64;
/// The most schema objects one operation's input may expand to: shared references expand once
/// per use, so a small document can describe a huge schema.
const MAX_NODES: usize = 20_000;
/// The most `$ref`s followed in a row (a reference to a reference ...).
const MAX_HOPS: usize = 32;

/// Keywords of OpenAPI's schema vocabulary that JSON Schema validators ignore and that only add
/// noise to what the model reads.
const DROPPED: [&str; 4] = ["example", "xml", "discriminator", "externalDocs"];
/// Keywords whose value is a map of names to schemas.
const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keywords whose value is one schema (or, for `items` in old drafts, a list of them).
const SCHEMA_VALUES: [&str; 11] = [
    "items",
    "additionalProperties",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
];
/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];

/// Resolves references within one document and converts its schemas.
pub(crate) struct Resolver<'a> {
    document: &'a Value,
    /// OpenAPI 3.0 (its own schema dialect) rather than 3.1 (JSON Schema 2020-12).
    v30: bool,
    /// The references being inlined, outermost first: one met again is a recursion.
    stack: Vec<&'a str>,
    /// Schema objects produced so far for the current operation.
    nodes: usize,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(document: &'a Value, v30: bool) -> Self {
        Self {
            document,
            v30,
            stack: Vec::new(),
            nodes: 0,
        }
    }

    /// Starts the count of produced schema objects again, for the next operation.
    pub(crate) fn reset(&mut self) {
        self.nodes = 0;
    }

    /// `node` with its `$ref` (and the target's, and so on) followed: for parameters, request
    /// bodies and other objects that are not schemas.
    pub(crate) fn follow(&self, mut node: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..MAX_HOPS {
            match node.get("$ref").and_then(Value::as_str) {
                Some(reference) => node = self.lookup(reference)?,
                None => return Ok(node),
            }
        }
        Err(format!("more than {MAX_HOPS} `$ref`s in a row"))
    }

    /// The schema `node` as plain JSON Schema.
    pub(crate) fn schema(&mut self, node: &'a Value) -> Result<Value, String> {
        self.convert(node, 0)
    }

    fn lookup(&self, reference: &str) -> Result<&'a Value, String> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(format!(
                "the `$ref` `{reference}` points outside the document, which is not supported"
            ));
        };
        self.document
            .pointer(pointer)
            .ok_or_else(|| format!("the `$ref` `{reference}` points to nothing"))
    }

    fn convert(&mut self, node: &'a Value, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("a schema nests deeper than {MAX_DEPTH} levels"));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(format!(
                "the input schema grows past {MAX_NODES} schemas once its `$ref`s are inlined"
            ));
        }
        let Value::Object(object) = node else {
            // `true` / `false` schemas, or something that is not a schema: kept as it is.
            return Ok(node.clone());
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return self.reference(reference, object, depth);
        }
        let mut out = Map::new();
        for (key, value) in object {
            let key = key.as_str();
            if DROPPED.contains(&key) || (self.v30 && key == "nullable") {
                continue;
            }
            let converted = if SCHEMA_MAPS.contains(&key) {
                match value {
                    Value::Object(schemas) => {
                        let mut map = Map::new();
                        for (name, schema) in schemas {
                            map.insert(name.clone(), self.convert(schema, depth + 1)?);
                        }
                        Value::Object(map)
                    }
                    other => other.clone(),
                }
            } else if SCHEMA_VALUES.contains(&key) || SCHEMA_LISTS.contains(&key) {
                match value {
                    Value::Array(schemas) => Value::Array(
                        schemas
                            .iter()
                            .map(|s| self.convert(s, depth + 1))
                            .collect::<Result<_, _>>()?,
                    ),
                    other => self.convert(other, depth + 1)?,
                }
            } else {
                value.clone()
            };
            out.insert(key.to_owned(), converted);
        }
        drop_read_only(&mut out);
        if self.v30 {
            convert_v30(object, &mut out);
        }
        Ok(Value::Object(out))
    }

    /// A `$ref` schema: its target inlined, with the object's other keywords (3.1 allows them
    /// beside `$ref`; a `description` is the usual one) laid over it.
    fn reference(
        &mut self,
        reference: &'a str,
        object: &'a Map<String, Value>,
        depth: usize,
    ) -> Result<Value, String> {
        if self.stack.contains(&reference) {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            return Ok(json!({
                "description": format!("a nested {name} (recursive, so its shape is not repeated)")
            }));
        }
        let target = self.lookup(reference)?;
        self.stack.push(reference);
        let resolved = self.convert(target, depth + 1);
        self.stack.pop();
        let mut resolved = resolved?;
        if let Value::Object(resolved) = &mut resolved {
            for (key, value) in object {
                if key != "$ref" && !DROPPED.contains(&key.as_str()) {
                    resolved.insert(key.clone(), self.convert(value, depth + 1)?);
                }
            }
        }
        Ok(resolved)
    }
}

/// Leaves out the properties an input never carries (`readOnly: true`), and their `required`.
fn drop_read_only(schema: &mut Map<String, Value>) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    let read_only: Vec<String> = properties
        .iter()
        .filter(|(_, s)| s.get("readOnly") == Some(&Value::Bool(true)))
        .map(|(name, _)| name.clone())
        .collect();
    if read_only.is_empty() {
        return;
    }
    for name in &read_only {
        properties.remove(name);
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| !r.as_str().is_some_and(|r| read_only.iter().any(|n| n == r)));
    }
}

/// OpenAPI 3.0's dialect as JSON Schema: `nullable: true` adds `null` to the `type` (and to an
/// `enum`), and a boolean `exclusiveMinimum` / `exclusiveMaximum` becomes the bound itself.
fn convert_v30(original: &Map<String, Value>, out: &mut Map<String, Value>) {
    if original.get("nullable") == Some(&Value::Bool(true)) {
        match out.get_mut("type") {
            Some(Value::String(kind)) => {
                let kind = std::mem::take(kind);
                out.insert("type".to_owned(), json!([kind, "null"]));
            }
            Some(Value::Array(kinds)) if !kinds.contains(&json!("null")) => {
                kinds.push(json!("null"));
            }
            _ => {}
        }
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match out.get(exclusive) {
            Some(Value::Bool(true)) => match out.remove(bound) {
                Some(limit) => {
                    out.insert(exclusive.to_owned(), limit);
                }
                None => {
                    out.remove(exclusive);
                }
            },
            Some(Value::Bool(false)) => {
                out.remove(exclusive);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn v30_nullable_and_exclusive_bounds_become_json_schema() {
        let doc = json!({});
        let mut resolver = Resolver::new(&doc, true);
        let schema = json!({
            "type": "string", "nullable": true, "enum": ["a", "b"], "example": "a"
        });
        assert_eq!(
            resolver.schema(&schema).unwrap(),
            json!({"type": ["string", "null"], "enum": ["a", "b", null]})
        );
        let schema = json!({"type": "number", "minimum": 0, "exclusiveMinimum": true,
                            "maximum": 9, "exclusiveMaximum": false});
        assert_eq!(
            resolver.schema(&schema).unwrap(),
            json!({"type": "number", "exclusiveMinimum": 0, "maximum": 9})
        );
    }

    #[test]
    fn v31_keeps_its_json_schema_as_it_is() {
        let doc = json!({});
        let mut resolver = Resolver::new(&doc, false);
        let schema = json!({"type": "number", "exclusiveMinimum": 0, "nullable": true});
        assert_eq!(resolver.schema(&schema).unwrap(), schema);
    }

    #[test]
    fn references_are_inlined_and_siblings_laid_over() {
        let doc = json!({"components": {"schemas": {
            "A~B": {"type": "object", "properties": {"c": {"$ref": "#/components/schemas/C"}}},
            "C": {"type": "integer", "description": "from C"}
        }}});
        let mut resolver = Resolver::new(&doc, false);
        let schema = json!({"$ref": "#/components/schemas/A~0B", "description": "outer"});
        assert_eq!(
            resolver.schema(&schema).unwrap(),
            json!({"type": "object", "description": "outer",
                   "properties": {"c": {"type": "integer", "description": "from C"}}})
        );
    }

    #[test]
    fn a_property_named_like_a_dropped_keyword_stays() {
        let doc = json!({});
        let mut resolver = Resolver::new(&doc, true);
        let schema = json!({"type": "object", "properties": {"example": {"type": "string"}}});
        assert_eq!(resolver.schema(&schema).unwrap(), schema);
    }

    #[test]
    fn shared_references_that_explode_are_refused() {
        // Each level uses the one below twice: 2^30 schemas once inlined.
        let mut schemas = Map::new();
        for level in 0..30 {
            schemas.insert(
                format!("L{level}"),
                json!({"type": "object", "properties": {
                    "a": {"$ref": format!("#/components/schemas/L{}", level + 1)},
                    "b": {"$ref": format!("#/components/schemas/L{}", level + 1)}
                }}),
            );
        }
        schemas.insert("L30".into(), json!({"type": "string"}));
        let doc = json!({"components": {"schemas": schemas}});
        let mut resolver = Resolver::new(&doc, false);
        let error = resolver
            .schema(&json!({"$ref": "#/components/schemas/L0"}))
            .unwrap_err();
        assert!(error.contains("grows past"), "{error}");
    }

    #[test]
    fn reference_loops_and_dangling_references_are_errors() {
        let doc = json!({"components": {"parameters": {
            "A": {"$ref": "#/components/parameters/B"},
            "B": {"$ref": "#/components/parameters/A"}
        }}});
        let resolver = Resolver::new(&doc, false);
        let error = resolver
            .follow(&json!({"$ref": "#/components/parameters/A"}))
            .unwrap_err();
        assert!(error.contains("in a row"), "{error}");
        let error = resolver
            .follow(&json!({"$ref": "#/components/parameters/Z"}))
            .unwrap_err();
        assert!(error.contains("points to nothing"), "{error}");
    }
}

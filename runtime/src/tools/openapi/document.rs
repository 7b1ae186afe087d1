//! An OpenAPI document's text as JSON: JSON when it starts with `{`, else YAML; OpenAPI 3.0.x
//! and 3.1.x only.

use serde_json::Value;

/// Which OpenAPI the document is: 3.0 schemas need converting to JSON Schema, 3.1 ones are
/// JSON Schema 2020-12 already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V3_0,
    V3_1,
}

/// A parsed document and its version.
#[derive(Debug)]
pub(crate) struct Document {
    pub version: Version,
    pub root: Value,
}

/// `text` parsed and its version checked; the error says why the document cannot be used.
pub(crate) fn parse(text: &str) -> Result<Document, String> {
    let text = text.trim_start_matches('\u{feff}');
    let root: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("the document is not JSON: {e}"))?
    } else {
        // YAML's mapping keys are read as strings where JSON needs them (`200:` in
        // `responses`); serde_yaml_ng bounds nesting and alias expansion.
        serde_yaml_ng::from_str(text)
            .map_err(|e| format!("the document is neither JSON nor YAML: {e}"))?
    };
    if !root.is_object() {
        return Err("the document is not an object".to_owned());
    }
    let version = version(&root)?;
    Ok(Document { version, root })
}

fn version(root: &Value) -> Result<Version, String> {
    if let Some(swagger) = root.get("swagger") {
        return Err(format!(
            "the document is Swagger {}, not OpenAPI 3: convert it to OpenAPI 3.0 or 3.1",
            scalar(swagger)
        ));
    }
    let Some(openapi) = root.get("openapi") else {
        return Err("the document has no `openapi` field: it is not an OpenAPI document".to_owned());
    };
    // `openapi: 3.1` in YAML is a number.
    let text = scalar(openapi);
    let is = |minor: &str| text == minor || text.starts_with(&format!("{minor}."));
    if is("3.0") {
        Ok(Version::V3_0)
    } else if is("3.1") {
        Ok(Version::V3_1)
    } else {
        Err(format!(
            "OpenAPI {text} is not supported: only 3.0.x and 3.1.x are"
        ))
    }
}

/// A version field as text, shortened if it is not a short scalar.
fn scalar(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(20) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_of_both_versions_parse() {
        let json = parse(r#"{"openapi": "3.1.0", "paths": {}}"#).unwrap();
        assert_eq!(json.version, Version::V3_1);
        let yaml = parse("openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses:\n        200: {description: ok}\n").unwrap();
        assert_eq!(yaml.version, Version::V3_0);
        assert!(
            yaml.root["paths"]["/a"]["get"]["responses"]["200"].is_object(),
            "an integer YAML key becomes a string key"
        );
        assert_eq!(parse("openapi: 3.1\n").unwrap().version, Version::V3_1);
    }

    #[test]
    fn other_versions_and_non_documents_are_refused() {
        let swagger = parse(r#"{"swagger": "2.0"}"#).unwrap_err();
        assert!(swagger.contains("Swagger 2.0"), "{swagger}");
        let four = parse("openapi: 4.0.0\n").unwrap_err();
        assert!(four.contains("only 3.0.x and 3.1.x"), "{four}");
        assert!(parse("openapi: 3.10.0\n").is_err(), "3.10 is not 3.1");
        assert!(parse("title: x\n").unwrap_err().contains("no `openapi`"));
        assert!(parse("- a\n- b\n").unwrap_err().contains("not an object"));
        assert!(parse("{oops").unwrap_err().contains("not JSON"));
        assert!(parse("a: [unclosed").is_err());
    }

    #[test]
    fn hostile_yaml_is_an_error_not_a_hang() {
        // A billion laughs: nine levels of nine aliases each.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let prev = level - 1;
            let refs = vec![format!("*a{prev}"); 9].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        assert!(parse(&text).is_err());
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&format!("a: {deep}\n")).is_err());
        let deep_json = format!("{{\"a\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&deep_json).is_err());
    }
}

//! An OpenAPI 3.0 / 3.1 document (JSON or YAML) read into the operations a handler offers as
//! tools: their names, descriptions and input schemas, and where each argument goes when called.
//!
//! As Omnia (`openapi_adapter.go`): operations are `get`, `post`, `put`, `patch` and `delete`;
//! a tool is named by `operationId`, or `method_path` without one (`/users/{id}/posts` gives
//! `get_users_id_posts`); its description is the `summary`, else the `description` cut to 200
//! characters, else `METHOD /path`; its input is one object of the path, query and header
//! parameters (path-level ones merged with the operation's, which win) and the fields of the
//! JSON body. Beyond Omnia: `$ref`s are resolved (they reach the model inlined, see
//! [`super::schema`]); a body that is not an object goes under a `body` argument; names are made
//! valid tool names; and an operation that cannot be offered faithfully (an external `$ref`, a
//! required body that is not JSON, two arguments of one name) is skipped with the reason,
//! rather than offered to fail.

use reqwest::{Method, Url};
use serde_json::{Map, Value, json};

use super::schema::Resolver;

/// The methods whose operations become tools (Omnia's list).
const METHODS: [(&str, Method); 5] = [
    ("get", Method::GET),
    ("post", Method::POST),
    ("put", Method::PUT),
    ("patch", Method::PATCH),
    ("delete", Method::DELETE),
];
/// The longest tool name the providers accept.
const MAX_NAME: usize = 64;
/// Omnia's cut for a description used as the tool's.
const MAX_DESCRIPTION: usize = 200;

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Document {
    value: Value,
    /// OpenAPI 3.0 (its own schema dialect) rather than 3.1.
    v30: bool,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Path,
    Query,
    Header,
}

/// A path, query or header parameter: an argument of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub name: String,
    pub location: Location,
}

/// How the arguments that are not parameters make the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// The operation takes no (JSON) body: such arguments are not sent.
    None,
    /// A JSON object whose fields are arguments beside the parameters (Omnia's flattening).
    Fields { required: bool },
    /// Any other JSON body, as the argument `body`.
    Whole,
}

/// One operation, ready to call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operation {
    /// The tool's name.
    pub name: String,
    /// `operationId`, or the name made from the method and path: what `operationFilter` names.
    pub id: String,
    pub method: Method,
    /// The path with each `{param}` written `{{.param}}`, for the http adapter's templates.
    pub path_template: String,
    pub description: String,
    pub input_schema: Value,
    pub params: Vec<Param>,
    pub body: Body,
}

/// An operation left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub id: String,
    pub reason: String,
}

impl Document {
    /// `text` as a document: JSON when it starts with `{`, otherwise YAML.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let value: Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| format!("the document is not JSON: {e}"))?
        } else {
            let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
                .map_err(|e| format!("the document is neither JSON nor YAML: {e}"))?;
            yaml_to_json(yaml)?
        };
        if let Some(swagger) = value.get("swagger") {
            return Err(format!(
                "the document is Swagger {}; only OpenAPI 3.0 and 3.1 are read (convert it to \
                 OpenAPI 3)",
                scalar(swagger)
            ));
        }
        let version = value.get("openapi").map(scalar).unwrap_or_default();
        let v30 = version.starts_with("3.0");
        if !v30 && !version.starts_with("3.") {
            return Err(if version.is_empty() {
                "the document has no `openapi` version: it is not an OpenAPI document".to_owned()
            } else {
                format!("OpenAPI {version} is not read; only 3.0 and 3.1")
            });
        }
        Ok(Self { value, v30 })
    }

    /// Where the operations are: `servers[0].url` with its variables' defaults, resolved
    /// against `spec_url` when relative (`/` when there are no servers, as the OpenAPI
    /// specification says), without a trailing `/`.
    pub(crate) fn base_url(&self, spec_url: &Url) -> Result<String, String> {
        let server = self
            .value
            .get("servers")
            .and_then(Value::as_array)
            .and_then(|s| s.first());
        let mut url = server
            .and_then(|s| s.get("url"))
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_owned();
        if let Some(Value::Object(variables)) = server.and_then(|s| s.get("variables")) {
            for (name, variable) in variables {
                let default = variable.get("default").map(scalar).unwrap_or_default();
                url = url.replace(&format!("{{{name}}}"), &default);
            }
        }
        let resolved = spec_url
            .join(&url)
            .map_err(|e| format!("the server URL `{url}` is not a URL: {e}"))?;
        Ok(resolved.as_str().trim_end_matches('/').to_owned())
    }

    /// Every operation that can be offered, in path order, and those that cannot, with why.
    pub(crate) fn operations(&self) -> (Vec<Operation>, Vec<Skipped>) {
        let mut operations: Vec<Operation> = Vec::new();
        let mut skipped = Vec::new();
        let Some(Value::Object(paths)) = self.value.get("paths") else {
            return (operations, skipped);
        };
        let mut resolver = Resolver::new(&self.value, self.v30);
        for (path, item) in paths {
            let Ok(item) = resolver.follow(item) else {
                skipped.push(Skipped {
                    id: path.clone(),
                    reason: "its path item is a `$ref` that cannot be followed".to_owned(),
                });
                continue;
            };
            for (key, method) in &METHODS {
                let Some(operation) = item.get(*key) else {
                    continue;
                };
                let id = operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map_or_else(|| generated_id(key, path), str::to_owned);
                resolver.reset();
                let built = build(&mut resolver, method, path, item, operation).and_then(|op| {
                    let name = tool_name(&id)?;
                    if operations.iter().any(|o| o.name == name) {
                        return Err(format!(
                            "its tool name `{name}` is taken by an earlier operation"
                        ));
                    }
                    Ok(Operation {
                        name,
                        id: id.clone(),
                        ..op
                    })
                });
                match built {
                    Ok(op) => operations.push(op),
                    Err(reason) => skipped.push(Skipped { id, reason }),
                }
            }
        }
        (operations, skipped)
    }
}

/// One operation; `name` and `id` are filled in by the caller.
fn build<'a>(
    resolver: &mut Resolver<'a>,
    method: &Method,
    path: &str,
    item: &'a Value,
    operation: &'a Value,
) -> Result<Operation, String> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    // The operation's parameters first: they win over the path item's of the same name and
    // location.
    let mut declared = Vec::new();
    for source in [operation, item] {
        if let Some(Value::Array(list)) = source.get("parameters") {
            for parameter in list {
                declared.push(resolver.follow(parameter)?);
            }
        }
    }
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for parameter in declared {
        let name = parameter.get("name").and_then(Value::as_str).unwrap_or("");
        let place = parameter.get("in").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() || seen.contains(&(name, place)) {
            continue;
        }
        seen.push((name, place));
        let is_required = parameter.get("required") == Some(&Value::Bool(true));
        let location = match place {
            "path" => Location::Path,
            "query" => Location::Query,
            "header" => Location::Header,
            "cookie" if is_required => {
                return Err(format!("it needs the cookie `{name}`, which is not sent"));
            }
            "cookie" => continue,
            other => return Err(format!("the parameter `{name}` is `in: {other}`")),
        };
        if properties.contains_key(name) {
            return Err(format!("two parameters are named `{name}`"));
        }
        let mut schema = match parameter_schema(parameter) {
            Some(schema) => resolver.schema(schema)?,
            None => json!({"type": "string"}),
        };
        if let (Some(description), Value::Object(schema)) =
            (parameter.get("description"), &mut schema)
        {
            schema.insert("description".to_owned(), description.clone());
        }
        properties.insert(name.to_owned(), schema);
        if is_required || location == Location::Path {
            required.push(Value::String(name.to_owned()));
        }
        params.push(Param {
            name: name.to_owned(),
            location,
        });
    }
    let path_template = template(path, &params)?;
    let body = match operation.get("requestBody") {
        None => Body::None,
        Some(body) => {
            let body = resolver.follow(body)?;
            request_body(resolver, body, &mut properties, &mut required)?
        }
    };
    let mut input = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        input["required"] = Value::Array(required);
    }
    Ok(Operation {
        name: String::new(),
        id: String::new(),
        method: method.clone(),
        path_template,
        description: description(operation, method, path),
        input_schema: input,
        params,
        body,
    })
}

/// A parameter's schema: `schema`, or the one of its `content`'s (single) media type.
fn parameter_schema(parameter: &Value) -> Option<&Value> {
    parameter.get("schema").or_else(|| {
        parameter
            .get("content")?
            .as_object()?
            .values()
            .next()?
            .get("schema")
    })
}

/// The request body's arguments added beside the parameters.
fn request_body<'a>(
    resolver: &mut Resolver<'a>,
    body: &'a Value,
    properties: &mut Map<String, Value>,
    required: &mut Vec<Value>,
) -> Result<Body, String> {
    let is_required = body.get("required") == Some(&Value::Bool(true));
    let content = body.get("content").and_then(Value::as_object);
    let json_schema = content.and_then(|c| {
        c.iter()
            .find(|(media, _)| is_json(media))
            .map(|(_, m)| m.get("schema").unwrap_or(&Value::Bool(true)))
    });
    let Some(schema) = json_schema else {
        let media = content
            .and_then(|c| c.keys().next().cloned())
            .unwrap_or_else(|| "no media type".to_owned());
        return if is_required {
            Err(format!(
                "its request body is {media}; only JSON bodies are sent"
            ))
        } else {
            Ok(Body::None)
        };
    };
    let schema = resolver.schema(schema)?;
    let flat = schema.get("properties").is_some_and(Value::is_object)
        && !["allOf", "anyOf", "oneOf", "not", "if"]
            .iter()
            .any(|k| schema.get(k).is_some());
    if !flat {
        if properties.contains_key("body") {
            return Err("a parameter is named `body`, the name its request body takes".to_owned());
        }
        let mut schema = schema;
        if let (Some(description), Value::Object(object)) = (body.get("description"), &mut schema) {
            object
                .entry("description")
                .or_insert_with(|| description.clone());
        }
        properties.insert("body".to_owned(), schema);
        if is_required {
            required.push(json!("body"));
        }
        return Ok(Body::Whole);
    }
    if let Some(Value::Object(fields)) = schema.get("properties") {
        for (name, field) in fields {
            if properties.contains_key(name) {
                return Err(format!(
                    "its request body's field `{name}` has the name of a parameter"
                ));
            }
            properties.insert(name.clone(), field.clone());
        }
    }
    if is_required && let Some(Value::Array(names)) = schema.get("required") {
        required.extend(names.iter().cloned());
    }
    Ok(Body::Fields {
        required: is_required,
    })
}

/// `application/json`, with parameters or not, and `+json` types.
fn is_json(media: &str) -> bool {
    let essence = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// `/pets/{petId}` as `/pets/{{.petId}}`; every placeholder must be a path parameter.
fn template(path: &str, params: &[Param]) -> Result<String, String> {
    let mut out = String::with_capacity(path.len() + 8);
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("the path `{path}` has an unclosed `{{`"));
        };
        let name = &rest[open + 1..open + close];
        if !params
            .iter()
            .any(|p| p.location == Location::Path && p.name == name)
        {
            return Err(format!("the path's `{{{name}}}` is not a path parameter"));
        }
        out.push_str(&rest[..open]);
        out.push_str("{{.");
        out.push_str(name);
        out.push_str("}}");
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Omnia's name for an operation without an `operationId`.
fn generated_id(method: &str, path: &str) -> String {
    let cleaned = path.replace('/', "_").replace(['{', '}'], "");
    format!("{method}_{}", cleaned.trim_matches('_'))
}

/// `id` as a tool name (`^[A-Za-z0-9_-]{1,64}$`): other characters become `_`, and it is cut to
/// 64 characters.
fn tool_name(id: &str) -> Result<String, String> {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    if name.is_empty() {
        return Err("its operationId is empty".to_owned());
    }
    Ok(name)
}

fn description(operation: &Value, method: &Method, path: &str) -> String {
    let text = |key| {
        operation
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    if let Some(summary) = text("summary") {
        return summary.to_owned();
    }
    if let Some(description) = text("description") {
        return match description.char_indices().nth(MAX_DESCRIPTION - 3) {
            Some((at, _)) if description.chars().count() > MAX_DESCRIPTION => {
                format!("{}...", &description[..at])
            }
            _ => description.to_owned(),
        };
    }
    format!("{method} {path}")
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// YAML as JSON: map keys that are not strings (`200:` response codes) become their text.
fn yaml_to_json(yaml: serde_yaml_ng::Value) -> Result<Value, String> {
    use serde_yaml_ng::Value as Yaml;
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    other => return Err(format!("a map key is not text: {other:?}")),
                };
                out.insert(key, yaml_to_json(value)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const PETSTORE: &str = include_str!("../../../tests/fixtures/openapi/petstore-3.0.yaml");
    const FASTAPI: &str = include_str!("../../../tests/fixtures/openapi/fastapi-3.1.json");

    fn petstore() -> (Vec<Operation>, Vec<Skipped>) {
        Document::parse(PETSTORE).unwrap().operations()
    }

    fn op<'a>(ops: &'a [Operation], name: &str) -> &'a Operation {
        ops.iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no operation {name}"))
    }

    #[test]
    fn every_built_schema_compiles() {
        for text in [PETSTORE, FASTAPI] {
            let (ops, _) = Document::parse(text).unwrap().operations();
            assert!(!ops.is_empty());
            for op in &ops {
                omnia_api::json_schema_validator(&op.input_schema)
                    .unwrap_or_else(|e| panic!("{}: {e}", op.name));
            }
        }
    }

    #[test]
    fn parameters_merge_and_refs_resolve() {
        let (ops, _) = petstore();
        let list = op(&ops, "listPets");
        assert_eq!(list.method, Method::GET);
        assert_eq!(list.description, "List pets");
        assert_eq!(list.body, Body::None);
        // The operation's `limit` wins over the path item's; the cookie is not an argument.
        assert_eq!(
            list.input_schema["properties"]["limit"],
            json!({"type": "integer", "minimum": 1, "maximum": 100,
                   "description": "operation-level limit"})
        );
        assert_eq!(
            list.input_schema["properties"]["status"],
            json!({"type": ["string", "null"], "enum": ["available", "sold", null]})
        );
        assert!(list.input_schema["properties"].get("session").is_none());
        let names: Vec<_> = list
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.location))
            .collect();
        assert!(names.contains(&("X-Tenant", Location::Header)));
        assert!(names.contains(&("limit", Location::Query)));
    }

    #[test]
    fn object_bodies_are_flattened_without_read_only_fields() {
        let (ops, _) = petstore();
        let create = op(&ops, "createPet");
        assert_eq!(create.body, Body::Fields { required: true });
        let properties = &create.input_schema["properties"];
        assert!(properties.get("id").is_none(), "readOnly id is not input");
        assert_eq!(create.input_schema["required"], json!(["name"]));
        assert_eq!(properties["name"], json!({"type": "string"}));
        assert_eq!(properties["nickname"]["type"], json!(["string", "null"]));
        assert_eq!(properties["owner"]["type"], json!(["object", "null"]));
        assert!(
            properties["owner"]["properties"]["contact"]
                .get("discriminator")
                .is_none()
        );
        assert_eq!(
            properties["tags"],
            json!({"type": "array", "items": {"type": "string", "minLength": 1}})
        );
    }

    #[test]
    fn recursion_is_cut_where_it_recurs() {
        let (ops, _) = petstore();
        let category = op(&ops, "createCategory");
        let children = &category.input_schema["properties"]["children"];
        assert_eq!(children["type"], "array");
        assert!(
            children["items"]["description"]
                .as_str()
                .unwrap()
                .contains("recursive")
        );
    }

    #[test]
    fn generated_and_sanitised_names() {
        let (ops, skipped) = petstore();
        let get = op(&ops, "get_pets_petId");
        assert_eq!(get.path_template, "/pets/{{.petId}}");
        assert!(get.description.ends_with("..."));
        assert_eq!(get.description.chars().count(), 200);
        assert_eq!(op(&ops, "delete_pets_petId").method, Method::DELETE);
        let tags = op(&ops, "set_tags_");
        assert_eq!(tags.id, "set tags!");
        assert_eq!(tags.body, Body::Whole);
        assert_eq!(tags.input_schema["required"], json!(["petId", "body"]));
        assert_eq!(op(&ops, "find_pets").id, "find pets");
        let exclusive = &op(&ops, "find_pets").input_schema["properties"]["weight"];
        assert_eq!(exclusive, &json!({"type": "number", "exclusiveMinimum": 0}));
        let reasons: Vec<_> = skipped
            .iter()
            .map(|s| (s.id.as_str(), s.reason.as_str()))
            .collect();
        assert!(
            reasons
                .iter()
                .any(|(id, r)| *id == "find/pets" && r.contains("taken")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|(id, r)| *id == "renamePet" && r.contains("`petId`")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|(id, r)| *id == "external" && r.contains("outside the document")),
            "{reasons:?}"
        );
    }

    #[test]
    fn servers_resolve_against_the_spec_url() {
        let doc = Document::parse(PETSTORE).unwrap();
        let spec = Url::parse("http://127.0.0.1:9/specs/petstore.yaml").unwrap();
        assert_eq!(doc.base_url(&spec).unwrap(), "http://127.0.0.1:9/v1");
        let fastapi = Document::parse(FASTAPI).unwrap();
        let spec = Url::parse("http://127.0.0.1:9/openapi.json").unwrap();
        assert_eq!(fastapi.base_url(&spec).unwrap(), "http://127.0.0.1:9");
    }

    #[test]
    fn fastapi_bodies_and_optional_parameters() {
        let (ops, skipped) = Document::parse(FASTAPI).unwrap().operations();
        assert!(skipped.is_empty(), "{skipped:?}");
        let order = op(&ops, "create_order");
        assert_eq!(order.body, Body::Fields { required: true });
        assert_eq!(order.input_schema["required"], json!(["item"]));
        let item = op(&ops, "get_item");
        assert_eq!(item.input_schema["required"], json!(["item_id"]));
        assert!(item.params.contains(&Param {
            name: "x-trace".into(),
            location: Location::Header
        }));
    }

    #[test]
    fn other_documents_are_refused_with_the_reason() {
        let error = Document::parse("swagger: '2.0'\npaths: {}").unwrap_err();
        assert!(error.contains("Swagger 2.0"), "{error}");
        let error = Document::parse("{\"openapi\": \"2.5\"}").unwrap_err();
        assert!(error.contains("only 3.0 and 3.1"), "{error}");
        let error = Document::parse("just: text").unwrap_err();
        assert!(error.contains("no `openapi` version"), "{error}");
        assert!(Document::parse("{not json").is_err());
    }
}

//! Schema pieces for the CRDs derived from these types, where the derived `JsonSchema` would not
//! be a structural schema the API server accepts.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Any JSON value, kept as written (a JSON Schema, a Kubernetes `EnvVar` list, a number or a
/// string): the loader checks what it holds, with the field's path, when it loads.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// `status.conditions`: Kubernetes `Condition`s, one per `type`, as every controller writes
/// them (so server-side apply merges them by type).
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let mut schema =
        generator.subschema_for::<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

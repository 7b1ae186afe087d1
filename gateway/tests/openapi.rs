#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The functions' OpenAPI 3.1 document: it validates with a real OpenAPI validator
//! (`openapi-spec-validator` from PyPI), its schemas are each function's own (a body the
//! document's schema accepts the gateway accepts, and one it refuses the gateway refuses), and it
//! is served only to callers the function's auth chain admits.

mod support;

use std::path::PathBuf;
use std::process::Command;

use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use support::{
    Behaviour, FakeRuntime, GOOD_KEY, KEYED, Options, TestGateway, get, keyed_yaml, send,
};

/// The echo and summarizer examples (the summarizer's schema has bounds and a required field).
fn examples() -> String {
    [
        support::echo_yaml(),
        include_str!("../../examples/summarizer/agentruntime.yaml").to_owned(),
        include_str!("../../examples/summarizer/promptpack.yaml").to_owned(),
        include_str!("../../examples/summarizer/provider.yaml").to_owned(),
    ]
    .join("\n---\n")
}

fn validator() -> PathBuf {
    let env = std::env::var_os("OMNIA_PYENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/omnia-rs/pyenv"),
        PathBuf::from,
    );
    let path = env.join("bin/openapi-spec-validator");
    assert!(
        path.is_file(),
        "openapi-spec-validator is missing ({}): run ./test.sh, or `$OMNIA_PYENV/bin/pip install \
         openapi-spec-validator==0.9.0`",
        path.display()
    );
    path
}

/// Runs openapi-spec-validator on `document`; its verdict and output.
fn validate(document: &Value) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let out = Command::new(validator()).arg(&file).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains(": OK"), text)
}

async fn gateway(yaml: &str) -> (FakeRuntime, TestGateway) {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(yaml, runtime.address(), Options::default()).await;
    (runtime, gateway)
}

#[tokio::test]
async fn the_document_of_the_examples_validates_as_openapi_3_1() {
    let (_runtime, gateway) = gateway(&examples()).await;
    let reply = get(gateway.facade, "/openapi.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/json");
    let document = reply.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/functions/echo-function", "/functions/summarizer"]);
    let (ok, output) = validate(&document);
    assert!(ok, "{output}");

    let one = get(gateway.facade, "/functions/summarizer/openapi.json")
        .await
        .json();
    assert_eq!(one["paths"].as_object().unwrap().len(), 1);
    let (ok, output) = validate(&one);
    assert!(ok, "{output}");

    let operation = &one["paths"]["/functions/summarizer"]["post"];
    assert_eq!(operation["operationId"], "summarizer");
    assert!(
        operation["description"]
            .as_str()
            .unwrap()
            .contains("Summarises text"),
        "the PromptPack's description: {operation}"
    );
    for status in [
        "200", "400", "401", "404", "405", "408", "413", "415", "431", "500", "502", "503",
    ] {
        assert!(
            operation["responses"].get(status).is_some(),
            "no {status} response"
        );
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_validator_is_not_a_rubber_stamp() {
    let (_runtime, gateway) = gateway(&examples()).await;
    let mut document = get(gateway.facade, "/openapi.json").await.json();
    document["paths"]["/functions/summarizer"]["post"]["responses"]["200"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    let (ok, output) = validate(&document);
    assert!(
        !ok,
        "a response without its required description passed: {output}"
    );
    gateway.shutdown().await;
}

/// The document's schema for `name`'s request body, compiled with the document's components.
fn request_schema(document: &Value, name: &str) -> jsonschema::Validator {
    let body = &document["paths"][format!("/functions/{name}")]["post"]["requestBody"];
    let schema = json!({
        "$ref": body["content"]["application/json"]["schema"]["$ref"],
        "components": document["components"],
    });
    jsonschema::validator_for(&schema).unwrap()
}

#[tokio::test]
async fn the_documents_schemas_give_the_gateways_verdict() {
    let (_runtime, gateway) = gateway(&examples()).await;
    let document = get(gateway.facade, "/openapi.json").await.json();
    let cases = [
        ("echo-function", json!({"message": "hello"})),
        ("echo-function", json!({"message": "hello", "extra": 1})),
        ("echo-function", json!({"message": "x".repeat(281)})),
        ("echo-function", json!({})),
        (
            "summarizer",
            json!({"text": "Kubernetes runs containers.", "maxWords": 10}),
        ),
        (
            "summarizer",
            json!({"text": "Kubernetes runs containers.", "maxWords": 5}),
        ),
        ("summarizer", json!({"maxWords": 50})),
        ("summarizer", json!({"text": 42})),
    ];
    let mut accepted = 0;
    for (name, body) in cases {
        let document_says = request_schema(&document, name).is_valid(&body);
        let reply = gateway.call(name, body.to_string()).await;
        let gateway_says = !(reply.status == 400 && reply.json()["error"] == "input_invalid");
        assert_eq!(document_says, gateway_says, "{name} {body}: {:?}", reply);
        accepted += usize::from(document_says);
    }
    assert_eq!(accepted, 2, "one valid body per function");
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_schemas_are_the_functions_own() {
    let (_runtime, gateway) = gateway(&examples()).await;
    let document = get(gateway.facade, "/openapi.json").await.json();
    let config = support::load(&examples());
    for agent in config.functions() {
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            &schemas[format!("{}.input", agent.name)],
            agent.input_schema.as_ref().unwrap()
        );
        assert_eq!(
            &schemas[format!("{}.output", agent.name)],
            agent.output_schema.as_ref().unwrap()
        );
        let result = &schemas[format!("{}.result", agent.name)];
        assert_eq!(
            result["properties"]["output"]["$ref"],
            format!("#/components/schemas/{}.output", agent.name)
        );
    }
    gateway.shutdown().await;
}

fn with_key(path: &str, key: &str) -> Request<Full<bytes::Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn a_document_is_served_only_to_callers_who_could_call() {
    let (_runtime, gateway) = gateway(&keyed_yaml()).await;
    let own = format!("/functions/{KEYED}/openapi.json");

    let refused = get(gateway.facade, &own).await;
    refused.expect_error(401, "unauthorized");
    assert!(refused.header("www-authenticate").starts_with("Bearer"));
    let wrong = send(gateway.facade, with_key(&own, "sk-not-a-key")).await;
    wrong.expect_error(401, "unauthorized");

    let admitted = send(gateway.facade, with_key(&own, GOOD_KEY)).await;
    assert_eq!(admitted.status, 200);
    let document = admitted.json();
    let operation = &document["paths"][format!("/functions/{KEYED}")]["post"];
    assert_eq!(operation["security"], json!([{"clientKey": []}]));
    assert_eq!(
        document["components"]["securitySchemes"]["clientKey"]["scheme"],
        "bearer"
    );

    // The whole document lists what the caller may call: the open echo function for anyone,
    // the keyed one only with its key.
    let anyone = get(gateway.facade, "/openapi.json").await.json();
    let paths = |d: &Value| {
        d["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&anyone), ["/functions/echo-function"]);
    let keyed = send(gateway.facade, with_key("/openapi.json", GOOD_KEY))
        .await
        .json();
    assert_eq!(
        paths(&keyed),
        [
            "/functions/echo-function".to_owned(),
            format!("/functions/{KEYED}")
        ]
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn documents_answer_get_only_and_name_unknown_functions() {
    let (_runtime, gateway) = gateway(&examples()).await;
    let post = support::post_json(gateway.facade, "/openapi.json", "{}").await;
    post.expect_error(405, "method_not_allowed");
    assert_eq!(post.header("allow"), "GET");
    let unknown = get(gateway.facade, "/functions/nope/openapi.json").await;
    let body = unknown.expect_error(404, "function_not_found");
    assert!(
        body["detail"].as_str().unwrap().contains("\"nope\""),
        "{body}"
    );
    gateway.shutdown().await;
}

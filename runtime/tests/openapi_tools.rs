#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Tool Manager and its `openapi` adapter against a FastAPI service that serves its own
//! OpenAPI 3.1 document (`tests/servers/openapi_app.py`, run by uvicorn), and a hand-written
//! OpenAPI 3.0 YAML document served by Python's `http.server`: discovery and `operationFilter`,
//! a GET with query parameters, a path parameter and an optional header, a POST with a JSON
//! body, the service's 422, bearer auth on the document and the calls, `baseURL`, and handlers
//! left degraded by a document that cannot be fetched or read.
//!
//! The servers run in the virtualenv `./test.sh` creates (see `python/mod.rs`).

mod python;
mod tool_call;

use std::time::Duration;

use omnia_api::{ApiKey, HandlerKind, OpenApiTool, ToolAuth, ToolHandler, ToolRegistry};
use omnia_runtime::{HandlerState, ToolExecutor, ToolManager};
use serde_json::{Value, json};

use self::python::{Server, free_port, script};

/// The FastAPI app on a free port; with `token`, every request needs it as a bearer token.
fn fastapi(token: Option<&str>) -> Server {
    let port = free_port();
    let servers = script("");
    let args = [
        "-m".into(),
        "uvicorn".into(),
        "openapi_app:app".into(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--log-level".into(),
        "warning".into(),
        "--app-dir".into(),
        servers.to_string_lossy().into_owned(),
    ];
    let envs: Vec<(&str, &str)> = token
        .map(|t| ("OPENAPI_APP_TOKEN", t))
        .into_iter()
        .collect();
    Server::start(args, &envs, port)
}

/// `python -m http.server` over `tests/fixtures/openapi`.
fn static_files() -> Server {
    let port = free_port();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi");
    Server::start(
        [
            "-m".into(),
            "http.server".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--directory".into(),
            dir.to_string_lossy().into_owned(),
        ],
        &[],
        port,
    )
}

fn config(spec_url: String) -> OpenApiTool {
    OpenApiTool {
        spec_url,
        base_url: None,
        operation_filter: Vec::new(),
        headers: Default::default(),
        auth: None,
        retry: None,
    }
}

fn handler(name: &str, config: OpenApiTool) -> ToolHandler {
    ToolHandler {
        name: name.into(),
        kind: HandlerKind::OpenApi(config),
        tool: None,
        timeout: Duration::from_secs(10),
    }
}

async fn manager_of(handlers: Vec<ToolHandler>) -> ToolManager {
    let registry = ToolRegistry {
        name: "tools".into(),
        namespace: "agents".into(),
        handlers,
    };
    let manager = ToolManager::new(&registry).unwrap();
    manager.discover().await;
    manager
}

/// The manager of one handler, which must be ready.
async fn manager(config: OpenApiTool) -> ToolManager {
    let manager = manager_of(vec![handler("orders", config)]).await;
    let report = manager.report();
    assert_eq!(report[0].state, HandlerState::Ready, "{report:?}");
    manager
}

async fn call(manager: &ToolManager, tool: &str, arguments: Value) -> Result<String, String> {
    tool_call::call_text(manager, tool, &arguments.to_string()).await
}

async fn call_json(manager: &ToolManager, tool: &str, arguments: Value) -> Value {
    serde_json::from_str(&call(manager, tool, arguments).await.unwrap()).unwrap()
}

fn names(manager: &ToolManager) -> Vec<String> {
    let mut names: Vec<String> = manager.tools().into_iter().map(|t| t.name).collect();
    names.sort();
    names
}

#[tokio::test]
async fn discovery_offers_each_operation_with_its_schema() {
    let app = fastapi(None);
    let tools = manager(config(app.url("/openapi.json"))).await;
    assert_eq!(names(&tools), ["create_order", "get_item", "list_items"]);
    let specs = tools.tools();
    let order = specs.iter().find(|t| t.name == "create_order").unwrap();
    assert_eq!(order.description, "Create an order");
    assert_eq!(order.parameters["required"], json!(["item"]));
    assert_eq!(
        order.parameters["properties"]["quantity"]["type"],
        "integer"
    );
    let report = &tools.report()[0];
    assert!(report.discovered && report.kind == "openapi", "{report:?}");
}

#[tokio::test]
async fn a_get_sends_query_parameters_and_a_path_parameter() {
    let app = fastapi(None);
    let tools = manager(config(app.url("/openapi.json"))).await;
    assert_eq!(
        call_json(&tools, "list_items", json!({"q": "tea pot", "limit": 3})).await,
        json!({"q": "tea pot", "limit": 3})
    );
    assert_eq!(
        call_json(&tools, "list_items", json!({})).await,
        json!({"q": null, "limit": 10})
    );
    // The optional header goes when given, and is left out when not.
    assert_eq!(
        call_json(&tools, "get_item", json!({"item_id": 42, "x-trace": "t-1"})).await,
        json!({"id": 42, "trace": "t-1"})
    );
    assert_eq!(
        call_json(&tools, "get_item", json!({"item_id": 7})).await,
        json!({"id": 7, "trace": null})
    );
    // The schema is checked before anything is sent.
    let error = call(&tools, "get_item", json!({"item_id": "seven"}))
        .await
        .unwrap_err();
    assert!(error.contains("do not match its input schema"), "{error}");
}

#[tokio::test]
async fn a_post_sends_the_body_fields_and_a_refusal_reaches_the_model() {
    let app = fastapi(None);
    let tools = manager(config(app.url("/openapi.json"))).await;
    assert_eq!(
        call_json(
            &tools,
            "create_order",
            json!({"item": "kettle", "quantity": 2})
        )
        .await,
        json!({"ok": true, "order": {"item": "kettle", "quantity": 2}, "auth": null})
    );
    // Valid for the schema, refused by the service: its 422 is the model's to read.
    let error = call(&tools, "create_order", json!({"item": "  "}))
        .await
        .unwrap_err();
    assert!(error.contains("HTTP status 422"), "{error}");
    assert!(error.contains("item must not be blank"), "{error}");
}

#[tokio::test]
async fn bearer_auth_goes_with_the_document_fetch_and_every_call() {
    let app = fastapi(Some("s3cret"));
    let mut with_auth = config(app.url("/openapi.json"));
    with_auth.auth = Some(ToolAuth::Bearer(ApiKey::new("s3cret")));
    let tools = manager(with_auth).await;
    assert_eq!(
        call_json(&tools, "create_order", json!({"item": "kettle"})).await["auth"],
        "Bearer s3cret"
    );

    // Without it the document cannot be fetched: the handler is degraded, saying why.
    let tools = manager_of(vec![handler("orders", config(app.url("/openapi.json")))]).await;
    match &tools.report()[0].state {
        HandlerState::Degraded(reason) => assert!(reason.contains("HTTP 401"), "{reason}"),
        other => panic!("not degraded: {other:?}"),
    }
    assert!(tools.tools().is_empty());
}

#[tokio::test]
async fn the_operation_filter_keeps_what_it_names() {
    let app = fastapi(None);
    let mut filtered = config(app.url("/openapi.json"));
    filtered.operation_filter = vec!["list_items".into(), "no_such_operation".into()];
    assert_eq!(names(&manager(filtered).await), ["list_items"]);
}

#[tokio::test]
async fn base_url_sends_the_calls_elsewhere() {
    let documents = fastapi(None);
    let service = fastapi(None);
    let mut elsewhere = config(documents.url("/openapi.json"));
    elsewhere.base_url = Some(service.url("/"));
    let tools = manager(elsewhere).await;
    // Only the service is left: the calls must be going there.
    documents.stop();
    assert_eq!(
        call_json(&tools, "list_items", json!({"limit": 1})).await,
        json!({"q": null, "limit": 1})
    );
}

#[tokio::test]
async fn a_yaml_3_0_document_is_discovered_over_http() {
    let files = static_files();
    let tools = manager(config(files.url("/petstore-3.0.yaml"))).await;
    let found = names(&tools);
    for expected in ["listPets", "createPet", "get_pets_petId", "find_pets"] {
        assert!(found.iter().any(|n| n == expected), "{found:?}");
    }
    assert!(!found.iter().any(|n| n == "external" || n == "renamePet"));
    // The document's server is `/v1` on the host it came from; http.server has no such path.
    let error = call(&tools, "listPets", json!({"limit": 5}))
        .await
        .unwrap_err();
    assert!(error.contains("HTTP status 404"), "{error}");
}

#[tokio::test]
async fn a_document_that_is_down_or_unreadable_leaves_only_its_handler_degraded() {
    let app = fastapi(None);
    let files = static_files();
    let down = format!("http://127.0.0.1:{}/openapi.json", free_port());
    let tools = manager_of(vec![
        handler("down", config(down)),
        handler("missing", config(files.url("/fastapi-3.1.json.missing"))),
        handler("orders", config(app.url("/openapi.json"))),
    ])
    .await;
    let report = tools.report();
    let state = |name: &str| {
        report
            .iter()
            .find(|r| r.handler == name)
            .map(|r| r.state.clone())
            .unwrap()
    };
    match state("down") {
        HandlerState::Degraded(reason) => {
            assert!(
                reason.contains("cannot fetch the OpenAPI document"),
                "{reason}"
            );
        }
        other => panic!("not degraded: {other:?}"),
    }
    match state("missing") {
        HandlerState::Degraded(reason) => assert!(reason.contains("HTTP 404"), "{reason}"),
        other => panic!("not degraded: {other:?}"),
    }
    assert_eq!(state("orders"), HandlerState::Ready);
    assert_eq!(
        call_json(&tools, "list_items", json!({"q": "x"})).await["q"],
        "x"
    );
}

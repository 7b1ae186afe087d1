#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The tool loop end to end, through the gateway: a WebSocket agent whose mock model calls
//! `check_stock`, a ToolRegistry HTTP tool served by a scripted local service
//! (`omnia_fakes::FakeServer`), run by the real runtime in this process.
//!
//! - The handler's circuit breaker opens after its configured failures and refuses calls
//!   without reaching the service; after the cool-down a probe reaches it, and a successful
//!   probe lets calls flow again. The breaker is tuned through `RuntimeOptions::tool_breaker`.
//! - The prompt's `tool_policy.max_rounds` and `max_tool_calls_per_turn` stop a model that calls
//!   a tool every round: the turn ends with an `error` frame naming the limit, the service
//!   having been called exactly as often as the limit allows.
//!
//! Only agent mode is tested: the mock provider's function-mode answers (`complete`) never ask
//! for tools, so a function cannot be scripted into the tool loop without a real model.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use omnia_fakes::{FakeServer, Reply};
use omnia_runtime::{BreakerSettings, RuntimeOptions};
use serde_json::{Value, json};
use support::ws::Client;
use support::*;

const AGENT: &str = "stock-agent";

/// The ToolRegistry `check_stock` comes from: one HTTP handler, `stock`, POSTing the model's
/// arguments to `SERVICE/stock`, with no retries (each call is one request to the service).
const REGISTRY: &str = "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: ToolRegistry
metadata:
  name: stock-tools
spec:
  handlers:
    - name: stock
      type: http
      timeout: 5s
      tool:
        name: check_stock
        description: How many of an item are in stock.
        inputSchema:
          type: object
          required: [sku]
          properties: {sku: {type: string}}
      httpConfig:
        endpoint: SERVICE
        method: POST
        urlTemplate: /stock
";

/// The agent, its pack (whose prompt has the tool policy `POLICY`), its mock model (answering
/// with `SCENARIOS`) and its ToolRegistry, plus the echo function (the test gateway expects a
/// management-plane listener, which only functions have).
fn manifests(service: &str, policy: &Value, scenarios: &str) -> String {
    let agent = "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata:
  name: stock-agent
spec:
  promptPackRef: {name: stock-pack}
  facade: {type: websocket, port: 8080, handler: runtime}
  providers: [{name: default, providerRef: {name: stock-provider}}]
  toolRegistryRef: {name: stock-tools}
  session: {type: memory, ttl: 1h}
";
    let pack = json!({
        "id": "stock",
        "name": "Stock",
        "version": "1.0.0",
        "template_engine": {"version": "v1", "syntax": "{{variable}}"},
        "prompts": {"default": {
            "id": "default",
            "name": "Stock",
            "version": "1.0.0",
            "system_template": "You answer questions about stock. Use the tools.",
            "tool_policy": policy,
        }},
    });
    // JSON is YAML: the pack goes into the ConfigMap as one flow scalar.
    let pack = format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata:
  name: stock-pack
spec:
  source: {{type: configmap, configMapRef: {{name: stock-pack-contents}}}}
  version: \"1.0.0\"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: stock-pack-contents
data:
  pack.json: {}
",
        serde_json::to_string(&pack.to_string()).unwrap()
    );
    let provider = format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata:
  name: stock-provider
spec:
  type: mock
  model: mock-stock
  mock:
    scenarios:
{scenarios}"
    );
    [
        echo_yaml(),
        agent.to_owned(),
        pack,
        provider,
        REGISTRY.replace("SERVICE", service),
    ]
    .join("\n---\n")
}

/// The real runtime for `yaml`, with the handlers' breaker set to `breaker`, served on
/// `127.0.0.1:0`.
async fn runtime(yaml: &str, breaker: BreakerSettings) -> SocketAddr {
    let options = RuntimeOptions {
        tool_breaker: breaker,
        ..RuntimeOptions::default()
    };
    real_runtime_with(&load(yaml), options).await
}

/// A gateway in front of a runtime for `yaml`, and a WebSocket to the agent, past `connected`.
async fn connect(yaml: &str, breaker: BreakerSettings) -> (TestGateway, Client) {
    let runtime = runtime(yaml, breaker).await;
    let gateway = TestGateway::start(yaml, runtime.to_string(), Options::default()).await;
    let mut client = Client::connect(gateway.facade, &format!("/ws?agent={AGENT}"), &[]).await;
    let connected = client.json().await;
    assert_eq!(connected["type"], "connected", "{connected}");
    (gateway, client)
}

/// Sends one message and returns the frame that ends its turn, `done` or `error`. The tool is
/// the runtime's to run, so the client must never be asked for it.
async fn turn(client: &mut Client, content: &str) -> Value {
    client
        .send_text(&json!({"type": "message", "content": content}).to_string())
        .await;
    loop {
        let frame = client.json().await;
        match frame["type"].as_str() {
            Some("done" | "error") => return frame,
            Some("tool_call") => panic!("the client was asked to run a server-side tool: {frame}"),
            _ => {}
        }
    }
}

/// The answer of a turn that ended with `done`.
#[track_caller]
fn answer(frame: &Value) -> &str {
    assert_eq!(frame["type"], "done", "{frame}");
    frame["content"].as_str().unwrap()
}

/// One `check_stock` call, as the mock scripts it.
const CALL: &str = "{name: check_stock, arguments: {sku: A-1}}";

/// Scenarios for the breaker tests: `check` makes one call, `check twice` and `check three
/// times` make two and three in one round; the model then says what became of each.
fn checks() -> String {
    format!(
        "      - when: {{content: check}}
        output: {{tool_calls: [{CALL}]}}
      - when: {{content: check twice}}
        output: {{tool_calls: [{CALL}, {CALL}]}}
      - when: {{content: check three times}}
        output: {{tool_calls: [{CALL}, {CALL}, {CALL}]}}
"
    )
}

/// What the mock model says of a call the service failed with a 500 `stock database down`.
const FAILED: &str = "The check_stock tool failed: the tool `check_stock` failed with HTTP status 500: \
     stock database down.";

/// What the mock model says of a call the open circuit refused, up to the seconds left.
const REFUSED: &str = "The check_stock tool failed: the tool `check_stock` is unavailable: its \
                       handler `stock` failed 2 times in a row, so calls are refused for ";

/// What the mock model says of a call the service answered `{"in_stock":7}`.
const RETURNED: &str = r#"The check_stock tool returned {"in_stock":7}."#;

fn down() -> Reply {
    Reply::status(500, "stock database down")
}

fn in_stock() -> Reply {
    Reply::json(200, &json!({"in_stock": 7}))
}

/// The outcomes the mock reports in one answer, one per call, in call order (it joins them
/// with spaces).
fn outcomes(answer: &str) -> Vec<String> {
    let mut parts = answer.split(" The check_stock tool ");
    let first = parts.next().unwrap_or_default().to_owned();
    std::iter::once(first)
        .chain(parts.map(|part| format!("The check_stock tool {part}")))
        .collect()
}

#[tokio::test]
async fn the_breaker_opens_after_the_failures_and_then_refuses_calls_without_the_service() {
    let service = FakeServer::start().await;
    for _ in 0..5 {
        service.push(down());
    }
    let yaml = manifests(&service.base_url(), &json!({}), &checks());
    // A cool-down no test outlasts: while it runs the circuit is certainly still open.
    let breaker = BreakerSettings {
        failures: 2,
        cool_down: Duration::from_secs(3600),
    };
    let (_gateway, mut client) = connect(&yaml, breaker).await;

    // One round of three calls: the first two fail at the service, which opens the circuit,
    // so the third is refused; the model is told so.
    let done = turn(&mut client, "check three times").await;
    let said = outcomes(answer(&done));
    assert_eq!(said.len(), 3, "{done}");
    assert_eq!(said[0], FAILED);
    assert_eq!(said[1], FAILED);
    assert!(
        said[2].starts_with(REFUSED) && said[2].ends_with(" s; try again later or do without it."),
        "{}",
        said[2]
    );
    assert_eq!(
        service.requests().len(),
        2,
        "the refused call reached the service"
    );

    // Later turns are refused too, and the service hears nothing more.
    for message in ["check", "check twice"] {
        let done = turn(&mut client, message).await;
        for said in outcomes(answer(&done)) {
            assert!(said.starts_with(REFUSED), "{said}");
        }
    }
    assert_eq!(
        service.requests().len(),
        2,
        "a refused call reached the service"
    );
}

#[tokio::test]
async fn after_the_cool_down_a_probe_reaches_the_service_and_a_success_closes_the_circuit() {
    let service = FakeServer::start().await;
    let yaml = manifests(&service.base_url(), &json!({}), &checks());
    let cool_down = Duration::from_millis(300);
    let breaker = BreakerSettings {
        failures: 2,
        cool_down,
    };
    let (_gateway, mut client) = connect(&yaml, breaker).await;
    // Waits out the cool-down of a circuit that opened before this is called.
    let cool = || tokio::time::sleep(cool_down + Duration::from_millis(100));

    // Two failures open the circuit.
    service.push(down());
    service.push(down());
    let done = turn(&mut client, "check twice").await;
    assert_eq!(outcomes(answer(&done)), [FAILED, FAILED]);
    assert_eq!(service.requests().len(), 2);

    // After the cool-down one probe reaches the service; it fails, so the circuit opens again.
    cool().await;
    service.push(down());
    let done = turn(&mut client, "check").await;
    assert_eq!(outcomes(answer(&done)), [FAILED]);
    assert_eq!(
        service.requests().len(),
        3,
        "the probe did not reach the service"
    );

    // After the next cool-down the probe succeeds, which closes the circuit.
    cool().await;
    service.push(in_stock());
    let done = turn(&mut client, "check").await;
    assert_eq!(answer(&done), RETURNED);
    assert_eq!(
        service.requests().len(),
        4,
        "the probe did not reach the service"
    );

    // Closed again: every call reaches the service, not just one probe.
    service.push(in_stock());
    service.push(in_stock());
    let done = turn(&mut client, "check twice").await;
    assert_eq!(outcomes(answer(&done)), [RETURNED, RETURNED]);
    assert_eq!(service.requests().len(), 6);
}

/// A model that asks for `check_stock` every round and never answers, under `policy`; and a
/// service that would answer far more calls than any limit allows.
async fn runaway(policy: Value) -> (FakeServer, TestGateway, Client) {
    let service = FakeServer::start().await;
    for _ in 0..20 {
        service.push(in_stock());
    }
    let scenarios = format!(
        "      - when: {{content: loop}}
        output: {{tool_loop: {CALL}}}
"
    );
    let yaml = manifests(&service.base_url(), &policy, &scenarios);
    let (gateway, client) = connect(&yaml, BreakerSettings::default()).await;
    (service, gateway, client)
}

/// Asserts `frame` is the `error` frame of a turn the tool policy stopped, saying `message`.
#[track_caller]
fn assert_limit(frame: &Value, message: &str) {
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["error"]["code"], "INTERNAL_ERROR", "{frame}");
    assert_eq!(frame["error"]["message"], message, "{frame}");
}

/// The session outlives a stopped turn: the next message is answered.
async fn assert_next_turn_answers(client: &mut Client) {
    let done = turn(client, "hello").await;
    assert_eq!(answer(&done), r#"Mock answer to: "hello""#);
}

#[tokio::test]
async fn max_rounds_stops_a_model_that_calls_a_tool_every_round() {
    let (service, _gateway, mut client) =
        runaway(json!({"max_rounds": 3, "max_tool_calls_per_turn": 50})).await;

    let end = turn(&mut client, "loop").await;
    assert_limit(
        &end,
        "the model asked for tools in more than 3 rounds in one turn (the prompt's \
         tool_policy.max_rounds)",
    );
    // Three rounds ran their call; the fourth round's call was refused before it ran.
    assert_eq!(service.requests().len(), 3);
    assert_next_turn_answers(&mut client).await;
    assert_eq!(service.requests().len(), 3);
}

#[tokio::test]
async fn max_tool_calls_per_turn_stops_a_model_that_calls_a_tool_every_round() {
    let (service, _gateway, mut client) =
        runaway(json!({"max_rounds": 10, "max_tool_calls_per_turn": 4})).await;

    let end = turn(&mut client, "loop").await;
    assert_limit(
        &end,
        "the model asked for more than 4 tool calls in one turn (the prompt's \
         tool_policy.max_tool_calls_per_turn)",
    );
    // One call a round: four ran, the fifth was refused before it ran.
    assert_eq!(service.requests().len(), 4);
    assert_next_turn_answers(&mut client).await;
    assert_eq!(service.requests().len(), 4);
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `examples/tools-agent` end to end: a WebSocket turn through the gateway and the runtime, whose
//! mock model calls a ToolRegistry HTTP tool served by a real local service (Python's built-in
//! HTTP server over the example's `service/` folder), an MCP tool of the example's stdio server,
//! and a client-side tool the test answers.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::ws::Client;
use support::*;

/// The example's manifests, with its tool service at `port` (and the echo function, since the
/// test gateway expects a management-plane listener, which only functions have).
fn example(port: u16) -> String {
    [
        &echo_yaml(),
        include_str!("../../examples/tools-agent/agentruntime.yaml"),
        include_str!("../../examples/tools-agent/promptpack.yaml"),
        include_str!("../../examples/tools-agent/provider.yaml"),
        include_str!("../../examples/tools-agent/toolregistry.yaml"),
    ]
    .join("\n---\n")
    .replace("http://127.0.0.1:8099", &format!("http://127.0.0.1:{port}"))
    // The MCP server's path is relative to the repository's root, where `dev` runs.
    .replace(
        "examples/tools-agent/stock_mcp.py",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/tools-agent/stock_mcp.py"
        ),
    )
}

/// `python3 -m http.server` over the example's service folder, stopped on drop.
struct FileServer(Child);

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn file_server(port: u16) -> FileServer {
    let folder = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/tools-agent/service"
    );
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--directory", folder])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is needed for this test (test.sh runs on machines that have it)");
    let server = FileServer(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "python3 -m http.server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

async fn until(client: &mut Client, kind: &str) -> Value {
    loop {
        let frame = client.json().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

#[tokio::test]
async fn the_tools_example_runs_an_http_tool_an_mcp_tool_and_a_client_tool() {
    let port = free_port();
    let _service = file_server(port);
    let yaml = example(port);
    let runtime = real_runtime(&load(&yaml)).await;
    let gateway = TestGateway::start(&yaml, runtime.to_string(), Options::default()).await;
    let mut client = Client::connect(gateway.facade, "/ws?agent=tools-agent", &[]).await;
    until(&mut client, "connected").await;

    // The runtime runs lookup_order against the local service; the client never sees it.
    client
        .send_text(r#"{"type":"message","content":"where is my order?"}"#)
        .await;
    let done = until(&mut client, "done").await;
    let answer = done["content"].as_str().unwrap();
    let returned = answer
        .strip_prefix("The lookup_order tool returned ")
        .and_then(|rest| rest.strip_suffix('.'))
        .unwrap_or_else(|| panic!("unexpected answer: {answer}"));
    assert_eq!(
        serde_json::from_str::<Value>(returned).unwrap(),
        json!({"order_id": "A-1001", "status": "shipped", "carrier": "ACME Post",
               "eta": "2026-12-04"})
    );

    // check_stock is discovered from the example's MCP server, which the runtime started.
    client
        .send_text(r#"{"type":"message","content":"is the kettle in stock?"}"#)
        .await;
    let done = until(&mut client, "done").await;
    assert_eq!(
        done["content"],
        r#"The check_stock tool returned {"item": "kettle", "in_stock": 12}."#
    );

    // get_location is the client's, with the registry's consent prompt.
    client
        .send_text(r#"{"type":"message","content":"where am I?"}"#)
        .await;
    let call = until(&mut client, "tool_call").await;
    let call = &call["tool_call"];
    assert_eq!(call["name"], "get_location");
    assert_eq!(
        call["consent_message"],
        "Share your location with the shop assistant?"
    );
    assert_eq!(call["categories"], json!(["location"]));
    let result = json!({"type": "tool_result",
        "tool_result": {"call_id": call["id"], "result": {"city": "Denver"}}});
    client.send_text(&result.to_string()).await;
    let done = until(&mut client, "done").await;
    assert_eq!(
        done["content"],
        r#"The get_location tool returned {"city":"Denver"}."#
    );
}

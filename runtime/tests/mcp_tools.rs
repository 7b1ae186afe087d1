#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Tool Manager and its `mcp` adapter against the official Python MCP SDK's server
//! (`tests/servers/mcp_server.py`, mcp 2.3.0) over stdio, streamable HTTP and legacy SSE:
//! discovery and `toolFilter`, results and errors, identity, `env` and `workDir`, a killed child
//! restarted, an HTTP server restarted, the breaker of a server that is down.
//!
//! The server runs in the virtualenv `./test.sh` creates (`$OMNIA_PYENV`, by default
//! `~/.cache/omnia-rs/pyenv`); without it these tests fail, saying how to make it.

mod python;
mod tool_call;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use omnia_api::{HandlerKind, McpTool, McpTransport, ToolHandler, ToolRegistry};
use omnia_runtime::{HandlerState, ToolExecutor, ToolManager};
use serde_json::{Value, json};

use self::python::{PATIENCE, Server, free_port, python};

fn script() -> PathBuf {
    python::script("mcp_server.py")
}

/// `mcp_server.py <transport> <port>`, killed when dropped.
struct HttpServer;

impl HttpServer {
    fn start(transport: &str, port: u16) -> Server {
        Server::start(
            [
                script().into_os_string(),
                transport.into(),
                port.to_string().into(),
            ],
            &[],
            port,
        )
    }
}

fn config(transport: McpTransport) -> McpTool {
    McpTool {
        transport,
        endpoint: None,
        command: None,
        args: Vec::new(),
        work_dir: None,
        env: BTreeMap::new(),
        allowlist: Vec::new(),
        blocklist: Vec::new(),
        retry: None,
    }
}

fn stdio() -> McpTool {
    McpTool {
        command: Some(python().to_string_lossy().into_owned()),
        args: vec![script().to_string_lossy().into_owned()],
        ..config(McpTransport::Stdio)
    }
}

fn http(transport: McpTransport, endpoint: String) -> McpTool {
    McpTool {
        endpoint: Some(endpoint),
        ..config(transport)
    }
}

fn registry(config: McpTool) -> ToolRegistry {
    ToolRegistry {
        name: "tools".into(),
        namespace: "agents".into(),
        handlers: vec![ToolHandler {
            name: "python".into(),
            kind: HandlerKind::Mcp(config),
            tool: None,
            timeout: Duration::from_secs(30),
        }],
    }
}

/// The manager of `config` (its breaker opening after `failures`), its tools discovered.
async fn manager_with(config: McpTool, failures: u32) -> ToolManager {
    let manager =
        ToolManager::with_breaker(&registry(config), failures, Duration::from_secs(60)).unwrap();
    manager.discover().await;
    manager
}

async fn manager(config: McpTool) -> ToolManager {
    let manager = manager_with(config, 5).await;
    let report = manager.report();
    assert_eq!(report[0].state, HandlerState::Ready, "{report:?}");
    manager
}

async fn call(manager: &ToolManager, tool: &str, arguments: Value) -> Result<String, String> {
    tool_call::call_text(manager, tool, &arguments.to_string()).await
}

fn names(manager: &ToolManager) -> Vec<String> {
    let mut names: Vec<String> = manager.tools().into_iter().map(|t| t.name).collect();
    names.sort();
    names
}

async fn pid(manager: &ToolManager) -> u32 {
    call(manager, "pid", json!({}))
        .await
        .unwrap()
        .parse()
        .unwrap()
}

/// Whether process `pid` still runs (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test]
async fn stdio_discovery_lists_the_tools_with_their_schemas() {
    let tools = manager(stdio()).await;
    assert_eq!(
        names(&tools),
        [
            "add", "cwd", "echo_env", "fail", "huge", "picture", "pid", "reject", "whoami"
        ]
    );
    let add = tools.tools().into_iter().find(|t| t.name == "add").unwrap();
    assert_eq!(add.description, "Add two integers.");
    assert_eq!(add.parameters["type"], "object");
    assert_eq!(add.parameters["properties"]["a"]["type"], "integer");
    assert_eq!(add.parameters["required"], json!(["a", "b"]));
    let report = &tools.report()[0];
    assert!(report.discovered && report.kind == "mcp", "{report:?}");
    assert_eq!(report.tools.len(), 9);
}

#[tokio::test]
async fn the_allowlist_wins_and_star_is_a_prefix() {
    let mut config = stdio();
    config.allowlist = vec!["add".into(), "echo_*".into()];
    config.blocklist = vec!["add".into()];
    assert_eq!(names(&manager(config).await), ["add", "echo_env"]);

    let mut config = stdio();
    config.blocklist = vec!["p*".into(), "fail".into(), "huge".into()];
    assert_eq!(
        names(&manager(config).await),
        ["add", "cwd", "echo_env", "reject", "whoami"]
    );
}

#[tokio::test]
async fn a_call_returns_the_sum_and_bad_arguments_stay_here() {
    let tools = manager(stdio()).await;
    assert_eq!(
        call(&tools, "add", json!({"a": 2, "b": 3})).await.unwrap(),
        "5"
    );
    let err = call(&tools, "add", json!({"a": "two", "b": 3}))
        .await
        .unwrap_err();
    assert!(err.contains("do not match its input schema"), "{err}");
}

#[tokio::test]
async fn is_error_is_reported_and_does_not_open_the_breaker() {
    let tools = manager_with(stdio(), 1).await;
    for _ in 0..3 {
        let err = call(&tools, "fail", json!({"reason": "boom"}))
            .await
            .unwrap_err();
        assert!(
            err.contains("reported an error") && err.contains("boom"),
            "{err}"
        );
    }
    assert_eq!(
        call(&tools, "add", json!({"a": 1, "b": 1})).await.unwrap(),
        "2"
    );
}

#[tokio::test]
async fn json_rpc_errors_are_the_models_or_the_servers() {
    let tools = manager(stdio()).await;
    let err = call(
        &tools,
        "reject",
        json!({"code": -32602, "message": "no such thing"}),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("cannot be called with these arguments") && err.contains("no such thing"),
        "{err}"
    );
    let err = call(
        &tools,
        "reject",
        json!({"code": -32603, "message": "it broke"}),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("failed") && err.contains("-32603") && err.contains("it broke"),
        "{err}"
    );
}

#[tokio::test]
async fn binary_content_is_summarised_and_a_huge_result_refused() {
    let tools = manager(stdio()).await;
    let text = call(&tools, "picture", json!({})).await.unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value[0]["text"], "a single pixel");
    assert_eq!(value[1]["type"], "image");
    assert_eq!(value[1]["mimeType"], "image/png");
    assert!(value[1]["bytes"].as_u64().unwrap() > 0, "{text}");
    assert!(!text.contains("iVBOR"), "no base64 for the model: {text}");

    let err = call(&tools, "huge", json!({"mib": 11})).await.unwrap_err();
    assert!(err.contains("more than 10485760 bytes"), "{err}");
    assert_eq!(
        call(&tools, "add", json!({"a": 1, "b": 2})).await.unwrap(),
        "3"
    );
}

#[tokio::test]
async fn env_and_work_dir_reach_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = stdio();
    config.env = BTreeMap::from([("OMNIA_MCP_TEST".into(), "hello from the registry".into())]);
    config.work_dir = Some(dir.path().to_owned());
    let tools = manager(config).await;
    assert_eq!(
        call(&tools, "echo_env", json!({"name": "OMNIA_MCP_TEST"}))
            .await
            .unwrap(),
        "hello from the registry"
    );
    let cwd = call(&tools, "cwd", json!({})).await.unwrap();
    assert_eq!(
        Path::new(&cwd).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
    // `env` adds to the runtime's environment rather than replacing it.
    let path = call(&tools, "echo_env", json!({"name": "PATH"}))
        .await
        .unwrap();
    assert!(!path.is_empty());
}

/// The running processes whose environment has `OMNIA_MCP_MARK=<mark>`.
fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("OMNIA_MCP_MARK={mark}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains(&needle))
                && running(*pid)
        })
        .collect()
}

#[tokio::test]
async fn a_killed_child_is_restarted_and_the_next_call_succeeds() {
    let mark = format!("restart-{}", std::process::id());
    let mut config = stdio();
    config.env = BTreeMap::from([("OMNIA_MCP_MARK".into(), mark.clone())]);
    let tools = manager(config).await;
    let first = pid(&tools).await;
    assert_eq!(marked(&mark), [first]);
    assert_eq!(
        call(&tools, "add", json!({"a": 2, "b": 2})).await.unwrap(),
        "4"
    );
    let killed = Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Straight away: the call may find the old session still open, lose it, and reconnect.
    let second = pid(&tools).await;
    assert_ne!(first, second, "a new process answers");
    assert!(!running(first));
    assert_eq!(
        call(&tools, "add", json!({"a": 2, "b": 3})).await.unwrap(),
        "5"
    );

    // Killed and left alone, it is restarted in the background, without a call.
    Command::new("kill")
        .args(["-9", &second.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let restarted = loop {
        let now = marked(&mark);
        if let [one] = now[..]
            && one != second
        {
            break one;
        }
        assert!(Instant::now() < deadline, "not restarted: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        pid(&tools).await,
        restarted,
        "the call uses the restarted child"
    );
}

#[tokio::test]
async fn dropping_the_manager_kills_the_child() {
    let tools = manager(stdio()).await;
    let child = pid(&tools).await;
    assert!(running(child));
    drop(tools);
    let deadline = Instant::now() + PATIENCE;
    while running(child) {
        assert!(Instant::now() < deadline, "the child outlived its adapter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_command_that_does_not_exist_leaves_the_handler_degraded() {
    let mut config = stdio();
    config.command = Some("/nonexistent/mcp-server".into());
    let tools = manager_with(config, 5).await;
    let report = &tools.report()[0];
    let HandlerState::Degraded(reason) = &report.state else {
        panic!("{report:?}");
    };
    assert!(
        reason.contains("cannot start") && reason.contains("/nonexistent/mcp-server"),
        "{reason}"
    );
    assert!(tools.tools().is_empty());
}

#[tokio::test]
async fn the_identity_goes_in_meta_never_more() {
    let tools = manager(stdio()).await;
    let seen: Value =
        serde_json::from_str(&call(&tools, "whoami", json!({})).await.unwrap()).unwrap();
    assert_eq!(
        seen["meta"],
        json!({
            "x-omnia-agent-name": "support",
            "x-omnia-namespace": "agents",
            "x-omnia-session-id": "session-1",
            "x-omnia-tool-name": "whoami",
            "x-omnia-tool-call-id": "call-7",
        })
    );
}

#[tokio::test]
async fn streamable_http_discovers_calls_and_sends_the_identity() {
    let server = HttpServer::start("streamable-http", free_port());
    let tools = manager(http(McpTransport::StreamableHttp, server.url("/mcp"))).await;
    assert!(names(&tools).contains(&"add".to_owned()));
    assert_eq!(
        call(&tools, "add", json!({"a": 20, "b": 22}))
            .await
            .unwrap(),
        "42"
    );
    let seen: Value =
        serde_json::from_str(&call(&tools, "whoami", json!({})).await.unwrap()).unwrap();
    assert_eq!(seen["meta"]["x-omnia-session-id"], "session-1");
    assert_eq!(seen["meta"]["x-omnia-tool-call-id"], "call-7");
    assert_eq!(
        seen["headers"],
        json!({"x-omnia-agent-name": "support", "x-omnia-namespace": "agents"})
    );
    let err = call(&tools, "fail", json!({"reason": "nope"}))
        .await
        .unwrap_err();
    assert!(
        err.contains("reported an error") && err.contains("nope"),
        "{err}"
    );
}

#[tokio::test]
async fn a_restarted_http_server_is_reconnected() {
    let port = free_port();
    let server = HttpServer::start("streamable-http", port);
    let tools = manager(http(McpTransport::StreamableHttp, server.url("/mcp"))).await;
    assert_eq!(
        call(&tools, "add", json!({"a": 1, "b": 2})).await.unwrap(),
        "3"
    );
    let before = pid(&tools).await;
    server.stop();
    let _server = HttpServer::start("streamable-http", port);
    assert_eq!(
        call(&tools, "add", json!({"a": 2, "b": 3})).await.unwrap(),
        "5"
    );
    assert_ne!(pid(&tools).await, before);
}

#[tokio::test]
async fn a_server_that_is_down_is_unreachable_and_opens_the_breaker_after_five() {
    let server = HttpServer::start("streamable-http", free_port());
    let url = server.url("/mcp");
    let tools = manager(http(McpTransport::StreamableHttp, url.clone())).await;
    assert_eq!(
        call(&tools, "add", json!({"a": 1, "b": 2})).await.unwrap(),
        "3"
    );
    server.stop();
    for n in 0..5 {
        let err = call(&tools, "add", json!({"a": 1, "b": 2}))
            .await
            .unwrap_err();
        assert!(
            err.contains("could not be reached") && err.contains(&url),
            "call {n}: {err}"
        );
    }
    let err = call(&tools, "add", json!({"a": 1, "b": 2}))
        .await
        .unwrap_err();
    assert!(err.contains("failed 5 times in a row"), "{err}");
}

#[tokio::test]
async fn sse_discovers_and_calls() {
    let server = HttpServer::start("sse", free_port());
    let tools = manager(http(McpTransport::Sse, server.url("/sse"))).await;
    assert!(names(&tools).contains(&"add".to_owned()));
    assert_eq!(
        call(&tools, "add", json!({"a": 4, "b": 5})).await.unwrap(),
        "9"
    );
    let seen: Value =
        serde_json::from_str(&call(&tools, "whoami", json!({})).await.unwrap()).unwrap();
    assert_eq!(seen["meta"]["x-omnia-tool-name"], "whoami");
    assert_eq!(seen["headers"]["x-omnia-agent-name"], "support");
    let err = call(&tools, "fail", json!({"reason": "sse says no"}))
        .await
        .unwrap_err();
    assert!(err.contains("sse says no"), "{err}");
}

#[tokio::test]
async fn sse_reconnects_after_the_server_restarts() {
    let port = free_port();
    let server = HttpServer::start("sse", port);
    let tools = manager(http(McpTransport::Sse, server.url("/sse"))).await;
    assert_eq!(
        call(&tools, "add", json!({"a": 1, "b": 1})).await.unwrap(),
        "2"
    );
    server.stop();
    let _server = HttpServer::start("sse", port);
    assert_eq!(
        call(&tools, "add", json!({"a": 1, "b": 2})).await.unwrap(),
        "3"
    );
}

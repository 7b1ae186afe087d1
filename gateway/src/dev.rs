//! `omnia-gateway dev`: gateway and runtime in one process, joined by a real gRPC connection on
//! loopback, with the mock provider standing in for any provider that has no credentials.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;

use omnia_api::ResolvedConfig;
use omnia_runtime::{HandlerReport, HandlerState, Runtime, RuntimeOptions};
use tokio::net::TcpListener;

use crate::app::{Gateway, GatewayOptions};

/// The examples compiled into the binary, served when `dev` is given no path.
const EMBEDDED_EXAMPLES: &[&str] = &[
    include_str!("../../examples/echo-function/agentruntime.yaml"),
    include_str!("../../examples/echo-function/promptpack.yaml"),
    include_str!("../../examples/echo-function/provider.yaml"),
    include_str!("../../examples/summarizer/agentruntime.yaml"),
    include_str!("../../examples/summarizer/promptpack.yaml"),
    include_str!("../../examples/summarizer/provider.yaml"),
    include_str!("../../examples/summarizer-omnia/agentruntime.yaml"),
    include_str!("../../examples/summarizer-omnia/promptpack.yaml"),
    include_str!("../../examples/summarizer-omnia/provider.yaml"),
    include_str!("../../examples/echo-agent/agentruntime.yaml"),
    include_str!("../../examples/echo-agent/promptpack.yaml"),
    include_str!("../../examples/echo-agent/provider.yaml"),
    include_str!("../../examples/demo-agent/agentruntime.yaml"),
    include_str!("../../examples/demo-agent/promptpack.yaml"),
    include_str!("../../examples/demo-agent/provider.yaml"),
    include_str!("../../examples/mock-agent/agentruntime.yaml"),
    include_str!("../../examples/mock-agent/promptpack.yaml"),
    include_str!("../../examples/mock-agent/provider.yaml"),
    include_str!("../../examples/tools-agent/agentruntime.yaml"),
    include_str!("../../examples/tools-agent/promptpack.yaml"),
    include_str!("../../examples/tools-agent/provider.yaml"),
    include_str!("../../examples/tools-agent/toolregistry.yaml"),
];

/// Loads the manifests under `paths`, or the embedded examples when there are none.
pub fn load(paths: &[PathBuf]) -> Result<(ResolvedConfig, String), String> {
    if !paths.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return omnia_api::load(paths)
            .map(|config| (config, shown.join(", ")))
            .map_err(|e| e.to_string());
    }
    let text: String = EMBEDDED_EXAMPLES
        .iter()
        .map(|text| format!("{text}\n---\n"))
        .collect();
    omnia_api::load_str("embedded examples", &text)
        .map(|config| (config, "the embedded examples".to_owned()))
        .map_err(|e| e.to_string())
}

/// Runs gateway and runtime until `shutdown` resolves.
pub async fn run(
    paths: Vec<PathBuf>,
    mut options: GatewayOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (config, source) = load(&paths)?;
    config.log_notices();
    let runtime_options = RuntimeOptions {
        dev: true,
        mock_stream_delay: options.mock_stream_delay,
        ..Default::default()
    };
    let runtime = Runtime::compile(&config, runtime_options).map_err(|e| e.to_string())?;
    runtime.connect().await.map_err(|e| e.to_string())?;
    // Asked before the runtime moves into its server: what discovery found, for the banner.
    let tool_reports: HashMap<String, Vec<HandlerReport>> = config
        .agents
        .iter()
        .map(|a| (a.name.clone(), runtime.tool_report(&a.name)))
        .collect();
    let runtime_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the in-process runtime: {e}"))?;
    let runtime_addr = runtime_listener
        .local_addr()
        .map_err(|e| format!("cannot read the runtime's address: {e}"))?;
    let (stop_runtime, runtime_stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime_task = tokio::spawn(omnia_runtime::serve(runtime, runtime_listener, async {
        let _ = runtime_stopped.await;
    }));

    options.runtime_address = runtime_addr.to_string();
    options.open_when_unconfigured = true;
    let gateway = Gateway::bind(&config, options)
        .await
        .map_err(|e| e.to_string())?;
    print_banner(&gateway, &config, &source, &tool_reports);
    gateway.serve(shutdown).await;

    let _ = stop_runtime.send(());
    match runtime_task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("runtime: {error}")),
        Err(error) => Err(format!("runtime task: {error}")),
    }
}

fn print_banner(
    gateway: &Gateway,
    config: &ResolvedConfig,
    source: &str,
    tools: &HashMap<String, Vec<HandlerReport>>,
) {
    let facade = gateway.facade_addr();
    println!("omnia-gateway dev: serving {source}");
    println!(
        "  health: http://{}/readyz   metrics: http://{}/metrics",
        gateway.health_addr(),
        gateway.health_addr()
    );
    if let Some(internal) = gateway.internal_addr() {
        println!("  management plane (dashboard tokens only): http://{internal}/functions/...");
    }
    if config.functions().next().is_some() {
        println!("  OpenAPI 3.1 document of the functions: http://{facade}/openapi.json");
    }
    if let Some(mcp) = gateway.mcp_addr() {
        println!("  every function as an MCP tool (streamable HTTP): http://{mcp}/mcp");
    }
    for agent in config.functions() {
        let url = format!("http://{facade}/functions/{}", agent.name);
        let sample = agent
            .input_schema
            .as_ref()
            .map(omnia_runtime::provider::synthesize)
            .unwrap_or_else(|| serde_json::json!({}));
        let body = serde_json::to_string(&sample).unwrap_or_else(|_| "{}".to_owned());
        println!();
        println!(
            "  {} ({} provider {:?})",
            agent.name, agent.provider.name, agent.provider.kind
        );
        println!("    POST {url}   (OpenAPI: {url}/openapi.json)");
        println!(
            "    curl -s {url} -H 'content-type: application/json' -d '{}'",
            body.replace('\'', "'\\''")
        );
        print_tools(agent, tools.get(&agent.name));
    }
    for agent in gateway.agent_names() {
        let url = format!("ws://{facade}/ws?agent={agent}");
        println!();
        println!("  {agent} (WebSocket)");
        println!("    {url}");
        println!("    echo '{{\"type\":\"message\",\"content\":\"hello\"}}' | websocat -n '{url}'");
        if let Some(agent) = config.agents.iter().find(|a| a.name == agent) {
            print_tools(agent, tools.get(&agent.name));
        }
    }
    println!();
}

/// The agent's ToolRegistry handlers, where each runs and the tools it offers (discovered ones
/// included), until an operator reports them in the registry's status.
fn print_tools(agent: &omnia_api::Agent, reports: Option<&Vec<HandlerReport>>) {
    use omnia_api::{HandlerKind, McpTransport};
    let Some(registry) = &agent.tools else {
        return;
    };
    println!(
        "    tools of ToolRegistry {}/{}:",
        registry.namespace, registry.name
    );
    for handler in &registry.handlers {
        let source = match &handler.kind {
            HandlerKind::Http(http) => format!("http {} {}", http.method, http.endpoint),
            HandlerKind::Grpc(grpc) => format!("grpc {}", grpc.endpoint),
            HandlerKind::Client(_) => "the WebSocket client".to_owned(),
            HandlerKind::Mcp(mcp) => match mcp.transport {
                McpTransport::Stdio => format!(
                    "mcp stdio `{} {}`",
                    mcp.command.as_deref().unwrap_or_default(),
                    mcp.args.join(" ")
                ),
                McpTransport::Sse => {
                    format!("mcp sse {}", mcp.endpoint.as_deref().unwrap_or_default())
                }
                McpTransport::StreamableHttp => format!(
                    "mcp streamable-http {}",
                    mcp.endpoint.as_deref().unwrap_or_default()
                ),
            },
            HandlerKind::OpenApi(openapi) => format!("openapi {}", openapi.spec_url),
        };
        let report = reports.and_then(|r| r.iter().find(|r| r.handler == handler.name));
        let tools = match report {
            None => "not built".to_owned(),
            Some(report) => {
                let listed = if report.tools.is_empty() {
                    "no tools".to_owned()
                } else {
                    report.tools.join(", ")
                };
                match &report.state {
                    HandlerState::Ready if report.discovered => format!("discovered {listed}"),
                    HandlerState::Ready => listed,
                    HandlerState::Pending => "not discovered yet".to_owned(),
                    HandlerState::Degraded(why) => format!("DEGRADED, {why}"),
                }
            }
        };
        println!("      handler `{}` ({source}): {tools}", handler.name);
    }
}

//! The runtime end to end: compiled from a configuration, served on a real socket, called with
//! tonic's generated client.

// clippy's allow-in-tests covers `#[test]` functions, not this file's fixture helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod omnia;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use omnia_api::{
    Agent, ExternalAuth, Facade, FacadeType, Handler, MockScenario, Mode, OutputFormat, PackSource,
    Pricing, Provider, ProviderDefaults, ProviderRole, ProviderType, ResolvedConfig, Session,
    SessionStore,
};
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use omnia_proto::runtime::v1::{
    CONTRACT_VERSION, HasConversationRequest, HealthRequest, InvocationRequest,
};
use omnia_runtime::{Runtime, RuntimeError, RuntimeOptions};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic::{Code, Request};

fn echo_pack() -> Value {
    json!({
        "id": "echo", "name": "Echo Function", "version": "1.0.0",
        "template_engine": {"version": "v1", "syntax": "{{variable}}"},
        "prompts": {"default": {
            "id": "default", "name": "Echo", "version": "1.0.0",
            "system_template": "You are an echo service.",
            "user_template": "{{input}}",
            "variables": [{"name": "input", "type": "string", "required": true}]
        }}
    })
}

fn summarizer_pack() -> Value {
    json!({
        "id": "summarizer", "name": "Summarizer", "version": "1.0.0",
        "template_engine": {"version": "v1", "syntax": "{{variable}}"},
        "prompts": {"summarize": {
            "id": "summarize", "name": "Summarize", "version": "1.0.0",
            "system_template": "Summarise in at most {{maxWords}} words.",
            "user_template": "{{text}}",
            "variables": [
                {"name": "text", "type": "string", "required": true},
                {"name": "maxWords", "type": "integer", "required": false, "default": 50}
            ]
        }}
    })
}

fn provider(kind: ProviderType, scenarios: Vec<MockScenario>) -> Provider {
    Provider {
        name: format!("{kind:?}-provider").to_lowercase(),
        namespace: "default".into(),
        kind,
        role: ProviderRole::Llm,
        headers: BTreeMap::new(),
        model: String::new(),
        base_url: None,
        api_key: None,
        credential: None,
        credential_problem: None,
        pricing: Pricing {
            input_per_1k: 1.0,
            output_per_1k: 2.0,
            cached_per_1k: None,
        },
        defaults: ProviderDefaults::default(),
        mock_scenarios: scenarios,
    }
}

fn agent(
    name: &str,
    mode: Mode,
    pack: Value,
    provider: Provider,
    output_schema: Option<Value>,
) -> Agent {
    let facade = Facade {
        kind: FacadeType::Function,
        port: 8080,
        handler: Handler::Runtime,
        drain_timeout: None,
        client_tool_timeout: None,
        management_plane: true,
    };
    Agent {
        name: name.into(),
        namespace: "default".into(),
        source: PathBuf::from(format!("{name}.yaml")),
        mode,
        facade: facade.clone(),
        facades: vec![facade],
        output_format: (mode == Mode::Function).then_some(OutputFormat::JsonSchema),
        input_schema: None,
        output_schema,
        pack: PackSource {
            name: format!("{name}-pack"),
            version: "1.0.0".into(),
            document: pack,
            origin: format!("{name}.yaml: ConfigMap {name}-pack key pack.json"),
        },
        providers: BTreeMap::from([("default".to_owned(), provider.clone())]),
        provider,
        auth: ExternalAuth::default(),
        session: Session {
            kind: SessionStore::Memory,
            ttl: Duration::from_secs(86_400),
            store_ref: None,
            store_url: None,
        },
        replicas: 1,
        tools: None,
        media: omnia_api::Media::none(),
    }
}

fn echo_function() -> Agent {
    let scenario = MockScenario {
        name: None,
        when: None,
        output: json!({"echo": "{{input.message}}"}),
    };
    agent(
        "echo-function",
        Mode::Function,
        echo_pack(),
        provider(ProviderType::Mock, vec![scenario]),
        Some(
            json!({"type": "object", "required": ["echo"], "properties": {"echo": {"type": "string"}}}),
        ),
    )
}

fn summarizer() -> Agent {
    agent(
        "summarizer",
        Mode::Function,
        summarizer_pack(),
        provider(ProviderType::Mock, vec![]),
        Some(
            json!({"type": "object", "required": ["summary"], "properties": {"summary": {"type": "string"}}}),
        ),
    )
}

/// A runtime serving `agents` on 127.0.0.1:0, a connected client, and the means to stop it.
struct Served {
    client: RuntimeServiceClient<Channel>,
    /// The client's channel, for calls through other message types.
    channel: Channel,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), RuntimeError>>,
}

async fn serve(agents: Vec<Agent>) -> Served {
    serve_with(agents, RuntimeOptions::default()).await
}

async fn serve_with(agents: Vec<Agent>, options: RuntimeOptions) -> Served {
    let runtime = Runtime::compile(
        &ResolvedConfig {
            agents,
            notices: Vec::new(),
        },
        options,
    )
    .unwrap();
    // Bound before the server runs: connecting needs no waiting.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(omnia_runtime::serve(runtime, listener, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Served {
        client: RuntimeServiceClient::new(channel.clone()),
        channel,
        stop,
        server,
    }
}

fn invocation(agent: Option<&str>, input: &'static str, id: &str) -> Request<InvocationRequest> {
    let mut request = Request::new(InvocationRequest {
        input_json: Bytes::from_static(input.as_bytes()),
        invocation_id: id.into(),
        metadata: Default::default(),
    });
    if let Some(agent) = agent {
        request
            .metadata_mut()
            .insert("x-omnia-agent-name", agent.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn invoke_runs_the_agent_named_in_metadata() {
    let mut served = serve(vec![echo_function(), summarizer()]).await;

    let response = served
        .client
        .invoke(invocation(
            Some("echo-function"),
            r#"{"message": "hello"}"#,
            "inv-1",
        ))
        .await
        .unwrap()
        .into_inner();

    let output: Value = serde_json::from_slice(&response.output_json).unwrap();
    assert_eq!(output, json!({"echo": "hello"}));
    assert_eq!(response.invocation_id, "inv-1");
    let usage = response.usage.unwrap();
    // "You are an echo service." (24 bytes) + the 20-byte input = 11 tokens; {"echo":"hello"} = 4.
    assert_eq!((usage.input_tokens, usage.output_tokens), (11, 4));
    assert!((usage.cost_usd - (11.0 + 4.0 * 2.0) / 1000.0).abs() < 1e-6);
}

#[tokio::test]
async fn invoke_without_id_gets_a_fresh_uuid() {
    let mut served = serve(vec![echo_function(), summarizer()]).await;

    let response = served
        .client
        .invoke(invocation(
            Some("summarizer"),
            r#"{"text": "Omnia runs agents."}"#,
            "",
        ))
        .await
        .unwrap()
        .into_inner();

    let output: Value = serde_json::from_slice(&response.output_json).unwrap();
    assert_eq!(output, json!({"summary": "mock summary"}));
    let id = uuid::Uuid::parse_str(&response.invocation_id).unwrap();
    assert_eq!(id.get_version_num(), 4);
}

#[tokio::test]
async fn invoke_without_metadata_runs_the_only_function() {
    let mut served = serve(vec![echo_function()]).await;

    let response = served
        .client
        .invoke(invocation(None, r#"{"message": "solo"}"#, "x"))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(&response.output_json[..], br#"{"echo":"solo"}"#);
}

#[tokio::test]
async fn invoke_for_an_unknown_agent_is_not_found() {
    let mut served = serve(vec![echo_function()]).await;

    let status = served
        .client
        .invoke(invocation(Some("nobody"), "{}", "x"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("`nobody`"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn invoke_without_metadata_among_several_functions_is_invalid() {
    let mut served = serve(vec![echo_function(), summarizer()]).await;

    let status = served
        .client
        .invoke(invocation(None, "{}", "x"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("echo-function, summarizer"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_missing_required_variable_is_invalid_argument() {
    let mut served = serve(vec![summarizer()]).await;

    let status = served
        .client
        .invoke(invocation(Some("summarizer"), r#"{"maxWords": 10}"#, "x"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("`text`"), "{}", status.message());
}

#[tokio::test]
async fn the_echo_provider_returns_the_request_body() {
    let echo = agent(
        "raw",
        Mode::Function,
        echo_pack(),
        provider(ProviderType::Echo, vec![]),
        None,
    );
    let mut served = serve(vec![echo]).await;
    let body = r#"{"message": "as sent", "n": [1, 2]}"#;

    let response = served
        .client
        .invoke(invocation(Some("raw"), body, "x"))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(&response.output_json[..], body.as_bytes());
}

/// The echo provider would hand such input back as `output_json`, which Omnia's Go peers read as
/// a UTF-8 `string` and would refuse; the runtime refuses it first, naming the field.
#[tokio::test]
async fn input_that_is_not_utf8_is_invalid_argument() {
    let echo = agent(
        "raw",
        Mode::Function,
        echo_pack(),
        provider(ProviderType::Echo, vec![]),
        None,
    );
    let mut served = serve(vec![echo]).await;
    let mut request = invocation(Some("raw"), "", "x");
    request.get_mut().input_json = Bytes::from_static(b"{\"message\": \"\xff\xfe\"}");

    let status = served.client.invoke(request).await.unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("input_json is not valid UTF-8"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn health_reports_the_contract() {
    let mut served = serve(vec![echo_function()]).await;

    let health = served
        .client
        .health(HealthRequest {})
        .await
        .unwrap()
        .into_inner();

    assert!(health.healthy);
    assert_eq!(health.status, "ok");
    assert_eq!(health.contract_version, CONTRACT_VERSION);
    assert_eq!(health.capabilities, vec!["invoke".to_owned()]);
}

#[tokio::test]
async fn health_is_unhealthy_when_there_is_no_function_to_serve() {
    let mut served = serve(vec![]).await;

    let health = served
        .client
        .health(HealthRequest {})
        .await
        .unwrap()
        .into_inner();

    assert!(!health.healthy);
    assert!(
        health.status.contains("nothing to serve"),
        "{}",
        health.status
    );
    assert!(health.capabilities.is_empty(), "{:?}", health.capabilities);
}

#[tokio::test]
async fn health_names_the_functions_the_mock_answers_for_in_dev_mode() {
    let llm = agent(
        "llm",
        Mode::Function,
        echo_pack(),
        provider(ProviderType::Claude, vec![]),
        None,
    );
    let mut served = serve_with(
        vec![echo_function(), llm],
        RuntimeOptions {
            dev: true,
            ..Default::default()
        },
    )
    .await;

    let health = served
        .client
        .health(HealthRequest {})
        .await
        .unwrap()
        .into_inner();

    assert!(health.healthy);
    assert!(health.status.starts_with("dev mode: "), "{}", health.status);
    assert!(
        health.status.contains("`llm` answers with the mock in place of Provider `claude-provider` (type claude: it has no usable credentials)"),
        "{}",
        health.status
    );
    assert!(
        !health.status.contains("echo-function"),
        "{}",
        health.status
    );
    assert_eq!(health.capabilities, vec!["invoke".to_owned()]);
}

/// Omnia's facade compresses its requests with gzip; the runtime must read them.
#[tokio::test]
async fn gzip_compressed_invoke_and_health_are_answered() {
    let served = serve(vec![echo_function()]).await;
    let mut client = served.client.send_compressed(CompressionEncoding::Gzip);

    let response = client
        .invoke(invocation(
            Some("echo-function"),
            r#"{"message": "zipped"}"#,
            "inv-gz",
        ))
        .await
        .unwrap()
        .into_inner();
    let health = client.health(HealthRequest {}).await.unwrap().into_inner();

    assert_eq!(&response.output_json[..], br#"{"echo":"zipped"}"#);
    assert_eq!(response.invocation_id, "inv-gz");
    assert!(health.healthy);
}

/// A unary call through Omnia-shaped messages (tests/omnia): the runtime's answer as a Go peer
/// decodes it, with its `string` fields checked for UTF-8.
async fn omnia_call<Req, Res>(
    served: &Served,
    method: &'static str,
    request: Req,
    compression: Option<CompressionEncoding>,
) -> Result<Res, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Res: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(served.channel.clone());
    if let Some(encoding) = compression {
        grpc = grpc.send_compressed(encoding);
    }
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    let codec = tonic_prost::ProstCodec::<Req, Res>::default();
    let mut request = Request::new(request);
    request
        .metadata_mut()
        .insert("x-omnia-agent-name", "echo-function".parse().unwrap());
    Ok(grpc.unary(request, path, codec).await?.into_inner())
}

#[tokio::test]
async fn an_omnia_peer_reads_the_runtimes_health() {
    let served = serve(vec![echo_function()]).await;

    let health: omnia::HealthResponse = omnia_call(
        &served,
        "/omnia.runtime.v1.RuntimeService/Health",
        omnia::HealthRequest {},
        None,
    )
    .await
    .unwrap();

    assert_eq!(
        health,
        omnia::HealthResponse {
            healthy: true,
            status: "ok".into(),
            contract_version: CONTRACT_VERSION.into(),
            capabilities: vec!["invoke".into()],
        }
    );
}

/// As Omnia's facade calls it: `input_json` a string, the request gzip-compressed.
#[tokio::test]
async fn an_omnia_facade_invokes_the_runtime_with_gzip() {
    let served = serve(vec![echo_function()]).await;

    let response: omnia::InvocationResponse = omnia_call(
        &served,
        "/omnia.runtime.v1.RuntimeService/Invoke",
        omnia::InvocationRequest {
            input_json: r#"{"message": "from go"}"#.into(),
            invocation_id: "inv-go".into(),
            metadata: Default::default(),
        },
        Some(CompressionEncoding::Gzip),
    )
    .await
    .unwrap();

    assert_eq!(response.output_json, r#"{"echo":"from go"}"#);
    assert_eq!(response.invocation_id, "inv-go");
    assert!(response.usage.is_some());
}

#[tokio::test]
async fn conversations_are_not_found_without_agent_mode_agents() {
    let mut served = serve(vec![echo_function()]).await;

    let status = served
        .client
        .has_conversation(HasConversationRequest {
            session_id: "s-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("no agent-mode agents"),
        "{}",
        status.message()
    );

    let status = served
        .client
        .converse(tokio_stream::empty())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn shutdown_stops_the_server_cleanly() {
    let Served {
        client,
        channel,
        stop,
        server,
    } = serve(vec![echo_function()]).await;
    drop((client, channel));

    stop.send(()).unwrap();

    server.await.unwrap().unwrap();
}

#[test]
fn a_bad_pack_fails_compilation_naming_agent_file_and_pointer() {
    let mut pack = echo_pack();
    pack["id"] = json!("Bad Id");
    let config = ResolvedConfig {
        agents: vec![agent(
            "broken",
            Mode::Function,
            pack,
            provider(ProviderType::Mock, vec![]),
            None,
        )],
        notices: Vec::new(),
    };

    let err = Runtime::compile(&config, RuntimeOptions::default()).unwrap_err();

    let message = err.to_string();
    assert!(message.contains("`broken` (broken.yaml)"), "{message}");
    assert!(message.contains("PromptPack `broken-pack`"), "{message}");
    assert!(message.contains("/id: "), "{message}");
}

#[test]
fn an_llm_provider_without_a_key_fails_compilation_outside_dev_mode() {
    let config = ResolvedConfig {
        agents: vec![agent(
            "llm",
            Mode::Function,
            echo_pack(),
            provider(ProviderType::Claude, vec![]),
            None,
        )],
        notices: Vec::new(),
    };

    let err = Runtime::compile(
        &config,
        RuntimeOptions {
            dev: false,
            ..Default::default()
        },
    )
    .unwrap_err();
    let runtime = Runtime::compile(
        &config,
        RuntimeOptions {
            dev: true,
            ..Default::default()
        },
    )
    .unwrap();

    assert!(
        err.to_string().contains("Provider `claude-provider`")
            && err.to_string().contains("has no credential"),
        "{err}"
    );
    assert_eq!(
        runtime
            .functions()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["llm"]
    );
}

#[test]
fn an_output_schema_the_mock_cannot_satisfy_fails_start_up_naming_the_function() {
    // No scenario, and a `pattern` the synthesiser does not honour: every call would be a 502.
    let config = ResolvedConfig {
        agents: vec![agent(
            "codes",
            Mode::Function,
            echo_pack(),
            provider(ProviderType::Mock, vec![]),
            Some(json!({"type": "object", "required": ["code"],
                        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}})),
        )],
        notices: Vec::new(),
    };

    let err = Runtime::compile(&config, RuntimeOptions::default()).unwrap_err();

    let message = err.to_string();
    assert!(
        message.contains("AgentRuntime `codes` (codes.yaml)"),
        "{message}"
    );
    assert!(message.contains("/code: "), "{message}");
}

#[test]
fn agent_mode_agents_are_compiled_and_a_bad_pack_stops_start_up() {
    let chat = |pack: Value| {
        agent(
            "chat",
            Mode::Agent,
            pack,
            provider(ProviderType::Mock, vec![]),
            None,
        )
    };
    let config = |pack: Value| ResolvedConfig {
        agents: vec![chat(pack), echo_function()],
        notices: Vec::new(),
    };

    let runtime = Runtime::compile(&config(echo_pack()), RuntimeOptions::default()).unwrap();
    assert_eq!(
        runtime
            .functions()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["echo-function"]
    );
    assert_eq!(
        runtime
            .conversations()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["chat"]
    );

    let error = Runtime::compile(&config(json!({"not": "a pack"})), RuntimeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("`chat`"), "{error}");
}

/// A function whose prompt validates its `lang` variable and whose answers pass validators.
fn guarded() -> Agent {
    let pack = json!({
        "id": "guarded", "name": "Guarded", "version": "1.0.0",
        "template_engine": {"version": "v1", "syntax": "{{variable}}"},
        "prompts": {"default": {
            "id": "default", "name": "Guarded", "version": "1.0.0",
            "system_template": "Answer in {{lang}}.",
            "variables": [{"name": "lang", "type": "string", "required": true,
                           "validation": {"enum": ["en", "fr"]}}],
            "validators": [
                {"type": "banned_words", "params": {"words": ["forbidden"]},
                 "fail_on_violation": true, "message": "That answer is not allowed."},
                {"type": "max_length", "params": {"max_characters": 5}}
            ]
        }}
    });
    let scenarios = vec![
        MockScenario {
            name: None,
            when: Some(json!({"say": "bad"})),
            output: json!({"text": "a forbidden answer"}),
        },
        MockScenario {
            name: None,
            when: None,
            output: json!({"text": "a fine but long answer"}),
        },
    ];
    agent(
        "guarded",
        Mode::Function,
        pack,
        provider(ProviderType::Mock, scenarios),
        None,
    )
}

#[tokio::test]
async fn variable_validation_and_output_validators_guard_a_function() {
    let mut served = serve(vec![guarded()]).await;

    // A value outside the variable's enum is the caller's mistake.
    let status = served
        .client
        .invoke(invocation(None, r#"{"lang": "de"}"#, "v-1"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("`lang` must be one of"),
        "{}",
        status.message()
    );

    // A violation of a validator without fail_on_violation is allowed (max_length here).
    served
        .client
        .invoke(invocation(None, r#"{"lang": "en"}"#, "v-2"))
        .await
        .unwrap();

    // A validator that must fail refuses the answer, with its message for the user.
    let status = served
        .client
        .invoke(invocation(None, r#"{"lang": "fr", "say": "bad"}"#, "v-3"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(
        status.message().contains("That answer is not allowed."),
        "{}",
        status.message()
    );
    assert_eq!(
        status
            .metadata()
            .get(omnia_runtime::ERROR_SOURCE_METADATA)
            .unwrap(),
        omnia_runtime::ERROR_SOURCE_VALIDATOR
    );
}

#[test]
fn a_pack_with_a_bad_validator_fails_start_up_naming_the_pack_and_pointer() {
    let mut bad = guarded();
    bad.pack.document["prompts"]["default"]["validators"][0]["params"] = json!({});
    let err = Runtime::compile(
        &ResolvedConfig {
            agents: vec![bad],
            notices: Vec::new(),
        },
        RuntimeOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("PromptPack `guarded-pack`"), "{err}");
    assert!(
        err.contains("/prompts/default/validators/0/params"),
        "{err}"
    );
    assert!(err.contains("`words`"), "{err}");
}

/// Runs `lookup` (and counts its calls).
#[derive(Debug, Default)]
struct Lookup(std::sync::atomic::AtomicUsize);

impl omnia_runtime::ToolExecutor for Lookup {
    fn runs(&self, name: &str) -> bool {
        name == "lookup"
    }

    fn execute<'a>(
        &'a self,
        call: &'a omnia_runtime::provider::ToolCallRequest,
        _context: omnia_runtime::ToolContext<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<String, String>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let result = format!(r#"{{"found":{}}}"#, call.arguments_json);
        Box::pin(async move { Ok(result) })
    }
}

#[tokio::test]
async fn a_function_runs_server_tools_between_provider_rounds() {
    use omnia_fakes::{FakeServer, ToolCall, Usage as Used, openai};

    let fake = FakeServer::start().await;
    fake.push(openai::tool_call_completion(
        &[
            ToolCall::new("call_1", "lookup", json!({"id": 7})),
            ToolCall::new("call_2", "get_location", json!({})),
        ],
        Used {
            input: 10,
            output: 5,
            cached: 0,
        },
    ));
    fake.push(openai::completion(
        r#"{"summary":"found 7"}"#,
        Used {
            input: 30,
            output: 8,
            cached: 0,
        },
    ));
    let mut llm = provider(ProviderType::Openai, vec![]);
    llm.base_url = Some(format!("{}/v1", fake.base_url()));
    llm.api_key = Some(omnia_api::ApiKey::new("sk-test"));
    let mut pack = summarizer_pack();
    pack["tools"] = json!({"lookup": {"name": "lookup", "description": "Looks up a record",
        "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}}}});
    pack["prompts"]["summarize"]["tools"] = json!(["lookup"]);
    let function = agent(
        "tooled",
        Mode::Function,
        pack,
        llm,
        Some(json!({"type": "object", "properties": {"summary": {"type": "string"}}})),
    );
    let lookup = std::sync::Arc::new(Lookup::default());
    let options = RuntimeOptions {
        tool_executor: lookup.clone(),
        ..RuntimeOptions::default()
    };
    let mut served = serve_with(vec![function], options).await;

    let response = served
        .client
        .invoke(invocation(None, r#"{"text": "find 7"}"#, "tools-1"))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(&response.output_json[..], br#"{"summary":"found 7"}"#);
    // Both rounds count.
    let usage = response.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (40, 13));
    assert_eq!(lookup.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    let first = fake.request(0).await.json();
    assert_eq!(first["tools"][0]["function"]["name"], "lookup");
    let second = fake.request(1).await.json();
    let messages = second["messages"].as_array().unwrap();
    assert_eq!(messages[2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"found\":{\"id\":7}}"})
    );
    // A tool no executor runs cannot go to a client: the model is told.
    assert_eq!(messages[4]["tool_call_id"], "call_2");
    assert!(
        messages[4]["content"]
            .as_str()
            .unwrap()
            .contains("a function has no client to run it"),
        "{}",
        messages[4]
    );
}

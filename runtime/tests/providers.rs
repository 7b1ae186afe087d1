//! The LLM providers against local fakes that speak each API's wire format: request shapes
//! (model, messages, system prompt, tools, structured output, key header), streamed text and
//! tool calls, usage and cost, retries, timeouts and errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use omnia_api::{ApiKey, Pricing, ProviderDefaults, ProviderRole, ProviderType};
use omnia_fakes::{FakeServer, StreamReply, ToolCall, Usage, anthropic, gemini, openai};
use omnia_proto::Utf8Bytes;
use omnia_runtime::provider::{
    ChatEnd, ChatMessage, ChatRequest, CompletionRequest, Deltas, FinishReason, Output, Parameters,
    Provider, ProviderError, ToolCallRequest, ToolChoice, ToolOutcome, ToolSpec, build,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const KEY: &str = "sk-test-0123456789";
const USAGE: Usage = Usage {
    input: 120,
    output: 18,
    cached: 64,
};

fn spec(kind: ProviderType, fake: &FakeServer, model: &str) -> omnia_api::Provider {
    let base = match kind {
        ProviderType::Openai => format!("{}/v1", fake.base_url()),
        _ => fake.base_url(),
    };
    omnia_api::Provider {
        name: "llm".into(),
        namespace: "default".into(),
        kind,
        role: ProviderRole::Llm,
        headers: BTreeMap::from([("x-team".to_owned(), "omnia".to_owned())]),
        model: model.into(),
        base_url: Some(base),
        api_key: Some(ApiKey::new(KEY)),
        credential: None,
        credential_problem: None,
        pricing: Pricing {
            input_per_1k: 1.0,
            output_per_1k: 2.0,
            cached_per_1k: Some(0.5),
        },
        defaults: ProviderDefaults {
            request_timeout: Some(Duration::from_secs(5)),
            stream_idle_timeout: Some(Duration::from_millis(300)),
            ..ProviderDefaults::default()
        },
        mock_scenarios: Vec::new(),
    }
}

fn provider(spec: &omnia_api::Provider) -> Arc<dyn Provider> {
    build(spec, false, None).unwrap().provider
}

/// A fake server, and a provider of `kind` for `model` that calls it.
async fn fake_provider(kind: ProviderType, model: &str) -> (FakeServer, Arc<dyn Provider>) {
    let fake = FakeServer::start().await;
    let llm = provider(&spec(kind, &fake, model));
    (fake, llm)
}

fn weather() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "get_weather".into(),
        description: "The weather in a city".into(),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}),
    }]
}

fn parameters() -> Parameters {
    Parameters {
        temperature: Some(0.2),
        max_tokens: Some(256),
        top_p: None,
    }
}

/// One streamed round: the pieces as they arrived, and how it ended.
async fn chat(
    provider: &dyn Provider,
    history: &[ChatMessage],
    tools: &[ToolSpec],
) -> (Vec<String>, Result<ChatEnd, ProviderError>) {
    let (deltas, mut pieces) = Deltas::channel(64);
    let request = ChatRequest {
        system: "You are terse.",
        history,
        parameters: parameters(),
        tools,
        tool_choice: ToolChoice::Auto,
        output: Output::Text,
    };
    let end = provider.chat(request, deltas).await;
    let mut got = Vec::new();
    while let Ok(piece) = pieces.try_recv() {
        got.push(piece.as_str().to_owned());
    }
    (got, end)
}

/// The round that answers [`hello`] with "Checking" and tool calls; its end.
async fn tool_round(provider: &dyn Provider) -> ChatEnd {
    let (pieces, end) = chat(provider, &hello(), &weather()).await;
    let end = end.unwrap();
    assert_eq!(pieces, ["Checking"]);
    assert_eq!(end.finish, FinishReason::ToolCalls);
    end
}

/// The call the fakes script: `get_weather` for `city`.
fn weather_call(id: &str, city: &str) -> ToolCall {
    ToolCall::new(id, "get_weather", json!({"city": city}))
}

fn hello() -> Vec<ChatMessage> {
    vec![ChatMessage::User {
        content: "Hello".into(),
    }]
}

/// A history with one round of tool use behind it: text, two calls, their results.
fn after_tools() -> Vec<ChatMessage> {
    let call = |id: &str, city: &str| {
        ChatMessage::ToolCall(ToolCallRequest {
            id: id.into(),
            name: "get_weather".into(),
            arguments_json: json!({"city": city}).to_string(),
            consent_message: String::new(),
            categories: Vec::new(),
        })
    };
    vec![
        ChatMessage::User {
            content: "Weather in Paris and Oslo?".into(),
        },
        ChatMessage::Assistant {
            content: "Checking".into(),
        },
        call("call_1", "Paris"),
        call("call_2", "Oslo"),
        ChatMessage::ToolResult {
            call_id: "call_1".into(),
            name: "get_weather".into(),
            outcome: ToolOutcome::Result(r#"{"temp":21}"#.into()),
        },
        ChatMessage::ToolResult {
            call_id: "call_2".into(),
            name: "get_weather".into(),
            outcome: ToolOutcome::Rejected("the user said no".into()),
        },
    ]
}

fn expect_usage(end: &ChatEnd) {
    assert_eq!(end.usage.input_tokens, 120);
    assert_eq!(end.usage.output_tokens, 18);
    assert_eq!(end.usage.cached_tokens, 64);
    // 56 uncached at 1.0/1K, 64 cached at 0.5/1K, 18 out at 2.0/1K.
    let cost = 56.0 / 1000.0 + 64.0 * 0.5 / 1000.0 + 18.0 * 2.0 / 1000.0;
    assert!(
        (end.usage.cost_usd - cost).abs() < 1e-9,
        "{}",
        end.usage.cost_usd
    );
}

// ---- OpenAI ----------------------------------------------------------------------------------

#[tokio::test]
async fn openai_streams_text_and_sends_the_chat_completions_shape() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    fake.push(openai::text_stream(&["Hel", "lo", "!"], USAGE));

    let (pieces, end) = chat(&*llm, &hello(), &weather()).await;

    let end = end.unwrap();
    assert_eq!(pieces, ["Hel", "lo", "!"]);
    assert_eq!(end.text, "Hello!");
    assert_eq!(end.finish, FinishReason::Stop);
    assert!(end.tool_calls.is_empty());
    expect_usage(&end);
    let sent = fake.request(0).await;
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(sent.header("x-team"), Some("omnia"));
    let body = sent.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["temperature"], 0.2);
    // A base URL of its own is an OpenAI-compatible server: the older field name.
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "You are terse."},
               {"role": "user", "content": "Hello"}])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "get_weather",
            "description": "The weather in a city", "parameters": weather()[0].parameters}}])
    );
}

#[tokio::test]
async fn openai_assembles_tool_calls_split_across_events() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    let calls = [
        weather_call("call_1", "Paris"),
        weather_call("call_2", "Oslo"),
    ];
    fake.push(openai::tool_call_stream("Checking", &calls, USAGE));

    let end = tool_round(&*llm).await;

    let got: Vec<(&str, &str, Value)> = end
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.name.as_str(),
                serde_json::from_str(&c.arguments_json).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("call_1", "get_weather", json!({"city": "Paris"})),
            ("call_2", "get_weather", json!({"city": "Oslo"}))
        ]
    );
}

#[tokio::test]
async fn openai_gets_tool_calls_and_results_in_its_own_shape() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    fake.push(openai::text_stream(&["Sunny."], USAGE));

    chat(&*llm, &after_tools(), &weather()).await.1.unwrap();

    let messages = fake.request(0).await.json()["messages"].clone();
    assert_eq!(
        messages,
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris and Oslo?"},
            {"role": "assistant", "content": "Checking", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}"},
            {"role": "tool", "tool_call_id": "call_2",
             "content": "The tool was not run: the user said no"}
        ])
    );
}

#[tokio::test]
async fn openai_function_mode_asks_for_the_schema() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    fake.push(openai::completion(r#"{"sentiment":"positive"}"#, USAGE));
    let schema = json!({"type": "object", "properties": {"sentiment": {"type": "string"}},
        "required": ["sentiment"], "additionalProperties": false});

    let completion = complete_with_schema(&*llm, "sentiment analyser", &schema).await;

    assert_eq!(completion.unwrap(), r#"{"sentiment":"positive"}"#);
    let body = fake.request(0).await.json();
    assert_eq!(body.get("stream"), None);
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "sentiment_analyser",
            "schema": schema, "strict": true}})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Review: great"})
    );
}

#[tokio::test]
async fn openai_json_mode_and_non_strict_schemas() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    fake.push(openai::completion("{}", USAGE));
    fake.push(openai::completion("{}", USAGE));
    // An open object is outside strict mode's subset.
    let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});

    complete(&*llm, Output::Json).await.unwrap();
    complete_with_schema(&*llm, "f", &open).await.unwrap();

    assert_eq!(
        fake.request(0).await.json()["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(
        fake.request(1).await.json()["response_format"]["json_schema"]["strict"],
        false
    );
}

/// [`complete`] asking for output that matches `schema`.
async fn complete_with_schema(
    provider: &dyn Provider,
    name: &str,
    schema: &Value,
) -> Result<String, ProviderError> {
    complete(provider, Output::JsonSchema { name, schema }).await
}

async fn complete(provider: &dyn Provider, output: Output<'_>) -> Result<String, ProviderError> {
    let input = Utf8Bytes::from_static(r#"{"review":"great"}"#);
    provider
        .complete(CompletionRequest {
            system: "Classify the review.",
            user: "Review: great",
            input_json: &input,
            output,
            parameters: parameters(),
            rounds: &[],
            tools: &[],
            tool_choice: ToolChoice::Auto,
        })
        .await
        .map(|c| c.content.as_str().to_owned())
}

// ---- Anthropic -------------------------------------------------------------------------------

#[tokio::test]
async fn anthropic_streams_text_and_sends_the_messages_shape() {
    let (fake, llm) = fake_provider(ProviderType::Claude, "claude-sonnet-4-5").await;
    fake.push(anthropic::text_stream(&["Hel", "lo"], USAGE));

    let (pieces, end) = chat(&*llm, &hello(), &weather()).await;

    let end = end.unwrap();
    assert_eq!(pieces, ["Hel", "lo"]);
    assert_eq!(end.text, "Hello");
    assert_eq!(end.finish, FinishReason::Stop);
    assert_eq!(end.usage.output_tokens, 18);
    assert_eq!(end.usage.cached_tokens, 64);
    // Anthropic counts cached prompt tokens apart from input_tokens; ours is the whole prompt.
    assert_eq!(end.usage.input_tokens, 120 + 64);
    let sent = fake.request(0).await;
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let body = sent.json();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Hello"}]}])
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "get_weather", "description": "The weather in a city",
            "input_schema": weather()[0].parameters}])
    );
}

#[tokio::test]
async fn anthropic_assembles_tool_use_and_sends_results_back_in_a_user_message() {
    let (fake, llm) = fake_provider(ProviderType::Claude, "claude-sonnet-4-5").await;
    let calls = [weather_call("toolu_1", "Paris")];
    fake.push(anthropic::tool_use_stream("Checking", &calls, USAGE));
    fake.push(anthropic::text_stream(&["Sunny."], USAGE));

    let end = tool_round(&*llm).await;
    chat(&*llm, &after_tools(), &weather()).await.1.unwrap();

    assert_eq!(end.tool_calls.len(), 1);
    assert_eq!(end.tool_calls[0].id, "toolu_1");
    assert_eq!(
        serde_json::from_str::<Value>(&end.tool_calls[0].arguments_json).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        fake.request(1).await.json()["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Oslo?"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking"},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "{\"temp\":21}", "is_error": false},
                {"type": "tool_result", "tool_use_id": "call_2",
                 "content": "The tool was not run: the user said no", "is_error": true}]}
        ])
    );
}

#[tokio::test]
async fn anthropic_function_mode_forces_the_output_tool() {
    let (fake, llm) = fake_provider(ProviderType::Claude, "claude-sonnet-4-5").await;
    let calls = [ToolCall::new(
        "toolu_1",
        "output",
        json!({"sentiment": "positive"}),
    )];
    fake.push(anthropic::tool_use_message(&calls, USAGE));
    let schema = json!({"type": "object", "properties": {"sentiment": {"type": "string"}}});

    let answer = complete_with_schema(&*llm, "f", &schema).await;

    assert_eq!(
        serde_json::from_str::<Value>(&answer.unwrap()).unwrap(),
        json!({"sentiment": "positive"})
    );
    let body = fake.request(0).await.json();
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "output"})
    );
    assert_eq!(body["tools"][0]["input_schema"], schema);
}

#[tokio::test]
async fn anthropic_overloaded_before_any_text_is_retried() {
    let (fake, llm) = fake_provider(ProviderType::Claude, "claude-sonnet-4-5").await;
    fake.push(StreamReply::sse([anthropic::error_event(
        "overloaded_error",
        "Overloaded",
    )]));
    fake.push(anthropic::text_stream(&["ok"], USAGE));

    let (pieces, end) = chat(&*llm, &hello(), &[]).await;

    assert_eq!(end.unwrap().text, "ok");
    assert_eq!(pieces, ["ok"]);
    assert_eq!(fake.requests().len(), 2);
}

// ---- Gemini ----------------------------------------------------------------------------------

#[tokio::test]
async fn gemini_streams_text_and_sends_the_generate_content_shape() {
    let (fake, llm) = fake_provider(ProviderType::Gemini, "gemini-2.5-flash").await;
    fake.push(gemini::text_stream(&["Hel", "lo"], USAGE));

    let (pieces, end) = chat(&*llm, &hello(), &weather()).await;

    let end = end.unwrap();
    assert_eq!(pieces, ["Hel", "lo"]);
    assert_eq!(end.finish, FinishReason::Stop);
    expect_usage(&end);
    let sent = fake.request(0).await;
    assert_eq!(
        sent.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(sent.query.as_deref(), Some("alt=sse"));
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    let body = sent.json();
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}]})
    );
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [{"text": "Hello"}]}])
    );
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.2, "maxOutputTokens": 256})
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
}

#[tokio::test]
async fn gemini_function_calls_and_responses() {
    let (fake, llm) = fake_provider(ProviderType::Gemini, "gemini-2.5-flash").await;
    let calls = [weather_call("ignored", "Paris")];
    fake.push(gemini::function_call_stream("Checking", &calls, USAGE));
    fake.push(gemini::text_stream(&["Sunny."], USAGE));

    let end = tool_round(&*llm).await;
    chat(&*llm, &after_tools(), &weather()).await.1.unwrap();

    assert_eq!(end.tool_calls[0].name, "get_weather");
    assert!(!end.tool_calls[0].id.is_empty());
    let contents = fake.request(1).await.json()["contents"].clone();
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(
        contents[1]["parts"][1],
        json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}})
    );
    assert_eq!(
        contents[2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_weather",
                "response": {"error": "The tool was not run: the user said no"}}}]})
    );
}

#[tokio::test]
async fn gemini_function_mode_sends_a_response_schema_gemini_accepts() {
    let (fake, llm) = fake_provider(ProviderType::Gemini, "gemini-2.5-flash").await;
    fake.push(gemini::response(r#"{"sentiment":"positive"}"#, USAGE));
    let schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "additionalProperties": false,
        "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}}});

    let answer = complete_with_schema(&*llm, "f", &schema).await;

    assert_eq!(answer.unwrap(), r#"{"sentiment":"positive"}"#);
    let sent = fake.request(0).await;
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(
        sent.json()["generationConfig"],
        json!({"temperature": 0.2, "maxOutputTokens": 256,
            "responseMimeType": "application/json",
            "responseSchema": {"type": "object",
                "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}}}})
    );
}

// ---- Resilience ------------------------------------------------------------------------------

#[tokio::test]
async fn a_429_with_retry_after_is_retried_then_succeeds() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    fake.push(
        openai::error(429, "Rate limit reached", "rate_limit_error")
            .with_header("retry-after", "0.05"),
    );
    fake.push(openai::text_stream(&["ok"], USAGE));

    let (pieces, end) = chat(&*llm, &hello(), &[]).await;

    assert_eq!(end.unwrap().text, "ok");
    assert_eq!(pieces, ["ok"]);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].arrived.duration_since(requests[0].arrived) >= Duration::from_millis(50));
}

#[tokio::test]
async fn three_500s_give_a_typed_error_with_the_providers_message() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    for _ in 0..3 {
        fake.push(openai::error(
            500,
            "The server had an error",
            "server_error",
        ));
    }

    let error = chat(&*llm, &hello(), &[]).await.1.unwrap_err();

    assert_eq!(fake.requests().len(), 3);
    assert!(
        matches!(&error, ProviderError::Http { status: 500, message, .. } if message == "The server had an error"),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(!error.to_string().contains(KEY));
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_never_shows_the_key() {
    let (fake, llm) = fake_provider(ProviderType::Claude, "claude-sonnet-4-5").await;
    fake.push(anthropic::error(
        401,
        "authentication_error",
        "invalid x-api-key",
    ));

    let error = chat(&*llm, &hello(), &[]).await.1.unwrap_err();

    assert_eq!(fake.requests().len(), 1);
    assert_eq!(
        error.to_string(),
        "provider `llm` answered HTTP 401: invalid x-api-key"
    );
    assert!(!error.is_retryable());
    assert!(!format!("{error:?}").contains(KEY));
}

#[tokio::test]
async fn a_stream_that_stalls_after_text_times_out_without_a_retry() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    let mut stalled = openai::text_stream(&["Hel", "lo"], USAGE);
    stalled.events.truncate(2);
    fake.push(stalled.stall());

    let (pieces, end) = chat(&*llm, &hello(), &[]).await;

    // The first piece reached the conversation, so the stall is not retried.
    assert_eq!(pieces, ["Hel"]);
    let error = end.unwrap_err();
    assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("300 ms"), "{error}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_reset_before_any_text_is_retried_and_after_text_is_not() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    let mut early = openai::text_stream(&["a"], USAGE);
    early.events.truncate(1); // role chunk only: nothing for the client yet
    fake.push(early.reset());
    fake.push(openai::text_stream(&["fine"], USAGE));
    let mut late = openai::text_stream(&["Hel", "lo"], USAGE);
    late.events.truncate(2);
    fake.push(late.reset());

    let (first, retried) = chat(&*llm, &hello(), &[]).await;
    let (second, broken) = chat(&*llm, &hello(), &[]).await;

    assert_eq!(first, ["fine"]);
    assert_eq!(retried.unwrap().text, "fine");
    assert_eq!(second, ["Hel"]);
    let error = broken.unwrap_err();
    assert!(error.to_string().contains("broke off"), "{error}");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable_after_its_retries() {
    let fake = FakeServer::start().await;
    let spec = spec(ProviderType::Openai, &fake, "gpt-4o-mini");
    drop(fake);
    let llm = provider(&spec);

    let error = chat(&*llm, &hello(), &[]).await.1.unwrap_err();

    assert!(
        matches!(error, ProviderError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn text_reaches_the_conversation_while_the_provider_is_still_streaming() {
    let (fake, llm) = fake_provider(ProviderType::Openai, "gpt-4o-mini").await;
    fake.push(openai::text_stream(&["first", "second"], USAGE).hold_after(2));
    let (deltas, mut pieces) = Deltas::channel(16);
    let history = hello();
    let (done_tx, mut done_rx) = mpsc::channel(1);

    let task = {
        let llm = llm.clone();
        tokio::spawn(async move {
            let request = ChatRequest {
                system: "",
                history: &history,
                parameters: Parameters::default(),
                tools: &[],
                tool_choice: ToolChoice::Auto,
                output: Output::Text,
            };
            let end = llm.chat(request, deltas).await;
            done_tx.send(()).await.unwrap();
            end
        })
    };

    // The fake holds after the role chunk and "first": the piece arrives while it waits.
    let first = tokio::time::timeout(Duration::from_secs(5), pieces.recv())
        .await
        .unwrap();
    assert_eq!(first.unwrap().as_str(), "first");
    assert!(
        done_rx.try_recv().is_err(),
        "the round must still be running"
    );
    fake.release();
    assert_eq!(task.await.unwrap().unwrap().text, "firstsecond");
}

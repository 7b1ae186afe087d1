//! OpenAI's Chat Completions API, which ollama, vLLM and OpenRouter also speak (through the
//! Provider's `baseURL`).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::llm::{Answer, Wire, WireError, nullable, outcome_text};
use super::sse::Event;
use super::{ChatMessage, ChatRequest, FinishReason, Output, ToolChoice};

/// One OpenAI-compatible endpoint.
pub(crate) struct OpenAi {
    /// `.../chat/completions`.
    pub url: String,
    pub model: String,
    /// api.openai.com takes `max_completion_tokens` (its reasoning models refuse `max_tokens`);
    /// the servers that copy the API take the older `max_tokens`.
    pub max_tokens_field: &'static str,
}

impl Wire for OpenAi {
    fn url(&self, _stream: bool) -> String {
        self.url.clone()
    }

    fn body(&self, request: &ChatRequest<'_>, stream: bool) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.insert("messages".into(), Value::Array(messages(request)));
        if stream {
            body.insert("stream".into(), json!(true));
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        let p = request.parameters;
        if let Some(t) = p.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(t) = p.top_p {
            body.insert("top_p".into(), json!(t));
        }
        if let Some(n) = p.max_tokens {
            body.insert(self.max_tokens_field.into(), json!(n));
        }
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
            if request.tool_choice == ToolChoice::Required {
                body.insert("tool_choice".into(), json!("required"));
            }
        }
        match request.output {
            Output::Text => {}
            Output::Json => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            Output::JsonSchema { name, schema } => {
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {
                        "name": schema_name(name), "schema": schema, "strict": strict(schema)}}),
                );
            }
        }
        Value::Object(body)
    }

    fn answer(&self, body: &[u8]) -> Result<Answer, String> {
        let whole: Whole = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut answer = Answer::default();
        if let Some(choice) = whole.choices.into_iter().next() {
            answer.text = choice.message.content.unwrap_or_default();
            for (index, call) in choice.message.tool_calls.into_iter().enumerate() {
                let slot = answer.call(index);
                slot.id = call.id.unwrap_or_default();
                slot.name = call.function.name.unwrap_or_default();
                slot.arguments = call.function.arguments.unwrap_or_default();
            }
            answer.finish = choice.finish_reason.as_deref().map(finish);
        }
        if let Some(usage) = whole.usage {
            usage.into_answer(&mut answer);
        }
        answer.complete = true;
        Ok(answer)
    }

    fn event(&self, event: &Event, answer: &mut Answer) -> Result<Option<String>, WireError> {
        if event.data == "[DONE]" {
            answer.complete = true;
            return Ok(None);
        }
        let chunk: Chunk = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
        if let Some(error) = chunk.error {
            return Err(WireError {
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the stream carried an error")
                    .to_owned(),
                retryable: false,
            });
        }
        if let Some(usage) = chunk.usage {
            usage.into_answer(answer);
        }
        let mut text = None;
        for choice in chunk.choices {
            if let Some(reason) = choice.finish_reason {
                answer.finish = Some(finish(&reason));
            }
            for call in choice.delta.tool_calls {
                let slot = answer.call(call.index);
                if let Some(id) = call.id {
                    slot.id = id;
                }
                if let Some(name) = call.function.name {
                    slot.name.push_str(&name);
                }
                if let Some(arguments) = call.function.arguments {
                    slot.arguments.push_str(&arguments);
                }
            }
            if let Some(content) = choice.delta.content.filter(|c| !c.is_empty()) {
                answer.text.push_str(&content);
                text = Some(content);
            }
        }
        Ok(text)
    }
}

/// The history as Chat Completions messages: an assistant message carries its tool calls, and
/// each result follows as a `tool` message.
fn messages(request: &ChatRequest<'_>) -> Vec<Value> {
    let mut out = Vec::with_capacity(request.history.len() + 1);
    if !request.system.is_empty() {
        out.push(json!({"role": "system", "content": request.system}));
    }
    for message in request.history {
        match message {
            ChatMessage::User { content } => out.push(json!({"role": "user", "content": content})),
            ChatMessage::Assistant { content } => {
                out.push(json!({"role": "assistant", "content": content}));
            }
            ChatMessage::ToolCall(call) => {
                let entry = json!({"id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json}});
                // Calls of one round join the assistant message before them.
                match out.last_mut().and_then(Value::as_object_mut) {
                    Some(last) if last.get("role") == Some(&json!("assistant")) => {
                        match last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                            Some(calls) => calls.push(entry),
                            None => {
                                last.insert("tool_calls".into(), Value::Array(vec![entry]));
                            }
                        }
                    }
                    _ => out
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [entry]})),
                }
            }
            ChatMessage::ToolResult {
                call_id, outcome, ..
            } => out.push(json!({"role": "tool", "tool_call_id": call_id,
                "content": outcome_text(outcome)})),
        }
    }
    out
}

/// OpenAI's schema names allow `[a-zA-Z0-9_-]{1,64}`.
fn schema_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "output".to_owned()
    } else {
        cleaned
    }
}

/// Strict mode accepts only a subset of JSON Schema: every object closed
/// (`additionalProperties: false`) with all its properties required. Anything else is sent
/// non-strict, and the runtime's own validation still holds the answer to the schema.
pub(crate) fn strict(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            let is_object =
                map.get("type") == Some(&json!("object")) || map.contains_key("properties");
            if is_object {
                if map.get("additionalProperties") != Some(&json!(false)) {
                    return false;
                }
                let properties = map.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(properties) = properties
                    && properties.keys().any(|k| !required.contains(&k.as_str()))
                {
                    return false;
                }
            }
            map.values().all(strict)
        }
        Value::Array(items) => items.iter().all(strict),
        _ => true,
    }
}

fn finish(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

#[derive(Deserialize)]
struct Whole {
    #[serde(default, deserialize_with = "nullable")]
    choices: Vec<WholeChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WholeChoice {
    message: WholeMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WholeMessage {
    content: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    tool_calls: Vec<CallPiece>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default, deserialize_with = "nullable")]
    choices: Vec<ChunkChoice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    tool_calls: Vec<CallPiece>,
}

#[derive(Deserialize)]
struct CallPiece {
    #[serde(default)]
    index: usize,
    id: Option<String>,
    #[serde(default)]
    function: FunctionPiece,
}

#[derive(Deserialize, Default)]
struct FunctionPiece {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u32,
}

impl WireUsage {
    fn into_answer(self, answer: &mut Answer) {
        answer.input_tokens = self.prompt_tokens;
        answer.output_tokens = self.completion_tokens;
        answer.cached_tokens = self.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
    }
}

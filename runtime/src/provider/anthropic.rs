//! Anthropic's Messages API.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::llm::{Answer, OUTPUT_TOOL, Wire, WireError, nullable, outcome_text};
use super::sse::Event;
use super::{ChatMessage, ChatRequest, FinishReason, Output, ToolChoice, ToolOutcome};

/// The only generally available API version; features arrive through `anthropic-beta` headers
/// (which `spec.headers` can add).
pub(crate) const VERSION: &str = "2023-06-01";
/// Messages requires `max_tokens`; this is sent when neither the prompt nor the Provider sets it.
const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Appended to the system prompt for `outputFormat: json`, which the API has no mode for.
const JSON_ONLY: &str = "Answer with one JSON value and nothing else.";

pub(crate) struct Anthropic {
    /// `.../v1/messages`.
    pub url: String,
    pub model: String,
}

impl Wire for Anthropic {
    fn url(&self, _stream: bool) -> String {
        self.url.clone()
    }

    fn body(&self, request: &ChatRequest<'_>, stream: bool) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        let p = request.parameters;
        body.insert(
            "max_tokens".into(),
            json!(p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        let system = match request.output {
            Output::Json if request.system.is_empty() => JSON_ONLY.to_owned(),
            Output::Json => format!("{}\n\n{JSON_ONLY}", request.system),
            _ => request.system.to_owned(),
        };
        if !system.is_empty() {
            body.insert("system".into(), json!(system));
        }
        body.insert("messages".into(), Value::Array(messages(request)));
        if stream {
            body.insert("stream".into(), json!(true));
        }
        if let Some(t) = p.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(t) = p.top_p {
            body.insert("top_p".into(), json!(t));
        }
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        if request.tool_choice == ToolChoice::Required && !tools.is_empty() {
            body.insert("tool_choice".into(), json!({"type": "any"}));
        }
        if let Output::JsonSchema { schema, .. } = request.output {
            // Structured output by a forced tool: the model must call it, and its arguments
            // (checked against the schema by the API) are the answer.
            tools.push(json!({"name": OUTPUT_TOOL,
                "description": "Give the answer, in the shape this schema describes.",
                "input_schema": schema}));
            // With tools of its own the model must call one of them or the output tool.
            let choice = if request.tools.is_empty() {
                json!({"type": "tool", "name": OUTPUT_TOOL})
            } else {
                json!({"type": "any"})
            };
            body.insert("tool_choice".into(), choice);
        }
        if !tools.is_empty() {
            body.insert("tools".into(), Value::Array(tools));
        }
        Value::Object(body)
    }

    fn answer(&self, body: &[u8]) -> Result<Answer, String> {
        let message: Message = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut answer = Answer::default();
        for (index, block) in message.content.into_iter().enumerate() {
            match block {
                Block::Text { text } => answer.text.push_str(&text),
                Block::ToolUse { id, name, input } => {
                    let call = answer.call(index);
                    call.id = id;
                    call.name = name;
                    call.arguments = input.to_string();
                }
                Block::Other => {}
            }
        }
        answer.finish = message.stop_reason.as_deref().map(finish);
        if let Some(usage) = message.usage {
            usage.add_to(&mut answer);
        }
        answer.complete = true;
        Ok(answer)
    }

    fn event(&self, event: &Event, answer: &mut Answer) -> Result<Option<String>, WireError> {
        let event: StreamEvent = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
        match event {
            StreamEvent::MessageStart { message } => {
                if let Some(usage) = message.usage {
                    usage.add_to(answer);
                }
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                Block::ToolUse { id, name, .. } => {
                    let call = answer.call(index);
                    call.id = id;
                    call.name = name;
                }
                Block::Text { text } if !text.is_empty() => {
                    answer.text.push_str(&text);
                    return Ok(Some(text));
                }
                _ => {}
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => {
                    answer.text.push_str(&text);
                    return Ok((!text.is_empty()).then_some(text));
                }
                BlockDelta::InputJsonDelta { partial_json } => {
                    answer.call(index).arguments.push_str(&partial_json);
                }
                BlockDelta::Other => {}
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    answer.finish = Some(finish(&reason));
                }
                // Counts here are cumulative: they replace what message_start said.
                if let Some(usage) = usage {
                    answer.output_tokens = usage.output_tokens;
                }
            }
            StreamEvent::MessageStop => answer.complete = true,
            StreamEvent::Error { error } => {
                return Err(WireError {
                    retryable: matches!(error.kind.as_str(), "overloaded_error" | "api_error"),
                    message: format!("{}: {}", error.kind, error.message),
                });
            }
            StreamEvent::Other => {}
        }
        Ok(None)
    }
}

/// The history as Messages content blocks: tool calls join the assistant's message, results go
/// back in the user's, and consecutive entries of one role share a message.
fn messages(request: &ChatRequest<'_>) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut push = |role: &'static str, block: Value| match out.last_mut() {
        Some((last, blocks)) if *last == role => blocks.push(block),
        _ => out.push((role, vec![block])),
    };
    for message in request.history {
        match message {
            ChatMessage::User { content } => push("user", json!({"type": "text", "text": content})),
            ChatMessage::Assistant { content } => {
                push("assistant", json!({"type": "text", "text": content}));
            }
            ChatMessage::ToolCall(call) => {
                let input: Value =
                    serde_json::from_str(&call.arguments_json).unwrap_or_else(|_| json!({}));
                push(
                    "assistant",
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}),
                );
            }
            ChatMessage::ToolResult {
                call_id, outcome, ..
            } => push(
                "user",
                json!({"type": "tool_result", "tool_use_id": call_id,
                    "content": outcome_text(outcome),
                    "is_error": !matches!(outcome, ToolOutcome::Result(_))}),
            ),
        }
    }
    out.into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

fn finish(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default, deserialize_with = "nullable")]
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: Message,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    MessageDelta {
        delta: MessageDelta,
        usage: Option<OutputUsage>,
    },
    MessageStop,
    Error {
        error: ApiError,
    },
    /// `ping`, `content_block_stop` and event types added later.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct OutputUsage {
    #[serde(default)]
    output_tokens: u32,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
    #[serde(default, deserialize_with = "nullable")]
    cache_read_input_tokens: u32,
    #[serde(default, deserialize_with = "nullable")]
    cache_creation_input_tokens: u32,
}

impl WireUsage {
    /// Anthropic counts cached and cache-writing prompt tokens apart from `input_tokens`; the
    /// runtime's input count is the whole prompt, with the cached part also in `cached_tokens`.
    fn add_to(self, answer: &mut Answer) {
        answer.input_tokens = self
            .input_tokens
            .saturating_add(self.cache_read_input_tokens)
            .saturating_add(self.cache_creation_input_tokens);
        answer.cached_tokens = self.cache_read_input_tokens;
        answer.output_tokens = self.output_tokens;
    }
}

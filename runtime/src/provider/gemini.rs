//! Google's Gemini API: `generateContent`, and `streamGenerateContent` with `alt=sse`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::llm::{Answer, Wire, WireError, nullable, outcome_text};
use super::sse::Event;
use super::{ChatMessage, ChatRequest, FinishReason, Output, ToolChoice, ToolOutcome};

pub(crate) struct Gemini {
    /// `.../v1beta/models/{model}`.
    pub model_url: String,
}

/// JSON Schema keywords Gemini's `responseSchema` (a subset of OpenAPI's schema object)
/// refuses; they are dropped from what is sent, and the runtime still validates the answer
/// against the whole schema.
const UNSUPPORTED: &[&str] = &[
    "additionalProperties",
    "patternProperties",
    "unevaluatedProperties",
    "dependentRequired",
    "dependentSchemas",
    "if",
    "then",
    "else",
    "not",
    "const",
    "examples",
    "default",
];

impl Wire for Gemini {
    fn url(&self, stream: bool) -> String {
        if stream {
            format!("{}:streamGenerateContent?alt=sse", self.model_url)
        } else {
            format!("{}:generateContent", self.model_url)
        }
    }

    fn body(&self, request: &ChatRequest<'_>, _stream: bool) -> Value {
        let mut body = Map::new();
        body.insert("contents".into(), Value::Array(contents(request)));
        if !request.system.is_empty() {
            body.insert(
                "systemInstruction".into(),
                json!({"parts": [{"text": request.system}]}),
            );
        }
        let mut config = Map::new();
        let p = request.parameters;
        if let Some(t) = p.temperature {
            config.insert("temperature".into(), json!(t));
        }
        if let Some(t) = p.top_p {
            config.insert("topP".into(), json!(t));
        }
        if let Some(n) = p.max_tokens {
            config.insert("maxOutputTokens".into(), json!(n));
        }
        match request.output {
            Output::Text => {}
            Output::Json => {
                config.insert("responseMimeType".into(), json!("application/json"));
            }
            Output::JsonSchema { schema, .. } => {
                config.insert("responseMimeType".into(), json!("application/json"));
                config.insert("responseSchema".into(), openapi_subset(schema));
            }
        }
        if !config.is_empty() {
            body.insert("generationConfig".into(), Value::Object(config));
        }
        if !request.tools.is_empty() {
            let declarations: Vec<Value> = request
                .tools
                .iter()
                .map(|t| {
                    json!({"name": t.name, "description": t.description,
                    "parameters": openapi_subset(&t.parameters)})
                })
                .collect();
            body.insert(
                "tools".into(),
                json!([{"functionDeclarations": declarations}]),
            );
            if request.tool_choice == ToolChoice::Required {
                body.insert(
                    "toolConfig".into(),
                    json!({"functionCallingConfig": {"mode": "ANY"}}),
                );
            }
        }
        Value::Object(body)
    }

    fn answer(&self, body: &[u8]) -> Result<Answer, String> {
        let response: Response = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut answer = Answer::default();
        absorb(response, &mut answer).map_err(|e| e.message)?;
        answer.complete = true;
        Ok(answer)
    }

    fn event(&self, event: &Event, answer: &mut Answer) -> Result<Option<String>, WireError> {
        let response: Response = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
        let before = answer.text.len();
        absorb(response, answer)?;
        let added = &answer.text[before..];
        Ok((!added.is_empty()).then(|| added.to_owned()))
    }
}

/// Adds one response (a whole answer, or one streamed piece of it) to `answer`.
fn absorb(response: Response, answer: &mut Answer) -> Result<(), WireError> {
    if let Some(error) = response.error {
        let status = error.status.unwrap_or_default();
        return Err(WireError {
            retryable: matches!(
                status.as_str(),
                "UNAVAILABLE" | "RESOURCE_EXHAUSTED" | "INTERNAL"
            ),
            message: error.message,
        });
    }
    if let Some(usage) = response.usage_metadata {
        answer.input_tokens = usage.prompt_token_count;
        // Thinking tokens are billed as output.
        answer.output_tokens = usage
            .candidates_token_count
            .saturating_add(usage.thoughts_token_count);
        answer.cached_tokens = usage.cached_content_token_count;
    }
    if let Some(blocked) = response.prompt_feedback.and_then(|f| f.block_reason) {
        answer.finish = Some(FinishReason::ContentFilter);
        answer.complete = true;
        tracing::debug!(reason = %blocked, "gemini blocked the prompt");
    }
    let Some(candidate) = response.candidates.into_iter().next() else {
        return Ok(());
    };
    for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
        if let Some(text) = part.text
            && part.thought != Some(true)
        {
            answer.text.push_str(&text);
        }
        if let Some(call) = part.function_call {
            // Gemini's calls have no id before its newest models; one is made so results can
            // be matched to calls.
            let index = answer.calls.len();
            let slot = answer.call(index);
            slot.id = call.id.unwrap_or_else(|| format!("call_{}", index + 1));
            slot.name = call.name;
            slot.arguments = call.args.unwrap_or_else(|| json!({})).to_string();
        }
    }
    if let Some(reason) = candidate.finish_reason {
        answer.finish = Some(finish(&reason, !answer.calls.is_empty()));
        answer.complete = true;
    }
    Ok(())
}

/// The history as Gemini contents: `model` for the assistant, function calls as parts of the
/// model's turn, results as `functionResponse` parts of the user's.
fn contents(request: &ChatRequest<'_>) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut push = |role: &'static str, part: Value| match out.last_mut() {
        Some((last, parts)) if *last == role => parts.push(part),
        _ => out.push((role, vec![part])),
    };
    for message in request.history {
        match message {
            ChatMessage::User { content } => push("user", json!({"text": content})),
            ChatMessage::Assistant { content } => push("model", json!({"text": content})),
            ChatMessage::ToolCall(call) => {
                let args: Value =
                    serde_json::from_str(&call.arguments_json).unwrap_or_else(|_| json!({}));
                push(
                    "model",
                    json!({"functionCall": {"name": call.name, "args": args}}),
                );
            }
            ChatMessage::ToolResult { name, outcome, .. } => {
                // `response` must be an object.
                let response = match outcome {
                    ToolOutcome::Result(text) => match serde_json::from_str::<Value>(text) {
                        Ok(Value::Object(object)) => Value::Object(object),
                        Ok(other) => json!({"result": other}),
                        Err(_) => json!({"result": text}),
                    },
                    ToolOutcome::Rejected(_) | ToolOutcome::Failed(_) => {
                        json!({"error": outcome_text(outcome)})
                    }
                };
                push(
                    "user",
                    json!({"functionResponse": {"name": name, "response": response}}),
                );
            }
        }
    }
    out.into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect()
}

/// `schema` without the keywords Gemini's schema object refuses.
fn openapi_subset(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$') && !UNSUPPORTED.contains(&k.as_str()))
                .map(|(k, v)| {
                    // Property names are data, not keywords: keep them all.
                    let v = if k == "properties" {
                        match v {
                            Value::Object(props) => Value::Object(
                                props
                                    .iter()
                                    .map(|(n, s)| (n.clone(), openapi_subset(s)))
                                    .collect(),
                            ),
                            other => other.clone(),
                        }
                    } else {
                        openapi_subset(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(openapi_subset).collect()),
        other => other.clone(),
    }
}

fn finish(reason: &str, calls: bool) -> FinishReason {
    match reason {
        "STOP" if calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default, deserialize_with = "nullable")]
    candidates: Vec<Candidate>,
    usage_metadata: Option<UsageMetadata>,
    prompt_feedback: Option<PromptFeedback>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default, deserialize_with = "nullable")]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    /// A thinking model's thought summary, which is not part of the answer.
    thought: Option<bool>,
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: Option<String>,
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default)]
    candidates_token_count: u32,
    #[serde(default)]
    cached_content_token_count: u32,
    #[serde(default)]
    thoughts_token_count: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    message: String,
    status: Option<String>,
}

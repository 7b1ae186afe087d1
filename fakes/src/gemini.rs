//! Gemini replies (`POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse` and
//! `:generateContent`), as in `docs/providers-plan.md` §3.3: every SSE `data:` is a whole
//! `GenerateContentResponse`; the last carries `finishReason` and `usageMetadata`; no `[DONE]`.

use serde_json::{Value, json};

use crate::reply::{Reply, StreamReply, sse_data};
use crate::{ToolCall, Usage};

const MODEL_VERSION: &str = "gemini-2.5-flash";

/// One frame per text piece; the last with `finishReason: "STOP"` and `usageMetadata`.
pub fn text_stream(pieces: &[&str], usage: Usage) -> StreamReply {
    let mut frames: Vec<Value> = pieces
        .iter()
        .map(|piece| response_json(json!([{ "text": piece }])))
        .collect();
    if frames.is_empty() {
        frames.push(response_json(json!([{ "text": "" }])));
    }
    if let Some(last) = frames.last_mut() {
        end(last, usage);
    }
    StreamReply::sse(frames.iter().map(sse_data))
}

/// Optional text frame, then one frame with a whole `functionCall{name,args}` part per call.
pub fn function_call_stream(text_before: &str, calls: &[ToolCall], usage: Usage) -> StreamReply {
    let mut frames = Vec::new();
    if !text_before.is_empty() {
        frames.push(response_json(json!([{ "text": text_before }])));
    }
    let mut last = response_json(function_calls(calls));
    end(&mut last, usage);
    frames.push(last);
    StreamReply::sse(frames.iter().map(sse_data))
}

/// A non-streamed `generateContent` answer with one text part.
pub fn response(text: &str, usage: Usage) -> Reply {
    let mut body = response_json(json!([{ "text": text }]));
    end(&mut body, usage);
    Reply::json(200, &body)
}

/// A non-streamed `generateContent` answer with one `functionCall` part per call.
pub fn function_call_response(calls: &[ToolCall], usage: Usage) -> Reply {
    let mut body = response_json(function_calls(calls));
    end(&mut body, usage);
    Reply::json(200, &body)
}

/// An error answer: `{"error":{"code","message","status"}}` (`status` e.g. `RESOURCE_EXHAUSTED`).
pub fn error(status: u16, message: &str, status_text: &str) -> Reply {
    let body = json!({ "error": { "code": status, "message": message, "status": status_text } });
    Reply::json(status, &body)
}

fn function_calls(calls: &[ToolCall]) -> Value {
    calls
        .iter()
        .map(|call| json!({ "functionCall": { "name": call.name, "args": call.arguments } }))
        .collect()
}

fn response_json(parts: Value) -> Value {
    json!({
        "candidates": [{ "content": { "role": "model", "parts": parts }, "index": 0 }],
        "modelVersion": MODEL_VERSION,
    })
}

/// Marks a response as the last one: finish reason on the candidate, usage on the response.
fn end(response: &mut Value, usage: Usage) {
    response["candidates"][0]["finishReason"] = json!("STOP");
    response["usageMetadata"] = json!({
        "promptTokenCount": usage.input,
        "candidatesTokenCount": usage.output,
        "cachedContentTokenCount": usage.cached,
        "totalTokenCount": usage.input + usage.output,
    });
}

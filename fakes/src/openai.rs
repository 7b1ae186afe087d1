//! OpenAI Chat Completions replies (`POST {base}/chat/completions`), as in
//! `docs/providers-plan.md` §3.1: `chat.completion.chunk` SSE events with the same id, created and
//! model, a usage chunk with empty `choices` (for `stream_options.include_usage`), then `[DONE]`.

use serde_json::{Value, json};

use crate::reply::{Reply, StreamReply, sse_data};
use crate::{ToolCall, Usage, split_in_two};

const ID: &str = "chatcmpl-1";
const MODEL: &str = "gpt-4o-mini";

/// A text answer streamed as `pieces`, ending with `finish_reason: "stop"`.
pub fn text_stream(pieces: &[&str], usage: Usage) -> StreamReply {
    let mut events = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    events.extend(
        pieces
            .iter()
            .map(|piece| chunk(json!({ "content": piece }), None)),
    );
    finish(events, "stop", usage)
}

/// Optional text, then tool calls: each call's `id` and `function.name` in its first fragment,
/// `arguments` in two later fragments, `index` 0..n; ends with `finish_reason: "tool_calls"`.
pub fn tool_call_stream(text_before: &str, calls: &[ToolCall], usage: Usage) -> StreamReply {
    let mut events = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    if !text_before.is_empty() {
        events.push(chunk(json!({ "content": text_before }), None));
    }
    for (index, call) in calls.iter().enumerate() {
        let fragment = |function: Value, first: bool| {
            let mut call_delta = json!({ "index": index, "function": function });
            if first {
                call_delta["id"] = json!(call.id);
                call_delta["type"] = json!("function");
            }
            chunk(json!({ "tool_calls": [call_delta] }), None)
        };
        events.push(fragment(
            json!({ "name": call.name, "arguments": "" }),
            true,
        ));
        let arguments = call.arguments.to_string();
        let (head, tail) = split_in_two(&arguments);
        events.push(fragment(json!({ "arguments": head }), false));
        events.push(fragment(json!({ "arguments": tail }), false));
    }
    finish(events, "tool_calls", usage)
}

/// A non-streamed `chat.completion` with `choices[0].message.content`, `finish_reason: "stop"`.
pub fn completion(text: &str, usage: Usage) -> Reply {
    let message = json!({ "role": "assistant", "content": text, "refusal": null });
    Reply::json(200, &whole(message, "stop", usage))
}

/// A non-streamed `chat.completion` whose message carries `tool_calls` (arguments as a string).
pub fn tool_call_completion(calls: &[ToolCall], usage: Usage) -> Reply {
    let calls: Vec<Value> = calls
        .iter()
        .map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments.to_string() },
            })
        })
        .collect();
    let message = json!({ "role": "assistant", "content": null, "tool_calls": calls });
    Reply::json(200, &whole(message, "tool_calls", usage))
}

/// An error answer: `{"error":{"message","type","param":null,"code":null}}`.
pub fn error(status: u16, message: &str, type_: &str) -> Reply {
    let body =
        json!({ "error": { "message": message, "type": type_, "param": null, "code": null } });
    Reply::json(status, &body)
}

fn usage_json(usage: Usage) -> Value {
    json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
        "prompt_tokens_details": { "cached_tokens": usage.cached },
    })
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    sse_data(&json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
    }))
}

/// Appends the finish chunk, the usage chunk (empty `choices`) and `[DONE]`.
fn finish(mut events: Vec<String>, finish_reason: &str, usage: Usage) -> StreamReply {
    events.push(chunk(json!({}), Some(finish_reason)));
    events.push(sse_data(&json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [],
        "usage": usage_json(usage),
    })));
    events.push("data: [DONE]\n\n".to_owned());
    StreamReply::sse(events)
}

fn whole(message: Value, finish_reason: &str, usage: Usage) -> Value {
    json!({
        "id": ID,
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason }],
        "usage": usage_json(usage),
    })
}

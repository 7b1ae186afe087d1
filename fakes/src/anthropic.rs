//! Anthropic Messages replies (`POST {base}/v1/messages`), as in `docs/providers-plan.md` §3.2:
//! every SSE event has an `event:` line naming the same `type` as its data, in the order
//! `message_start`, per block `content_block_start` / `content_block_delta`* / `content_block_stop`,
//! `message_delta` (stop reason, output tokens), `message_stop`, with a `ping` in between.

use serde_json::{Value, json};

use crate::reply::{Reply, StreamReply, sse_event};
use crate::{ToolCall, Usage, split_in_two};

const ID: &str = "msg_1";
const MODEL: &str = "claude-sonnet-4-5";

/// A text answer streamed as `pieces` in one text block, `stop_reason: "end_turn"`.
pub fn text_stream(pieces: &[&str], usage: Usage) -> StreamReply {
    let mut events = vec![message_start(usage)];
    text_block(&mut events, 0, pieces);
    finish(events, "end_turn", usage)
}

/// Optional text (block 0), then one `tool_use` block per call whose input arrives as
/// `input_json_delta` pieces (two at least); `stop_reason: "tool_use"`.
pub fn tool_use_stream(text_before: &str, calls: &[ToolCall], usage: Usage) -> StreamReply {
    let mut events = vec![message_start(usage)];
    let mut index = 0;
    if !text_before.is_empty() {
        text_block(&mut events, 0, &[text_before]);
        index = 1;
    }
    for call in calls {
        let block = json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": {} });
        events.push(event(
            json!({ "type": "content_block_start", "index": index, "content_block": block }),
        ));
        if index == 0 {
            events.push(event(json!({ "type": "ping" })));
        }
        let input = call.arguments.to_string();
        let (head, tail) = split_in_two(&input);
        for partial in [head, tail] {
            let delta = json!({ "type": "input_json_delta", "partial_json": partial });
            events.push(event(
                json!({ "type": "content_block_delta", "index": index, "delta": delta }),
            ));
        }
        events.push(event(
            json!({ "type": "content_block_stop", "index": index }),
        ));
        index += 1;
    }
    finish(events, "tool_use", usage)
}

/// A non-streamed Message with one text block, `stop_reason: "end_turn"`.
pub fn message(text: &str, usage: Usage) -> Reply {
    Reply::json(
        200,
        &whole(json!([{ "type": "text", "text": text }]), "end_turn", usage),
    )
}

/// A non-streamed Message with one `tool_use` block per call, `stop_reason: "tool_use"`.
pub fn tool_use_message(calls: &[ToolCall], usage: Usage) -> Reply {
    let blocks: Vec<Value> = calls
        .iter()
        .map(|call| json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments }))
        .collect();
    Reply::json(200, &whole(Value::Array(blocks), "tool_use", usage))
}

/// An error answer: `{"type":"error","error":{"type","message"}}`.
pub fn error(status: u16, type_: &str, message: &str) -> Reply {
    Reply::json(status, &error_body(type_, message))
}

/// A mid-stream `event: error` (e.g. `overloaded_error`), to put among a stream's events.
pub fn error_event(type_: &str, message: &str) -> String {
    event(error_body(type_, message))
}

fn error_body(type_: &str, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": type_, "message": message } })
}

/// Names the event after its data's `type`, as Anthropic does.
fn event(data: Value) -> String {
    let name = data["type"].as_str().unwrap_or("message").to_owned();
    sse_event(&name, &data)
}

fn message_start(usage: Usage) -> String {
    event(json!({
        "type": "message_start",
        "message": {
            "id": ID,
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": usage.input,
                "cache_read_input_tokens": usage.cached,
                "output_tokens": 1,
            },
        },
    }))
}

/// A text block (with the stream's `ping` after its start when it is block 0).
fn text_block(events: &mut Vec<String>, index: usize, pieces: &[&str]) {
    let block = json!({ "type": "text", "text": "" });
    events.push(event(
        json!({ "type": "content_block_start", "index": index, "content_block": block }),
    ));
    if index == 0 {
        events.push(event(json!({ "type": "ping" })));
    }
    for piece in pieces {
        let delta = json!({ "type": "text_delta", "text": piece });
        events.push(event(
            json!({ "type": "content_block_delta", "index": index, "delta": delta }),
        ));
    }
    events.push(event(
        json!({ "type": "content_block_stop", "index": index }),
    ));
}

fn finish(mut events: Vec<String>, stop_reason: &str, usage: Usage) -> StreamReply {
    events.push(event(json!({
        "type": "message_delta",
        "delta": { "stop_reason": stop_reason, "stop_sequence": null },
        "usage": { "output_tokens": usage.output },
    })));
    events.push(event(json!({ "type": "message_stop" })));
    StreamReply::sse(events)
}

fn whole(content: Value, stop_reason: &str, usage: Usage) -> Value {
    json!({
        "id": ID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage.input,
            "cache_read_input_tokens": usage.cached,
            "output_tokens": usage.output,
        },
    })
}

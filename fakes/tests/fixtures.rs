//! Every fixture is well-formed SSE whose `data:` lines are JSON (except OpenAI's `[DONE]`) with
//! the fields `docs/providers-plan.md` §3 documents, and a fixture served through the fake reaches
//! the client byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use omnia_fakes::{FakeServer, Reply, StreamReply, ToolCall, Usage, anthropic, gemini, openai};
use serde_json::{Value, json};
use support::{frames, post, send, text};

const USAGE: Usage = Usage {
    input: 120,
    output: 18,
    cached: 64,
};

/// One parsed event: its `event:` name and its `data:` (`None` for `[DONE]`).
type Event = (Option<String>, Option<Value>);

fn parse(stream: &StreamReply) -> Vec<Event> {
    assert_eq!(stream.content_type, "text/event-stream");
    stream
        .events
        .iter()
        .map(|event| {
            let body = event
                .strip_suffix("\n\n")
                .unwrap_or_else(|| panic!("unterminated event {event:?}"));
            let mut name = None;
            let mut data = None;
            for line in body.split('\n') {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "one data line per event: {event:?}");
                    data = Some(value.to_owned());
                } else {
                    panic!("unexpected line {line:?} in {event:?}");
                }
            }
            let data = data.expect("a data line");
            let json = (data != "[DONE]")
                .then(|| serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}")));
            (name, json)
        })
        .collect()
}

fn body(reply: &Reply) -> Value {
    match reply {
        Reply::Body {
            status: 200,
            headers,
            body,
        } => {
            assert!(headers.contains(&("content-type".into(), "application/json".into())));
            serde_json::from_str(body).unwrap()
        }
        other => panic!("expected a 200 body, got {other:?}"),
    }
}

fn error_body(reply: &Reply, want: u16) -> Value {
    match reply {
        Reply::Body { status, body, .. } if *status == want => serde_json::from_str(body).unwrap(),
        other => panic!("expected a {want} body, got {other:?}"),
    }
}

fn calls() -> Vec<ToolCall> {
    vec![
        ToolCall::new("call_1", "get_weather", json!({ "city": "Paris" })),
        ToolCall::new(
            "call_2",
            "get_time",
            json!({ "zone": "Europe/Paris", "format": "24h" }),
        ),
    ]
}

// ------------------------------------------------------------------------------------------------
// OpenAI

fn openai_chunks(events: &[Event]) -> Vec<&Value> {
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(*last, (None, None), "ends with [DONE]");
    chunks
        .iter()
        .map(|(name, data)| {
            assert!(name.is_none());
            let data = data.as_ref().unwrap();
            assert_eq!(data["object"], "chat.completion.chunk");
            assert_eq!(data["id"], "chatcmpl-1");
            assert_eq!(data["model"], "gpt-4o-mini");
            assert!(data["created"].is_u64());
            data
        })
        .collect()
}

fn openai_usage(usage: &Value) {
    assert_eq!(
        *usage,
        json!({ "prompt_tokens": 120, "completion_tokens": 18, "total_tokens": 138,
                "prompt_tokens_details": { "cached_tokens": 64 } })
    );
}

#[test]
fn openai_text_stream() {
    let events = parse(&openai::text_stream(&["Hel", "lo"], USAGE));
    let chunks = openai_chunks(&events);
    assert_eq!(chunks.len(), 5);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({ "role": "assistant", "content": "" })
    );
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hel");
    assert_eq!(chunks[2]["choices"][0]["delta"]["content"], "lo");
    for chunk in &chunks[..3] {
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(chunk["choices"][0]["index"], 0);
    }
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"], json!([]));
    openai_usage(&chunks[4]["usage"]);
}

#[test]
fn openai_tool_call_stream() {
    let events = parse(&openai::tool_call_stream("Checking", &calls(), USAGE));
    let chunks = openai_chunks(&events);
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Checking");
    let mut arguments = vec![String::new(); 2];
    let mut fragments = [0; 2];
    for chunk in &chunks {
        let Some(deltas) = chunk["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        let delta = &deltas[0];
        let index = delta["index"].as_u64().unwrap() as usize;
        if fragments[index] == 0 {
            assert_eq!(delta["id"], format!("call_{}", index + 1));
            assert_eq!(delta["type"], "function");
            assert!(delta["function"]["name"].is_string());
        } else {
            assert!(delta.get("id").is_none());
        }
        fragments[index] += 1;
        arguments[index].push_str(delta["function"]["arguments"].as_str().unwrap());
    }
    assert!(
        fragments.iter().all(|n| *n >= 3),
        "name fragment + two argument fragments"
    );
    for (index, call) in calls().iter().enumerate() {
        assert_eq!(
            serde_json::from_str::<Value>(&arguments[index]).unwrap(),
            call.arguments
        );
    }
    let finish = chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    openai_usage(&chunks[chunks.len() - 1]["usage"]);
}

#[test]
fn openai_whole_answers_and_errors() {
    let completion = body(&openai::completion("Hi", USAGE));
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert_eq!(completion["choices"][0]["message"]["content"], "Hi");
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    openai_usage(&completion["usage"]);

    let tools = body(&openai::tool_call_completion(&calls(), USAGE));
    let call = &tools["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({ "city": "Paris" })
    );
    assert_eq!(tools["choices"][0]["finish_reason"], "tool_calls");

    let error = error_body(
        &openai::error(429, "Rate limit", "rate_limit_exceeded"),
        429,
    );
    assert_eq!(
        error,
        json!({ "error": { "message": "Rate limit", "type": "rate_limit_exceeded", "param": null, "code": null } })
    );
}

// ------------------------------------------------------------------------------------------------
// Anthropic

fn anthropic_events(events: &[Event]) -> Vec<&Value> {
    events
        .iter()
        .map(|(name, data)| {
            let data = data.as_ref().expect("no [DONE] on Anthropic");
            assert_eq!(
                name.as_deref(),
                data["type"].as_str(),
                "event: line names the data type"
            );
            data
        })
        .collect()
}

fn types<'a>(events: &[&'a Value]) -> Vec<&'a str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

fn anthropic_start_and_end(events: &[&Value], stop_reason: &str) {
    let start = &events[0]["message"];
    assert_eq!(start["id"], "msg_1");
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["input_tokens"], 120);
    assert_eq!(start["usage"]["cache_read_input_tokens"], 64);
    let delta = events[events.len() - 2];
    assert_eq!(
        delta["delta"],
        json!({ "stop_reason": stop_reason, "stop_sequence": null })
    );
    assert_eq!(delta["usage"]["output_tokens"], 18);
}

#[test]
fn anthropic_text_stream() {
    let parsed = parse(&anthropic::text_stream(&["Hel", "lo"], USAGE));
    let events = anthropic_events(&parsed);
    assert_eq!(
        types(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[1]["content_block"],
        json!({ "type": "text", "text": "" })
    );
    assert_eq!(
        events[3]["delta"],
        json!({ "type": "text_delta", "text": "Hel" })
    );
    assert_eq!(events[4]["index"], 0);
    anthropic_start_and_end(&events, "end_turn");
}

#[test]
fn anthropic_tool_use_stream() {
    let parsed = parse(&anthropic::tool_use_stream("Checking", &calls(), USAGE));
    let events = anthropic_events(&parsed);
    anthropic_start_and_end(&events, "tool_use");
    for (index, call) in calls().iter().enumerate() {
        let block = index + 1;
        let start = events
            .iter()
            .find(|e| e["type"] == "content_block_start" && e["index"] == block)
            .unwrap();
        assert_eq!(
            start["content_block"],
            json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": {} })
        );
        let pieces: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "content_block_delta" && e["index"] == block)
            .map(|e| {
                assert_eq!(e["delta"]["type"], "input_json_delta");
                e["delta"]["partial_json"].as_str().unwrap()
            })
            .collect();
        assert!(pieces.len() >= 2);
        assert_eq!(
            serde_json::from_str::<Value>(&pieces.concat()).unwrap(),
            call.arguments
        );
        assert!(
            events
                .iter()
                .any(|e| e["type"] == "content_block_stop" && e["index"] == block)
        );
    }
    assert_eq!(events[1]["content_block"]["type"], "text");
    assert!(types(&events).contains(&"ping"));
}

#[test]
fn anthropic_whole_answers_and_errors() {
    let message = body(&anthropic::message("Hi", USAGE));
    assert_eq!(message["type"], "message");
    assert_eq!(
        message["content"],
        json!([{ "type": "text", "text": "Hi" }])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(
        message["usage"],
        json!({ "input_tokens": 120, "cache_read_input_tokens": 64, "output_tokens": 18 })
    );

    let tools = body(&anthropic::tool_use_message(&calls(), USAGE));
    assert_eq!(
        tools["content"][0],
        json!({ "type": "tool_use", "id": "call_1", "name": "get_weather", "input": { "city": "Paris" } })
    );
    assert_eq!(tools["stop_reason"], "tool_use");

    let error = error_body(
        &anthropic::error(529, "overloaded_error", "Overloaded"),
        529,
    );
    assert_eq!(
        error,
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })
    );

    let stream = StreamReply::sse([anthropic::error_event("overloaded_error", "Overloaded")]);
    let parsed = parse(&stream);
    assert_eq!(parsed[0].0.as_deref(), Some("error"));
    assert_eq!(
        parsed[0].1.as_ref().unwrap()["error"]["type"],
        "overloaded_error"
    );
}

// ------------------------------------------------------------------------------------------------
// Gemini

fn gemini_frames(events: &[Event]) -> Vec<&Value> {
    events
        .iter()
        .map(|(name, data)| {
            assert!(name.is_none());
            let data = data.as_ref().expect("no [DONE] on Gemini");
            assert_eq!(data["candidates"][0]["content"]["role"], "model");
            data
        })
        .collect()
}

fn gemini_end(last: &Value) {
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"],
        json!({ "promptTokenCount": 120, "candidatesTokenCount": 18, "cachedContentTokenCount": 64, "totalTokenCount": 138 })
    );
}

#[test]
fn gemini_text_stream() {
    let parsed = parse(&gemini::text_stream(&["Hel", "lo"], USAGE));
    let frames = gemini_frames(&parsed);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[0]["candidates"][0]["content"]["parts"],
        json!([{ "text": "Hel" }])
    );
    assert!(frames[0]["candidates"][0].get("finishReason").is_none());
    assert!(frames[0].get("usageMetadata").is_none());
    assert_eq!(
        frames[1]["candidates"][0]["content"]["parts"],
        json!([{ "text": "lo" }])
    );
    gemini_end(frames[1]);
}

#[test]
fn gemini_function_call_stream() {
    let parsed = parse(&gemini::function_call_stream("Checking", &calls(), USAGE));
    let frames = gemini_frames(&parsed);
    assert_eq!(
        frames[0]["candidates"][0]["content"]["parts"],
        json!([{ "text": "Checking" }])
    );
    let last = frames.last().unwrap();
    assert_eq!(
        last["candidates"][0]["content"]["parts"],
        json!([
            { "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } },
            { "functionCall": { "name": "get_time", "args": { "zone": "Europe/Paris", "format": "24h" } } },
        ])
    );
    gemini_end(last);
}

#[test]
fn gemini_whole_answers_and_errors() {
    let response = body(&gemini::response("Hi", USAGE));
    assert_eq!(
        response["candidates"][0]["content"]["parts"],
        json!([{ "text": "Hi" }])
    );
    gemini_end(&response);
    let calls = body(&gemini::function_call_response(&calls(), USAGE));
    assert_eq!(
        calls["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    gemini_end(&calls);
    let error = error_body(&gemini::error(429, "Quota", "RESOURCE_EXHAUSTED"), 429);
    assert_eq!(
        error,
        json!({ "error": { "code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED" } })
    );
}

// ------------------------------------------------------------------------------------------------
// Through the server

#[tokio::test]
async fn fixtures_reach_the_client_byte_for_byte() {
    let server = FakeServer::start().await;
    let stream = openai::text_stream(&["Hel", "lo"], USAGE);
    let expected = stream.events.clone();
    server.push(stream);
    server.push(
        anthropic::error(429, "rate_limit_error", "slow down").with_header("retry-after", "1"),
    );

    let response = send(server.addr(), post("/v1/chat/completions", "{}")).await;
    let (got, end) = frames(&mut response.into_body()).await;
    end.unwrap();
    let got: Vec<String> = got
        .iter()
        .map(|(_, data)| String::from_utf8(data.to_vec()).unwrap())
        .collect();
    assert_eq!(got, expected);

    let response = send(server.addr(), post("/v1/messages", "{}")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let error: Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
}

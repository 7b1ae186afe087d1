//! Server frames, written straight into the bytes of one WebSocket text frame: no intermediate
//! structure is built and encoded, so a chunk's text is escaped once, from the gRPC frame's buffer
//! into the WebSocket frame's.
//!
//! Every frame is `{"type": ..., "session_id": ..., <its body>, "timestamp": <RFC 3339, UTC>}`,
//! the field order Omnia's Go encoder uses.

use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ErrorCode, PROTOCOL_VERSION};

/// Token counts and cost of one turn, carried on `done` (Omnia drops them; clients want them).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub input_tokens: i32,
    pub output_tokens: i32,
    pub cost_usd: f32,
}

/// One frame being written.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new(kind: &str, session_id: &str, body_hint: usize) -> Self {
        let mut out = Vec::with_capacity(96 + session_id.len() + body_hint);
        out.extend_from_slice(br#"{"type":""#);
        out.extend_from_slice(kind.as_bytes());
        out.push(b'"');
        let mut writer = Self { out };
        if !session_id.is_empty() {
            writer.string("session_id", session_id);
        }
        writer
    }

    fn key(&mut self, name: &str) {
        // The first field of an object just opened takes no comma.
        if self.out.last() != Some(&b'{') {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// `"name": "value"`, escaped.
    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        escape_into(&mut self.out, value);
    }

    /// `"name": <json>`, for JSON that is already valid (a client's or the runtime's).
    fn raw(&mut self, name: &str, json: &str) {
        self.key(name);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn open(&mut self, name: &str) {
        self.key(name);
        self.out.push(b'{');
    }

    fn close(&mut self) {
        self.out.push(b'}');
    }

    fn number(&mut self, name: &str, value: impl std::fmt::Display) {
        use std::io::Write as _;
        self.key(name);
        let _ = write!(self.out, "{value}");
    }

    fn finish(mut self) -> Bytes {
        self.string("timestamp", &timestamp());
        self.out.push(b'}');
        Bytes::from(self.out)
    }
}

/// `value` as a JSON string, quotes included.
fn escape_into(out: &mut Vec<u8>, value: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Now, in RFC 3339 with nanoseconds, as Go's `time.Time` encodes it.
fn timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// `connected`: the session id the server minted, and what this connection can do.
pub fn connected(session_id: &str, binary_frames: bool, max_payload_size: usize) -> Bytes {
    let mut w = Writer::new("connected", session_id, 96);
    w.open("connected");
    w.open("capabilities");
    w.raw(
        "binary_frames",
        if binary_frames { "true" } else { "false" },
    );
    w.number("max_payload_size", max_payload_size);
    w.number("protocol_version", PROTOCOL_VERSION);
    w.close();
    w.close();
    w.finish()
}

/// `chunk`: a piece of the answer as it streams.
pub fn chunk(session_id: &str, content: &str) -> Bytes {
    let mut w = Writer::new("chunk", session_id, content.len() + 8);
    w.string("content", content);
    w.finish()
}

/// `done`: the turn is over; its final content (when the handler sends one) and usage.
pub fn done(session_id: &str, content: Option<&str>, usage: Option<Usage>) -> Bytes {
    let mut w = Writer::new("done", session_id, content.map_or(0, str::len) + 80);
    if let Some(content) = content.filter(|content| !content.is_empty()) {
        w.string("content", content);
    }
    if let Some(usage) = usage {
        w.open("usage");
        w.number("input_tokens", usage.input_tokens);
        w.number("output_tokens", usage.output_tokens);
        // f32's shortest representation: 0.000052 stays 0.000052, not 5.2000003e-5. NaN and
        // infinities are not JSON numbers.
        let cost = if usage.cost_usd.is_finite() {
            usage.cost_usd
        } else {
            0.0
        };
        w.number("cost_usd", cost);
        w.close();
    }
    w.finish()
}

/// A tool call the client is to run.
#[derive(Debug, Clone, Copy)]
pub struct ToolCall<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// A JSON object, already encoded; `None` leaves `arguments` out.
    pub arguments: Option<&'a str>,
    pub consent_message: Option<&'a str>,
    pub categories: &'a [String],
}

/// `tool_call`.
pub fn tool_call(session_id: &str, call: ToolCall<'_>) -> Bytes {
    let hint = call.arguments.map_or(0, str::len) + call.name.len() + 64;
    let mut w = Writer::new("tool_call", session_id, hint);
    w.open("tool_call");
    w.string("id", call.id);
    w.string("name", call.name);
    if let Some(arguments) = call.arguments {
        w.raw("arguments", arguments);
    }
    if let Some(message) = call.consent_message.filter(|m| !m.is_empty()) {
        w.string("consent_message", message);
    }
    if !call.categories.is_empty() {
        w.key("categories");
        let _ = serde_json::to_writer(&mut w.out, call.categories);
    }
    w.close();
    w.finish()
}

/// `tool_result`: the outcome of a tool the agent ran itself (`result` is encoded JSON).
pub fn tool_result(session_id: &str, id: &str, result: Option<&str>, error: Option<&str>) -> Bytes {
    let mut w = Writer::new("tool_result", session_id, result.map_or(0, str::len) + 48);
    w.open("tool_result");
    w.string("id", id);
    if let Some(result) = result {
        w.raw("result", result);
    }
    if let Some(error) = error {
        w.string("error", error);
    }
    w.close();
    w.finish()
}

/// `upload_ready`: how to upload what an `upload_request` declared. Beyond Omnia's fields,
/// `method` and `headers`: a signed URL binds its headers, which the client must send.
pub fn upload_ready(session_id: &str, ticket: &crate::media::Ticket) -> Bytes {
    let mut w = Writer::new("upload_ready", session_id, ticket.upload_url.len() + 256);
    w.open("upload_ready");
    w.string("upload_id", &ticket.upload_id);
    w.string("upload_url", &ticket.upload_url);
    w.string("storage_ref", &ticket.storage_ref);
    w.string("expires_at", &ticket.expires_at);
    w.string("method", ticket.method);
    w.open("headers");
    for (name, value) in &ticket.headers {
        w.string(name, value.as_str().unwrap_or_default());
    }
    w.close();
    w.close();
    w.finish()
}

/// `upload_complete`: the upload is confirmed and its media stored.
pub fn upload_complete(
    session_id: &str,
    upload_id: &str,
    storage_ref: &str,
    size_bytes: u64,
) -> Bytes {
    let mut w = Writer::new("upload_complete", session_id, 160);
    w.open("upload_complete");
    w.string("upload_id", upload_id);
    w.string("storage_ref", storage_ref);
    w.number("size_bytes", size_bytes);
    w.close();
    w.finish()
}

/// `error`; `details` is an encoded JSON object.
pub fn error(session_id: &str, code: ErrorCode, message: &str, details: Option<&str>) -> Bytes {
    let mut w = Writer::new("error", session_id, message.len() + 48);
    w.open("error");
    w.string("code", code.as_str());
    w.string("message", message);
    if let Some(details) = details {
        w.raw("details", details);
    }
    w.close();
    w.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parsed(frame: &Bytes) -> Value {
        serde_json::from_slice(frame)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(frame)))
    }

    fn without_timestamp(frame: &Bytes) -> Value {
        let mut value = parsed(frame);
        let stamp = value["timestamp"].as_str().unwrap().to_owned();
        assert!(
            OffsetDateTime::parse(&stamp, &Rfc3339).is_ok(),
            "timestamp {stamp} is not RFC 3339"
        );
        value.as_object_mut().unwrap().remove("timestamp");
        value
    }

    #[test]
    fn frames_carry_type_session_body_and_timestamp() {
        assert_eq!(
            without_timestamp(&connected("s-1", false, 16 << 20)),
            json!({"type": "connected", "session_id": "s-1", "connected": {"capabilities":
                {"binary_frames": false, "max_payload_size": 16_777_216, "protocol_version": 1}}})
        );
        assert_eq!(
            without_timestamp(&chunk("s-1", "say \"hi\"\n\u{1F600}\u{0007}")),
            json!({"type": "chunk", "session_id": "s-1", "content": "say \"hi\"\n\u{1F600}\u{0007}"})
        );
        assert_eq!(
            without_timestamp(&done(
                "s-1",
                Some("all"),
                Some(Usage {
                    input_tokens: 3,
                    output_tokens: 2,
                    cost_usd: 0.000052
                })
            )),
            json!({"type": "done", "session_id": "s-1", "content": "all",
                "usage": {"input_tokens": 3, "output_tokens": 2, "cost_usd": 0.000052}})
        );
        assert_eq!(
            without_timestamp(&done("s-1", None, None)),
            json!({"type": "done", "session_id": "s-1"})
        );
        assert_eq!(
            without_timestamp(&tool_call(
                "s-1",
                ToolCall {
                    id: "c1",
                    name: "weather",
                    arguments: Some(r#"{"location":"Denver, CO"}"#),
                    consent_message: Some("May I?"),
                    categories: &["location".to_owned()],
                }
            )),
            json!({"type": "tool_call", "session_id": "s-1", "tool_call": {"id": "c1",
                "name": "weather", "arguments": {"location": "Denver, CO"},
                "consent_message": "May I?", "categories": ["location"]}})
        );
        assert_eq!(
            without_timestamp(&tool_result("s-1", "c1", Some(r#"{"t":72}"#), None)),
            json!({"type": "tool_result", "session_id": "s-1", "tool_result": {"id": "c1",
                "result": {"t": 72}}})
        );
        assert_eq!(
            without_timestamp(&error(
                "",
                ErrorCode::InvalidMessage,
                "bad",
                Some(r#"{"a":1}"#)
            )),
            json!({"type": "error", "error": {"code": "INVALID_MESSAGE", "message": "bad",
                "details": {"a": 1}}})
        );
    }

    #[test]
    fn runtime_codes_outside_the_enum_are_not_mapped() {
        assert_eq!(
            ErrorCode::from_runtime("RATE_LIMITED"),
            Some(ErrorCode::RateLimited)
        );
        assert_eq!(ErrorCode::from_runtime("DUPLEX_UNSUPPORTED"), None);
    }
}

//! What a server frame is, read from its `type` (and, for `error`, its `error.code`) only.
//!
//! A chunk's `content` is skipped by serde without being decoded into a string, so classifying
//! a frame costs one pass over its bytes and no allocation (except for the rare `error` code).

use std::borrow::Cow;

use serde::Deserialize;

/// The kinds of server frame the scenarios tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameKind {
    /// `connected`: the first frame of a connection.
    Connected,
    /// `chunk`: a piece of the answer.
    Chunk,
    /// `done`: the turn is over.
    Done,
    /// `tool_call`: counted only.
    ToolCall,
    /// `tool_result`: counted only.
    ToolResult,
    /// `error`, with its `error.code` (`unknown` when it has none); ends a turn.
    Error(String),
    /// Any other `type`, or a binary frame: counted only.
    Other,
    /// Not a JSON object with a string `type`.
    Bad,
}

impl FrameKind {
    /// Every counted kind's name, in tally order (see [`FrameKind::index`]).
    pub const NAMES: [&'static str; 8] = [
        "connected",
        "chunk",
        "done",
        "tool_call",
        "tool_result",
        "error",
        "other",
        "bad",
    ];

    /// Classifies a text frame's payload.
    pub fn parse(payload: &[u8]) -> Self {
        let Ok(head) = serde_json::from_slice::<Head<'_>>(payload) else {
            return FrameKind::Bad;
        };
        match head.kind.as_ref() {
            "connected" => FrameKind::Connected,
            "chunk" => FrameKind::Chunk,
            "done" => FrameKind::Done,
            "tool_call" => FrameKind::ToolCall,
            "tool_result" => FrameKind::ToolResult,
            // Parsed a second time, and only for `error` frames: `tool_result` has an `error`
            // field too, but a string, so `error` cannot be read as an object from every frame.
            "error" => {
                let code = serde_json::from_slice::<ErrorFrame<'_>>(payload)
                    .ok()
                    .and_then(|frame| frame.error)
                    .and_then(|error| error.code)
                    .map_or_else(|| "unknown".to_owned(), Cow::into_owned);
                FrameKind::Error(code)
            }
            _ => FrameKind::Other,
        }
    }

    /// Position of the kind in [`FrameKind::NAMES`], used as a tally index.
    pub fn index(&self) -> usize {
        match self {
            FrameKind::Connected => 0,
            FrameKind::Chunk => 1,
            FrameKind::Done => 2,
            FrameKind::ToolCall => 3,
            FrameKind::ToolResult => 4,
            FrameKind::Error(_) => 5,
            FrameKind::Other => 6,
            FrameKind::Bad => 7,
        }
    }
}

/// The one field every frame has. Borrowed: type names never need unescaping; `Cow` still
/// copes if a server escapes one.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ErrorFrame<'a> {
    #[serde(default, borrow)]
    error: Option<ErrorInfo<'a>>,
}

#[derive(Deserialize)]
struct ErrorInfo<'a> {
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_the_protocol_are_told_apart() {
        let cases: [(&str, FrameKind); 6] = [
            (
                r#"{"type":"connected","session_id":"s","connected":{"capabilities":{"binary_frames":false}},"timestamp":"t"}"#,
                FrameKind::Connected,
            ),
            (
                r#"{"type":"chunk","session_id":"s","content":"he said \"hi\"","timestamp":"t"}"#,
                FrameKind::Chunk,
            ),
            (
                r#"{"type":"done","session_id":"s","content":"x","usage":{"input_tokens":1},"timestamp":"t"}"#,
                FrameKind::Done,
            ),
            (
                r#"{"type":"tool_call","tool_call":{"id":"1","name":"n"}}"#,
                FrameKind::ToolCall,
            ),
            (
                r#"{"type":"tool_result","id":"1","error":"it broke"}"#,
                FrameKind::ToolResult,
            ),
            (r#"{"type":"media","x":1}"#, FrameKind::Other),
        ];
        for (text, kind) in cases {
            assert_eq!(FrameKind::parse(text.as_bytes()), kind, "{text}");
        }
    }

    #[test]
    fn error_frames_carry_their_code() {
        let frame = br#"{"type":"error","session_id":"s","error":{"code":"RATE_LIMITED","message":"slow down"},"timestamp":"t"}"#;
        assert_eq!(
            FrameKind::parse(frame),
            FrameKind::Error("RATE_LIMITED".into())
        );
        assert_eq!(
            FrameKind::parse(br#"{"type":"error"}"#),
            FrameKind::Error("unknown".into())
        );
    }

    #[test]
    fn frames_without_a_type_are_bad() {
        for text in [&b"not json"[..], b"{}", br#"{"type":1}"#, b"[]"] {
            assert_eq!(FrameKind::parse(text), FrameKind::Bad);
        }
    }

    #[test]
    fn indexes_match_names() {
        assert_eq!(FrameKind::NAMES[FrameKind::Chunk.index()], "chunk");
        assert_eq!(
            FrameKind::NAMES[FrameKind::Error(String::new()).index()],
            "error"
        );
        assert_eq!(FrameKind::NAMES[FrameKind::Bad.index()], "bad");
    }
}

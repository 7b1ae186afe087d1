//! Client frames, parsed without copying their strings out of the frame where serde allows.
//!
//! Every way a text frame can be wrong is a [`BadFrame`], which the connection answers with an
//! `error` frame (`INVALID_MESSAGE`) and keeps going: the protocol closes a connection for a frame
//! only when it is over the size limit or not UTF-8, which the connection checks before this.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One client frame.
#[derive(Debug)]
pub enum ClientFrame<'a> {
    /// A user turn.
    Message(Message<'a>),
    /// The answer to a client-side tool call.
    ToolResult(ToolResult<'a>),
    /// The client received a tool call and is working on it.
    ToolCallAck { call_id: Cow<'a, str> },
    /// The client will not run a tool call.
    ToolCallNack {
        call_id: Cow<'a, str>,
        reason: Cow<'a, str>,
    },
    /// A request for a presigned upload URL.
    UploadRequest(UploadRequest<'a>),
    /// The user ended the conversation on purpose.
    Hangup,
}

/// A `message` frame.
#[derive(Debug, Default, Deserialize)]
pub struct Message<'a> {
    #[serde(borrow, default)]
    pub session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub parts: Option<Vec<Part<'a>>>,
    #[serde(borrow, default)]
    pub metadata: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
}

impl Message<'_> {
    /// The turn's text as Omnia reads it: the first non-empty text part, else `content`.
    pub fn text(&self) -> &str {
        self.parts
            .iter()
            .flatten()
            .filter(|part| part.kind == "text")
            .find_map(|part| part.text.as_deref().filter(|text| !text.is_empty()))
            .or(self.content.as_deref())
            .unwrap_or("")
    }

    /// Whether the message says anything at all (text, or a part of any kind).
    pub fn is_empty(&self) -> bool {
        self.content.as_deref().is_none_or(str::is_empty)
            && self.parts.as_ref().is_none_or(Vec::is_empty)
    }
}

/// One `ContentPart`: `type` is text, image, audio, video or file.
#[derive(Debug, Deserialize)]
pub struct Part<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub media: Option<Value>,
}

/// A `tool_result` frame's body.
#[derive(Debug, Deserialize)]
pub struct ToolResult<'a> {
    #[serde(borrow)]
    pub call_id: Cow<'a, str>,
    /// The result as the client sent it (any JSON).
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(borrow, default)]
    pub error: Option<Cow<'a, str>>,
}

/// An `upload_request` frame's body.
#[derive(Debug, Deserialize)]
pub struct UploadRequest<'a> {
    #[serde(borrow)]
    pub filename: Cow<'a, str>,
    #[serde(borrow)]
    pub mime_type: Cow<'a, str>,
    pub size_bytes: u64,
}

/// Why a text frame is not a client frame; the text goes to the client in the `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFrame {
    #[error("invalid message format: {0}")]
    NotJson(String),
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("a `{kind}` message needs its `{field}` object")]
    MissingBody {
        kind: &'static str,
        field: &'static str,
    },
    #[error("invalid `{kind}` message: {reason}")]
    Invalid { kind: &'static str, reason: String },
}

/// What every client frame has: its type.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// A frame whose body is the object under `field` (serde's field name is fixed per type, so each
/// body kind gets its own wrapper).
macro_rules! wrapper {
    ($name:ident, $field:ident, $body:ty) => {
        #[derive(Deserialize)]
        struct $name<'a> {
            #[serde(borrow, default)]
            $field: Option<$body>,
        }
    };
}
wrapper!(ToolResultFrame, tool_result, ToolResult<'a>);
wrapper!(AckFrame, tool_call_ack, Ack<'a>);
wrapper!(NackFrame, tool_call_nack, Nack<'a>);
wrapper!(UploadFrame, upload_request, UploadRequest<'a>);

#[derive(Deserialize)]
struct Ack<'a> {
    #[serde(borrow)]
    call_id: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Nack<'a> {
    #[serde(borrow)]
    call_id: Cow<'a, str>,
    #[serde(borrow, default)]
    reason: Cow<'a, str>,
}

/// Parses one text frame.
///
/// # Errors
/// A [`BadFrame`] saying what is wrong.
pub fn parse(text: &str) -> Result<ClientFrame<'_>, BadFrame> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|error| BadFrame::NotJson(error.to_string()))?;
    Ok(match envelope.kind.as_ref() {
        "message" => ClientFrame::Message(body("message", text)?),
        "tool_result" => {
            let frame: ToolResultFrame<'_> = body("tool_result", text)?;
            ClientFrame::ToolResult(required("tool_result", frame.tool_result)?)
        }
        "tool_call_ack" => {
            let frame: AckFrame<'_> = body("tool_call_ack", text)?;
            let ack = required("tool_call_ack", frame.tool_call_ack)?;
            ClientFrame::ToolCallAck {
                call_id: ack.call_id,
            }
        }
        "tool_call_nack" => {
            let frame: NackFrame<'_> = body("tool_call_nack", text)?;
            let nack = required("tool_call_nack", frame.tool_call_nack)?;
            ClientFrame::ToolCallNack {
                call_id: nack.call_id,
                reason: nack.reason,
            }
        }
        "upload_request" => {
            let frame: UploadFrame<'_> = body("upload_request", text)?;
            ClientFrame::UploadRequest(required("upload_request", frame.upload_request)?)
        }
        "hangup" => ClientFrame::Hangup,
        other => return Err(BadFrame::UnknownType(other.to_owned())),
    })
}

/// The body a frame of `kind` must carry (in the field of the same name).
fn required<T>(kind: &'static str, body: Option<T>) -> Result<T, BadFrame> {
    body.ok_or(BadFrame::MissingBody { kind, field: kind })
}

fn body<'a, T: Deserialize<'a>>(kind: &'static str, json: &'a str) -> Result<T, BadFrame> {
    serde_json::from_str(json).map_err(|error| BadFrame::Invalid {
        kind,
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_its_text_from_parts_first_then_content() {
        let ClientFrame::Message(message) = parse(
            r#"{"type":"message","content":"c","parts":[{"type":"image","media":{"mime_type":"image/png"}},{"type":"text","text":"from parts"}]}"#,
        )
        .unwrap() else {
            panic!("not a message")
        };
        assert_eq!(message.text(), "from parts");
        let ClientFrame::Message(message) =
            parse(r#"{"type":"message","content":"only \"content\""}"#).unwrap()
        else {
            panic!("not a message")
        };
        assert_eq!(message.text(), "only \"content\"");
        assert!(!message.is_empty());
        let ClientFrame::Message(empty) = parse(r#"{"type":"message"}"#).unwrap() else {
            panic!("not a message")
        };
        assert!(empty.is_empty());
    }

    #[test]
    fn tool_frames_carry_their_call_ids_and_raw_results() {
        let ClientFrame::ToolResult(result) = parse(
            r#"{"type":"tool_result","tool_result":{"call_id":"c1","result":{"ok": [1, 2]}}}"#,
        )
        .unwrap() else {
            panic!("not a tool result")
        };
        assert_eq!(result.call_id, "c1");
        assert_eq!(result.result.unwrap(), serde_json::json!({"ok": [1, 2]}));
        assert!(matches!(
            parse(r#"{"type":"tool_call_ack","tool_call_ack":{"call_id":"c2"}}"#).unwrap(),
            ClientFrame::ToolCallAck { call_id } if call_id == "c2"
        ));
        assert!(matches!(
            parse(r#"{"type":"tool_call_nack","tool_call_nack":{"call_id":"c3","reason":"no"}}"#).unwrap(),
            ClientFrame::ToolCallNack { call_id, reason } if call_id == "c3" && reason == "no"
        ));
        assert!(matches!(
            parse(r#"{"type":"hangup"}"#).unwrap(),
            ClientFrame::Hangup
        ));
        assert!(matches!(
            parse(r#"{"type":"upload_request","upload_request":{"filename":"a.png","mime_type":"image/png","size_bytes":3}}"#).unwrap(),
            ClientFrame::UploadRequest(UploadRequest { size_bytes: 3, .. })
        ));
    }

    #[test]
    fn every_bad_frame_is_a_typed_error() {
        assert!(matches!(parse("not json"), Err(BadFrame::NotJson(_))));
        assert!(matches!(
            parse(r#"{"content":"no type"}"#),
            Err(BadFrame::NotJson(_))
        ));
        assert_eq!(
            parse(r#"{"type":"shout"}"#).unwrap_err(),
            BadFrame::UnknownType("shout".into())
        );
        assert_eq!(
            parse(r#"{"type":"tool_result"}"#).unwrap_err(),
            BadFrame::MissingBody {
                kind: "tool_result",
                field: "tool_result"
            }
        );
        assert!(matches!(
            parse(r#"{"type":"tool_result","tool_result":{"result":1}}"#),
            Err(BadFrame::Invalid {
                kind: "tool_result",
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"type":"message","content":7}"#),
            Err(BadFrame::Invalid {
                kind: "message",
                ..
            })
        ));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep = format!(r#"{{"type":"message","metadata":{deep}}}"#);
        assert!(parse(&deep).is_err());
    }
}

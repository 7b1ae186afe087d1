//! A `tools/call` result as the text the model reads.
//!
//! - `isError: true` is the tool's answer that this call failed: [`ToolError::Reported`] with its
//!   first text block (the server's message), so it does not count against the handler.
//! - Content that is all text: the texts, joined with `\n` (a number stays `5`, JSON text stays
//!   JSON).
//! - Otherwise `structuredContent`, serialized, when the server gave it.
//! - Otherwise the content array as JSON, each image, audio clip or binary resource replaced by
//!   its mime type and size: base64 bytes mean nothing to a model and would fill its context.
//!
//! A result longer than the limit is [`ToolError::TooLarge`].

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value};

use crate::tools::ToolError;

/// What the model reads for an `isError` result that carries no text.
const NO_MESSAGE: &str = "the MCP tool reported an error without a message";

/// The model's text for `result` of the tool `tool`, at most `limit` bytes.
pub(super) fn text_of(
    tool: &str,
    result: CallToolResult,
    limit: usize,
) -> Result<String, ToolError> {
    if result.is_error == Some(true) {
        let message = result
            .content
            .iter()
            .find_map(ContentBlock::as_text)
            .map(|t| t.text.trim())
            .filter(|t| !t.is_empty())
            .map_or_else(|| NO_MESSAGE.to_owned(), str::to_owned);
        return Err(ToolError::Reported {
            tool: tool.to_owned(),
            message: bounded(message, limit),
        });
    }
    let too_large = || ToolError::TooLarge {
        tool: tool.to_owned(),
        limit,
    };
    let texts: Option<Vec<&str>> = result
        .content
        .iter()
        .map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect();
    let text = match (texts, &result.structured_content) {
        (Some(texts), _) if !texts.is_empty() => {
            // Counted before joining: a huge answer is refused without another copy of it.
            let total = texts.iter().map(|t| t.len()).sum::<usize>() + texts.len() - 1;
            if total > limit {
                return Err(too_large());
            }
            texts.join("\n")
        }
        (_, Some(structured)) => structured.to_string(),
        _ if result.content.is_empty() => "null".to_owned(),
        _ => Value::Array(result.content.iter().map(summarised).collect()).to_string(),
    };
    if text.len() > limit {
        return Err(too_large());
    }
    Ok(text)
}

/// One content block as JSON, binary data replaced by its mime type and decoded size.
fn summarised(block: &ContentBlock) -> Value {
    let mut value = serde_json::to_value(block).unwrap_or(Value::Null);
    match block {
        ContentBlock::Image(_) | ContentBlock::Audio(_) => {
            let Value::Object(fields) = &value else {
                return value;
            };
            let mut summary = Map::new();
            for key in ["type", "mimeType"] {
                if let Some(v) = fields.get(key) {
                    summary.insert(key.to_owned(), v.clone());
                }
            }
            let bytes = fields
                .get("data")
                .and_then(Value::as_str)
                .map_or(0, decoded_len);
            summary.insert("bytes".to_owned(), bytes.into());
            Value::Object(summary)
        }
        ContentBlock::Resource(_) => {
            if let Some(resource) = value.get_mut("resource").and_then(Value::as_object_mut)
                && let Some(blob) = resource.remove("blob")
            {
                let bytes = blob.as_str().map_or(0, decoded_len);
                resource.insert("bytes".to_owned(), bytes.into());
            }
            value
        }
        _ => value,
    }
}

/// How many bytes the base64 text `data` decodes to, counted without decoding it (whitespace
/// and padding left out).
fn decoded_len(data: &str) -> usize {
    let digits = data
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .count();
    digits * 3 / 4
}

/// `text` cut to at most `max` bytes on a char boundary, `...` marking a cut.
fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn result(value: Value) -> CallToolResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn text_blocks_are_joined() {
        let r = result(json!({"content": [
            {"type": "text", "text": "one"}, {"type": "text", "text": "two"}
        ], "structuredContent": {"ignored": true}}));
        assert_eq!(text_of("t", r, 100).unwrap(), "one\ntwo");
    }

    #[test]
    fn structured_content_when_not_all_text() {
        let r = result(json!({"content": [
            {"type": "text", "text": "caption"},
            {"type": "image", "data": "AAAA", "mimeType": "image/png"}
        ], "structuredContent": {"n": 5}}));
        assert_eq!(text_of("t", r, 100).unwrap(), r#"{"n":5}"#);
        let r = result(json!({"content": [], "structuredContent": {"n": 5}}));
        assert_eq!(text_of("t", r, 100).unwrap(), r#"{"n":5}"#);
    }

    #[test]
    fn binary_content_is_summarised_never_sent() {
        let r = result(json!({"content": [
            {"type": "text", "text": "caption"},
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "audio", "data": "AAAAAAAA", "mimeType": "audio/wav"},
            {"type": "resource", "resource": {"uri": "file:///a", "blob": "AAAA", "mimeType": "x/y"}}
        ]}));
        let text = text_of("t", r, 10_000).unwrap();
        assert!(!text.contains("iVBOR") && !text.contains("AAAA"), "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[0], json!({"type": "text", "text": "caption"}));
        assert_eq!(
            value[1],
            json!({"type": "image", "mimeType": "image/png", "bytes": 8})
        );
        assert_eq!(
            value[2],
            json!({"type": "audio", "mimeType": "audio/wav", "bytes": 6})
        );
        assert_eq!(value[3]["resource"]["bytes"], json!(3));
        assert_eq!(value[3]["resource"]["uri"], json!("file:///a"));
    }

    #[test]
    fn no_content_is_null() {
        assert_eq!(
            text_of("t", result(json!({"content": []})), 100).unwrap(),
            "null"
        );
    }

    #[test]
    fn is_error_is_reported_with_its_first_text() {
        let r = result(json!({"isError": true, "content": [
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "text", "text": " boom "}, {"type": "text", "text": "second"}
        ]}));
        assert_eq!(
            text_of("t", r, 100).unwrap_err(),
            ToolError::Reported {
                tool: "t".into(),
                message: "boom".into()
            }
        );
        let r = result(json!({"isError": true, "content": []}));
        let ToolError::Reported { message, .. } = text_of("t", r, 100).unwrap_err() else {
            panic!("not reported");
        };
        assert_eq!(message, NO_MESSAGE);
    }

    #[test]
    fn past_the_limit_is_too_large() {
        let r = result(json!({"content": [{"type": "text", "text": "x".repeat(11)}]}));
        assert_eq!(
            text_of("t", r, 10).unwrap_err(),
            ToolError::TooLarge {
                tool: "t".into(),
                limit: 10
            }
        );
        let r = result(json!({"content": [], "structuredContent": {"k": "x".repeat(20)}}));
        assert!(matches!(
            text_of("t", r, 10),
            Err(ToolError::TooLarge { .. })
        ));
        let r = result(json!({"content": [{"type": "text", "text": "x".repeat(10)}]}));
        assert_eq!(
            text_of("t", r, 10).unwrap().len(),
            10,
            "the limit itself is fine"
        );
    }

    #[test]
    fn a_long_error_message_is_cut() {
        let r =
            result(json!({"isError": true, "content": [{"type": "text", "text": "é".repeat(20)}]}));
        let ToolError::Reported { message, .. } = text_of("t", r, 10).unwrap_err() else {
            panic!("not reported");
        };
        assert!(message.len() <= 10 && message.ends_with("..."), "{message}");
    }
}

//! Request bodies: a file sent verbatim, a JSON template checked once, or a generated JSON object.
//!
//! The body is built once at start-up into a `Bytes` that every request shares by reference count.

use std::path::Path;

use bytes::Bytes;

/// Where the request body comes from.
#[derive(Debug, Clone)]
pub enum BodySource<'a> {
    /// A file's bytes, verbatim (any content).
    File(&'a Path),
    /// A JSON file, verbatim, after checking that it parses.
    Template(&'a Path),
    /// A generated JSON object of about `size` bytes whose strings are at most `field_max_len`.
    Generated {
        /// Target size in bytes.
        size: usize,
        /// Longest string value.
        field_max_len: usize,
    },
}

/// Loads or builds the body once.
pub fn load(source: &BodySource<'_>) -> Result<Bytes, String> {
    match source {
        BodySource::File(path) => std::fs::read(path)
            .map(Bytes::from)
            .map_err(|e| format!("reading body file {}: {e}", path.display())),
        BodySource::Template(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("reading body template {}: {e}", path.display()))?;
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| format!("body template {} is not JSON: {e}", path.display()))?;
            Ok(Bytes::from(bytes))
        }
        BodySource::Generated {
            size,
            field_max_len,
        } => Ok(Bytes::from(generate(*size, *field_max_len))),
    }
}

/// Words for generated text: plain ASCII, so no JSON escaping is ever needed and the byte count
/// is the character count (what `maxLength` counts).
const WORDS: &[&str] = &[
    "the",
    "agent",
    "summarises",
    "a",
    "long",
    "customer",
    "message",
    "about",
    "billing",
    "and",
    "asks",
    "for",
    "refund",
    "policy",
    "details",
    "before",
    "the",
    "weekend",
    "please",
    "reply",
    "with",
    "clear",
    "steps",
    "order",
    "number",
    "shipping",
    "delayed",
    "support",
    "ticket",
    "thanks",
    "quickly",
    "account",
    "settings",
    "update",
    "invoice",
    "was",
    "sent",
    "twice",
];

/// Generates a JSON object of about `size` bytes: `{"message":"...","text_1":"...",...}`.
///
/// Fields are filled in order, each string at most `field_max_len` characters, so a small body is
/// a single `message` field (which satisfies a `{message: string, maxLength: 280}` schema).
/// The result is exact except when the last few bytes cannot hold another field.
pub fn generate(size: usize, field_max_len: usize) -> Vec<u8> {
    let field_max_len = field_max_len.max(1);
    let mut out = Vec::with_capacity(size.max(16));
    out.push(b'{');
    let mut words = Words::new();
    let mut index = 0usize;
    loop {
        let name = field_name(index);
        // `"name":""` plus a comma after the first field, plus the closing brace.
        let cost = name.len() + 5 + usize::from(index > 0);
        let remaining = size.saturating_sub(out.len() + 1);
        if index > 0 && remaining < cost + 1 {
            break;
        }
        let mut len = remaining.saturating_sub(cost).min(field_max_len);
        // Leaves room for one more short field rather than a tail too small to fill.
        let tail = remaining.saturating_sub(cost + len);
        let next_cost = field_name(index + 1).len() + 6 + 1;
        if tail > 0 && tail < next_cost && len > next_cost - tail {
            len -= next_cost - tail;
        }
        if index > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":\"");
        words.fill(&mut out, len);
        out.push(b'"');
        index += 1;
        if len == 0 {
            break;
        }
    }
    out.push(b'}');
    out
}

fn field_name(index: usize) -> String {
    if index == 0 {
        "message".to_owned()
    } else {
        format!("text_{index}")
    }
}

/// A deterministic word stream (xorshift), so runs send the same bytes and are comparable.
struct Words {
    state: u64,
}

impl Words {
    fn new() -> Self {
        Self {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next_word(&mut self) -> &'static str {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let index = usize::try_from(self.state % WORDS.len() as u64).unwrap_or(0);
        WORDS[index]
    }

    /// Appends exactly `len` bytes of text: words separated by spaces, cut at the end.
    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let start = out.len();
        while out.len() - start < len {
            if out.len() > start {
                out.push(b' ');
            }
            out.extend_from_slice(self.next_word().as_bytes());
        }
        out.truncate(start + len);
        // A trailing space reads oddly; a full stop is also one byte.
        if len > 1
            && let Some(last) = out.last_mut()
            && *last == b' '
        {
            *last = b'.';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_size_is_within_five_percent() {
        for size in [32, 64, 100, 280, 300, 301, 1000, 4096, 65_536, 1_000_000] {
            let body = generate(size, 280);
            let diff = body.len().abs_diff(size) as f64;
            assert!(
                diff <= size as f64 * 0.05,
                "asked {size}, got {} bytes",
                body.len()
            );
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            for (_, field) in value.as_object().unwrap() {
                assert!(field.as_str().unwrap().len() <= 280);
            }
        }
    }

    #[test]
    fn small_bodies_are_a_single_message_field() {
        let value: serde_json::Value = serde_json::from_slice(&generate(200, 280)).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 1);
        assert!(object["message"].as_str().unwrap().len() <= 280);
    }

    #[test]
    fn template_must_be_json() {
        let dir = std::env::temp_dir().join(format!("omnia-loadtest-body-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        let bad = dir.join("bad.json");
        std::fs::write(&good, br#"{"message": "hi"}"#).unwrap();
        std::fs::write(&bad, b"{nope").unwrap();
        let body = load(&BodySource::Template(&good)).unwrap();
        assert_eq!(&body[..], br#"{"message": "hi"}"#);
        assert!(load(&BodySource::Template(&bad)).is_err());
        assert_eq!(&load(&BodySource::File(&bad)).unwrap()[..], b"{nope");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

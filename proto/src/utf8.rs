//! [`Utf8Bytes`]: a shared byte buffer that is known to hold valid UTF-8.
//!
//! Our proto declares payload fields such as `input_json`, `output_json` and `content` as `bytes`
//! so they can share a `bytes::Bytes` buffer, while Omnia declares them `string`, and Omnia's Go
//! peers reject a `string` field that is not valid UTF-8. This type is how the Rust side keeps
//! those fields valid: it can only be made from text, or from bytes that were checked.

use std::fmt;
use std::str::Utf8Error;

use bytes::Bytes;

/// A `Bytes` that holds valid UTF-8. Cloning shares the buffer, like `Bytes`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Text that lives for the whole program, without a copy.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// `bytes` if they are valid UTF-8, without a copy; the error says where they are not.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }

    /// `bytes`, with every invalid sequence replaced by U+FFFD. Valid input is not copied.
    pub fn from_utf8_lossy(bytes: Bytes) -> Self {
        match std::str::from_utf8(&bytes) {
            Ok(_) => Utf8Bytes(bytes),
            Err(_) => Utf8Bytes(Bytes::from(String::from_utf8_lossy(&bytes).into_owned())),
        }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text. (Checked again rather than assumed: the check is cheap beside what the text
    /// is used for, and it keeps this crate free of `unsafe`.)
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The buffer, for a `bytes` field of a generated message.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<String> for Utf8Bytes {
    /// Takes over the string's allocation; nothing is copied.
    fn from(text: String) -> Self {
        Utf8Bytes(Bytes::from(text))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(text: &'static str) -> Self {
        Utf8Bytes::from_static(text)
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Valid by construction, so this borrows rather than replaces anything.
        fmt::Debug::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_bytes_are_kept_without_a_copy() {
        let bytes = Bytes::from(r#"{"message":"héllo"}"#.as_bytes().to_vec());
        let text = Utf8Bytes::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.as_bytes().as_ptr(), bytes.as_ptr());
        let lossy = Utf8Bytes::from_utf8_lossy(bytes.clone());
        assert_eq!(lossy.into_bytes().as_ptr(), bytes.as_ptr());
    }

    #[test]
    fn invalid_bytes_are_refused_or_replaced() {
        let bytes = Bytes::from_static(b"{\"a\":\"\xff\"}");
        let error = Utf8Bytes::from_utf8(bytes.clone()).unwrap_err();
        assert_eq!(error.valid_up_to(), 6);
        let lossy = Utf8Bytes::from_utf8_lossy(bytes);
        assert_eq!(lossy, "{\"a\":\"\u{FFFD}\"}");
    }

    #[test]
    fn a_string_becomes_bytes_without_a_copy() {
        let text = String::from("output");
        let pointer = text.as_ptr();
        assert_eq!(Utf8Bytes::from(text).into_bytes().as_ptr(), pointer);
    }
}

//! Media names: storage references (`omnia://sessions/{sid}/media/{mid}`), the ids in them, and
//! the object key each one is stored under.

use std::fmt;

/// The scheme and fixed part of a storage reference (Omnia's).
const PREFIX: &str = "omnia://sessions/";

/// The longest session id accepted in a media path.
const MAX_ID: usize = 128;

/// One stored file: which session it belongs to and its id there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaRef {
    pub session: String,
    pub media: String,
}

impl MediaRef {
    /// A new media id for `session`: 128 random bits (UUID v4, 122 of them random), so ids
    /// cannot be guessed from one another.
    pub fn new(session: &str) -> Self {
        Self {
            session: session.to_owned(),
            media: new_id(),
        }
    }

    /// `omnia://sessions/{sid}/media/{mid}` parsed; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        let (session, rest) = rest.split_once('/')?;
        let media = rest.strip_prefix("media/")?;
        Self::from_parts(session, media)
    }

    /// The pair from a route's two path segments, each checked as [`valid_id`].
    pub fn from_parts(session: &str, media: &str) -> Option<Self> {
        (valid_id(session) && valid_id(media)).then(|| Self {
            session: session.to_owned(),
            media: media.to_owned(),
        })
    }

    /// The object key under the backend's `prefix`: `{prefix}/sessions/{sid}/media/{mid}`.
    pub fn key(&self, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("sessions/{}/media/{}", self.session, self.media)
        } else {
            format!("{prefix}/sessions/{}/media/{}", self.session, self.media)
        }
    }
}

impl fmt::Display for MediaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}/media/{}", self.session, self.media)
    }
}

/// A fresh random id (32 lower-case hex digits).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `id` can name a session, a media file or an upload: 1 to 128 of `A-Z a-z 0-9 . _ -`,
/// not `.` or `..`. Anything else never reaches a key or a path (no `/`, no `%`, no traversal).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_key_under_the_prefix() {
        let reference = MediaRef::from_parts("s-1", "abc").unwrap();
        assert_eq!(reference.to_string(), "omnia://sessions/s-1/media/abc");
        assert_eq!(
            MediaRef::parse("omnia://sessions/s-1/media/abc"),
            Some(reference.clone())
        );
        assert_eq!(reference.key("uploads"), "uploads/sessions/s-1/media/abc");
        assert_eq!(reference.key(""), "sessions/s-1/media/abc");
    }

    #[test]
    fn traversal_and_foreign_shapes_are_not_references() {
        for text in [
            "omnia://sessions/../media/x",
            "omnia://sessions/s/media/..",
            "omnia://sessions/s/media/a/b",
            "omnia://sessions/s%2f/media/x",
            "omnia://sessions//media/x",
            "s3://bucket/key",
            "omnia://sessions/s/files/x",
        ] {
            assert_eq!(MediaRef::parse(text), None, "{text}");
        }
        assert!(!valid_id(&"a".repeat(129)));
        assert!(valid_id(&new_id()));
    }
}

//! An incremental Server-Sent Events decoder: bytes go in as the network hands them over, whole
//! events come out as soon as their blank line arrives, so nothing waits for the end of the body.
//!
//! It follows the WHATWG event-stream rules the providers rely on: lines end in `\n`, `\r\n` or
//! `\r`; `data:` lines of one event are joined with `\n`; a leading space after the colon is
//! dropped; lines starting with `:` are comments (keep-alives); `id:` and `retry:` are ignored
//! because no provider resumes a stream. A bound on the bytes of one event keeps a peer that
//! never sends a blank line from growing memory without end.

use bytes::{Buf, BytesMut};

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field, when the event has one (Anthropic names every event).
    pub name: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// An event grew past the bound without ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a server-sent event exceeded {limit} bytes without ending")]
pub(crate) struct Oversized {
    pub limit: usize,
}

/// The decoder's state between chunks.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Bytes of a line not yet ended.
    line: BytesMut,
    /// The event being assembled.
    name: Option<String>,
    data: String,
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// Bytes held for the current event (line + fields), checked against `limit`.
    limit: usize,
}

impl Decoder {
    /// A decoder that refuses events longer than `limit` bytes.
    pub(crate) fn new(limit: usize) -> Decoder {
        Decoder {
            line: BytesMut::new(),
            name: None,
            data: String::new(),
            has_data: false,
            after_cr: false,
            limit,
        }
    }

    /// Feeds one chunk; every event it completes is pushed to `events`.
    pub(crate) fn feed(
        &mut self,
        mut chunk: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<(), Oversized> {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk.advance(1);
        }
        self.after_cr = false;
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let terminator = chunk[end];
            self.line.extend_from_slice(&chunk[..end]);
            chunk.advance(end + 1);
            if terminator == b'\r' {
                match chunk.first() {
                    Some(b'\n') => chunk.advance(1),
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = self.line.split();
            self.line_ended(&line, events);
            self.check()?;
        }
        self.line.extend_from_slice(chunk);
        self.check()
    }

    fn check(&self) -> Result<(), Oversized> {
        if self.line.len() + self.data.len() > self.limit {
            return Err(Oversized { limit: self.limit });
        }
        Ok(())
    }

    fn line_ended(&mut self, line: &[u8], events: &mut Vec<Event>) {
        if line.is_empty() {
            // A blank line dispatches; an event with no data is dropped, as the spec says.
            if self.has_data {
                events.push(Event {
                    name: self.name.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.name = None;
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.name = Some(value.into_owned()),
            _ => {}
        }
    }

    /// The event left when the body ended without its blank line (Gemini's last event may end
    /// the body directly), if any.
    pub(crate) fn finish(&mut self) -> Option<Event> {
        if !self.line.is_empty() {
            let line = self.line.split();
            let mut events = Vec::new();
            self.line_ended(&line, &mut events);
        }
        self.has_data.then(|| {
            self.has_data = false;
            Event {
                name: self.name.take(),
                data: std::mem::take(&mut self.data),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "event: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: one\r\ndata:two\r\n\r\nevent: ping\ndata: {}\n\nid: 7\nretry: 10\ndata: [DONE]\n\n";

    fn expected() -> Vec<Event> {
        let event = |name: Option<&str>, data: &str| Event {
            name: name.map(str::to_owned),
            data: data.to_owned(),
        };
        vec![
            event(Some("message_start"), "{\"a\":1}"),
            event(None, "one\ntwo"),
            event(Some("ping"), "{}"),
            event(None, "[DONE]"),
        ]
    }

    fn decode(chunks: &[&[u8]]) -> Vec<Event> {
        let mut decoder = Decoder::new(1 << 20);
        let mut events = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut events).unwrap();
        }
        events.extend(decoder.finish());
        events
    }

    #[test]
    fn whole_stream_in_one_chunk() {
        assert_eq!(decode(&[STREAM.as_bytes()]), expected());
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(decode(&[a, b]), expected(), "split at {at}");
        }
    }

    #[test]
    fn byte_at_a_time() {
        let chunks: Vec<&[u8]> = STREAM.as_bytes().chunks(1).collect();
        assert_eq!(decode(&chunks), expected());
    }

    #[test]
    fn bare_cr_line_endings() {
        assert_eq!(
            decode(&[b"data: a\r\rdata: b\r", b"\r"]),
            vec![
                Event {
                    name: None,
                    data: "a".into()
                },
                Event {
                    name: None,
                    data: "b".into()
                }
            ]
        );
    }

    #[test]
    fn last_event_without_blank_line_is_kept() {
        assert_eq!(
            decode(&[b"data: {\"x\":1}\n\ndata: {\"y\":2}"]),
            vec![
                Event {
                    name: None,
                    data: "{\"x\":1}".into()
                },
                Event {
                    name: None,
                    data: "{\"y\":2}".into()
                }
            ]
        );
    }

    #[test]
    fn an_event_that_never_ends_is_refused() {
        let mut decoder = Decoder::new(64);
        let mut events = Vec::new();
        let long = [b'x'; 40];
        decoder.feed(b"data: ", &mut events).unwrap();
        decoder.feed(&long, &mut events).unwrap();
        assert_eq!(
            decoder.feed(&long, &mut events),
            Err(Oversized { limit: 64 })
        );
        // Many short data lines count too.
        let mut decoder = Decoder::new(64);
        let lines = "data: 0123456789\n".repeat(10);
        assert!(decoder.feed(lines.as_bytes(), &mut events).is_err());
    }
}

//! The read side of a WebSocket: whole messages out of frames, with the protocol's limits.
//!
//! Frames are parsed here rather than by fastwebsockets' read half, for two reasons. Memory: its
//! read half keeps an 8 KiB buffer per connection for as long as the connection lives, where
//! this reader holds no buffer at all while a connection is idle (it reads into a small buffer
//! inside its future and keeps only the bytes of a frame still arriving), which is most of what
//! an idle WebSocket costs. And cancel safety: [`FrameReader::next`] can be raced against the
//! connection's other work in a `select!`, because its only await is a read whose bytes are
//! stored before anything else can happen, so one task serves a connection. The limits hold
//! for whole messages: a message sent in many fragments is capped and UTF-8-checked as a whole.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use fastwebsockets::OpCode;
use tokio::io::{AsyncRead, AsyncReadExt};

/// What the connection learns from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A whole text message, valid UTF-8.
    Text(Bytes),
    /// A whole binary message.
    Binary(Bytes),
    /// A ping; the connection answers it with a pong carrying `payload`.
    Ping(Bytes),
    /// A pong (the answer to the connection's ping, or unsolicited: both show the peer is there).
    Pong,
    /// The client's close frame, with its status code when it gave a valid one.
    Close(Option<u16>),
    /// The client broke the protocol; the connection closes with this code and reason.
    Violation { code: u16, reason: &'static str },
    /// The connection is gone (end of stream or an I/O error) without a close frame.
    Gone,
}

/// Close codes the reader asks for.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
}

/// After a violation, how long the connection keeps reading (and dropping) what the client
/// still sends, so that closing the socket with unread data does not make the kernel answer
/// with a reset, which can destroy the close frame before the client reads it.
pub const LINGER: Duration = Duration::from_secs(2);

/// Reads of at most this many bytes go through a buffer in the reader's future; a frame whose
/// rest is longer is read straight into its own buffer.
const SMALL_READ: usize = 1024;

/// A buffer at least this large is let go once a message is through, so a connection that once
/// received a big message does not keep its memory while idle.
const KEEP_AT_MOST: usize = 4096;

/// Parses client frames from a byte stream.
#[derive(Debug)]
pub struct FrameReader {
    max_message: usize,
    /// Bytes received and not yet parsed into a frame.
    buffer: BytesMut,
    assembly: Assembly,
    /// The reader has reported the end of the connection or a violation; it reads no more.
    done: bool,
}

impl FrameReader {
    /// A reader of messages no larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            buffer: BytesMut::new(),
            assembly: Assembly::default(),
            done: false,
        }
    }

    /// The next event from `io`. Cancel-safe: dropping the future loses no bytes.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> Inbound {
        if self.done {
            return std::future::pending().await;
        }
        loop {
            match self.parse() {
                Parsed::Event(event) => {
                    self.done = matches!(
                        event,
                        Inbound::Close(_) | Inbound::Violation { .. } | Inbound::Gone
                    );
                    if self.buffer.is_empty() && self.buffer.capacity() >= KEEP_AT_MOST {
                        self.buffer = BytesMut::new();
                    }
                    return event;
                }
                Parsed::Need(more) if more > SMALL_READ => {
                    self.buffer.reserve(more);
                    match io.read_buf(&mut self.buffer).await {
                        Ok(0) | Err(_) => return self.gone(),
                        Ok(_) => {}
                    }
                }
                Parsed::Need(_) => {
                    let mut small = [0u8; SMALL_READ];
                    match io.read(&mut small).await {
                        Ok(0) | Err(_) => return self.gone(),
                        Ok(n) => self.buffer.extend_from_slice(&small[..n]),
                    }
                }
            }
        }
    }

    fn gone(&mut self) -> Inbound {
        self.done = true;
        Inbound::Gone
    }

    /// The event the buffered bytes make, or how many more bytes are needed at least.
    fn parse(&mut self) -> Parsed {
        // A loop, not recursion: a burst of tiny fragments already buffered must not grow the
        // stack with every one.
        loop {
            let Some(head) = Head::parse(&self.buffer) else {
                // The header is at most 14 bytes: a small read.
                return Parsed::Need(1);
            };
            let head = match head {
                Ok(head) => head,
                Err(violation) => return Parsed::Event(violation),
            };
            if head.payload > self.max_message as u64 {
                return Parsed::Event(Inbound::Violation {
                    code: close::TOO_BIG,
                    reason: "message too big",
                });
            }
            // Within the limit, so it fits a usize.
            let payload = head.payload as usize;
            let total = head.length + payload;
            if self.buffer.len() < total {
                return Parsed::Need(total - self.buffer.len());
            }
            self.buffer.advance(head.length);
            let mut data = self.buffer.split_to(payload);
            fastwebsockets::unmask(&mut data, head.mask);
            if let Some(event) = self
                .assembly
                .push(head.fin, head.opcode, data, self.max_message)
            {
                return Parsed::Event(event);
            }
            // A fragment: parse on (the next frame may be buffered already).
        }
    }
}

enum Parsed {
    Event(Inbound),
    Need(usize),
}

/// A frame header.
#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    opcode: OpCode,
    mask: [u8; 4],
    payload: u64,
    /// Bytes of the header itself.
    length: usize,
}

impl Head {
    /// `None` until the whole header has arrived; a violation for a header no client may send.
    fn parse(bytes: &[u8]) -> Option<Result<Head, Inbound>> {
        let protocol = |reason| {
            Some(Err(Inbound::Violation {
                code: close::PROTOCOL_ERROR,
                reason,
            }))
        };
        let [first, second, ..] = *bytes else {
            return None;
        };
        if first & 0x70 != 0 {
            return protocol("reserved bits set (no extension was agreed)");
        }
        let opcode = match first & 0x0f {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            _ => return protocol("unknown opcode"),
        };
        let fin = first & 0x80 != 0;
        if second & 0x80 == 0 {
            return protocol("a client frame must be masked");
        }
        let (payload, at) = match second & 0x7f {
            126 => (
                u64::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])),
                4,
            ),
            127 => {
                let length: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
                (u64::from_be_bytes(length), 10)
            }
            short => (u64::from(short), 2),
        };
        let mask: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        let control = matches!(opcode, OpCode::Close | OpCode::Ping | OpCode::Pong);
        if control && (!fin || payload > 125) {
            return protocol("a control frame must be whole and at most 125 bytes");
        }
        Some(Ok(Head {
            fin,
            opcode,
            mask,
            payload,
            length: at + 4,
        }))
    }
}

/// Reads and drops what `io` still sends, for up to [`LINGER`] (see there).
pub async fn linger<R: AsyncRead + Unpin>(io: &mut R) {
    let _ = tokio::time::timeout(LINGER, tokio::io::copy(io, &mut tokio::io::sink())).await;
}

/// A message arriving in fragments.
#[derive(Debug, Default)]
struct Assembly {
    /// The opcode of the first fragment (text or binary) and what has arrived so far.
    partial: Option<(OpCode, BytesMut)>,
}

impl Assembly {
    /// The event a frame completes, if any.
    fn push(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: BytesMut,
        max_message: usize,
    ) -> Option<Inbound> {
        match opcode {
            OpCode::Ping => Some(Inbound::Ping(payload.freeze())),
            OpCode::Pong => Some(Inbound::Pong),
            OpCode::Close => Some(close_frame(&payload)),
            OpCode::Text | OpCode::Binary if self.partial.is_some() => Some(Inbound::Violation {
                code: close::PROTOCOL_ERROR,
                reason: "a new message began before the fragmented one ended",
            }),
            OpCode::Text | OpCode::Binary if fin => {
                let message = payload.freeze();
                if opcode == OpCode::Text && std::str::from_utf8(&message).is_err() {
                    return Some(Inbound::Violation {
                        code: close::INVALID_PAYLOAD,
                        reason: "text frame is not UTF-8",
                    });
                }
                Some(whole(opcode, message))
            }
            OpCode::Text | OpCode::Binary => {
                self.partial = Some((opcode, payload));
                None
            }
            OpCode::Continuation => {
                let Some((_, buffer)) = self.partial.as_mut() else {
                    return Some(Inbound::Violation {
                        code: close::PROTOCOL_ERROR,
                        reason: "continuation frame without a message to continue",
                    });
                };
                if buffer.len() + payload.len() > max_message {
                    return Some(Inbound::Violation {
                        code: close::TOO_BIG,
                        reason: "message too big",
                    });
                }
                buffer.extend_from_slice(&payload);
                if !fin {
                    return None;
                }
                let (opcode, buffer) = self.partial.take()?;
                let message = buffer.freeze();
                if opcode == OpCode::Text && std::str::from_utf8(&message).is_err() {
                    return Some(Inbound::Violation {
                        code: close::INVALID_PAYLOAD,
                        reason: "text message is not UTF-8",
                    });
                }
                Some(whole(opcode, message))
            }
        }
    }
}

fn whole(opcode: OpCode, message: Bytes) -> Inbound {
    if opcode == OpCode::Text {
        Inbound::Text(message)
    } else {
        Inbound::Binary(message)
    }
}

/// A close frame's payload: empty, or a two-byte code and a UTF-8 reason.
fn close_frame(payload: &[u8]) -> Inbound {
    match payload {
        [] => Inbound::Close(None),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !sendable(code) || std::str::from_utf8(reason).is_err() {
                return Inbound::Violation {
                    code: close::PROTOCOL_ERROR,
                    reason: "invalid close frame",
                };
            }
            Inbound::Close(Some(code))
        }
        [_] => Inbound::Violation {
            code: close::PROTOCOL_ERROR,
            reason: "invalid close frame",
        },
    }
}

/// Codes a peer may put in a close frame (RFC 6455 7.4).
fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn push(assembly: &mut Assembly, fin: bool, opcode: OpCode, data: &[u8]) -> Option<Inbound> {
        assembly.push(fin, opcode, BytesMut::from(data), 10)
    }

    #[test]
    fn fragments_are_joined_and_checked_whole() {
        let mut assembly = Assembly::default();
        assert_eq!(push(&mut assembly, false, OpCode::Text, b"hel"), None);
        // A control frame may come between fragments.
        assert_eq!(
            push(&mut assembly, true, OpCode::Pong, b""),
            Some(Inbound::Pong)
        );
        assert_eq!(
            push(&mut assembly, true, OpCode::Continuation, b"lo"),
            Some(Inbound::Text(Bytes::from_static(b"hello")))
        );
        // "é" split across two fragments is valid once whole.
        assert_eq!(push(&mut assembly, false, OpCode::Text, &[0xc3]), None);
        assert_eq!(
            push(&mut assembly, true, OpCode::Continuation, &[0xa9]),
            Some(Inbound::Text(Bytes::from("é")))
        );
    }

    #[test]
    fn the_size_limit_holds_for_the_whole_message() {
        let mut assembly = Assembly::default();
        assert_eq!(push(&mut assembly, false, OpCode::Binary, b"123456"), None);
        assert_eq!(
            push(&mut assembly, true, OpCode::Continuation, b"7890a"),
            Some(Inbound::Violation {
                code: close::TOO_BIG,
                reason: "message too big"
            })
        );
    }

    #[test]
    fn broken_sequences_and_text_are_violations() {
        let mut assembly = Assembly::default();
        assert!(matches!(
            push(&mut assembly, true, OpCode::Continuation, b"x"),
            Some(Inbound::Violation {
                code: close::PROTOCOL_ERROR,
                ..
            })
        ));
        assert_eq!(push(&mut assembly, false, OpCode::Text, &[0xff]), None);
        assert!(matches!(
            push(&mut assembly, true, OpCode::Continuation, b""),
            Some(Inbound::Violation {
                code: close::INVALID_PAYLOAD,
                ..
            })
        ));
        assert_eq!(push(&mut assembly, false, OpCode::Text, b"a"), None);
        assert!(matches!(
            push(&mut assembly, true, OpCode::Text, b"b"),
            Some(Inbound::Violation {
                code: close::PROTOCOL_ERROR,
                ..
            })
        ));
    }

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    async fn events(bytes: Vec<u8>, max: usize) -> Vec<Inbound> {
        let mut reader = FrameReader::new(max);
        let mut io = &bytes[..];
        let mut seen = Vec::new();
        loop {
            let event = reader.next(&mut io).await;
            let last = matches!(
                event,
                Inbound::Gone | Inbound::Close(_) | Inbound::Violation { .. }
            );
            seen.push(event);
            if last {
                return seen;
            }
        }
    }

    #[tokio::test]
    async fn frames_of_every_size_class_are_read_and_unmasked() {
        let big = vec![b'x'; 70_000];
        let mut bytes = frame(true, 0x1, b"hello");
        bytes.extend(frame(true, 0x2, &[0u8; 300]));
        bytes.extend(frame(true, 0x1, &big));
        bytes.extend(frame(true, 0x9, b"p"));
        bytes.extend(frame(true, 0x8, &[0x03, 0xe8]));
        assert_eq!(
            events(bytes, 100_000).await,
            [
                Inbound::Text(Bytes::from_static(b"hello")),
                Inbound::Binary(Bytes::from(vec![0u8; 300])),
                Inbound::Text(Bytes::from(big)),
                Inbound::Ping(Bytes::from_static(b"p")),
                Inbound::Close(Some(1000)),
            ]
        );
    }

    #[tokio::test]
    async fn a_burst_of_a_hundred_thousand_empty_fragments_is_one_message() {
        let mut bytes = frame(false, 0x1, b"a");
        for _ in 0..100_000 {
            bytes.extend(frame(false, 0x0, b""));
        }
        bytes.extend(frame(true, 0x0, b"b"));
        assert_eq!(
            events(bytes, 1000).await,
            [Inbound::Text(Bytes::from_static(b"ab")), Inbound::Gone]
        );
    }

    #[tokio::test]
    async fn headers_no_client_may_send_are_violations() {
        let unmasked = vec![0x81, 0x02, b'h', b'i'];
        let reserved = {
            let mut f = frame(true, 0x1, b"hi");
            f[0] |= 0x40;
            f
        };
        let long_ping = frame(true, 0x9, &[0u8; 126]);
        let fragmented_ping = frame(false, 0x9, b"p");
        let opcode = frame(true, 0x3, b"?");
        for bytes in [unmasked, reserved, long_ping, fragmented_ping, opcode] {
            assert!(matches!(
                events(bytes, 1000).await.last(),
                Some(Inbound::Violation {
                    code: close::PROTOCOL_ERROR,
                    ..
                })
            ));
        }
        assert!(matches!(
            events(frame(true, 0x1, &[b'a'; 1001]), 1000).await.last(),
            Some(Inbound::Violation {
                code: close::TOO_BIG,
                ..
            })
        ));
        assert!(matches!(
            events(frame(true, 0x1, &[0xff]), 1000).await.last(),
            Some(Inbound::Violation {
                code: close::INVALID_PAYLOAD,
                ..
            })
        ));
        assert_eq!(
            events(frame(true, 0x1, b"hi")[..4].to_vec(), 1000).await,
            [Inbound::Gone]
        );
    }

    #[tokio::test]
    async fn a_read_cancelled_mid_frame_loses_nothing_and_a_big_buffer_is_let_go() {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let mut reader = FrameReader::new(1 << 20);
        let bytes = frame(true, 0x2, &vec![7u8; 50_000]);
        use tokio::io::AsyncWriteExt;
        client.write_all(&bytes[..20_000]).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(20), reader.next(&mut server)).await;
        assert!(early.is_err(), "a partial frame is not an event");
        client.write_all(&bytes[20_000..]).await.unwrap();
        assert_eq!(
            reader.next(&mut server).await,
            Inbound::Binary(Bytes::from(vec![7u8; 50_000]))
        );
        assert_eq!(
            reader.buffer.capacity(),
            0,
            "the message's buffer is released"
        );
    }

    #[test]
    fn close_frames() {
        assert_eq!(close_frame(b""), Inbound::Close(None));
        assert_eq!(
            close_frame(&[0x03, 0xe8, b'o', b'k']),
            Inbound::Close(Some(1000))
        );
        assert!(matches!(close_frame(&[0x03]), Inbound::Violation { .. }));
        // 1005 and 1006 are never sent on the wire.
        assert!(matches!(
            close_frame(&[0x03, 0xed]),
            Inbound::Violation { .. }
        ));
    }
}

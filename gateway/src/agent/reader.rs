//! The read side of a WebSocket: whole messages out of frames, with the protocol's limits.
//!
//! It runs as a task of its own and hands each event to the connection over a channel, because
//! fastwebsockets' `read_frame` is not cancel-safe (a frame header consumed before a cancelled
//! payload read is lost), so it must not be raced against the connection's other work in a
//! `select!`. fastwebsockets checks one frame: its size and, when it is a whole text message,
//! its UTF-8. Reassembly is done here, so that the size limit holds for a message sent in many
//! fragments too, and fragmented text is checked once whole.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fastwebsockets::{OpCode, Payload, Role, WebSocketError, WebSocketRead};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

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

/// Reads messages no larger than `max_message` bytes from `stream` into `events` until the client
/// closes, breaks the protocol, goes away, or the connection stops listening.
///
/// After a violation the connection sends its close frame; what the client still sends is read
/// and dropped for up to [`LINGER`], so that closing the socket with unread data does not make
/// the kernel answer with a reset, which can destroy the close frame before the client reads it.
pub async fn run<R>(mut stream: R, max_message: usize, events: mpsc::Sender<Inbound>)
where
    R: AsyncRead + Unpin,
{
    let violated = {
        // The write half of this pair is unused: the connection writes through its own.
        let (mut read, _) =
            fastwebsockets::after_handshake_split(&mut stream, tokio::io::sink(), Role::Server);
        read_messages(&mut read, max_message, &events).await
    };
    if violated {
        let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut stream, &mut tokio::io::sink()))
            .await;
    }
}

/// How long the reader keeps reading (and dropping) after a protocol violation.
pub const LINGER: Duration = Duration::from_secs(2);

/// The loop of [`run`]; true when it ended on a violation.
async fn read_messages<S>(
    read: &mut WebSocketRead<S>,
    max_message: usize,
    events: &mpsc::Sender<Inbound>,
) -> bool
where
    S: AsyncRead + Unpin,
{
    // Pings and closes are the connection's to answer: it owns the write half.
    read.set_auto_pong(false);
    read.set_auto_close(false);
    // fastwebsockets refuses a frame of `len >= max`.
    read.set_max_message_size(max_message.saturating_add(1));
    let mut assembly = Assembly::default();
    loop {
        let frame = read
            .read_frame::<_, std::io::Error>(&mut |_| async { Ok(()) })
            .await;
        let event = match frame {
            Ok(frame) => match assembly.push(frame.fin, frame.opcode, frame.payload, max_message) {
                Some(event) => event,
                None => continue,
            },
            Err(error) => refusal(&error),
        };
        let violated = matches!(event, Inbound::Violation { .. });
        let last = violated || matches!(event, Inbound::Close(_) | Inbound::Gone);
        if events.send(event).await.is_err() || last {
            return violated;
        }
    }
}

/// The event for an error of fastwebsockets' frame reading.
fn refusal(error: &WebSocketError) -> Inbound {
    match error {
        WebSocketError::FrameTooLarge => Inbound::Violation {
            code: close::TOO_BIG,
            reason: "message too big",
        },
        WebSocketError::InvalidUTF8 => Inbound::Violation {
            code: close::INVALID_PAYLOAD,
            reason: "text frame is not UTF-8",
        },
        WebSocketError::UnexpectedEOF
        | WebSocketError::IoError(_)
        | WebSocketError::ConnectionClosed => Inbound::Gone,
        _ => Inbound::Violation {
            code: close::PROTOCOL_ERROR,
            reason: "protocol error",
        },
    }
}

/// A message arriving in fragments.
#[derive(Default)]
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
        payload: Payload<'_>,
        max_message: usize,
    ) -> Option<Inbound> {
        match opcode {
            OpCode::Ping => Some(Inbound::Ping(owned(payload))),
            OpCode::Pong => Some(Inbound::Pong),
            OpCode::Close => Some(close_frame(&payload)),
            OpCode::Text | OpCode::Binary if self.partial.is_some() => Some(Inbound::Violation {
                code: close::PROTOCOL_ERROR,
                reason: "a new message began before the fragmented one ended",
            }),
            OpCode::Text | OpCode::Binary if fin => Some(whole(opcode, owned(payload))),
            OpCode::Text | OpCode::Binary => {
                self.partial = Some((opcode, BytesMut::from(&payload[..])));
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

fn owned(payload: Payload<'_>) -> Bytes {
    match payload {
        Payload::Bytes(bytes) => bytes.freeze(),
        other => Bytes::copy_from_slice(&other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(assembly: &mut Assembly, fin: bool, opcode: OpCode, data: &[u8]) -> Option<Inbound> {
        assembly.push(fin, opcode, Payload::Borrowed(data), 10)
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

//! A raw HTTP/2 prior-knowledge (h2c) client that writes frames by hand, for tests that must do
//! what a well-behaved client library will not: read the server's SETTINGS, open more streams
//! than it allows, or send an HPACK-compressed header block that expands far past its size.
//!
//! HPACK here is the minimum: static-table references, literals without Huffman coding, and a
//! decoder for the `:status` of a response (indexed, or a literal whose digits may be Huffman
//! coded, which is how the `h2` crate writes statuses outside the static table).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::PATIENCE;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;

pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// `RST_STREAM` error code: the server refused the stream before doing any work on it.
pub const REFUSED_STREAM: u32 = 0x7;

/// One frame as read off the wire.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// An h2c connection driven frame by frame.
pub struct RawH2 {
    stream: TcpStream,
    /// The server's SETTINGS, as `(identifier, value)` pairs.
    pub settings: Vec<(u16, u32)>,
}

impl RawH2 {
    /// Connects, exchanges the preface and SETTINGS (acknowledging the server's).
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut connection = Self {
            stream,
            settings: Vec::new(),
        };
        connection.send(SETTINGS, 0, 0, &[]).await;
        loop {
            let frame = connection
                .read_frame()
                .await
                .expect("no SETTINGS from the server");
            if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                connection.settings = frame
                    .payload
                    .chunks_exact(6)
                    .map(|entry| {
                        let id = u16::from_be_bytes([entry[0], entry[1]]);
                        let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
                        (id, value)
                    })
                    .collect();
                connection.send(SETTINGS, ACK, 0, &[]).await;
                return connection;
            }
        }
    }

    /// The server's value for a setting, if it sent one.
    pub fn setting(&self, id: u16) -> Option<u32> {
        self.settings
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| *v)
    }

    pub async fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&len[1..]);
        frame.extend_from_slice(&[kind, flags]);
        frame.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next frame; `None` once the server has closed the connection.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let read = async {
            let mut head = [0u8; 9];
            self.stream.read_exact(&mut head).await.ok()?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).await.ok()?;
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            Some(Frame {
                kind: head[3],
                flags: head[4],
                stream,
                payload,
            })
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("the server neither sent a frame nor closed")
    }

    /// The next frame about `stream` (HEADERS, DATA or RST_STREAM), or a GOAWAY; answers
    /// SETTINGS and PINGs on the way. Panics if the connection closes first.
    pub async fn next_on(&mut self, stream: u32) -> Frame {
        loop {
            let frame = self.read_frame().await.unwrap_or_else(|| {
                panic!("the connection closed while waiting on stream {stream}")
            });
            match frame.kind {
                SETTINGS if frame.flags & ACK == 0 => self.send(SETTINGS, ACK, 0, &[]).await,
                PING if frame.flags & ACK == 0 => {
                    let payload = frame.payload.clone();
                    self.send(PING, ACK, 0, &payload).await;
                }
                GOAWAY => return frame,
                _ if frame.stream == stream => return frame,
                _ => {}
            }
        }
    }

    /// The response status on `stream`: reads up to its HEADERS frame.
    pub async fn status_on(&mut self, stream: u32) -> u16 {
        let frame = self.next_on(stream).await;
        assert_eq!(
            frame.kind, HEADERS,
            "expected response headers, got {frame:?}"
        );
        status(&frame.payload)
    }
}

/// An HPACK block opening a POST to `path` with a JSON content type, from static-table names.
pub fn post_headers(path: &str) -> Vec<u8> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    literal_indexed_name(&mut block, 4, path); // :path
    literal_indexed_name(&mut block, 1, "localhost"); // :authority
    literal_indexed_name(&mut block, 31, "application/json"); // content-type
    block
}

/// Appends a header that names `name` by its static-table `index`, not added to the table.
fn literal_indexed_name(block: &mut Vec<u8>, index: usize, value: &str) {
    integer(block, 0x00, 4, index);
    string(block, value.as_bytes());
}

/// Appends `name: value` as a new entry of the decoder's dynamic table (index 62 while it is
/// the newest), then `repeats` one-byte references to it: a block of about `value.len()` bytes
/// that decodes into `repeats + 1` copies of the header.
pub fn expanding_header(block: &mut Vec<u8>, name: &str, value: &[u8], repeats: usize) {
    block.push(0x40); // literal with incremental indexing, new name
    string(block, name.as_bytes());
    string(block, value);
    for _ in 0..repeats {
        integer(block, 0x80, 7, 62);
    }
}

/// A string literal, not Huffman coded.
fn string(block: &mut Vec<u8>, bytes: &[u8]) {
    integer(block, 0x00, 7, bytes.len());
    block.extend_from_slice(bytes);
}

/// HPACK integer with an `n`-bit prefix under `flags` (RFC 7541, 5.1).
fn integer(block: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        block.push(flags | value as u8);
        return;
    }
    block.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        block.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    block.push(rest as u8);
}

/// The `:status` of a response header block: the first field, by the HPACK rules.
pub fn status(block: &[u8]) -> u16 {
    const INDEXED: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];
    let first = block[0];
    if first & 0x80 != 0 {
        let index = usize::from(first & 0x7f);
        return INDEXED[index.checked_sub(8).expect("first field is not :status")];
    }
    // A literal naming :status (static index 8), with or without indexing.
    let name_index = if first & 0x40 != 0 {
        first & 0x3f
    } else {
        first & 0x0f
    };
    assert_eq!(name_index, 8, "first field is not :status: {block:?}");
    let (huffman, len) = (block[1] & 0x80 != 0, usize::from(block[1] & 0x7f));
    let value = &block[2..2 + len];
    let digits = if huffman {
        huffman_digits(value)
    } else {
        String::from_utf8(value.to_vec()).unwrap()
    };
    digits[..3].parse().unwrap()
}

/// Decodes a Huffman-coded run of ASCII digits (RFC 7541, Appendix B: `0`-`2` are 5 bits,
/// `00000`-`00010`; `3`-`9` are 6 bits, `011001`-`011111`), stopping at the padding.
fn huffman_digits(bytes: &[u8]) -> String {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |i| (byte >> i) & 1))
        .collect();
    let take = |at: usize, n: usize| bits[at..at + n].iter().fold(0u8, |v, b| v << 1 | b);
    let mut out = String::new();
    let mut at = 0;
    while at + 5 <= bits.len() && out.len() < 3 {
        let five = take(at, 5);
        if five <= 2 {
            out.push(char::from(b'0' + five));
            at += 5;
        } else {
            let six = take(at, 6);
            out.push(char::from(b'0' + six - 0x19 + 3));
            at += 6;
        }
    }
    out
}

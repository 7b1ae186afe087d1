//! The WebSocket scenarios, over Omnia's protocol at `ws://HOST:PORT/ws?agent=NAME`.
//!
//! - `stream` (`ws-stream`): sessions sending chat turns back to back, timing each frame;
//! - `idle` (`ws-idle`): many connections held open, and the server's memory per connection.
//!
//! They are runners of their own rather than `Scenario` impls: a turn is many frames with
//! timings of their own (first chunk, gaps), a session may stop after a number of turns, and
//! `ws-idle` does not exchange at all. What they share is here: the target (`target`), what a
//! server frame is (`frame`), and the ways a connection fails ([`Failure`]).

pub mod fd_limit;
pub mod frame;
pub mod idle;
pub mod idle_report;
pub mod rss;
pub mod stream;
pub mod stream_recorder;
pub mod stream_report;
pub mod target;
pub mod turn;

use fastwebsockets::WebSocketError;
use tokio::sync::watch;

/// `EMFILE` (the process's descriptor limit) and `ENFILE` (the system's): the same numbers on
/// Linux, macOS and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// Why a connection could not open, or what went wrong on it. A closed set, ordered, so tallies
/// are small maps keyed by it and labels are only made for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// The TCP connect was refused (nothing listening).
    ConnectRefused,
    /// The generator has no file descriptor left for a socket (`EMFILE` / `ENFILE`).
    NoDescriptors,
    /// The TCP connect failed otherwise.
    Connect,
    /// The server answered the upgrade with this HTTP status instead of `101`.
    Refused(u16),
    /// The upgrade failed otherwise (bad headers, connection lost during it).
    Handshake,
    /// The first frame after the upgrade was not `connected`.
    NoConnected,
    /// No `connected` frame, or no end of the turn, within `--timeout`.
    Timeout,
    /// The server sent a close frame, with this code if it gave one.
    Closed(Option<u16>),
    /// The connection ended without a close frame.
    Eof,
    /// The connection was reset by the peer.
    Reset,
    /// Another I/O error.
    Io,
    /// The server broke the WebSocket framing (reserved bits, bad fragments, invalid UTF-8).
    Protocol,
    /// A text frame that is not a JSON object with a string `type`.
    BadFrame,
    /// A frame of a turn (`chunk`, `done`, `tool_*`) while no turn was in flight: after `done`
    /// or `error` and before the next message.
    FrameAfterDone,
    /// A second `connected` frame.
    ConnectedAgain,
}

impl Failure {
    /// Stable name used in reports and JSON (`connect_refused`, `handshake_401`, `close_1001`).
    pub fn label(self) -> String {
        match self {
            Failure::ConnectRefused => "connect_refused".to_owned(),
            Failure::NoDescriptors => "no_descriptors".to_owned(),
            Failure::Connect => "connect".to_owned(),
            Failure::Refused(status) => format!("handshake_{status}"),
            Failure::Handshake => "handshake".to_owned(),
            Failure::NoConnected => "no_connected".to_owned(),
            Failure::Timeout => "timeout".to_owned(),
            Failure::Closed(Some(code)) => format!("close_{code}"),
            Failure::Closed(None) => "close".to_owned(),
            Failure::Eof => "eof".to_owned(),
            Failure::Reset => "reset".to_owned(),
            Failure::Io => "io".to_owned(),
            Failure::Protocol => "protocol".to_owned(),
            Failure::BadFrame => "bad_frame".to_owned(),
            Failure::FrameAfterDone => "frame_after_done".to_owned(),
            Failure::ConnectedAgain => "connected_again".to_owned(),
        }
    }

    /// Whether the connection never opened (a session backs off before trying again).
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            Failure::ConnectRefused
                | Failure::NoDescriptors
                | Failure::Connect
                | Failure::Refused(_)
                | Failure::Handshake
                | Failure::NoConnected
        )
    }

    /// Classifies an I/O error of the TCP connect.
    pub fn from_connect(error: &std::io::Error) -> Self {
        if matches!(error.raw_os_error(), Some(EMFILE | ENFILE)) {
            return Failure::NoDescriptors;
        }
        match error.kind() {
            std::io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
            std::io::ErrorKind::TimedOut => Failure::Timeout,
            _ => Failure::Connect,
        }
    }

    /// Classifies an error of the upgrade request.
    pub fn from_handshake(error: &WebSocketError) -> Self {
        match error {
            WebSocketError::InvalidStatusCode(status) => Failure::Refused(*status),
            WebSocketError::IoError(io) if matches!(io.raw_os_error(), Some(EMFILE | ENFILE)) => {
                Failure::NoDescriptors
            }
            _ => Failure::Handshake,
        }
    }

    /// Classifies an error of reading or writing frames on an open connection.
    pub fn from_frames(error: &WebSocketError) -> Self {
        match error {
            WebSocketError::UnexpectedEOF => Failure::Eof,
            WebSocketError::ConnectionClosed => Failure::Closed(None),
            WebSocketError::IoError(io) => Self::from_io(io),
            WebSocketError::SendError(_) => Failure::Io,
            _ => Failure::Protocol,
        }
    }

    fn from_io(error: &std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                Failure::Reset
            }
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe => Failure::Eof,
            _ => Failure::Io,
        }
    }
}

/// Resolves once `stop` is true. A dropped sender means nobody can ask to stop any more, so
/// this then never resolves (rather than reading as a stop).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The close code of a close frame's payload (`None` for an empty payload).
pub fn close_code(payload: &[u8]) -> Option<u16> {
    match payload {
        [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_status_and_close_codes() {
        assert_eq!(Failure::Refused(401).label(), "handshake_401");
        assert_eq!(Failure::Closed(Some(1001)).label(), "close_1001");
        assert_eq!(Failure::Closed(None).label(), "close");
        assert_eq!(Failure::FrameAfterDone.label(), "frame_after_done");
    }

    #[test]
    fn running_out_of_descriptors_is_its_own_kind() {
        let emfile = std::io::Error::from_raw_os_error(EMFILE);
        assert_eq!(Failure::from_connect(&emfile), Failure::NoDescriptors);
        let handshake = WebSocketError::IoError(std::io::Error::from_raw_os_error(ENFILE));
        assert_eq!(Failure::from_handshake(&handshake), Failure::NoDescriptors);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(Failure::from_connect(&refused), Failure::ConnectRefused);
        assert!(Failure::NoDescriptors.is_connect());
        assert!(!Failure::Timeout.is_connect());
    }

    #[test]
    fn handshake_and_frame_errors_are_classified() {
        let status = WebSocketError::InvalidStatusCode(503);
        assert_eq!(Failure::from_handshake(&status), Failure::Refused(503));
        assert_eq!(
            Failure::from_frames(&WebSocketError::UnexpectedEOF),
            Failure::Eof
        );
        let reset = WebSocketError::IoError(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(Failure::from_frames(&reset), Failure::Reset);
        assert_eq!(
            Failure::from_frames(&WebSocketError::ReservedBitsNotZero),
            Failure::Protocol
        );
    }

    #[test]
    fn close_codes_come_from_the_first_two_bytes() {
        assert_eq!(close_code(&[0x03, 0xe9, b'b', b'y', b'e']), Some(1001));
        assert_eq!(close_code(&[]), None);
    }
}

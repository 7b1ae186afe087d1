//! Scenarios: what one exchange with the server is. Load models (`crate::model`) decide when
//! exchanges happen and time them; a scenario only knows how to perform one.
//!
//! The WebSocket scenarios are not `Scenario` impls: a turn is many frames with timings of their
//! own, and `ws-idle` does not exchange at all, so they are runners of their own in `crate::ws`.

pub mod function;

use std::future::Future;

/// A kind of request/reply traffic that the load models can drive.
pub trait Scenario: Send + Sync + 'static {
    /// One worker's client state (its connection); created once per worker.
    type Worker: Exchange;

    /// Short name of the scenario for reports (`function`).
    fn name(&self) -> &'static str;

    /// A new worker. It connects lazily, so connecting counts in its first exchange's latency.
    fn worker(&self) -> Self::Worker;
}

/// One worker's side of the traffic: performs exchanges one after another.
pub trait Exchange: Send + 'static {
    /// Sends one request and waits for the complete reply, (re)connecting first if needed.
    fn exchange(&mut self) -> impl Future<Output = Outcome> + Send;

    /// Drops the connection after an exchange was abandoned (timed out), because its state is
    /// unknown; the next exchange reconnects.
    fn abandon(&mut self);
}

/// How one exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete reply with this HTTP status (any status: the recorder decides what an error is).
    Reply {
        /// The HTTP status code.
        status: u16,
    },
    /// No complete reply.
    Failed(ErrorKind),
}

/// Why an exchange produced no reply; a small closed set so tallies are an array, not a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The TCP connect was refused (nothing listening).
    ConnectRefused,
    /// The TCP connect failed otherwise.
    Connect,
    /// The HTTP/1 or HTTP/2 handshake failed.
    Handshake,
    /// The connection was reset by the peer.
    Reset,
    /// The connection closed before the reply was complete.
    Closed,
    /// No complete reply within `--timeout`.
    Timeout,
    /// The reply was not valid HTTP.
    Protocol,
    /// Another I/O error.
    Io,
    /// Anything else.
    Other,
    /// Open model: due but never sent before the run ended, because every connection stayed
    /// busy (the target could not keep up with the rate).
    Unsent,
}

impl ErrorKind {
    /// Every kind, in tally order.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::ConnectRefused,
        ErrorKind::Connect,
        ErrorKind::Handshake,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Io,
        ErrorKind::Other,
        ErrorKind::Unsent,
    ];

    /// Stable name used in reports and JSON.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::Connect => "connect",
            ErrorKind::Handshake => "handshake",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Io => "io",
            ErrorKind::Other => "other",
            ErrorKind::Unsent => "unsent",
        }
    }

    /// Position in `ALL`, used as a tally index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the failure happened while connecting (a closed-model worker backs off after it).
    pub fn is_connect(self) -> bool {
        matches!(self, ErrorKind::ConnectRefused | ErrorKind::Connect)
    }

    /// Classifies an I/O error seen during connect.
    pub fn from_connect(error: &std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Connect,
        }
    }

    /// Classifies a hyper error seen while sending or receiving.
    pub fn from_hyper(error: &hyper::Error) -> Self {
        if error.is_timeout() {
            return ErrorKind::Timeout;
        }
        if error.is_parse() || error.is_parse_status() || error.is_parse_too_large() {
            return ErrorKind::Protocol;
        }
        if let Some(io) = find_io(error) {
            return match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    ErrorKind::Reset
                }
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::UnexpectedEof => {
                    ErrorKind::Closed
                }
                std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
                _ => ErrorKind::Io,
            };
        }
        if error.is_closed()
            || error.is_canceled()
            || error.is_incomplete_message()
            || error.is_body_write_aborted()
        {
            return ErrorKind::Closed;
        }
        ErrorKind::Other
    }
}

/// The innermost I/O error in an error's source chain, if any.
fn find_io<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_index_their_position_and_have_unique_labels() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        let mut labels: Vec<_> = ErrorKind::ALL.iter().map(|k| k.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn refused_connect_is_its_own_kind() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(ErrorKind::from_connect(&refused), ErrorKind::ConnectRefused);
        assert!(ErrorKind::ConnectRefused.is_connect());
    }
}

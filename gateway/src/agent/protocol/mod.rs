//! Omnia's WebSocket protocol, version 1 (`shared/spec/omnia-websocket-asyncapi.yaml`): the
//! frames a client sends ([`inbound`]), the frames the gateway sends ([`outbound`]) and the error
//! codes both use ([`ErrorCode`]).

pub mod inbound;
pub mod outbound;

/// The protocol version `connected` reports.
pub const PROTOCOL_VERSION: u32 = 1;

/// The `error.code` values of the AsyncAPI file's `ErrorInfo` enum: every code the gateway sends
/// is one of these, so every `error` frame validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidMessage,
    SessionNotFound,
    SessionExpired,
    InternalError,
    AgentUnavailable,
    ToolFailed,
    UploadFailed,
    MediaNotEnabled,
    RateLimited,
}

impl ErrorCode {
    /// The code as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidMessage => "INVALID_MESSAGE",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::AgentUnavailable => "AGENT_UNAVAILABLE",
            Self::ToolFailed => "TOOL_FAILED",
            Self::UploadFailed => "UPLOAD_FAILED",
            Self::MediaNotEnabled => "MEDIA_NOT_ENABLED",
            Self::RateLimited => "RATE_LIMITED",
        }
    }

    /// The code a runtime's `Error.code` stands for. Omnia passes a runtime's code through as it
    /// is, which can fall outside the enum; here an unknown one becomes `INTERNAL_ERROR` (the
    /// frame then carries the runtime's code in `details`, see [`outbound::error`]).
    pub fn from_runtime(code: &str) -> Option<Self> {
        Some(match code {
            "INVALID_MESSAGE" => Self::InvalidMessage,
            "SESSION_NOT_FOUND" => Self::SessionNotFound,
            "SESSION_EXPIRED" => Self::SessionExpired,
            "INTERNAL_ERROR" => Self::InternalError,
            "AGENT_UNAVAILABLE" => Self::AgentUnavailable,
            "TOOL_FAILED" => Self::ToolFailed,
            "UPLOAD_FAILED" => Self::UploadFailed,
            "MEDIA_NOT_ENABLED" => Self::MediaNotEnabled,
            "RATE_LIMITED" => Self::RateLimited,
            _ => return None,
        })
    }
}

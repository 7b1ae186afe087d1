//! The agent surface: streaming conversations over WebSocket (`/ws`), Omnia's protocol version 1.
//!
//! Built so far: the wire protocol ([`protocol`]). The upgrade, the connection loop, the
//! handlers and the runtime's `Converse` come next (issue 9).

pub mod protocol;

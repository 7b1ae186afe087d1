//! The Omnia wire contracts: `omnia.runtime.v1` (facade <-> runtime) and `omnia.tools.v1`.
//!
//! Field names and numbers match Omnia's protos. Payload fields are `bytes::Bytes`, so a message
//! shares the buffer of the body it carries instead of copying it into a `String`, and a decoded
//! payload is a slice of the buffer tonic decoded from. Crossing the wire still copies: encoding
//! a message writes the payload into tonic's frame buffer, and tonic gathers received DATA frames
//! into its decode buffer (BENCHMARKS.md, "Copies on the function path"). Where Omnia declares
//! such a field `string`, fill it from a [`Utf8Bytes`] (the constructors in this crate take one),
//! because Omnia's Go peers reject a `string` field that is not valid UTF-8.

mod payload;
mod utf8;

pub use utf8::Utf8Bytes;

/// `omnia.runtime.v1`: `RuntimeService` and its messages.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod runtime {
    /// Contract version 1.3.0.
    pub mod v1 {
        tonic::include_proto!("omnia.runtime.v1");

        /// The contract version this build implements; reported in `HealthResponse`.
        pub const CONTRACT_VERSION: &str = "1.3.0";
    }
}

/// `omnia.tools.v1`: the gRPC tool contract.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod tools {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("omnia.tools.v1");
    }
}

//! Constructors for the messages our code fills whose payload fields are `bytes` here and `string`
//! in Omnia's proto: each takes the payload as [`Utf8Bytes`], so what goes on the wire is text a
//! Go peer accepts.

use crate::Utf8Bytes;
use crate::runtime::v1::{InvocationRequest, InvocationResponse, Usage};

impl InvocationRequest {
    /// A call with `input_json` as its input and no extra metadata.
    pub fn new(input_json: Utf8Bytes, invocation_id: String) -> Self {
        InvocationRequest {
            input_json: input_json.into_bytes(),
            invocation_id,
            metadata: Default::default(),
        }
    }
}

impl InvocationResponse {
    /// The answer to one call.
    pub fn new(
        output_json: Utf8Bytes,
        usage: Usage,
        duration_ms: i32,
        invocation_id: String,
    ) -> Self {
        InvocationResponse {
            output_json: output_json.into_bytes(),
            usage: Some(usage),
            duration_ms,
            invocation_id,
        }
    }
}

//! `omnia.runtime.v1` messages as Omnia's Go peers see them, written by hand from Omnia's field
//! numbers and scalar types: every payload field is a `string`, so decoding one that is not
//! UTF-8 fails here as it does in Go.
//!
//! Each test binary uses a different subset of these.
#![allow(dead_code)]

use std::collections::HashMap;

#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthResponse {
    #[prost(bool, tag = "1")]
    pub healthy: bool,
    #[prost(string, tag = "2")]
    pub status: String,
    #[prost(string, tag = "3")]
    pub contract_version: String,
    #[prost(string, repeated, tag = "4")]
    pub capabilities: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InvocationRequest {
    #[prost(string, tag = "1")]
    pub input_json: String,
    #[prost(string, tag = "2")]
    pub invocation_id: String,
    #[prost(map = "string, string", tag = "3")]
    pub metadata: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InvocationResponse {
    #[prost(string, tag = "1")]
    pub output_json: String,
    #[prost(message, optional, tag = "2")]
    pub usage: Option<Usage>,
    #[prost(int32, tag = "3")]
    pub duration_ms: i32,
    #[prost(string, tag = "4")]
    pub invocation_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Usage {
    #[prost(int32, tag = "1")]
    pub input_tokens: i32,
    #[prost(int32, tag = "2")]
    pub output_tokens: i32,
    #[prost(float, tag = "3")]
    pub cost_usd: f32,
}

/// `ServerMessage`, with only the arm these tests exchange (`runtime_hello`, field 8).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerMessage {
    #[prost(oneof = "server_message::Message", tags = "8")]
    pub message: Option<server_message::Message>,
}

pub mod server_message {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Message {
        #[prost(message, tag = "8")]
        RuntimeHello(super::RuntimeHello),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuntimeHello {
    #[prost(string, repeated, tag = "1")]
    pub capabilities: Vec<String>,
    #[prost(message, optional, tag = "2")]
    pub media: Option<MediaNegotiation>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MediaNegotiation {
    #[prost(string, tag = "1")]
    pub codec: String,
    #[prost(int32, tag = "2")]
    pub sample_rate: i32,
    #[prost(int32, tag = "3")]
    pub channels: i32,
    #[prost(int32, tag = "4")]
    pub frame_rate: i32,
    #[prost(int32, tag = "5")]
    pub resolution: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ToolResult {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub result_json: String,
    #[prost(bool, tag = "3")]
    pub is_error: bool,
}

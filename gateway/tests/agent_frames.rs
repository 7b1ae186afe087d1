#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every kind of frame the gateway's agent surface can write validates against Omnia's AsyncAPI
//! schemas.

mod support;

use omnia_gateway::agent::protocol::ErrorCode;
use omnia_gateway::agent::protocol::outbound::{self, ToolCall, Usage};
use support::asyncapi::AsyncApi;

#[test]
fn every_outbound_frame_validates_against_the_asyncapi_schemas() {
    let spec = AsyncApi::load();
    let categories = ["location".to_owned()];
    let frames = [
        outbound::connected("6f1c", false, 16 << 20),
        outbound::chunk("6f1c", "Hello \"there\"\n"),
        outbound::done("6f1c", Some("Echo: hi"), None),
        outbound::done(
            "6f1c",
            None,
            Some(Usage {
                input_tokens: 12,
                output_tokens: 40,
                cost_usd: 0.00066,
            }),
        ),
        outbound::tool_call(
            "6f1c",
            ToolCall {
                id: "call_002",
                name: "weather",
                arguments: Some(r#"{"location":"Denver, CO"}"#),
                consent_message: Some("Share your location?"),
                categories: &categories,
            },
        ),
        outbound::tool_result("6f1c", "call_002", Some(r#"{"temperature":"72°F"}"#), None),
        outbound::tool_result("6f1c", "call_003", None, Some("lookup failed")),
    ];
    for frame in &frames {
        spec.check(frame);
    }
    for code in [
        ErrorCode::InvalidMessage,
        ErrorCode::SessionNotFound,
        ErrorCode::SessionExpired,
        ErrorCode::InternalError,
        ErrorCode::AgentUnavailable,
        ErrorCode::ToolFailed,
        ErrorCode::UploadFailed,
        ErrorCode::MediaNotEnabled,
        ErrorCode::RateLimited,
    ] {
        spec.check(&outbound::error("6f1c", code, "why", None));
        spec.check(&outbound::error(
            "",
            code,
            "why",
            Some(r#"{"runtime_code":"X"}"#),
        ));
    }
}

#[test]
fn the_schemas_refuse_a_frame_that_breaks_them() {
    let spec = AsyncApi::load();
    let bad = br#"{"type":"error","error":{"code":"NOT_A_CODE","message":"m"},"timestamp":"2026-12-02T00:00:00Z"}"#;
    let (_, errors) = spec.errors(bad);
    assert!(
        errors.iter().any(|e| e.contains("/error/code")),
        "an unknown error code passed the schema: {errors:?}"
    );
    let (_, errors) = spec.errors(br#"{"type":"chunk","content":"no timestamp"}"#);
    assert!(
        !errors.is_empty(),
        "a chunk without a timestamp passed the schema"
    );
}

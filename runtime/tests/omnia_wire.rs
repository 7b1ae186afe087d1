//! Our `omnia.runtime.v1` messages, encoded as the runtime sends them, decoded with Omnia's field
//! numbers and types (tests/omnia), and back: what a Go facade or Go runtime would read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod omnia;

use bytes::Bytes;
use omnia_proto::runtime::v1::{
    CONTRACT_VERSION, HealthResponse, MediaNegotiation, RuntimeHello, ServerMessage, ToolResult,
    server_message,
};
use prost::Message;

fn reencode<T: Message, U: Message + Default>(message: &T) -> U {
    U::decode(message.encode_to_vec().as_slice()).expect("the other side decodes it")
}

#[test]
fn an_omnia_peer_reads_our_runtime_hello_and_its_media() {
    let ours = ServerMessage {
        message: Some(server_message::Message::RuntimeHello(RuntimeHello {
            capabilities: vec!["invoke".into(), "duplex_audio".into()],
            media: Some(MediaNegotiation {
                codec: "pcm".into(),
                sample_rate: 24_000,
                channels: 1,
                frame_rate: 0,
                resolution: 0,
            }),
        })),
    };

    let theirs: omnia::ServerMessage = reencode(&ours);

    let Some(omnia::server_message::Message::RuntimeHello(hello)) = theirs.message else {
        panic!("no runtime_hello in {theirs:?}");
    };
    assert_eq!(hello.capabilities, ["invoke", "duplex_audio"]);
    assert_eq!(
        hello.media,
        Some(omnia::MediaNegotiation {
            codec: "pcm".into(),
            sample_rate: 24_000,
            channels: 1,
            frame_rate: 0,
            resolution: 0,
        })
    );
}

#[test]
fn a_hello_without_media_has_none_on_both_sides() {
    let ours = RuntimeHello {
        capabilities: vec!["invoke".into()],
        media: None,
    };

    let theirs: omnia::RuntimeHello = reencode(&ours);
    let back: RuntimeHello = reencode(&theirs);

    assert_eq!(theirs.media, None);
    assert_eq!(back, ours);
}

#[test]
fn an_omnia_video_counter_offer_reads_as_our_media_negotiation() {
    let theirs = omnia::RuntimeHello {
        capabilities: vec!["duplex_audio".into()],
        media: Some(omnia::MediaNegotiation {
            codec: "h264".into(),
            sample_rate: 0,
            channels: 0,
            frame_rate: 30,
            resolution: 720,
        }),
    };

    let ours: RuntimeHello = reencode(&theirs);

    assert_eq!(ours.capabilities, ["duplex_audio"]);
    assert_eq!(
        ours.media,
        Some(MediaNegotiation {
            codec: "h264".into(),
            sample_rate: 0,
            channels: 0,
            frame_rate: 30,
            resolution: 720,
        })
    );
}

#[test]
fn an_omnia_peer_reads_our_health_response() {
    let ours = HealthResponse {
        healthy: true,
        status: "ok".into(),
        contract_version: CONTRACT_VERSION.into(),
        capabilities: vec!["invoke".into()],
    };

    let theirs: omnia::HealthResponse = reencode(&ours);

    assert_eq!(
        theirs,
        omnia::HealthResponse {
            healthy: true,
            status: "ok".into(),
            contract_version: "1.3.0".into(),
            capabilities: vec!["invoke".into()],
        }
    );
}

#[test]
fn a_tool_result_keeps_omnia_field_numbers_both_ways() {
    let ours = ToolResult {
        id: "call-1".into(),
        result_json: Bytes::from_static(br#"{"temp":21}"#),
        is_error: true,
    };

    let theirs: omnia::ToolResult = reencode(&ours);
    let back: ToolResult = reencode(&theirs);

    assert_eq!(
        theirs,
        omnia::ToolResult {
            id: "call-1".into(),
            result_json: r#"{"temp":21}"#.into(),
            is_error: true,
        }
    );
    assert_eq!(back, ours);
}

//! The per-chunk work of a streamed answer on the gateway: decoding the runtime's `Chunk` from
//! its gRPC frame, and writing the WebSocket `chunk` frame (escaping the text once, stamping the
//! session and the time).
//!
//! `cargo bench -p omnia-benches --bench ws_frames`

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omnia_gateway::agent::protocol::outbound;
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::ServerMessage;
use prost::Message;

const SESSION: &str = "6f1c3a52-1d5e-4b8e-9a57-2f0f5a6a0c11";

fn chunk(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_chunk");
    for (name, text) in [
        ("word", "streaming "),
        (
            "sentence",
            "The invoice lists two seats we cancelled; please credit them. ",
        ),
        (
            "quoted_and_newlines",
            "He said \"credit it\".\n\nThen:\n\t- seat A\n\t- seat B\n",
        ),
    ] {
        let wire =
            Bytes::from(ServerMessage::chunk(Utf8Bytes::from(text.to_owned())).encode_to_vec());
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode_grpc", name), &wire, |b, wire| {
            b.iter(|| ServerMessage::decode(wire.clone()).map(|m| m.message.is_some()));
        });
        group.bench_with_input(BenchmarkId::new("encode_ws", name), &text, |b, text| {
            b.iter(|| outbound::chunk(SESSION, text).len());
        });
    }
    group.finish();
}

criterion_group!(benches, chunk);
criterion_main!(benches);

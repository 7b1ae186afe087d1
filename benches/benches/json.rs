//! The per-request JSON work: parsing realistic bodies (serde_json vs simd-json), schema
//! validation, and `InvocationRequest`: building it shares the body's buffer, encoding it copies
//! the body into the frame buffer.
//!
//! `cargo bench -p omnia-benches --bench json`

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omnia_benches::{ticket_body, ticket_schema};
use omnia_middleware::schema::{JsonSchema, parse_json};
use omnia_proto::runtime::v1::InvocationRequest;
use prost::Message;

const SIZES: [usize; 3] = [1024, 10 * 1024, 100 * 1024];

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_parse");
    for size in SIZES {
        let body = ticket_body(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("serde_json", size), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(body).map(|v| v.is_object()));
        });
        group.bench_with_input(
            BenchmarkId::new("simd_json_to_serde_value", size),
            &body,
            |b, body| {
                // simd-json parses in place, so it needs its own mutable copy of the body.
                b.iter(|| {
                    let mut copy = body.to_vec();
                    simd_json::serde::from_slice::<serde_json::Value>(&mut copy)
                        .map(|v| v.is_object())
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("simd_json_borrowed", size),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut copy = body.to_vec();
                    simd_json::to_borrowed_value(&mut copy)
                        .map(|v| matches!(v, simd_json::BorrowedValue::Object(_)))
                });
            },
        );
    }
    group.finish();
}

fn validate(c: &mut Criterion) {
    let schema = JsonSchema::compile(&ticket_schema()).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("schema_validation");
    for size in SIZES {
        let body = ticket_body(size);
        let document = parse_json(&body).unwrap_or_else(|e| panic!("{e}"));
        assert!(schema.check(&document).is_ok());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("validate_parsed", size),
            &document,
            |b, document| {
                b.iter(|| schema.check(document).is_ok());
            },
        );
        group.bench_with_input(
            BenchmarkId::new("parse_and_validate", size),
            &body,
            |b, body| {
                b.iter(|| parse_json(body).map(|d| schema.check(&d).is_ok()));
            },
        );
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("invocation_request");
    for size in SIZES {
        let body = ticket_body(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("build_shared_body", size),
            &body,
            |b, body| {
                // Building the message shares the body's buffer: O(1) whatever its size.
                b.iter(|| {
                    let request = InvocationRequest {
                        input_json: body.clone(),
                        invocation_id: String::new(),
                        metadata: Default::default(),
                    };
                    assert_eq!(request.input_json.as_ptr(), body.as_ptr());
                    request
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("build_copied_body", size),
            &body,
            |b, body| {
                // What a `string` field would cost: one copy of the body.
                b.iter(|| InvocationRequest {
                    input_json: Bytes::copy_from_slice(body),
                    invocation_id: String::new(),
                    metadata: Default::default(),
                });
            },
        );
        let request = InvocationRequest {
            input_json: body.clone(),
            invocation_id: "9c0e2c1f-5b7c-4b84-9a43-000000000000".into(),
            metadata: Default::default(),
        };
        let mut buffer = BytesMut::with_capacity(request.encoded_len());
        group.bench_with_input(BenchmarkId::new("encode", size), &request, |b, request| {
            b.iter(|| {
                buffer.clear();
                request.encode(&mut buffer).map(|()| buffer.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, parse, validate, encode);
criterion_main!(benches);

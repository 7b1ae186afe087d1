//! What a turn costs the context store: appending the turn's two messages (what a turn on a
//! long-lived `Converse` stream does) and loading the history (what a stream opened per turn
//! does first), on the in-memory store and on Redis over loopback (a `redis-server` this bench
//! starts), each with a history of 10 and of 1,000 messages.
//!
//! `cargo bench -p omnia-benches --bench context_store`

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use omnia_runtime::context::{ContextStore, Limits, MemoryStore, RedisStore};
use omnia_runtime::provider::ChatMessage;

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis() -> (Redis, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let redis = Redis(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server (apt-get install redis-server): {e}")),
    );
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (redis, port);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server did not start");
}

/// A user turn and its answer, of realistic length.
fn turn(n: usize) -> [ChatMessage; 2] {
    [
        ChatMessage::User {
            content: format!("Question {n}: what does the invoice for October list?"),
        },
        ChatMessage::Assistant {
            content: "It lists two seats that were cancelled in September; a credit note follows."
                .repeat(3),
        },
    ]
}

fn stores(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (_redis, port) = redis();
    let ttl = Duration::from_secs(3600);
    let mut group = c.benchmark_group("context_store");
    for length in [10usize, 1_000] {
        // Capped at its length, the history stays that long however many turns the bench adds.
        let limits = Limits {
            max_messages: length,
            ..Limits::default()
        };
        let redis_store = runtime
            .block_on(RedisStore::connect(
                &format!("redis://127.0.0.1:{port}/0"),
                "bench",
                ttl,
                limits,
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        let memory_store = MemoryStore::new(ttl, 1 << 30, limits);
        let all: [(&str, &dyn ContextStore); 2] =
            [("memory", &memory_store), ("redis", &redis_store)];
        for (name, store) in all {
            let session = format!("{name}-{length}");
            runtime.block_on(async {
                for n in 0..length / 2 {
                    store
                        .append(&session, &turn(n))
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            });
            let messages = turn(0);
            group.bench_function(
                BenchmarkId::new(format!("{name}/append_turn"), length),
                |b| {
                    // The cap (2,000) keeps the history from growing past twice its start.
                    b.iter(|| runtime.block_on(store.append(&session, &messages)))
                },
            );
            group.bench_function(BenchmarkId::new(format!("{name}/load"), length), |b| {
                b.iter(|| runtime.block_on(store.load(&session)).map(|h| h.len()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, stores);
criterion_main!(benches);

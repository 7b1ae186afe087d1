#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A thousand WebSocket sessions streaming at once through the gateway and our runtime: every
//! chunk of every answer arrives, in order, and every turn ends with its `done`.

mod support;

use support::ws::Client;
use support::*;

const SESSIONS: usize = 1_000;

const ANSWER: &str = "Hello! I am a mock assistant streaming this answer one word at a time.";

/// The open-file limit of this process, from `/proc/self/limits`.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_stream_every_chunk_in_order() {
    // Each session holds a client and a server socket here, and a runtime stream.
    let needed = 2 * SESSIONS as u64 + 200;
    let limit = open_file_limit().expect("/proc/self/limits is readable");
    assert!(
        limit >= needed,
        "this test needs {needed} open files and the limit is {limit}: raise it (ulimit -n)"
    );
    let yaml = [
        echo_yaml(),
        include_str!("../../examples/mock-agent/agentruntime.yaml").to_owned(),
        include_str!("../../examples/mock-agent/promptpack.yaml").to_owned(),
        include_str!("../../examples/mock-agent/provider.yaml").to_owned(),
    ]
    .join("\n---\n");
    let runtime = real_runtime(&load(&yaml)).await;
    let gateway = TestGateway::start(&yaml, runtime.to_string(), Options::default()).await;
    let facade = gateway.facade;

    let sessions: Vec<_> = (0..SESSIONS)
        .map(|_| {
            tokio::spawn(async move {
                let mut client = Client::connect(facade, "/ws?agent=mock-agent", &[]).await;
                let session = client.json().await["session_id"].clone();
                client
                    .send_text(r#"{"type":"message","content":"hello"}"#)
                    .await;
                let mut streamed = String::new();
                let mut chunks = 0;
                loop {
                    let frame = client.json().await;
                    assert_eq!(frame["session_id"], session, "a frame of another session");
                    match frame["type"].as_str().unwrap() {
                        "chunk" => {
                            chunks += 1;
                            streamed.push_str(frame["content"].as_str().unwrap());
                        }
                        "done" => {
                            assert_eq!(frame["content"], ANSWER);
                            break;
                        }
                        other => panic!("unexpected {other} frame: {frame}"),
                    }
                }
                // Joined in arrival order, the chunks are the answer: none lost, none reordered.
                assert_eq!(streamed, ANSWER);
                chunks
            })
        })
        .collect();

    let mut chunks = 0;
    for session in sessions {
        chunks += session.await.unwrap();
    }
    assert_eq!(chunks, SESSIONS * ANSWER.split(' ').count());
}

//! A fixed number of function calls through the whole stack in process, for counting
//! instructions with callgrind, which is deterministic where wall time on this machine is not:
//!
//! ```bash
//! cargo bench -p omnia-benches --bench instructions --no-run
//! for n in 1000 3000; do
//!   OMNIA_BENCH_CALLS=$n valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
//!     target/release/deps/instructions-* --bench
//! done
//! # instructions per call = (total(3000) - total(1000)) / 2000: start-up cancels out.
//! ```

use bytes::Bytes;
use omnia_benches::{echo_stack, run_calls};

fn main() {
    let calls: u64 = std::env::var("OMNIA_BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let stack = runtime.block_on(echo_stack());
    let body = Bytes::from(r#"{"message":"summarise the October invoice dispute"}"#);
    runtime.block_on(run_calls(&stack, &body, calls));
    println!("{calls} calls done");
}

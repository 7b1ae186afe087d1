//! The Tokio runtime both binaries run on.
//!
//! With one worker thread (`TOKIO_WORKER_THREADS=1`, the usual setting for a container given one
//! CPU) a current-thread runtime does the same work as a one-worker multi-thread runtime without
//! the work-stealing machinery: no cross-thread queue handoff, no parked-worker notifications.
//! Measured on the function path (BENCHMARKS.md, issue 8) it served more requests per second with
//! a lower saturation p99. Any other worker count gets Tokio's multi-thread runtime, which reads
//! `TOKIO_WORKER_THREADS` itself.

use std::io;

/// The environment variable Tokio's multi-thread runtime reads for its worker count.
const WORKER_THREADS: &str = "TOKIO_WORKER_THREADS";

/// A runtime with I/O and timers enabled, of the flavour the worker count calls for.
///
/// # Errors
/// When the operating system refuses what the runtime needs (threads, an epoll instance).
pub fn build() -> io::Result<tokio::runtime::Runtime> {
    let mut builder = if one_worker(std::env::var(WORKER_THREADS).ok().as_deref()) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

/// A current-thread runtime with I/O and timers enabled, whatever the worker count says.
///
/// # Errors
/// When the operating system refuses what the runtime needs (an epoll instance).
pub fn current_thread() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn one_worker(setting: Option<&str>) -> bool {
    setting.is_some_and(|value| value.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::one_worker;

    #[test]
    fn only_a_worker_count_of_one_picks_the_current_thread_runtime() {
        assert!(one_worker(Some("1")));
        assert!(one_worker(Some(" 1 ")));
        assert!(!one_worker(Some("2")));
        assert!(!one_worker(Some("")));
        assert!(!one_worker(None));
    }
}

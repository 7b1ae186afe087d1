//! Closed model: each worker owns one connection and sends its next request as soon as the
//! previous reply is complete. It measures service time at a given concurrency; it cannot show
//! queueing delay, because a slow reply also delays (and hides) the requests behind it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Control, RunOutput, Settings, WorkerResult, merge_workers, timed_exchange};
use crate::recorder::Recorder;
use crate::scenario::{Exchange, Outcome, Scenario};

/// Pause after a failed connect, so a server that is down is not hammered in a busy loop (the
/// failures are still counted).
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Runs `connections` workers back to back for `warmup + duration`.
pub async fn run<S: Scenario>(
    scenario: &S,
    connections: u32,
    settings: Settings,
    control: &Arc<Control>,
) -> Result<RunOutput, String> {
    let start = Instant::now();
    let warmup_end = start + settings.warmup;
    let end = warmup_end + settings.duration;
    let handles = (0..connections)
        .map(|index| {
            let worker = scenario.worker();
            let control = Arc::clone(control);
            let index = usize::try_from(index).unwrap_or(usize::MAX);
            tokio::spawn(work(
                worker,
                index,
                warmup_end,
                end,
                settings.timeout,
                control,
            ))
        })
        .collect();
    merge_workers(handles, warmup_end).await
}

async fn work<E: Exchange>(
    mut worker: E,
    index: usize,
    warmup_end: Instant,
    end: Instant,
    timeout: Duration,
    control: Arc<Control>,
) -> WorkerResult {
    let mut recorder = Recorder::new();
    let mut last = None;
    loop {
        let sent = Instant::now();
        if sent >= end || control.stopped() {
            break;
        }
        let outcome = timed_exchange(&mut worker, timeout).await;
        let done = Instant::now();
        if sent >= warmup_end {
            recorder.record(done.saturating_duration_since(sent), &outcome);
            last = Some(done);
        }
        control.count(index, &outcome);
        if let Outcome::Failed(kind) = outcome
            && kind.is_connect()
        {
            tokio::time::sleep(CONNECT_BACKOFF).await;
        }
    }
    WorkerResult { recorder, last }
}

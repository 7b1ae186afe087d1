//! Load models: when exchanges happen and from which instant their latency is measured.
//!
//! - `closed`: N workers, each sends, waits for the reply, repeats. Latency = reply − send.
//! - `open`: requests are due at fixed times t0 + i/R; latency = reply − due time, so waiting
//!   for a free connection or a late generator counts (no coordinated omission).
//!
//! Both are generic over `Scenario`, so a new request kind reuses them unchanged.

pub mod closed;
pub mod open;
pub mod pacer;

pub use pacer::Pacer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::recorder::Recorder;
use crate::scenario::{ErrorKind, Exchange, Outcome, Scenario};

/// Which load model to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadModel {
    /// `connections` workers, each with its own connection, back to back.
    Closed {
        /// Number of workers/connections.
        connections: u32,
    },
    /// Constant arrival rate through a pool of at most `connections` connections.
    Open {
        /// Requests per second.
        rate: f64,
        /// Pool size: the most requests in flight at once.
        connections: u32,
    },
}

impl LoadModel {
    /// Number of workers (and connections) the model runs.
    pub fn connections(&self) -> u32 {
        match *self {
            LoadModel::Closed { connections } | LoadModel::Open { connections, .. } => connections,
        }
    }

    /// Stable name for reports: `closed` or `open`.
    pub fn name(&self) -> &'static str {
        match self {
            LoadModel::Closed { .. } => "closed",
            LoadModel::Open { .. } => "open",
        }
    }
}

/// Timing settings shared by the models.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Not recorded: requests started (closed) or due (open) before `start + warmup`.
    pub warmup: Duration,
    /// The measured period after the warm-up.
    pub duration: Duration,
    /// Per-exchange limit; beyond it the exchange counts as a `timeout` failure.
    pub timeout: Duration,
    /// Open model: lag beyond which a send counts as late.
    pub late_threshold: Duration,
    /// Open model: how due times are waited for.
    pub pacer: Pacer,
}

/// What a finished run measured.
#[derive(Debug)]
pub struct RunOutput {
    /// All workers' measurements, merged.
    pub recorder: Recorder,
    /// From the end of the warm-up to the last recorded reply.
    pub measured: Duration,
}

/// Shared between the workers, the progress bar and the Ctrl-C handler. Workers only touch
/// their own cache-line-padded counters, so they do not contend.
#[derive(Debug)]
pub struct Control {
    stop: AtomicBool,
    counters: Box<[Counter]>,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Counter {
    done: AtomicU64,
    failed: AtomicU64,
}

impl Control {
    /// Counters for `workers` workers.
    pub fn new(workers: u32) -> Arc<Self> {
        let counters = (0..workers).map(|_| Counter::default()).collect();
        Arc::new(Self {
            stop: AtomicBool::new(false),
            counters,
        })
    }

    /// Asks the run to stop early (Ctrl-C): no new requests start; in-flight ones finish.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether `stop` was called.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Requests finished so far and how many of them failed (including warm-up), for progress.
    pub fn totals(&self) -> (u64, u64) {
        self.counters.iter().fold((0, 0), |(done, failed), c| {
            (
                done + c.done.load(Ordering::Relaxed),
                failed + c.failed.load(Ordering::Relaxed),
            )
        })
    }

    fn count(&self, worker: usize, outcome: &Outcome) {
        if let Some(counter) = self.counters.get(worker) {
            counter.done.fetch_add(1, Ordering::Relaxed);
            let failed = match *outcome {
                Outcome::Reply { status } => !(200..400).contains(&status),
                Outcome::Failed(_) => true,
            };
            if failed {
                counter.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Runs `scenario` under `model` and returns the merged measurements.
pub async fn run<S: Scenario>(
    scenario: &S,
    model: LoadModel,
    settings: Settings,
    control: &Arc<Control>,
) -> Result<RunOutput, String> {
    match model {
        LoadModel::Closed { connections } => {
            closed::run(scenario, connections, settings, control).await
        }
        LoadModel::Open { rate, connections } => {
            open::run(scenario, rate, connections, settings, control).await
        }
    }
}

/// One exchange bounded by `timeout`; a timed-out exchange drops its connection.
async fn timed_exchange<E: Exchange>(worker: &mut E, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, worker.exchange()).await {
        Ok(outcome) => outcome,
        Err(_) => {
            worker.abandon();
            Outcome::Failed(ErrorKind::Timeout)
        }
    }
}

/// What a worker task hands back: its measurements and when its last recorded reply arrived.
struct WorkerResult {
    recorder: Recorder,
    last: Option<Instant>,
}

/// Joins worker tasks and merges their recorders.
async fn merge_workers(
    handles: Vec<tokio::task::JoinHandle<WorkerResult>>,
    warmup_end: Instant,
) -> Result<RunOutput, String> {
    let mut recorder = Recorder::new();
    let mut last: Option<Instant> = None;
    for handle in handles {
        let result = handle
            .await
            .map_err(|e| format!("a load worker failed: {e}"))?;
        recorder.merge(&result.recorder);
        last = last.max(result.last);
    }
    let measured = last.map_or(Duration::ZERO, |last| {
        last.saturating_duration_since(warmup_end)
    });
    Ok(RunOutput { recorder, measured })
}

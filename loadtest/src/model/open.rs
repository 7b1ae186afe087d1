//! Open model: request i is due at t0 + i/R whatever happened to earlier requests, and its
//! latency runs from that due time. A stalled server therefore shows up in the latency of every
//! request that was due during the stall (they waited for a connection), which a closed model
//! would hide by simply not sending them ("coordinated omission").
//!
//! A pacer emits tickets (due times) into a queue; the `connections` workers take tickets in
//! turn, so a ticket waits when every connection is busy, and that wait is part of its latency.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use super::pacer::{PacerRun, Ticket};
use super::{Control, RunOutput, Settings, WorkerResult, merge_workers, timed_exchange};
use crate::recorder::Recorder;
use crate::scenario::{ErrorKind, Exchange, Scenario};

/// Tickets the pacer may be ahead of the workers; beyond it the pacer blocks, which loses
/// nothing because due times are computed, not observed.
const TICKET_BUFFER: usize = 1024;

/// Due times t0 + i/R, computed from i (never accumulated, so they cannot drift).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    t0: Instant,
    /// Rate in requests per 1000 s, so any rate ≥ 0.001/s is exact integer arithmetic.
    rate_milli: u128,
}

impl Schedule {
    /// A schedule of `rate` requests per second starting at `t0`.
    pub fn new(t0: Instant, rate: f64) -> Self {
        // Rounded to 1/1000 req/s: the rate is then a rational and offsets are exact.
        let rate_milli = (rate * 1000.0).round().max(1.0) as u128;
        Self { t0, rate_milli }
    }

    /// Offset of request `i` from t0: floor(i / R) to the nanosecond.
    pub fn offset(&self, i: u64) -> Duration {
        let nanos = u128::from(i) * 1_000_000_000_000 / self.rate_milli;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Due time of request `i`.
    pub fn at(&self, i: u64) -> Instant {
        self.t0 + self.offset(i)
    }

    /// How many requests are due strictly before `t0 + offset`, i.e. the first index due at or
    /// after it: ceil(offset · R).
    pub fn count_before(&self, offset: Duration) -> u64 {
        let scaled = offset.as_nanos() * self.rate_milli;
        u64::try_from(scaled.div_ceil(1_000_000_000_000)).unwrap_or(u64::MAX)
    }
}

/// Shared, read-only settings of one open run.
struct Plan {
    warmup_end: Instant,
    /// Workers stop taking tickets here; anything still queued counts as `unsent`.
    drain_deadline: Instant,
    timeout: Duration,
    late_threshold: Duration,
}

/// Runs an open-model load of `rate` requests/s over at most `connections` connections.
pub async fn run<S: Scenario>(
    scenario: &S,
    rate: f64,
    connections: u32,
    settings: Settings,
    control: &Arc<Control>,
) -> Result<RunOutput, String> {
    let t0 = Instant::now();
    let schedule = Schedule::new(t0, rate);
    let total = settings.warmup + settings.duration;
    let end_index = schedule.count_before(total);
    let first_measured = schedule.count_before(settings.warmup);
    let plan = Arc::new(Plan {
        warmup_end: t0 + settings.warmup,
        // Past the last due time plus one timeout, a queued request could only time out.
        drain_deadline: t0 + total + settings.timeout,
        timeout: settings.timeout,
        late_threshold: settings.late_threshold,
    });

    let (tx, rx) = mpsc::channel(TICKET_BUFFER);
    // Many workers take from one queue; the async mutex serialises only the taking, and it is
    // fair, so the longest-idle connection gets the next ticket.
    let queue = Arc::new(Mutex::new(rx));
    let handles = (0..connections)
        .map(|index| {
            let index = usize::try_from(index).unwrap_or(usize::MAX);
            tokio::spawn(work(
                scenario.worker(),
                index,
                Arc::clone(&queue),
                Arc::clone(&plan),
                Arc::clone(control),
            ))
        })
        .collect();

    let pacer = PacerRun {
        schedule,
        end_index,
        first_measured,
        tx,
        control: Arc::clone(control),
    };
    let pacer = pacer.start(settings.pacer)?;
    let mut output = merge_workers(handles, plan.warmup_end).await?;
    // Workers are done: close the queue so a pacer still emitting gives up and counts what it
    // could not send, and count what was emitted but never taken.
    let queued = close_and_count(&queue, plan.warmup_end, control).await;
    let unsent = pacer.join().await?;
    output
        .recorder
        .record_failures(ErrorKind::Unsent, queued + unsent);
    Ok(output)
}

/// Closes the ticket queue and counts measured tickets that no worker took.
async fn close_and_count(
    queue: &Mutex<mpsc::Receiver<Ticket>>,
    warmup_end: Instant,
    control: &Control,
) -> u64 {
    let mut rx = queue.lock().await;
    rx.close();
    let mut count = 0;
    while let Ok(ticket) = rx.try_recv() {
        if ticket.at >= warmup_end && !control.stopped() {
            count += 1;
        }
    }
    count
}

async fn work<E: Exchange>(
    mut worker: E,
    index: usize,
    queue: Arc<Mutex<mpsc::Receiver<Ticket>>>,
    plan: Arc<Plan>,
    control: Arc<Control>,
) -> WorkerResult {
    let mut recorder = Recorder::new();
    let mut last = None;
    loop {
        // `timeout_at` alone would not stop a worker while tickets are ready (it polls the
        // queue first), so the deadline is also checked explicitly.
        if Instant::now() >= plan.drain_deadline {
            break;
        }
        let next = tokio::time::timeout_at(plan.drain_deadline, async {
            queue.lock().await.recv().await
        })
        .await;
        let Ok(Some(ticket)) = next else { break };
        if control.stopped() {
            break;
        }
        let measured = ticket.at >= plan.warmup_end;
        if measured {
            let lag = Instant::now().saturating_duration_since(ticket.at);
            recorder.record_lag(lag, plan.late_threshold);
        }
        let outcome = timed_exchange(&mut worker, plan.timeout).await;
        let done = Instant::now();
        if measured {
            // From the due time, not the send time: queueing and generator lag are included.
            recorder.record(done.saturating_duration_since(ticket.at), &outcome);
            last = Some(done);
        }
        control.count(index, &outcome);
    }
    WorkerResult { recorder, last }
}

#[cfg(test)]
#[path = "open_tests.rs"]
mod tests;

//! Pacers: emit the open model's tickets at their due times.
//!
//! Tokio's timer has 1 ms granularity, which would add up to 1 ms of fake latency to every
//! request, so real runs use a precise source:
//! - `timerfd` (Linux, default): a kernel timer with ns resolution registered with the tokio
//!   reactor, so the runtime thread wakes exactly once per due time and hands the ticket to a
//!   worker without any cross-thread wake-up;
//! - `thread`: a dedicated OS thread sleeping with the OS timer (portable; one extra thread
//!   wake-up per request).
//!
//! Either can "spin" the last stretch before each due time, trading CPU for the tens of µs a
//! sleeping thread takes to wake up (on virtual machines especially).
//!
//! Tests use tokio's timer because it follows the paused test clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Control;
use super::open::Schedule;

/// Longest single wait of a pacer, so it notices Ctrl-C and a closed queue promptly.
const SLICE: Duration = Duration::from_millis(100);

/// How the open model waits for each request's due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacer {
    /// Linux timerfd in the runtime; elsewhere (or if it cannot be created) `Thread`.
    TimerFd {
        /// Busy-poll (yielding to I/O) for this long before each due time.
        spin: Duration,
    },
    /// A dedicated OS thread; `spin` is busy-waited before each due time.
    Thread {
        /// Busy-wait before each due time.
        spin: Duration,
    },
    /// Tokio's timer: coarse, but follows tokio's paused clock, for deterministic tests.
    Tokio,
}

/// Largest automatic spin: enough to cover a sleeping thread's wake-up on a virtual machine.
const AUTO_SPIN_MAX: Duration = Duration::from_micros(100);
/// Share of one core the automatic spin may use: small next to the server under test.
const AUTO_SPIN_DUTY: f64 = 0.05;

/// The default spin for `rate` requests/s: up to 100 µs, but never more than 5 % of one core
/// (5 % of the period between requests).
pub fn auto_spin(rate: f64) -> Duration {
    let budget = Duration::try_from_secs_f64(AUTO_SPIN_DUTY / rate).unwrap_or(Duration::ZERO);
    budget.min(AUTO_SPIN_MAX)
}

/// One due request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    /// When it was due.
    pub at: Instant,
}

/// The pacer's state: emits tickets `0..end_index` at their due times into `tx`.
pub(super) struct PacerRun {
    pub schedule: Schedule,
    pub end_index: u64,
    pub first_measured: u64,
    pub tx: mpsc::Sender<Ticket>,
    pub control: Arc<Control>,
}

/// A running pacer. Joining returns the count of measured tickets it never emitted because the
/// workers had stopped (the target could not keep up).
pub(super) enum Running {
    Thread(std::thread::JoinHandle<u64>),
    Task(tokio::task::JoinHandle<u64>),
}

impl Running {
    pub(super) async fn join(self) -> Result<u64, String> {
        match self {
            Running::Thread(thread) => tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| format!("joining the pacer: {e}"))?
                .map_err(|_| "the pacer thread panicked".to_owned()),
            Running::Task(task) => task.await.map_err(|e| format!("the pacer failed: {e}")),
        }
    }
}

impl PacerRun {
    /// Starts emitting tickets with the chosen pacer.
    pub(super) fn start(self, pacer: Pacer) -> Result<Running, String> {
        match pacer {
            Pacer::Tokio => Ok(Running::Task(tokio::spawn(self.run_tokio()))),
            Pacer::Thread { spin } => self.start_thread(spin),
            Pacer::TimerFd { spin } => {
                #[cfg(target_os = "linux")]
                if let Ok(timer) = timerfd::Timer::new() {
                    return Ok(Running::Task(tokio::spawn(self.run_timerfd(timer, spin))));
                }
                self.start_thread(spin)
            }
        }
    }

    fn start_thread(self, spin: Duration) -> Result<Running, String> {
        std::thread::Builder::new()
            .name("omnia-loadtest-pacer".to_owned())
            .spawn(move || self.run_thread(spin))
            .map(Running::Thread)
            .map_err(|e| format!("starting the pacer thread: {e}"))
    }

    /// Measured tickets from `i` on that will never be emitted.
    fn unsent_from(&self, i: u64) -> u64 {
        // Requests a user stopped with Ctrl-C were not "due but unsendable".
        if self.control.stopped() {
            return 0;
        }
        self.end_index.saturating_sub(i.max(self.first_measured))
    }

    fn run_thread(self, spin: Duration) -> u64 {
        // Linux lets a sleeping thread wake up to 50 µs late by default ("timer slack"), which
        // would add that much fake latency to every request; 1 ns asks for the exact time.
        // Failure only costs precision, so it is ignored.
        #[cfg(target_os = "linux")]
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
        for i in 0..self.end_index {
            let at = self.schedule.at(i);
            loop {
                if self.control.stopped() {
                    return 0;
                }
                if self.tx.is_closed() {
                    return self.unsent_from(i);
                }
                let now = Instant::now();
                if now >= at {
                    break;
                }
                let wait = at - now;
                if wait > spin {
                    std::thread::sleep((wait - spin).min(SLICE));
                } else {
                    std::hint::spin_loop();
                }
            }
            if self.tx.blocking_send(Ticket { at }).is_err() {
                return self.unsent_from(i);
            }
        }
        0
    }

    async fn run_tokio(self) -> u64 {
        for i in 0..self.end_index {
            let at = self.schedule.at(i);
            tokio::time::sleep_until(at).await;
            if self.control.stopped() {
                return 0;
            }
            if self.tx.send(Ticket { at }).await.is_err() {
                return self.unsent_from(i);
            }
        }
        0
    }

    #[cfg(target_os = "linux")]
    async fn run_timerfd(self, timer: timerfd::Timer, spin: Duration) -> u64 {
        for i in 0..self.end_index {
            let at = self.schedule.at(i);
            loop {
                if self.control.stopped() {
                    return 0;
                }
                if self.tx.is_closed() {
                    return self.unsent_from(i);
                }
                let now = Instant::now();
                if now >= at {
                    break;
                }
                let wait = at - now;
                if wait <= spin {
                    // Keeps the runtime thread awake (no wake-up latency at the due time) while
                    // still letting it poll sockets, so replies are not timestamped late.
                    tokio::task::yield_now().await;
                } else if timer.sleep((wait - spin).min(SLICE)).await.is_err() {
                    // Only tokio's coarse sleep is left: late, but still correct, since
                    // latency runs from the due time either way.
                    tokio::time::sleep_until(at).await;
                }
            }
            if self.tx.send(Ticket { at }).await.is_err() {
                return self.unsent_from(i);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_spin_stays_within_five_percent_of_a_core() {
        assert_eq!(auto_spin(100.0), Duration::from_micros(100));
        assert_eq!(auto_spin(1000.0), Duration::from_micros(50));
        assert_eq!(auto_spin(10_000.0), Duration::from_micros(5));
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// A one-shot monotonic timerfd watched by the tokio reactor.
    pub(super) struct Timer {
        fd: AsyncFd<OwnedFd>,
    }

    impl Timer {
        #[allow(
            deprecated,
            reason = "tokio 1.54 deprecates the safe constructor in favour of an `unsafe` one \
                      (this crate forbids unsafe); its contract holds here: the `OwnedFd` is \
                      owned by the `AsyncFd` and always reports the same open descriptor"
        )]
        pub(super) fn new() -> std::io::Result<Self> {
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            Ok(Self {
                fd: AsyncFd::with_interest(fd, Interest::READABLE)?,
            })
        }

        /// Waits `wait` (> 0) with the kernel's ns-resolution timer.
        pub(super) async fn sleep(&self, wait: Duration) -> std::io::Result<()> {
            let value = Timespec::try_from(wait.max(Duration::from_nanos(1)))
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            timerfd_settime(
                self.fd.get_ref(),
                TimerfdTimerFlags::empty(),
                &Itimerspec {
                    it_interval: zero,
                    it_value: value,
                },
            )?;
            let mut expirations = [0u8; 8];
            loop {
                let mut guard = self.fd.readable().await?;
                match guard.try_io(|fd| {
                    rustix::io::read(fd.get_ref(), &mut expirations).map_err(std::io::Error::from)
                }) {
                    Ok(result) => return result.map(|_| ()),
                    // Readiness was stale: `try_io` cleared it; wait again.
                    Err(_would_block) => continue,
                }
            }
        }
    }
}

//! Every open WebSocket of the process: the connection cap, and shutdown.
//!
//! An upgraded connection leaves hyper, and with it the listener's connection count and drain
//! (server.rs): from the `101` on, the hub is what counts it and tells it to close.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::connection::Phase;

/// The open WebSockets and the phase they should be in.
#[derive(Debug)]
pub struct Hub {
    max: u32,
    open: Arc<Semaphore>,
    phase: watch::Sender<Phase>,
}

/// A place among the open connections, held from before the upgrade until the socket closes.
#[derive(Debug)]
pub struct Seat {
    _permit: OwnedSemaphorePermit,
    phases: watch::Receiver<Phase>,
}

impl Seat {
    /// Where the hub is: serving, draining (finish the turn in flight, then close 1001) or
    /// closed (close 1001 now).
    pub fn phases(&self) -> watch::Receiver<Phase> {
        self.phases.clone()
    }
}

/// Why a new connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Draining,
    Full { max: u32 },
}

impl Hub {
    /// A hub admitting at most `max` connections at once.
    pub fn new(max: u32) -> Self {
        let max = max.max(1);
        Self {
            max,
            open: Arc::new(Semaphore::new(max as usize)),
            phase: watch::Sender::new(Phase::Serving),
        }
    }

    /// A seat for a new connection, unless shutting down or full.
    pub fn admit(&self) -> Result<Seat, Refusal> {
        if *self.phase.borrow() != Phase::Serving {
            return Err(Refusal::Draining);
        }
        let permit = self
            .open
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Full { max: self.max })?;
        Ok(Seat {
            _permit: permit,
            phases: self.phase.subscribe(),
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.max as usize - self.open.available_permits()
    }

    /// Refuses new connections, asks every open one to close (each finishes its turn in flight
    /// first), and waits up to `timeout` for all of them; past it, tells the rest to close now
    /// and gives them `CLOSE_GRACE` to send their close frames.
    pub async fn drain(&self, timeout: Duration) {
        self.phase.send_replace(Phase::Draining);
        let all = self.open.acquire_many(self.max);
        if tokio::time::timeout(timeout, all).await.is_ok() {
            return;
        }
        tracing::warn!(
            open = self.open(),
            "drain timed out; closing the remaining WebSockets"
        );
        self.phase.send_replace(Phase::Closed);
        let _ = tokio::time::timeout(CLOSE_GRACE, self.open.acquire_many(self.max)).await;
    }
}

/// How long connections told to close at once have to get their close frames out.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_are_counted_capped_and_given_back() {
        let hub = Hub::new(2);
        let first = hub.admit().unwrap();
        let _second = hub.admit().unwrap();
        assert_eq!(hub.admit().unwrap_err(), Refusal::Full { max: 2 });
        assert_eq!(hub.open(), 2);
        drop(first);
        assert_eq!(hub.open(), 1);
        assert!(hub.admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn drain_refuses_new_seats_and_closes_whoever_outstays_the_timeout() {
        let hub = Arc::new(Hub::new(4));
        let seat = hub.admit().unwrap();
        let mut phases = seat.phases();
        let draining = tokio::spawn({
            let hub = hub.clone();
            async move { hub.drain(Duration::from_secs(30)).await }
        });
        phases.changed().await.unwrap();
        assert_eq!(*phases.borrow_and_update(), Phase::Draining);
        assert_eq!(hub.admit().unwrap_err(), Refusal::Draining);
        phases.changed().await.unwrap();
        assert_eq!(*phases.borrow(), Phase::Closed);
        drop(seat);
        draining.await.unwrap();
    }
}

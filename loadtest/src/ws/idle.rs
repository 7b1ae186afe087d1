//! `ws-idle`: open N connections (at most `concurrency` handshakes at a time), wait for each
//! `connected`, hold them all for a while, reading, and measure the server's memory.
//!
//! Each connection is one task that only reads: it answers pings itself (and counts them), and
//! a close or error ends it as a dropped connection. The run reads the server's RSS before the
//! first connect, once every connection has opened or failed, and at the end of the hold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fastwebsockets::{FragmentCollector, Frame, OpCode};
use hdrhistogram::Histogram;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::frame::FrameKind;
use super::target::Target;
use super::{Failure, close_code, rss, stopped};
use crate::recorder::{histogram, micros};
use crate::report::human_us;

type Socket = FragmentCollector<TokioIo<Upgraded>>;

/// Settings of a `ws-idle` run.
#[derive(Debug, Clone)]
pub struct IdleConfig {
    /// Connections to open.
    pub connections: u32,
    /// How long to hold them once all have opened (or failed).
    pub hold: Duration,
    /// Most handshakes in progress at once.
    pub concurrency: usize,
    /// Longest wait for one connection's `connected`, from its TCP connect.
    pub timeout: Duration,
    /// The server process whose RSS is read.
    pub pid: Option<u32>,
    /// Say on stderr when the hold starts (it may be long).
    pub announce: bool,
}

/// The server's resident memory at the three points of the run, KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RssSamples {
    /// The process.
    pub pid: u32,
    /// Before the first connect.
    pub before: u64,
    /// Once every connection has opened or failed.
    pub after_open: u64,
    /// At the end of the hold, before closing.
    pub end: u64,
}

/// What a `ws-idle` run measured.
#[derive(Debug, Clone)]
pub struct IdleOutcome {
    /// TCP connect → `connected`, µs, of the connections that opened.
    pub setup: Histogram<u64>,
    /// Connections that failed to open, per kind.
    pub open_failures: BTreeMap<Failure, u64>,
    /// First connect → last connection opened or failed.
    pub opening: Duration,
    /// How long the connections were held (shorter than asked after Ctrl-C).
    pub held_for: Duration,
    /// Connections still open at the end of the hold.
    pub held: u64,
    /// Connections that opened and then ended before the hold did, per kind.
    pub dropped: BTreeMap<Failure, u64>,
    /// Pings answered, all connections.
    pub pings: u64,
    /// Frames after `connected`, all connections.
    pub frames: u64,
    /// With `--pid`.
    pub rss: Option<RssSamples>,
}

impl IdleOutcome {
    /// Connections that opened (got `connected`).
    pub fn opened(&self) -> u64 {
        self.setup.len()
    }
}

/// How one connection ended.
#[derive(Debug, Default)]
struct Held {
    /// `Some(None)`: open to the end; `Some(Some(f))`: dropped; `None`: never opened.
    ended: Option<Option<Failure>>,
    pings: u64,
    frames: u64,
}

/// Opens, holds and closes the connections. `stop` (Ctrl-C) ends the opening and the hold
/// early; the report then covers what happened.
pub async fn run(
    target: Arc<Target>,
    config: &IdleConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<IdleOutcome, String> {
    let before = config.pid.map(rss::read_kib).transpose()?;
    let gate = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let (opened_sender, mut opened) = mpsc::unbounded_channel();
    let (end_sender, end) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..config.connections {
        tasks.spawn(connection(
            Arc::clone(&target),
            Arc::clone(&gate),
            config.timeout,
            opened_sender.clone(),
            end.clone(),
        ));
    }
    drop(opened_sender);

    let mut setup = histogram();
    let mut open_failures = BTreeMap::new();
    let mut interrupted = false;
    for _ in 0..config.connections {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => {
                interrupted = true;
                break;
            }
            result = opened.recv() => match result {
                Some(Ok(took)) => setup.saturating_record(micros(took)),
                Some(Err(failure)) => *open_failures.entry(failure).or_default() += 1,
                None => break,
            },
        }
    }
    let opening = started.elapsed();
    if interrupted {
        // Connections not yet started are not started any more.
        gate.close();
    }
    let after_open = config.pid.map(rss::read_kib).transpose()?;
    if config.announce {
        let failed: u64 = open_failures.values().sum();
        eprintln!(
            "ws-idle: {} open, {failed} failed, in {}; holding for {}",
            setup.len(),
            human_us(micros(opening)),
            human_us(micros(config.hold))
        );
    }

    let hold_start = Instant::now();
    if !interrupted {
        tokio::select! {
            () = tokio::time::sleep(config.hold) => {}
            () = stopped(&mut stop) => {}
        }
    }
    let held_for = hold_start.elapsed();
    let end_rss = config.pid.map(rss::read_kib).transpose()?;
    let _ = end_sender.send(true);

    let mut outcome = IdleOutcome {
        setup,
        open_failures,
        opening,
        held_for,
        held: 0,
        dropped: BTreeMap::new(),
        pings: 0,
        frames: 0,
        rss: None,
    };
    while let Some(joined) = tasks.join_next().await {
        let held = joined.map_err(|e| format!("a connection task failed: {e}"))?;
        outcome.pings += held.pings;
        outcome.frames += held.frames;
        match held.ended {
            Some(None) => outcome.held += 1,
            Some(Some(failure)) => *outcome.dropped.entry(failure).or_default() += 1,
            None => {}
        }
    }
    outcome.rss = match (config.pid, before, after_open, end_rss) {
        (Some(pid), Some(before), Some(after_open), Some(end)) => Some(RssSamples {
            pid,
            before,
            after_open,
            end,
        }),
        _ => None,
    };
    Ok(outcome)
}

/// One connection: open it (holding a permit of `gate` meanwhile), report on `opened`, then read
/// until `end`.
async fn connection(
    target: Arc<Target>,
    gate: Arc<Semaphore>,
    timeout: Duration,
    opened: mpsc::UnboundedSender<Result<Duration, Failure>>,
    end: watch::Receiver<bool>,
) -> Held {
    let mut held = Held::default();
    let socket = {
        let Ok(_permit) = gate.acquire().await else {
            // Closed after Ctrl-C: this connection is not attempted at all.
            return held;
        };
        let started = Instant::now();
        let socket = tokio::time::timeout(timeout, open(&target, &mut held.pings))
            .await
            .unwrap_or(Err(Failure::Timeout));
        let _ = opened.send(socket.as_ref().map(|_| started.elapsed()).map_err(|f| *f));
        socket
    };
    let Ok(socket) = socket else {
        return held;
    };
    held.ended = Some(hold(socket, end, &mut held).await);
    held
}

/// Connects and reads the first frame, which must be `connected`.
async fn open(target: &Target, pings: &mut u64) -> Result<Socket, Failure> {
    let mut socket = target.connect().await?;
    // Answered (and counted) by `next_frame`.
    socket.set_auto_pong(false);
    let mut socket = FragmentCollector::new(socket);
    match next_frame(&mut socket, pings).await? {
        FrameKind::Connected => Ok(socket),
        _ => Err(Failure::NoConnected),
    }
}

/// Reads until `end`; `None` if the connection lasted, else how it ended.
async fn hold(
    mut socket: Socket,
    mut end: watch::Receiver<bool>,
    held: &mut Held,
) -> Option<Failure> {
    loop {
        // Cancelling `next_frame` loses a partly read frame; that only happens at the end,
        // when the connection is closed anyway.
        tokio::select! {
            () = stopped(&mut end) => break,
            frame = next_frame(&mut socket, &mut held.pings) => match frame {
                Ok(_) => held.frames += 1,
                Err(failure) => return Some(failure),
            },
        }
    }
    let _ = socket.write_frame(Frame::close(1000, b"")).await;
    None
}

/// The next text or binary frame, answering pings on the way.
async fn next_frame(socket: &mut Socket, pings: &mut u64) -> Result<FrameKind, Failure> {
    loop {
        let frame = socket
            .read_frame()
            .await
            .map_err(|e| Failure::from_frames(&e))?;
        match frame.opcode {
            OpCode::Text => return Ok(FrameKind::parse(&frame.payload)),
            OpCode::Binary => return Ok(FrameKind::Other),
            // fastwebsockets has already answered the close.
            OpCode::Close => return Err(Failure::Closed(close_code(&frame.payload))),
            OpCode::Ping => {
                *pings += 1;
                socket
                    .write_frame(Frame::pong(frame.payload))
                    .await
                    .map_err(|e| Failure::from_frames(&e))?;
            }
            OpCode::Pong | OpCode::Continuation => {}
        }
    }
}

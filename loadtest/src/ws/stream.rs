//! `ws-stream`: N sessions, each on its own connection, sending turns back to back.
//!
//! Each connection has a reader task that reads frames, stamps them with the instant they were
//! read and passes them on; the session task sends messages and runs the [`Conversation`]. The
//! split is needed because fastwebsockets' `read_frame` is not cancel-safe (it cannot be raced
//! against a timeout or a send in a `select!`), and it is what lets the order check see a frame
//! that arrived before the next message was sent. Pings are answered through the session task,
//! which owns the write half: the reader hands it the pong to send.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{
    FragmentCollectorRead, Frame, OpCode, Payload, WebSocketRead, WebSocketWrite,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::frame::FrameKind;
use super::stream_recorder::StreamRecorder;
use super::target::Target;
use super::turn::{Conversation, Step};
use super::{Failure, close_code};

/// Pause after a failed connect, so a server that is down is not hammered in a busy loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Frames the reader may run ahead of the session.
const EVENTS: usize = 64;
/// How long a session waits for the server's close frame at the end (reading on, so a frame
/// after the last `done` is still caught).
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// When a session stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// After this many turns (a failed connect counts as one, so a dead server ends the run).
    Turns(u64),
    /// When this long has passed since the start; the turn in flight finishes.
    For(Duration),
}

/// Settings of a `ws-stream` run.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Concurrent sessions.
    pub sessions: u32,
    /// When each session stops.
    pub plan: Plan,
    /// The `message` frame's payload, encoded once.
    pub message: Bytes,
    /// Longest wait for `connected` after connecting, and for the end of a turn.
    pub timeout: Duration,
}

/// The `{"type":"message","content":...}` frame for `text`.
pub fn message_frame(text: &str) -> Result<Bytes, String> {
    #[derive(Serialize)]
    struct Message<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        content: &'a str,
    }
    serde_json::to_vec(&Message {
        kind: "message",
        content: text,
    })
    .map(Bytes::from)
    .map_err(|e| format!("encoding the message: {e}"))
}

/// Runs all sessions and merges what they measured. `stop` turning true (Ctrl-C) ends every
/// session after its turn in flight.
pub async fn run(
    target: Arc<Target>,
    config: &StreamConfig,
    stop: watch::Receiver<bool>,
) -> Result<StreamRecorder, String> {
    let end = match config.plan {
        Plan::For(duration) => Some(Instant::now() + duration),
        Plan::Turns(_) => None,
    };
    let handles: Vec<_> = (0..config.sessions)
        .map(|_| {
            let session = Session {
                target: Arc::clone(&target),
                message: config.message.clone(),
                plan: config.plan,
                end,
                timeout: config.timeout,
                stop: stop.clone(),
            };
            tokio::spawn(session.run())
        })
        .collect();
    let mut recorder = StreamRecorder::new();
    for handle in handles {
        let session = handle
            .await
            .map_err(|e| format!("a session task failed: {e}"))?;
        recorder.merge(&session);
    }
    Ok(recorder)
}

/// One session's settings.
struct Session {
    target: Arc<Target>,
    message: Bytes,
    plan: Plan,
    end: Option<Instant>,
    timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Session {
    async fn run(self) -> StreamRecorder {
        let mut recorder = StreamRecorder::new();
        let mut connection: Option<Connection> = None;
        let mut attempts = 0u64;
        while self.more(attempts) {
            attempts += 1;
            let open = match connection.as_mut() {
                Some(open) => open,
                None => match Connection::open(&self.target, self.timeout, &mut recorder).await {
                    Ok(fresh) => connection.insert(fresh),
                    Err(failure) => {
                        recorder.fail(failure);
                        tokio::time::sleep(CONNECT_BACKOFF).await;
                        continue;
                    }
                },
            };
            if let Err(failure) = open.turn(&self.message, self.timeout, &mut recorder).await {
                recorder.fail(failure);
                connection = None;
            }
        }
        if let Some(open) = connection {
            open.close(&mut recorder).await;
        }
        recorder
    }

    /// Whether another turn is due.
    fn more(&self, attempts: u64) -> bool {
        if *self.stop.borrow() {
            return false;
        }
        match (self.plan, self.end) {
            (Plan::Turns(turns), _) => attempts < turns,
            (Plan::For(_), Some(end)) => Instant::now() < end,
            (Plan::For(_), None) => false,
        }
    }
}

type Reader = WebSocketRead<ReadHalf<TokioIo<Upgraded>>>;
type Writer = WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>;

/// What the reader task passes to the session.
enum Event {
    /// A text or binary frame, classified, and when it was read.
    Frame { kind: FrameKind, at: Instant },
    /// A frame the protocol obliges the client to send: a pong, or the echo of a close.
    Reply(Frame<'static>),
    /// The connection ended; the reader has stopped.
    Gone(Failure),
}

/// An open connection: its write half, the reader's events and the protocol state.
struct Connection {
    writer: Writer,
    events: mpsc::Receiver<Event>,
    reader: JoinHandle<()>,
    conversation: Conversation,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A reader blocked on a silent socket would otherwise live until the socket closes.
        self.reader.abort();
    }
}

impl Connection {
    /// Connects and waits for `connected`, all within `timeout`.
    async fn open(
        target: &Target,
        timeout: Duration,
        recorder: &mut StreamRecorder,
    ) -> Result<Self, Failure> {
        let started = Instant::now();
        let deadline = started + timeout;
        let socket = tokio::time::timeout_at(deadline, target.connect())
            .await
            .map_err(|_| Failure::Timeout)??;
        let (read, writer) = socket.split(tokio::io::split);
        let (sender, events) = mpsc::channel(EVENTS);
        let reader = tokio::spawn(read_events(read, sender));
        let mut connection = Self {
            writer,
            events,
            reader,
            conversation: Conversation::opening(started),
        };
        match connection.next_step(deadline, recorder).await? {
            Step::Connected => Ok(connection),
            Step::Broken(failure) => Err(failure),
            // `Conversation` only returns these once connected.
            Step::Continue | Step::TurnEnded => Err(Failure::NoConnected),
        }
    }

    /// Sends one message and reads until its turn ends, within `timeout`.
    async fn turn(
        &mut self,
        message: &[u8],
        timeout: Duration,
        recorder: &mut StreamRecorder,
    ) -> Result<(), Failure> {
        let sent = Instant::now();
        self.conversation.start(sent, recorder);
        let result = self.exchange(message, sent + timeout, recorder).await;
        if result.is_err() {
            self.conversation.lose(Instant::now(), recorder);
        }
        result
    }

    async fn exchange(
        &mut self,
        message: &[u8],
        deadline: Instant,
        recorder: &mut StreamRecorder,
    ) -> Result<(), Failure> {
        self.writer
            .write_frame(Frame::text(Payload::Borrowed(message)))
            .await
            .map_err(|e| Failure::from_frames(&e))?;
        match self.next_step(deadline, recorder).await? {
            Step::TurnEnded => Ok(()),
            Step::Broken(failure) => Err(failure),
            // `Conversation` returns `Connected` only while opening.
            Step::Continue | Step::Connected => Err(Failure::ConnectedAgain),
        }
    }

    /// Handles events until the conversation reports something other than `Continue`.
    async fn next_step(
        &mut self,
        deadline: Instant,
        recorder: &mut StreamRecorder,
    ) -> Result<Step, Failure> {
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| Failure::Timeout)?;
            match event {
                Some(Event::Frame { kind, at }) => {
                    let step = self.conversation.on_frame(&kind, at, recorder);
                    if step != Step::Continue {
                        return Ok(step);
                    }
                }
                Some(Event::Reply(frame)) => self
                    .writer
                    .write_frame(frame)
                    .await
                    .map_err(|e| Failure::from_frames(&e))?,
                Some(Event::Gone(failure)) => return Err(failure),
                None => return Err(Failure::Eof),
            }
        }
    }

    /// Sends a close frame and reads until the server's close (or [`CLOSE_WAIT`]), so a frame
    /// after the last `done` is still seen. How the connection ends here is not a failure.
    async fn close(mut self, recorder: &mut StreamRecorder) {
        if self
            .writer
            .write_frame(Frame::close(1000, b""))
            .await
            .is_err()
        {
            return;
        }
        let deadline = Instant::now() + CLOSE_WAIT;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            match event {
                Event::Frame { kind, at } => {
                    self.conversation.on_frame(&kind, at, recorder);
                }
                // Our close is already sent; a second one is not.
                Event::Reply(_) => {}
                Event::Gone(_) => return,
            }
        }
    }
}

/// The reader task: frames out of the socket, stamped, into `events`, until the connection
/// ends or the session drops the receiver.
async fn read_events(read: Reader, events: mpsc::Sender<Event>) {
    let mut read = FragmentCollectorRead::new(read);
    loop {
        let frame = read
            .read_frame(&mut |frame| {
                let reply = Frame::new(
                    true,
                    frame.opcode,
                    None,
                    Payload::Owned(frame.payload.to_vec()),
                );
                let replies = events.clone();
                async move {
                    replies
                        .send(Event::Reply(reply))
                        .await
                        .map_err(|_| std::io::Error::other("the session is gone"))
                }
            })
            .await;
        let at = Instant::now();
        let event = match frame {
            Ok(frame) => match frame.opcode {
                OpCode::Text => Event::Frame {
                    kind: FrameKind::parse(&frame.payload),
                    at,
                },
                OpCode::Binary => Event::Frame {
                    kind: FrameKind::Other,
                    at,
                },
                OpCode::Close => Event::Gone(Failure::Closed(close_code(&frame.payload))),
                // Pongs (and anything else) are not part of the conversation.
                _ => continue,
            },
            Err(error) => Event::Gone(Failure::from_frames(&error)),
        };
        let last = matches!(event, Event::Gone(_));
        if events.send(event).await.is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_frame_is_escaped_json() {
        let frame = message_frame("say \"hi\"\n").unwrap();
        assert_eq!(
            &frame[..],
            br#"{"type":"message","content":"say \"hi\"\n"}"#
        );
    }
}

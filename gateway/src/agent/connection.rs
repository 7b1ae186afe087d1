//! One WebSocket, from the `101` to the close: `connected`, then client frames in and handler
//! frames out, the rate and in-flight limits, pings, and the close handshake.
//!
//! One task per connection, the only writer, so frames go out whole and in the order they were
//! queued; it reads with the cancel-safe [`FrameReader`] in the same `select!` as the rest.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocketWrite};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use omnia_runtime::telemetry::{self, TraceHeaders};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::WsLimits;
use futures_util::future::BoxFuture;

use super::handler::{Conversation, Outcome, ResumeError, Sink, Turn};
use super::hub::Seat;
use super::protocol::inbound::{self, ClientFrame};
use super::protocol::{ErrorCode, outbound};
use super::reader::{self, FrameReader, Inbound, close};
use super::tools::{ClientTools, ToolEvent};
use crate::connection::Phase;
use crate::media::MediaAgent;
use crate::metrics::{Gauged, WsMeter};

/// A write that takes longer than this means the client stopped reading; the connection ends.
/// Omnia's facade uses the same write deadline.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a close frame the gateway sent waits for the client's.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Frames a handler may queue ahead of the socket before it waits.
const FRAME_QUEUE: usize = 64;

/// What the connection needs to know about the session it serves.
pub struct Session {
    pub id: Arc<str>,
    pub conversation: Arc<dyn Conversation>,
    /// The client-side tool calls waiting on this connection (shared with the conversation).
    pub tools: ClientTools,
    pub limits: Arc<WsLimits>,
    /// The agent's metrics.
    pub meter: Option<WsMeter>,
    /// The agent's name, for its turns' spans.
    pub agent: String,
    /// The upgrade request's trace context: the parent of every turn's span.
    pub trace: Option<TraceHeaders>,
    /// The agent's media storage; `None` when it stores none.
    pub media: Option<Arc<MediaAgent>>,
}

/// Runs the connection over `io` (the upgraded socket) until it closes.
pub async fn serve<S>(io: S, session: Session, seat: Seat)
where
    S: tokio::io::AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (read, write) = tokio::io::split(io);
    // The read half of this pair is unused: the frame reader reads the socket's own.
    let (_, write) = fastwebsockets::after_handshake_split(tokio::io::empty(), write, Role::Server);
    let mut input = Input {
        reader: FrameReader::new(session.limits.max_message_bytes),
        read,
    };
    let _open = session.meter.as_ref().map(WsMeter::connection);
    let mut connection = Connection {
        write,
        meter: session.meter.clone(),
        active: None,
        limits: session.limits.clone(),
        bucket: TokenBucket::new(
            session.limits.messages_per_second,
            session.limits.message_burst,
        ),
    };
    let mut turns = Turns::new();
    let ended = connection
        .serve(&session, &seat, &mut input, &mut turns)
        .await;
    // Calls waiting on the client end as rejections the runtime hears; turns still in flight
    // finish on their own (their frames go nowhere) so the runtime can close them properly.
    session.tools.disconnect();
    if !turns.is_empty() {
        tokio::spawn(async move {
            let _ = tokio::time::timeout(TURN_GRACE, turns.collect::<Vec<()>>()).await;
        });
    }
    match ended {
        Ended::WeClosed => input.await_close().await,
        Ended::Violated => reader::linger(&mut input.read).await,
        Ended::TheyClosed => {}
    }
}

/// The read side: the socket's read half and the frames being parsed from it.
struct Input<R> {
    reader: FrameReader,
    read: R,
}

impl<R: tokio::io::AsyncRead + Unpin> Input<R> {
    async fn next(&mut self) -> Inbound {
        self.reader.next(&mut self.read).await
    }

    /// After the gateway's close frame: waits briefly for the client's close (or its going away).
    async fn await_close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            loop {
                if matches!(
                    self.next().await,
                    Inbound::Close(_) | Inbound::Gone | Inbound::Violation { .. }
                ) {
                    return;
                }
            }
        })
        .await;
    }
}

/// How long turns in flight when the connection ends may take to wind down.
const TURN_GRACE: Duration = Duration::from_secs(10);

/// Turns in flight.
type Turns = FuturesUnordered<BoxFuture<'static, ()>>;

/// How the loop ended.
enum Ended {
    /// The gateway sent a close frame; the client's answer may still come.
    WeClosed,
    /// The gateway closed for a protocol violation; what the client still sends is dropped.
    Violated,
    /// The client closed, or is gone.
    TheyClosed,
}

struct Connection<W> {
    write: WebSocketWrite<W>,
    meter: Option<WsMeter>,
    /// Held from the session's first turn on: `omnia_agent_sessions_active`.
    active: Option<Gauged>,
    limits: Arc<WsLimits>,
    bucket: TokenBucket,
}

impl<W: AsyncWrite + Unpin> Connection<W> {
    async fn serve<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        session: &Session,
        seat: &Seat,
        input: &mut Input<R>,
        turns: &mut Turns,
    ) -> Ended {
        let connected = outbound::connected(&session.id, false, self.limits.max_message_bytes);
        if self.text(&connected).await.is_err() {
            return Ended::TheyClosed;
        }
        let (frames_tx, mut frames) = mpsc::channel::<Bytes>(FRAME_QUEUE);
        let mut sink = Sink::new(frames_tx, session.id.clone());
        let mut phases = seat.phases();
        let mut draining = false;
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.limits.ping_interval,
            self.limits.ping_interval,
        );
        loop {
            tokio::select! {
                // Handler frames first: a turn's frames go out before the turn counts as over.
                biased;
                Some(frame) = frames.recv() => {
                    if self.text(&frame).await.is_err() {
                        return Ended::TheyClosed;
                    }
                }
                Some(()) = turns.next(), if !turns.is_empty() => {
                    // A turn ends after queueing its last frame; write what it left first.
                    while let Ok(frame) = frames.try_recv() {
                        if self.text(&frame).await.is_err() {
                            return Ended::TheyClosed;
                        }
                    }
                    if draining && turns.is_empty() {
                        return self.close(close::GOING_AWAY, "server shutdown").await;
                    }
                }
                event = input.next() => {
                    if let (Some(meter), Inbound::Text(_) | Inbound::Binary(_)) = (&self.meter, &event) {
                        meter.received();
                    }
                    match event {
                        Inbound::Text(text) => {
                            if let Some(turn) = self.on_text(&text, &mut sink, session, draining, turns.len()).await {
                                turns.push(turn);
                            }
                        }
                        Inbound::Binary(_) => {
                            self.refuse(&sink, ErrorCode::InvalidMessage, "binary frames are not supported on this connection").await;
                        }
                        Inbound::Ping(payload) => {
                            if self.frame(Frame::pong(Payload::Borrowed(&payload))).await.is_err() {
                                return Ended::TheyClosed;
                            }
                        }
                        // Only a pong shows the peer answers pings, as in Omnia: a client that
                        // sends but never reads is still found out.
                        Inbound::Pong => last_heard = Instant::now(),
                        Inbound::Close(code) => {
                            // Echo the client's code (RFC 6455 5.5.1), then the socket closes.
                            let _ = self.close(code.unwrap_or(close::NORMAL), "").await;
                            return Ended::TheyClosed;
                        }
                        Inbound::Violation { code, reason } => {
                            let _ = self.close(code, reason).await;
                            return Ended::Violated;
                        }
                        Inbound::Gone => return Ended::TheyClosed,
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= self.limits.pong_timeout {
                        tracing::debug!(session = %session.id, "no pong in time; closing");
                        return self.close(close::GOING_AWAY, "ping timeout").await;
                    }
                    if self.frame(Frame::new(true, OpCode::Ping, None, Payload::Borrowed(&[]))).await.is_err() {
                        return Ended::TheyClosed;
                    }
                }
                changed = phases.changed() => {
                    let phase = if changed.is_ok() { *phases.borrow_and_update() } else { Phase::Closed };
                    match phase {
                        Phase::Serving => {}
                        Phase::Draining if !turns.is_empty() => draining = true,
                        Phase::Draining | Phase::Closed => {
                            return self.close(close::GOING_AWAY, "server shutdown").await;
                        }
                    }
                }
            }
        }
    }

    /// Handles a text message; a new turn when it starts one.
    async fn on_text(
        &mut self,
        text: &[u8],
        sink: &mut Sink,
        session: &Session,
        draining: bool,
        in_flight: usize,
    ) -> Option<BoxFuture<'static, ()>> {
        if !self.bucket.take() {
            self.refuse(sink, ErrorCode::RateLimited, "rate limit exceeded")
                .await;
            return None;
        }
        // The reader passes only valid UTF-8 as text.
        let text = std::str::from_utf8(text).ok()?;
        let frame = match inbound::parse(text) {
            Ok(frame) => frame,
            Err(bad) => {
                self.refuse(sink, ErrorCode::InvalidMessage, &bad.to_string())
                    .await;
                return None;
            }
        };
        match frame {
            ClientFrame::Message(message) => {
                if message.is_empty() {
                    self.refuse(
                        sink,
                        ErrorCode::InvalidMessage,
                        "a message needs `content` or `parts`",
                    )
                    .await;
                    return None;
                }
                if draining {
                    self.refuse(
                        sink,
                        ErrorCode::AgentUnavailable,
                        "the agent is shutting down; reconnect",
                    )
                    .await;
                    return None;
                }
                if in_flight >= self.limits.max_in_flight_turns {
                    self.refuse(sink, ErrorCode::RateLimited, "too many in-flight requests")
                        .await;
                    return None;
                }
                // A session this connection did not start: resume it, or say why not.
                if let Some(id) = message
                    .session_id
                    .as_deref()
                    .filter(|id| *id != sink.session_id())
                    && !self.resume(sink, session, id, in_flight).await
                {
                    return None;
                }
                // Media parts must name this session's stored media: another session's, or an
                // upload never confirmed, does not reach the runtime.
                if let Err((code, reason)) = check_media(session, sink.session_id(), &message).await
                {
                    self.refuse(sink, code, &reason).await;
                    return None;
                }
                let span = telemetry::ws_turn_span(
                    &session.agent,
                    sink.session_id(),
                    session.trace.as_ref(),
                );
                let turn = session
                    .conversation
                    .clone()
                    .turn(Turn::from_message(&message), sink.clone())
                    .instrument(span);
                let Some(meter) = &self.meter else {
                    return Some(Box::pin(async move {
                        turn.await;
                    }));
                };
                if self.active.is_none() {
                    self.active = Some(meter.session());
                }
                let measured = meter.turn();
                Some(Box::pin(async move {
                    measured.finish(turn.await == Outcome::Done);
                }))
            }
            ClientFrame::ToolResult(result) => {
                let event = ToolEvent::Result {
                    result: result.result.as_ref().map(|value| value.to_string()),
                    error: result.error.map(|error| error.into_owned()),
                };
                self.deliver(sink, session, &result.call_id, event).await;
                None
            }
            ClientFrame::ToolCallAck { call_id } => {
                self.deliver(sink, session, &call_id, ToolEvent::Ack).await;
                None
            }
            ClientFrame::ToolCallNack { call_id, reason } => {
                let event = ToolEvent::Nack {
                    reason: reason.into_owned(),
                };
                self.deliver(sink, session, &call_id, event).await;
                None
            }
            ClientFrame::UploadRequest(request) => {
                self.upload_request(sink, session, &request).await;
                None
            }
            // The user ended the conversation on purpose: nothing to answer; the client closes.
            ClientFrame::Hangup => {
                session.conversation.hangup();
                None
            }
        }
    }

    /// Goes on with the client's session `id` instead of the one minted for this connection,
    /// when the conversation says it can; else answers why not. True when resumed.
    async fn resume(
        &mut self,
        sink: &mut Sink,
        session: &Session,
        id: &str,
        in_flight: usize,
    ) -> bool {
        if in_flight > 0 {
            self.refuse(
                sink,
                ErrorCode::InvalidMessage,
                "a session cannot change while a turn is in flight",
            )
            .await;
            return false;
        }
        let id: Arc<str> = Arc::from(id);
        match session.conversation.clone().resume(id.clone()).await {
            Ok(()) => {
                *sink = sink.for_session(id);
                true
            }
            Err(ResumeError::Expired) => {
                let message = ResumeError::Expired.to_string();
                self.refuse(sink, ErrorCode::SessionExpired, &message).await;
                false
            }
            Err(error @ ResumeError::Unavailable(_)) => {
                self.refuse(sink, ErrorCode::InternalError, &error.to_string())
                    .await;
                false
            }
        }
    }

    /// Hands a client's word on a tool call to the call, or says there is no such call.
    async fn deliver(&mut self, sink: &Sink, session: &Session, call_id: &str, event: ToolEvent) {
        if !session.tools.deliver(call_id, event) {
            self.refuse(sink, ErrorCode::InvalidMessage, "no pending tool call")
                .await;
        }
    }

    /// `upload_request`: signs an upload for this session and answers `upload_ready`; then,
    /// on a task of its own, waits for the upload's confirmation and sends `upload_complete`.
    async fn upload_request(
        &mut self,
        sink: &Sink,
        session: &Session,
        request: &inbound::UploadRequest<'_>,
    ) {
        let Some(media) = session.media.clone() else {
            self.refuse(
                sink,
                ErrorCode::MediaNotEnabled,
                "media storage is not enabled",
            )
            .await;
            return;
        };
        let ticket = media
            .request(
                sink.session_id(),
                &request.filename,
                &request.mime_type,
                request.size_bytes,
            )
            .await;
        let ticket = match ticket {
            Ok(ticket) => ticket,
            Err(error) => {
                self.refuse(sink, ErrorCode::UploadFailed, &error.to_string())
                    .await;
                return;
            }
        };
        let _ = self
            .text(&outbound::upload_ready(sink.session_id(), &ticket))
            .await;
        let sink = sink.clone();
        tokio::spawn(async move {
            let until = ticket.expires_unix + crate::media::store::PENDING_GRACE;
            tokio::select! {
                record = media.confirmed(&ticket.upload_id, until) => {
                    if let Some(record) = record {
                        let frame = outbound::upload_complete(
                            sink.session_id(),
                            &ticket.upload_id,
                            &ticket.storage_ref,
                            record.size_bytes,
                        );
                        let _ = sink.send(frame).await;
                    }
                }
                // The connection is gone: nobody to tell.
                () = sink.closed() => {}
            }
        });
    }

    /// An `error` frame for something the client sent; the connection stays open.
    async fn refuse(&mut self, sink: &Sink, code: ErrorCode, message: &str) {
        let frame = outbound::error(sink.session_id(), code, message, None);
        let _ = self.text(&frame).await;
    }

    async fn text(&mut self, frame: &Bytes) -> Result<(), ()> {
        self.frame(Frame::text(Payload::Borrowed(frame))).await?;
        if let Some(meter) = &self.meter {
            meter.sent();
        }
        Ok(())
    }

    async fn frame(&mut self, frame: Frame<'_>) -> Result<(), ()> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.write.write_frame(frame)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    async fn close(&mut self, code: u16, reason: &str) -> Ended {
        let _ = self.frame(Frame::close(code, reason.as_bytes())).await;
        Ended::WeClosed
    }
}

/// Messages per second with a burst: a token per message, refilled continuously.
#[derive(Debug)]
struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: f64::from(per_second),
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Checks every `storage_ref` of `message`'s parts: it must name stored, unexpired media of
/// `session_id`. The error is the frame's code and text.
async fn check_media(
    session: &Session,
    session_id: &str,
    message: &inbound::Message<'_>,
) -> Result<(), (ErrorCode, String)> {
    for part in message.parts.iter().flatten() {
        let Some(storage_ref) = part
            .media
            .as_ref()
            .and_then(|m| m.get("storage_ref"))
            .and_then(|r| r.as_str())
        else {
            continue;
        };
        let Some(media) = &session.media else {
            return Err((
                ErrorCode::MediaNotEnabled,
                "media storage is not enabled: a part cannot name a storage_ref".to_owned(),
            ));
        };
        media
            .check(session_id, storage_ref)
            .await
            .map_err(|reason| (ErrorCode::InvalidMessage, reason))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_the_burst_then_the_rate() {
        let mut bucket = TokenBucket::new(50, 100);
        assert_eq!((0..150).filter(|_| bucket.take()).count(), 100);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!((0..10).filter(|_| bucket.take()).count(), 5);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!((0..150).filter(|_| bucket.take()).count(), 100);
    }
}

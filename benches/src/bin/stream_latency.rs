//! What the gateway adds to a streamed answer: the same turns asked of the runtime directly
//! (gRPC `Converse`) and through the gateway (WebSocket, `handler: runtime`), one turn in flight,
//! alternating blocks of turns between the two so drift on a noisy machine hits both alike.
//! Prints time to first chunk, the gap between consecutive frames of a turn and the turn's
//! duration, each as p50 / p99 / max in µs, and the differences.
//!
//! ```text
//! stream_latency --runtime 127.0.0.1:9000 --gateway 127.0.0.1:8080 --agent stream-agent \
//!     [--turns 2000] [--block 100] [--message go]
//! ```
//! `loadtest/agents` starts a runtime and a gateway for it and runs this.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use hdrhistogram::Histogram;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use omnia_proto::runtime::v1::server_message::Message;
use omnia_proto::runtime::v1::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    runtime: SocketAddr,
    gateway: SocketAddr,
    agent: String,
    turns: usize,
    block: usize,
    message: String,
}

fn args() -> Result<Args, Error> {
    let mut args = Args {
        runtime: "127.0.0.1:9000".parse()?,
        gateway: "127.0.0.1:8080".parse()?,
        agent: "stream-agent".to_owned(),
        turns: 2000,
        block: 100,
        message: "go".to_owned(),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runtime" => args.runtime = value.parse()?,
            "--gateway" => args.gateway = value.parse()?,
            "--agent" => args.agent = value,
            "--turns" => args.turns = value.parse()?,
            "--block" => args.block = value.parse()?,
            "--message" => args.message = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(args)
}

/// The three distributions of one path.
struct Timings {
    first_chunk: Histogram<u64>,
    gap: Histogram<u64>,
    turn: Histogram<u64>,
    frames: u64,
}

impl Timings {
    fn new() -> Result<Self, Error> {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 3);
        Ok(Self {
            first_chunk: histogram()?,
            gap: histogram()?,
            turn: histogram()?,
            frames: 0,
        })
    }

    /// Records one turn from its frames' arrival times after `sent`.
    fn record(&mut self, sent: Instant, arrivals: &[Instant]) -> Result<(), Error> {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) else {
            return Err("a turn with no frames".into());
        };
        self.first_chunk.record(micros(*first - sent))?;
        for pair in arrivals.windows(2) {
            self.gap.record(micros(pair[1] - pair[0]))?;
        }
        self.turn.record(micros(*last - sent))?;
        self.frames += arrivals.len() as u64;
        Ok(())
    }
}

/// A `Converse` stream straight to the runtime.
struct Direct {
    send: mpsc::Sender<ClientMessage>,
    frames: Streaming<ServerMessage>,
}

impl Direct {
    async fn open(runtime: SocketAddr, agent: &str) -> Result<Self, Error> {
        let mut client = RuntimeServiceClient::connect(format!("http://{runtime}")).await?;
        let (send, inbound) = mpsc::channel(4);
        let mut request = tonic::Request::new(ReceiverStream::new(inbound));
        request
            .metadata_mut()
            .insert("x-omnia-agent-name", agent.parse()?);
        let mut frames = client.converse(request).await?.into_inner();
        // The hello.
        frames.next().await.ok_or("no hello")??;
        Ok(Self { send, frames })
    }

    async fn turn(&mut self, message: &str, arrivals: &mut Vec<Instant>) -> Result<Instant, Error> {
        let sent = Instant::now();
        let text = ClientMessage::text(String::new(), Utf8Bytes::from(message.to_owned()));
        self.send
            .send(text)
            .await
            .map_err(|_| "the stream closed")?;
        loop {
            let frame = self.frames.next().await.ok_or("the stream ended")??;
            arrivals.push(Instant::now());
            match frame.message {
                Some(Message::Chunk(_)) => {}
                Some(Message::Done(_)) => return Ok(sent),
                other => return Err(format!("unexpected frame {other:?}").into()),
            }
        }
    }
}

/// A WebSocket through the gateway.
struct Gateway {
    ws: WebSocket<TokioIo<Upgraded>>,
}

impl Gateway {
    async fn open(gateway: SocketAddr, agent: &str) -> Result<Self, Error> {
        let stream = tokio::net::TcpStream::connect(gateway).await?;
        stream.set_nodelay(true)?;
        let request = http::Request::get(format!("/ws?agent={agent}"))
            .header("host", "localhost")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header(
                "sec-websocket-key",
                fastwebsockets::handshake::generate_key(),
            )
            .body(Empty::<Bytes>::new())?;
        let (mut ws, _) =
            fastwebsockets::handshake::client(&TokioExecutor::new(), request, stream).await?;
        // `connected`.
        ws.read_frame().await?;
        Ok(Self { ws })
    }

    async fn turn(&mut self, message: &str, arrivals: &mut Vec<Instant>) -> Result<Instant, Error> {
        let text = format!(r#"{{"type":"message","content":"{message}"}}"#);
        let sent = Instant::now();
        self.ws
            .write_frame(Frame::text(Payload::Borrowed(text.as_bytes())))
            .await?;
        loop {
            let frame = self.ws.read_frame().await?;
            arrivals.push(Instant::now());
            if frame.opcode != OpCode::Text {
                return Err(format!("unexpected {:?} frame", frame.opcode).into());
            }
            // The type is the first field the gateway writes.
            if frame.payload.starts_with(br#"{"type":"done""#) {
                return Ok(sent);
            }
            if !frame.payload.starts_with(br#"{"type":"chunk""#) {
                let text = String::from_utf8_lossy(&frame.payload).into_owned();
                return Err(format!("unexpected frame {text}").into());
            }
        }
    }
}

fn line(name: &str, direct: &Histogram<u64>, gateway: &Histogram<u64>) {
    let p = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
    println!(
        "{name:<22} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}   {:>+8} {:>+8}",
        p(direct, 0.5),
        p(direct, 0.99),
        direct.max(),
        p(gateway, 0.5),
        p(gateway, 0.99),
        gateway.max(),
        p(gateway, 0.5) as i64 - p(direct, 0.5) as i64,
        p(gateway, 0.99) as i64 - p(direct, 0.99) as i64,
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let mut direct = Direct::open(args.runtime, &args.agent).await?;
    let mut gateway = Gateway::open(args.gateway, &args.agent).await?;
    let (mut d, mut g) = (Timings::new()?, Timings::new()?);
    let mut arrivals = Vec::with_capacity(256);
    // Warm-up: one block each, not recorded.
    for _ in 0..args.block {
        direct.turn(&args.message, &mut arrivals).await?;
        arrivals.clear();
        gateway.turn(&args.message, &mut arrivals).await?;
        arrivals.clear();
    }
    let started = Instant::now();
    let mut done = 0;
    while done < args.turns {
        for _ in 0..args.block {
            let sent = direct.turn(&args.message, &mut arrivals).await?;
            d.record(sent, &arrivals)?;
            arrivals.clear();
        }
        for _ in 0..args.block {
            let sent = gateway.turn(&args.message, &mut arrivals).await?;
            g.record(sent, &arrivals)?;
            arrivals.clear();
        }
        done += args.block;
    }
    let frames_per_turn = d.frames as f64 / done as f64;
    println!(
        "{done} turns each way, {frames_per_turn:.0} frames per turn (chunks + done), one turn in \
         flight, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<22} {:>26}   {:>26}   {:>17}",
        "µs", "runtime direct (gRPC)", "through the gateway (WS)", "added"
    );
    println!(
        "{:<22} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}   {:>8} {:>8}",
        "", "p50", "p99", "max", "p50", "p99", "max", "p50", "p99"
    );
    line("time to first chunk", &d.first_chunk, &g.first_chunk);
    line("gap between frames", &d.gap, &g.gap);
    line("turn", &d.turn, &g.turn);
    let per_chunk = |t: &Timings| t.turn.mean() / frames_per_turn;
    println!(
        "turn time per frame: {:.1} µs direct, {:.1} µs through the gateway ({:+.1} µs)",
        per_chunk(&d),
        per_chunk(&g),
        per_chunk(&g) - per_chunk(&d)
    );
    Ok(())
}

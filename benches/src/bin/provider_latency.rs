//! Does streaming from a real provider buffer anywhere? A fake OpenAI server (`omnia-fakes`, in
//! this process) streams each answer as `--pieces` content events `--gap-ms` apart, every event its
//! own socket write, and stamps each event when its write returned (`FakeServer::event_times`).
//! `omnia-runtime` (a child process) calls it as a `type: openai` Provider, and `omnia-gateway
//! serve` (another child) relays the runtime's chunks over WebSocket (`handler: runtime`).
//!
//! For every turn (one in flight), the k-th `chunk` frame the client receives is matched to the
//! k-th content event the fake wrote (the role-only first event and the finish, usage and `[DONE]`
//! events carry no text and are not counted), and `received - written` is recorded: the first
//! chunk on its own, every chunk together, and `[DONE]` to the `done` frame. The same turns asked
//! of the runtime directly (gRPC `Converse`), in alternating blocks, tell the runtime's share from
//! the gateway's. Both stamps come from this process's monotonic clock.
//!
//! Then the runtime's CPU per provider call: `--calls` function-mode `Invoke`s (non-streamed
//! `chat.completion` answers from the fake) against as many to the same function on the `mock`
//! provider (no HTTP), in alternating blocks, with the runtime's `utime + stime` from
//! `/proc/PID/stat` read around each block: the difference is what the HTTP client, the request's
//! JSON and the response's parsing cost the runtime per call.
//!
//! ```text
//! provider_latency [--runtime-bin PATH] [--gateway-bin PATH] [--server-cpu 1] [--turns 500]
//!     [--block 50] [--pieces 20] [--gap-ms 2] [--calls 10000] [--call-block 500] [--fake-nagle]
//! ```
//! `--fake-nagle` leaves Nagle's algorithm on at the fake (`FakeServer::set_nodelay(false)`), to
//! show what a provider that does not set `TCP_NODELAY` would do to the stream.
//! The binaries default to `omnia-runtime` and `omnia-gateway` next to this one (the same target
//! directory and profile). `--server-cpu` starts both under `taskset -c`. `loadtest/provider-latency`
//! builds everything in release and runs this pinned.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use hdrhistogram::Histogram;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use omnia_fakes::{FakeServer, Usage, openai};
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use omnia_proto::runtime::v1::server_message::Message;
use omnia_proto::runtime::v1::{ClientMessage, InvocationRequest, ServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;

type Error = Box<dyn std::error::Error + Send + Sync>;

const KEY: &str = "sk-bench-0123456789";
const AGENT: &str = "chat";
const FN_OPENAI: &str = "echo-openai";
const FN_MOCK: &str = "echo-mock";
const INPUT: &str = r#"{"message":"hello"}"#;
const ANSWER: &str = r#"{"echo":"hello"}"#;

struct Args {
    runtime_bin: PathBuf,
    gateway_bin: PathBuf,
    server_cpu: Option<String>,
    turns: usize,
    block: usize,
    pieces: usize,
    gap: Duration,
    calls: usize,
    call_block: usize,
    fake_nagle: bool,
}

fn args() -> Result<Args, Error> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("no directory for this binary")?;
    let mut args = Args {
        runtime_bin: dir.join("omnia-runtime"),
        gateway_bin: dir.join("omnia-gateway"),
        server_cpu: None,
        turns: 500,
        block: 50,
        pieces: 20,
        gap: Duration::from_millis(2),
        calls: 10_000,
        call_block: 500,
        fake_nagle: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        if flag == "--fake-nagle" {
            args.fake_nagle = true;
            continue;
        }
        let value = given
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runtime-bin" => args.runtime_bin = value.into(),
            "--gateway-bin" => args.gateway_bin = value.into(),
            "--server-cpu" => args.server_cpu = Some(value),
            "--turns" => args.turns = value.parse()?,
            "--block" => args.block = value.parse()?,
            "--pieces" => args.pieces = value.parse()?,
            "--gap-ms" => args.gap = Duration::from_millis(value.parse()?),
            "--calls" => args.calls = value.parse()?,
            "--call-block" => args.call_block = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if args.block == 0 || args.call_block == 0 || args.pieces == 0 {
        return Err("--block, --call-block and --pieces must be at least 1".into());
    }
    Ok(args)
}

/// The agent `chat` and the functions `echo-openai` and `echo-mock`: one pack, one schema, the
/// OpenAI Provider at `fake` or a mock one.
fn manifests(fake: &FakeServer) -> String {
    let base = fake.base_url();
    let pack = |name: &str, user: &str| {
        format!(
            r#"apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata: {{name: {name}}}
spec:
  source: {{type: configmap, configMapRef: {{name: {name}-contents}}}}
  version: "1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}-contents}}
data:
  pack.json: |
    {{"id": "{name}", "name": "{name}", "version": "1.0.0",
     "template_engine": {{"version": "v1", "syntax": "{{{{variable}}}}"}},
     "prompts": {{"default": {{"id": "default", "name": "default", "version": "1.0.0",
                              "system_template": "Answer briefly."{user}}}}}}}
"#
        )
    };
    let function = |name: &str, provider: &str| {
        format!(
            r#"apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {{name: {name}}}
spec:
  mode: function
  promptPackRef: {{name: fn-pack}}
  providers: [{{name: default, providerRef: {{name: {provider}}}}}]
  inputSchema:
    type: object
    required: [message]
    properties: {{message: {{type: string, maxLength: 280}}}}
    additionalProperties: false
  outputSchema:
    type: object
    required: [echo]
    properties: {{echo: {{type: string}}}}
    additionalProperties: false
"#
        )
    };
    let user = r#", "user_template": "{{input}}",
                              "variables": [{"name": "input", "type": "string", "required": true}]"#;
    [
        format!(
            r#"apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {{name: {AGENT}}}
spec:
  promptPackRef: {{name: chat-pack}}
  facade: {{type: websocket, handler: runtime}}
  providers: [{{name: default, providerRef: {{name: llm}}}}]
  session: {{type: memory, ttl: 1h}}
"#
        ),
        function(FN_OPENAI, "llm"),
        function(FN_MOCK, "mock"),
        pack("chat-pack", ""),
        pack("fn-pack", user),
        format!(
            r#"apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {{name: llm}}
spec:
  type: openai
  model: gpt-4o-mini
  baseURL: {base}/v1
  credential: {{secretRef: {{name: llm-key, key: api-key}}}}
  defaults: {{requestTimeout: 30s, streamIdleTimeout: 30s}}
---
apiVersion: v1
kind: Secret
metadata: {{name: llm-key}}
stringData: {{api-key: {KEY}}}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {{name: mock}}
spec:
  type: mock
  model: mock-echo
  mock:
    scenarios:
      - name: echo the message
        output: {{echo: "{{{{input.message}}}}"}}
"#
        ),
    ]
    .join("---\n")
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The runtime and the gateway, killed when dropped.
struct Servers {
    children: Vec<Child>,
    work: PathBuf,
}

impl Servers {
    fn spawn(
        &mut self,
        args: &Args,
        name: &str,
        bin: &Path,
        flags: &[String],
    ) -> Result<u32, Error> {
        if !bin.exists() {
            return Err(format!("{name}: {} not found (build it first)", bin.display()).into());
        }
        let log = File::create(self.work.join(format!("{name}.log")))?;
        let mut command = match &args.server_cpu {
            Some(cpu) => {
                // taskset execs the binary: the child's pid is the server's.
                let mut command = Command::new("taskset");
                command.args(["-c", cpu]).arg(bin);
                command
            }
            None => Command::new(bin),
        };
        command
            .args(flags)
            .env("TOKIO_WORKER_THREADS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
            command.env_remove(proxy).env_remove(proxy.to_lowercase());
        }
        let child = command.spawn()?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Fails when a child has exited, naming its log.
    fn check(&mut self) -> Result<(), Error> {
        for child in &mut self.children {
            if let Some(status) = child.try_wait()? {
                return Err(format!(
                    "a server exited ({status}); logs in {}",
                    self.work.display()
                )
                .into());
            }
        }
        Ok(())
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn wait_for_runtime(
    servers: &mut Servers,
    addr: SocketAddr,
) -> Result<RuntimeServiceClient<Channel>, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        servers.check()?;
        if let Ok(client) = RuntimeServiceClient::connect(format!("http://{addr}")).await {
            return Ok(client);
        }
        if Instant::now() > deadline {
            return Err("omnia-runtime did not come up within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for `GET /readyz` on the gateway's health port to answer 200.
async fn wait_for_gateway(servers: &mut Servers, health: SocketAddr) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        servers.check()?;
        if let Ok(mut tcp) = tokio::net::TcpStream::connect(health).await {
            let request = b"GET /readyz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
            let mut answer = Vec::new();
            if tcp.write_all(request).await.is_ok()
                && tcp.read_to_end(&mut answer).await.is_ok()
                && answer.starts_with(b"HTTP/1.1 200")
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("omnia-gateway did not become ready within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a client saw of one turn: each chunk's arrival and text, and the `done`'s arrival.
struct Turn {
    /// The turn's index among all streamed answers the fake sent.
    stream: usize,
    chunks: Vec<(Instant, String)>,
    done: Instant,
}

/// A `Converse` stream straight to the runtime (as `stream_latency` opens it).
struct Direct {
    send: mpsc::Sender<ClientMessage>,
    frames: Streaming<ServerMessage>,
}

impl Direct {
    async fn open(runtime: SocketAddr) -> Result<Self, Error> {
        let mut client = RuntimeServiceClient::connect(format!("http://{runtime}")).await?;
        let (send, inbound) = mpsc::channel(4);
        let mut request = tonic::Request::new(ReceiverStream::new(inbound));
        request
            .metadata_mut()
            .insert("x-omnia-agent-name", AGENT.parse()?);
        let mut frames = client.converse(request).await?.into_inner();
        // The hello.
        frames.next().await.ok_or("no hello")??;
        Ok(Self { send, frames })
    }

    async fn turn(&mut self, stream: usize) -> Result<Turn, Error> {
        let text = ClientMessage::text(String::new(), Utf8Bytes::from("go".to_owned()));
        self.send
            .send(text)
            .await
            .map_err(|_| "the stream closed")?;
        let mut chunks = Vec::new();
        loop {
            let frame = self.frames.next().await.ok_or("the stream ended")??;
            let at = Instant::now();
            match frame.message {
                Some(Message::Chunk(chunk)) => {
                    chunks.push((at, String::from_utf8_lossy(&chunk.content).into_owned()));
                }
                Some(Message::Done(_)) => {
                    return Ok(Turn {
                        stream,
                        chunks,
                        done: at,
                    });
                }
                other => return Err(format!("unexpected frame {other:?}").into()),
            }
        }
    }
}

/// A WebSocket through the gateway (as `stream_latency` opens it).
struct Gateway {
    ws: WebSocket<TokioIo<Upgraded>>,
}

impl Gateway {
    async fn open(gateway: SocketAddr) -> Result<Self, Error> {
        let stream = tokio::net::TcpStream::connect(gateway).await?;
        stream.set_nodelay(true)?;
        let request = http::Request::get(format!("/ws?agent={AGENT}"))
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

    async fn turn(&mut self, stream: usize) -> Result<Turn, Error> {
        let text = br#"{"type":"message","content":"go"}"#;
        self.ws
            .write_frame(Frame::text(Payload::Borrowed(text)))
            .await?;
        let mut frames: Vec<(Instant, Vec<u8>)> = Vec::new();
        loop {
            let frame = self.ws.read_frame().await?;
            let at = Instant::now();
            if frame.opcode != OpCode::Text {
                return Err(format!("unexpected {:?} frame", frame.opcode).into());
            }
            // The type is the first field the gateway writes.
            if frame.payload.starts_with(br#"{"type":"done""#) {
                // Parsed after the turn, so reading the next frame is not delayed.
                let mut chunks = Vec::with_capacity(frames.len());
                for (at, payload) in frames {
                    let value: serde_json::Value = serde_json::from_slice(&payload)?;
                    let content = value["content"].as_str().ok_or("a chunk without content")?;
                    chunks.push((at, content.to_owned()));
                }
                return Ok(Turn {
                    stream,
                    chunks,
                    done: at,
                });
            }
            if !frame.payload.starts_with(br#"{"type":"chunk""#) {
                let text = String::from_utf8_lossy(&frame.payload).into_owned();
                return Err(format!("unexpected frame {text}").into());
            }
            frames.push((at, frame.payload.to_vec()));
        }
    }
}

/// The distributions of one path, in µs.
struct Latencies {
    first: Histogram<u64>,
    chunk: Histogram<u64>,
    done: Histogram<u64>,
    /// Turns whose chunks did not map one to one onto the fake's content events.
    unmatched: u64,
    /// Chunks that arrived before the fake's stamp (clamped to 0): should never happen.
    early: u64,
}

impl Latencies {
    fn new() -> Result<Self, Error> {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 3);
        Ok(Self {
            first: histogram()?,
            chunk: histogram()?,
            done: histogram()?,
            unmatched: 0,
            early: 0,
        })
    }

    fn micros(&mut self, from: Instant, to: Instant) -> u64 {
        match to.checked_duration_since(from) {
            Some(d) => u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1),
            None => {
                self.early += 1;
                1
            }
        }
    }

    /// Records `turn` against the write times of the fake's events for it.
    fn record(&mut self, turn: &Turn, events: &[Instant], pieces: &[String]) -> Result<(), Error> {
        // role, the pieces, finish, usage, [DONE].
        let content = match events.get(1..=pieces.len()) {
            Some(content) if events.len() == pieces.len() + 4 => content,
            _ => {
                return Err(
                    format!("stream {}: {} events written", turn.stream, events.len()).into(),
                );
            }
        };
        let texts = turn.chunks.iter().map(|(_, text)| text);
        if turn.chunks.len() != pieces.len() || !texts.eq(pieces.iter()) {
            self.unmatched += 1;
            return Ok(());
        }
        for (k, ((at, _), written)) in turn.chunks.iter().zip(content).enumerate() {
            let us = self.micros(*written, *at);
            if k == 0 {
                self.first.record(us)?;
            }
            self.chunk.record(us)?;
        }
        let last = events[events.len() - 1];
        let us = self.micros(last, turn.done);
        self.done.record(us)?;
        Ok(())
    }
}

fn row(name: &str, direct: &Histogram<u64>, gateway: &Histogram<u64>) {
    let p = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
    println!(
        "{name:<34} {:>7} {:>7} {:>7}   {:>7} {:>7} {:>7}   {:>+7} {:>+7}",
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

/// The streaming part: alternating blocks of turns over gRPC and over WebSocket, each block a new
/// session (so the history, and the request the runtime sends, stays small).
async fn streaming(
    args: &Args,
    fake: &FakeServer,
    runtime: SocketAddr,
    gateway: SocketAddr,
) -> Result<(), Error> {
    let pieces: Vec<String> = (0..args.pieces).map(|i| format!("w{i:02} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let usage = Usage {
        input: 12,
        output: u32::try_from(args.pieces)?,
        cached: 0,
    };
    let reply = || openai::text_stream(&refs, usage).gap(args.gap);
    let (mut direct_turns, mut gateway_turns) = (Vec::new(), Vec::new());
    let mut stream = 0;
    let started = Instant::now();
    // One block each way of warm-up, not recorded.
    let mut warm = true;
    let mut done = 0;
    while done < args.turns {
        let mut direct = Direct::open(runtime).await?;
        for _ in 0..args.block {
            fake.push(reply());
            let turn = direct.turn(stream).await?;
            stream += 1;
            if !warm {
                direct_turns.push(turn);
            }
        }
        drop(direct);
        let mut ws = Gateway::open(gateway).await?;
        for _ in 0..args.block {
            fake.push(reply());
            let turn = ws.turn(stream).await?;
            stream += 1;
            if !warm {
                gateway_turns.push(turn);
            }
        }
        drop(ws);
        if warm {
            warm = false;
        } else {
            done += args.block;
        }
    }
    let elapsed = started.elapsed();
    let events = fake.event_times();
    if events.len() != stream || fake.requests().len() != stream {
        return Err(format!(
            "{stream} turns but {} streams and {} requests at the fake (a retry?)",
            events.len(),
            fake.requests().len()
        )
        .into());
    }
    let (mut d, mut g) = (Latencies::new()?, Latencies::new()?);
    for turn in &direct_turns {
        d.record(turn, &events[turn.stream], &pieces)?;
    }
    for turn in &gateway_turns {
        g.record(turn, &events[turn.stream], &pieces)?;
    }
    // Were the content events really separate writes, `gap` apart?
    let mut gaps = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut together = 0;
    for written in &events {
        for pair in written[1..=args.pieces].windows(2) {
            let us = u64::try_from((pair[1] - pair[0]).as_micros())?;
            if us == 0 {
                together += 1;
            }
            gaps.record(us.max(1))?;
        }
    }
    println!(
        "{done} turns each way (+{} warm-up), {} content events per turn {} ms apart (fake's \
         gaps between content writes p50 {} µs, min {} µs, {together} written together), \
         {:.1} s",
        args.block,
        args.pieces,
        args.gap.as_millis(),
        gaps.value_at_quantile(0.5),
        gaps.min(),
        elapsed.as_secs_f64()
    );
    println!(
        "{:<34} {:>23}   {:>23}   {:>15}",
        "µs, fake's write -> client",
        "gRPC Converse (runtime)",
        "WebSocket (+ gateway)",
        "gateway's share"
    );
    println!(
        "{:<34} {:>7} {:>7} {:>7}   {:>7} {:>7} {:>7}   {:>7} {:>7}",
        "", "p50", "p99", "max", "p50", "p99", "max", "p50", "p99"
    );
    row("first content event -> 1st chunk", &d.first, &g.first);
    row("every content event -> its chunk", &d.chunk, &g.chunk);
    row("[DONE] -> done", &d.done, &g.done);
    println!(
        "chunks recorded: {} gRPC, {} WebSocket; turns not one chunk per event: {} gRPC, {} \
         WebSocket; chunks before the fake's stamp: {} / {}",
        d.chunk.len(),
        g.chunk.len(),
        d.unmatched,
        g.unmatched,
        d.early,
        g.early
    );
    Ok(())
}

/// `utime + stime` of `pid` in clock ticks (every thread, exited ones included).
fn cpu_ticks(pid: u32) -> Result<u64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').ok_or("bad /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; `rest` starts at field 3.
    let utime: u64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: u64 = fields.get(12).ok_or("no stime")?.parse()?;
    Ok(utime + stime)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// One function-mode arm: its calls' wall times and the runtime's CPU ticks over them.
struct Arm {
    name: &'static str,
    function: &'static str,
    wall: Histogram<u64>,
    ticks: u64,
    calls: u64,
}

impl Arm {
    fn new(name: &'static str, function: &'static str) -> Result<Self, Error> {
        Ok(Self {
            name,
            function,
            wall: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            ticks: 0,
            calls: 0,
        })
    }
}

async fn invoke(
    client: &mut RuntimeServiceClient<Channel>,
    function: &str,
) -> Result<Bytes, Error> {
    let mut request = tonic::Request::new(InvocationRequest {
        input_json: Bytes::from_static(INPUT.as_bytes()),
        invocation_id: String::new(),
        metadata: Default::default(),
    });
    request
        .metadata_mut()
        .insert("x-omnia-agent-name", function.parse()?);
    Ok(client.invoke(request).await?.into_inner().output_json)
}

/// `calls` on `arm`, recording wall times when `record`.
async fn run_calls(
    client: &mut RuntimeServiceClient<Channel>,
    fake: &FakeServer,
    arm: &mut Arm,
    calls: usize,
    record: bool,
) -> Result<(), Error> {
    let answer = openai::completion(
        ANSWER,
        Usage {
            input: 40,
            output: 6,
            cached: 0,
        },
    );
    for _ in 0..calls {
        if arm.function == FN_OPENAI {
            fake.push(answer.clone());
        }
        let started = Instant::now();
        let output = invoke(client, arm.function).await?;
        let us = u64::try_from(started.elapsed().as_micros())?.max(1);
        if output.as_ref() != ANSWER.as_bytes() {
            let text = String::from_utf8_lossy(&output).into_owned();
            return Err(format!("{}: unexpected output {text}", arm.function).into());
        }
        if record {
            arm.wall.record(us)?;
        }
    }
    Ok(())
}

/// The CPU part: alternating blocks of calls on the mock and the OpenAI function.
async fn cpu(args: &Args, fake: &FakeServer, runtime: SocketAddr, pid: u32) -> Result<(), Error> {
    let mut client = RuntimeServiceClient::connect(format!("http://{runtime}")).await?;
    let mut arms = [
        Arm::new("mock provider (no HTTP)", FN_MOCK)?,
        Arm::new("openai at the fake (HTTP/1.1 + JSON)", FN_OPENAI)?,
    ];
    for arm in &mut arms {
        run_calls(&mut client, fake, arm, args.call_block, false).await?;
    }
    let started = Instant::now();
    let mut done = 0;
    while done < args.calls {
        for arm in &mut arms {
            let before = cpu_ticks(pid)?;
            run_calls(&mut client, fake, arm, args.call_block, true).await?;
            arm.ticks += cpu_ticks(pid)? - before;
            arm.calls += args.call_block as u64;
        }
        done += args.call_block;
    }
    let hz = clock_ticks_per_second() as f64;
    println!();
    println!(
        "{done} function calls each (gRPC Invoke, one in flight, blocks of {} alternating, +{} \
         warm-up each), {:.1} s; runtime CPU = utime+stime of pid {pid} from /proc (1/{hz:.0} s \
         ticks)",
        args.call_block,
        args.call_block,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<38} {:>14} {:>14} {:>10} {:>10}",
        "", "runtime CPU s", "CPU µs / call", "wall p50", "wall p99"
    );
    let mut per_call = Vec::new();
    for arm in &arms {
        let seconds = arm.ticks as f64 / hz;
        let us = seconds * 1e6 / arm.calls as f64;
        per_call.push(us);
        println!(
            "{:<38} {:>14.2} {:>14.1} {:>10} {:>10}",
            arm.name,
            seconds,
            us,
            arm.wall.value_at_quantile(0.5),
            arm.wall.value_at_quantile(0.99)
        );
    }
    println!(
        "provider call over HTTP adds {:+.1} µs of runtime CPU per call ({:.2}x the mock's); wall \
         p50 {:+} µs",
        per_call[1] - per_call[0],
        per_call[1] / per_call[0],
        arms[1].wall.value_at_quantile(0.5) as i64 - arms[0].wall.value_at_quantile(0.5) as i64
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let fake = FakeServer::start().await;
    fake.set_nodelay(!args.fake_nagle);
    let work = std::env::temp_dir().join(format!("omnia-provider-latency-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let config = work.join("agents.yaml");
    std::fs::write(&config, manifests(&fake))?;
    let config = config
        .to_str()
        .ok_or("a temporary path that is not UTF-8")?
        .to_owned();

    let mut servers = Servers {
        children: Vec::new(),
        work: work.clone(),
    };
    let runtime: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let runtime_pid = servers.spawn(
        &args,
        "runtime",
        &args.runtime_bin,
        &[
            "--config".into(),
            config.clone(),
            "--listen".into(),
            runtime.to_string(),
            "--metrics-listen".into(),
            "off".into(),
        ],
    )?;
    wait_for_runtime(&mut servers, runtime).await?;
    let gateway: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let health: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    servers.spawn(
        &args,
        "gateway",
        &args.gateway_bin,
        &[
            "serve".into(),
            "--config".into(),
            config,
            "--listen".into(),
            gateway.to_string(),
            "--health-listen".into(),
            health.to_string(),
            "--internal-listen".into(),
            "127.0.0.1:0".into(),
            "--runtime-address".into(),
            runtime.to_string(),
            "--ws-message-rate".into(),
            "1000000".into(),
            "--ws-message-burst".into(),
            "1000000".into(),
            "--allow-unauthenticated".into(),
        ],
    )?;
    wait_for_gateway(&mut servers, health).await?;

    streaming(&args, &fake, runtime, gateway).await?;
    servers.check()?;
    cpu(&args, &fake, runtime, runtime_pid).await?;
    servers.check()?;
    drop(servers);
    eprintln!("(logs in {})", work.display());
    Ok(())
}

//! Command-line interface: the subcommands and the flags they share.
//!
//! Load-model flags (`LoadArgs`) and output flags (`OutputArgs`) are separate structs so other
//! request/reply scenarios can flatten them unchanged next to their own flags; the WebSocket
//! scenarios share `WsTargetArgs` (and `ws-stream` the output flags).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hyper::header::{HeaderName, HeaderValue};

/// The `omnia-loadtest` command line.
#[derive(Debug, Parser)]
#[command(
    name = "omnia-loadtest",
    version,
    about = "Load generator for the Omnia gateway"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. Each load scenario is one variant; `plot` works on saved results.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// POST a JSON body to `{url}/functions/{name}` and measure the replies.
    Function(Box<FunctionArgs>),
    /// POST upload requests to `{url}/media/request-upload?agent=NAME`: each signs one upload
    /// URL (the gateway's signing and pending-upload store, nothing uploaded).
    Media(Box<MediaArgs>),
    /// Chat over Omnia's WebSocket protocol: N sessions sending turns back to back; times to
    /// first chunk, gaps between chunks, turn durations.
    WsStream(Box<WsStreamArgs>),
    /// Hold N WebSocket connections open; with `--pid`, the server's memory per connection.
    WsIdle(Box<WsIdleArgs>),
    /// Draw the latency-by-percentile curves of saved `--json` results into one SVG.
    Plot(PlotArgs),
}

/// Where the WebSocket scenarios connect; shared by `ws-stream` and `ws-idle`.
#[derive(Debug, Args, Clone)]
pub struct WsTargetArgs {
    /// Gateway URL, plain `ws://`; the path defaults to `/ws`, `agent=NAME` joins the query.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub url: String,
    /// Agent to talk to (the `agent` query parameter).
    #[arg(long, value_name = "NAME")]
    pub agent: String,
    /// Extra upgrade-request header, `'Name: value'` (repeatable), e.g.
    /// `'Authorization: Bearer KEY'`.
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Longest wait for `connected` after starting to connect (and, in `ws-stream`, for the
    /// end of a turn); beyond it, a `timeout` error.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Tokio worker threads of the generator (1 = current-thread runtime).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
}

/// Flags of the `ws-stream` scenario.
#[derive(Debug, Args)]
pub struct WsStreamArgs {
    /// Where to connect.
    #[command(flatten)]
    pub target: WsTargetArgs,
    /// Concurrent sessions, one connection each.
    #[arg(short = 'c', long, visible_alias = "connections", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub sessions: u32,
    /// Turns per session (default 10 when `--duration` is not given).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "duration")]
    pub turns: Option<u64>,
    /// Send turns for this long instead of a number of turns (e.g. `30s`, `2m`).
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Text of every `message` frame.
    #[arg(long, value_name = "TEXT", default_value = "hello")]
    pub message: String,
    /// What is printed and written (`--plot` draws the time to first chunk).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Turns per session when neither `--turns` nor `--duration` is given.
pub const DEFAULT_TURNS: u64 = 10;

/// Flags of the `ws-idle` scenario.
#[derive(Debug, Args)]
pub struct WsIdleArgs {
    /// Where to connect.
    #[command(flatten)]
    pub target: WsTargetArgs,
    /// Connections to open and hold.
    #[arg(short = 'c', long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// How long to hold them once all have opened (the gateway pings every 30 s).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub hold: Duration,
    /// Most handshakes in progress at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Gateway process whose RSS (`/proc/PID/status`, `VmRSS`) is read before, once all are
    /// open, and at the end of the hold.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Print one JSON object on stdout (the text report goes to stderr unless `--quiet`).
    #[arg(long)]
    pub json: bool,
    /// Name of this run in the JSON (default: the target URL).
    #[arg(long)]
    pub label: Option<String>,
    /// No text report and no progress line (JSON still printed with `--json`).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Flags of the `function` scenario.
#[derive(Debug, Args)]
pub struct FunctionArgs {
    /// Base URL of the gateway (plain http; `/functions/{name}` is appended).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Name of the function to call.
    #[arg(long = "function", value_name = "NAME")]
    pub function: String,
    /// Send this file's bytes verbatim as the body (not checked to be JSON).
    #[arg(long, value_name = "PATH", group = "body")]
    pub body_file: Option<PathBuf>,
    /// Send this JSON file verbatim as the body; it is checked to parse as JSON at start-up.
    #[arg(long, value_name = "FILE", group = "body")]
    pub body_template: Option<PathBuf>,
    /// Generate a JSON object of about this many bytes (`{"message": "...", "text_1": ...}`).
    #[arg(long, value_name = "BYTES", group = "body", default_value_t = 64)]
    pub body_size: usize,
    /// Longest string value in a generated body (280 satisfies `maxLength: 280` schemas).
    #[arg(long, value_name = "CHARS", default_value_t = 280)]
    pub field_max_len: usize,
    /// Content-Type of the request body.
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
    /// Extra request header, `'Name: value'` (repeatable), e.g. `'Authorization: Bearer KEY'`.
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Speak HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1 keep-alive.
    #[arg(long)]
    pub http2: bool,
    /// How the load is applied.
    #[command(flatten)]
    pub load: LoadArgs,
    /// What is printed and written.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of the `media` scenario.
#[derive(Debug, Args)]
pub struct MediaArgs {
    /// Base URL of the gateway (plain http; `/media/request-upload` is appended).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The agent whose media storage signs the uploads.
    #[arg(long, value_name = "NAME")]
    pub agent: String,
    /// The `session_id` of every upload request.
    #[arg(long, default_value = "loadtest")]
    pub session: String,
    /// The declared MIME type.
    #[arg(long, default_value = "image/png")]
    pub mime_type: String,
    /// The declared size.
    #[arg(long, default_value_t = 1024)]
    pub size_bytes: u64,
    /// Extra request header, `'Name: value'` (repeatable), e.g. `'Authorization: Bearer KEY'`.
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Speak HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1 keep-alive.
    #[arg(long)]
    pub http2: bool,
    /// How the load is applied.
    #[command(flatten)]
    pub load: LoadArgs,
    /// What is printed and written.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags that choose the load model and its timing; shared by every request/reply scenario.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Connections: closed model = one worker per connection; open model = cap on concurrency.
    #[arg(short = 'c', long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Open model: send this many requests per second at fixed intended times.
    /// Without it the closed model runs (each connection sends, waits, repeats).
    #[arg(short = 'r', long, value_name = "REQ/S", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Measured period, after the warm-up (e.g. `10s`, `500ms`, `2m`).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring; requests started (or intended) in it are not recorded.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// A request with no full reply after this long counts as a `timeout` error.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Tokio worker threads of the generator (1 = current-thread runtime).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Open model: a request sent more than this after its intended time counts as late.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub late_threshold: Duration,
    /// Open model: how due times are waited for. `timerfd` (Linux): a kernel timer in the
    /// runtime, no extra thread; `thread`: a dedicated sleeping thread (any OS).
    #[arg(long, value_enum, default_value_t = PacerKind::Timerfd)]
    pub pacer: PacerKind,
    /// Open model: stay awake this long before each due time for a more exact start (removes
    /// the generator's wake-up latency, costs CPU the server under test may need). Default:
    /// up to 100 µs but at most 5 % of one core; `0` turns it off.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pacer_spin: Option<Duration>,
}

/// `--pacer` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PacerKind {
    /// Linux timerfd watched by the runtime (falls back to `thread` elsewhere).
    Timerfd,
    /// A dedicated OS thread.
    Thread,
}

/// Output flags shared by every scenario.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Print one JSON object on stdout (the text report goes to stderr unless `--quiet`).
    #[arg(long)]
    pub json: bool,
    /// Write the latency-by-percentile curve of this run as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Name of this run in the JSON and in plot legends (default: the target URL).
    #[arg(long)]
    pub label: Option<String>,
    /// No progress bar and no text report (JSON still printed with `--json`).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Flags of the `plot` subcommand.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// SVG file to write.
    #[arg(short, long, value_name = "FILE.svg")]
    pub out: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "Latency by percentile")]
    pub title: String,
    /// Results saved from `--json` runs; each becomes one curve, named by its `label`.
    #[arg(required = true, value_name = "RUN.json")]
    pub runs: Vec<PathBuf>,
}

/// Parses a Go-style duration, as manifests write them (`10s`, `500ms`, `250us`, `2m`, `1.5s`,
/// `1h30m`; [`omnia_api::parse_duration`]), or a bare number of seconds (`3`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) => Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}")),
        Err(_) => omnia_api::parse_duration(text),
    }
}

/// Parses a positive request rate; the open model needs at least one request per 1000 s.
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if rate.is_finite() && rate >= 0.001 {
        Ok(rate)
    } else {
        Err(format!("rate must be at least 0.001 req/s, got `{text}`"))
    }
}

/// Parses `'Name: value'` into a header, so a typo fails at start-up and not per request.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("header `{text}` must look like 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|e| format!("header name in `{text}`: {e}"))?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|e| format!("header value in `{text}`: {e}"))?;
    // Keeps credentials out of any debug output of the prebuilt header map.
    if name == hyper::header::AUTHORIZATION {
        value.set_sensitive(true);
    }
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn durations_take_the_manifest_grammar() {
        // Compound durations, as in manifests, are new.
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        // `min` and a space before the unit were accepted before; Go's grammar has neither.
        for gone in ["2min", "2 m", " 10s"] {
            let err = parse_duration(gone).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid duration `{gone}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn duration_flags_parse_go_style_values() {
        let cli = Cli::try_parse_from([
            "omnia-loadtest",
            "function",
            "--function",
            "echo",
            "-d",
            "1m30s",
            "--warmup",
            "200ms",
            "--timeout",
            "2",
            "--pacer-spin",
            "0",
        ])
        .unwrap();
        let Command::Function(args) = cli.command else {
            panic!("expected the function subcommand");
        };
        assert_eq!(args.load.duration, Duration::from_secs(90));
        assert_eq!(args.load.warmup, Duration::from_millis(200));
        assert_eq!(args.load.timeout, Duration::from_secs(2));
        assert_eq!(args.load.pacer_spin, Some(Duration::ZERO));
        assert!(
            Cli::try_parse_from([
                "omnia-loadtest",
                "function",
                "--function",
                "f",
                "-d",
                "2min"
            ])
            .is_err()
        );
    }

    #[test]
    fn headers_parse_and_hide_credentials() {
        let (name, value) = parse_header("Authorization: Bearer KEY").unwrap();
        assert_eq!(name, hyper::header::AUTHORIZATION);
        assert_eq!(value, "Bearer KEY");
        assert!(value.is_sensitive());
        assert!(parse_header("no colon").is_err());
    }

    #[test]
    fn cli_parses_an_open_run() {
        let cli = Cli::try_parse_from([
            "omnia-loadtest",
            "function",
            "--function",
            "echo",
            "--rate",
            "500",
            "-H",
            "X-A: 1",
            "--header",
            "X-B: 2",
            "--json",
        ])
        .unwrap();
        let Command::Function(args) = cli.command else {
            panic!("expected the function subcommand");
        };
        assert_eq!(args.load.rate, Some(500.0));
        assert_eq!(args.headers.len(), 2);
        assert!(args.output.json);
        assert_eq!(args.load.duration, Duration::from_secs(10));
    }

    #[test]
    fn ws_stream_parses_sessions_turns_and_headers() {
        let cli = Cli::try_parse_from([
            "omnia-loadtest",
            "ws-stream",
            "--agent",
            "support",
            "-c",
            "8",
            "--turns",
            "5",
            "--message",
            "hi there",
            "-H",
            "Authorization: Bearer KEY",
            "--json",
            "--label",
            "gw",
        ])
        .unwrap();
        let Command::WsStream(args) = cli.command else {
            panic!("expected ws-stream");
        };
        assert_eq!(args.target.url, "ws://127.0.0.1:8080");
        assert_eq!(args.target.agent, "support");
        assert_eq!(args.sessions, 8);
        assert_eq!(args.turns, Some(5));
        assert_eq!(args.duration, None);
        assert_eq!(args.message, "hi there");
        assert_eq!(args.target.headers.len(), 1);
        assert!(args.target.headers[0].1.is_sensitive());
        assert!(args.output.json);
        assert_eq!(args.output.label.as_deref(), Some("gw"));
        assert_eq!(args.target.timeout, Duration::from_secs(10));
    }

    #[test]
    fn ws_stream_takes_turns_or_a_duration_not_both() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["omnia-loadtest", "ws-stream", "--agent", "a"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv)
        };
        let Ok(Cli {
            command: Command::WsStream(args),
        }) = parse(&["-d", "1m30s", "--connections", "3"])
        else {
            panic!("expected ws-stream");
        };
        assert_eq!(args.duration, Some(Duration::from_secs(90)));
        assert_eq!(args.sessions, 3);
        assert!(parse(&["--turns", "3", "-d", "10s"]).is_err());
        assert!(parse(&["--turns", "0"]).is_err());
        assert!(parse(&["-c", "0"]).is_err());
        // The agent is required.
        assert!(Cli::try_parse_from(["omnia-loadtest", "ws-stream"]).is_err());
    }

    #[test]
    fn ws_idle_parses_hold_pid_and_concurrency() {
        let cli = Cli::try_parse_from([
            "omnia-loadtest",
            "ws-idle",
            "--url",
            "ws://10.0.0.1:9000",
            "--agent",
            "a",
            "-c",
            "10000",
            "--hold",
            "2m",
            "--pid",
            "1234",
            "--json",
        ])
        .unwrap();
        let Command::WsIdle(args) = cli.command else {
            panic!("expected ws-idle");
        };
        assert_eq!(args.connections, 10_000);
        assert_eq!(args.hold, Duration::from_secs(120));
        assert_eq!(args.pid, Some(1234));
        assert_eq!(args.concurrency, 200);
        assert!(args.json);
        assert_eq!(args.target.url, "ws://10.0.0.1:9000");
    }

    #[test]
    fn body_sources_are_exclusive() {
        let parsed = Cli::try_parse_from([
            "omnia-loadtest",
            "function",
            "--function",
            "f",
            "--body-file",
            "a",
            "--body-template",
            "b",
        ]);
        assert!(parsed.is_err());
        // The default `--body-size` does not count as a second source.
        let parsed = Cli::try_parse_from([
            "omnia-loadtest",
            "function",
            "--function",
            "f",
            "--body-file",
            "a",
        ]);
        assert!(parsed.is_ok());
    }
}

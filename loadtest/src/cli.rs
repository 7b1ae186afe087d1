//! Command-line interface: the subcommands and the flags they share.
//!
//! Load-model flags (`LoadArgs`) and output flags (`OutputArgs`) are separate structs so a future
//! scenario subcommand (`ws-stream`) can flatten them unchanged next to its own flags.

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
    /// Draw the latency-by-percentile curves of saved `--json` results into one SVG.
    Plot(PlotArgs),
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

//! An agent pod's live load, read from its gateway's Prometheus endpoint
//! (`http://<podIP>:8081/metrics`, the health port) for the replica [`tuner`](crate::tuner).
//!
//! Only four series are read, all with Omnia's names: the gauges
//! `omnia_agent_connections_active` and `omnia_agent_requests_inflight`, and the `_sum` and
//! `_count` of the histogram `omnia_agent_request_duration_seconds`. Each is the sum of all its
//! series, whatever their labels: the gateway labels them with the agent (and the histogram with
//! the handler), and a gateway serving several agents has a series per agent, all load on the pod.
//! The histogram's totals are cumulative, so the mean turn latency over an interval is the
//! difference of `_sum` between two scrapes over the difference of `_count`.
//!
//! The parser knows just enough of the text format (0.0.4) to read these series strictly and
//! pass over everything else: a line of another series is not read past its name, so a gateway
//! that adds a series this parser cannot read does not stop the operator from scaling.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::Request;
use hyper::body::{Body as _, Bytes};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The largest metrics body read. A gateway's text is a few KiB per agent it serves; a body
/// this large is not a gateway's, and reading it whole would cost the operator's memory.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// How long an idle connection to a pod is kept for the next scrape: scrapes closer together
/// than this reuse one connection per pod, and a pod that went away frees its socket after it.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// The load one pod reports (sums over all series of each name).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PodLoad {
    /// `omnia_agent_connections_active`: open client connections.
    pub connections: f64,
    /// `omnia_agent_requests_inflight`: function calls and turns being served.
    pub in_flight: f64,
    /// `omnia_agent_request_duration_seconds_sum`: seconds spent in requests since the gateway
    /// started (cumulative).
    pub duration_sum: f64,
    /// `omnia_agent_request_duration_seconds_count`: requests finished since the gateway started
    /// (cumulative).
    pub duration_count: f64,
}

/// Why a pod's load could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// No connection, or it failed before a response arrived.
    #[error(
        "cannot read http://{addr}/metrics: {reason}; check that the pod is running and its \
         gateway listens on the health port"
    )]
    Unreachable { addr: SocketAddr, reason: String },
    /// No full response within the scrape's timeout.
    #[error(
        "http://{addr}/metrics did not answer within {timeout:?}; the gateway may be overloaded, \
         or a network policy may drop the operator's traffic to the health port"
    )]
    Timeout { addr: SocketAddr, timeout: Duration },
    /// The gateway answered, but not with a 2xx.
    #[error("http://{addr}/metrics answered HTTP {status}, not 2xx; check the gateway's log")]
    Status { addr: SocketAddr, status: u16 },
    /// The body is over [`MAX_BODY`]. `addr` is `None` when [`parse`] was given the text.
    #[error(
        "{} is over {limit} bytes, far more than a gateway writes; check what listens there",
        Origin(.addr)
    )]
    TooLarge {
        addr: Option<SocketAddr>,
        limit: usize,
    },
    /// A line of one of the series read here does not parse (`line` counts from 1).
    /// `addr` is `None` when [`parse`] was given the text.
    #[error("{}, line {line}: {reason}", Origin(.addr))]
    Malformed {
        addr: Option<SocketAddr>,
        line: usize,
        reason: String,
    },
}

impl ScrapeError {
    /// The same error, naming the pod whose body it came from.
    fn at(self, pod: SocketAddr) -> Self {
        match self {
            Self::TooLarge { limit, .. } => Self::TooLarge {
                addr: Some(pod),
                limit,
            },
            Self::Malformed { line, reason, .. } => Self::Malformed {
                addr: Some(pod),
                line,
                reason,
            },
            other => other,
        }
    }
}

/// Where a body came from, in an error message.
struct Origin<'a>(&'a Option<SocketAddr>);

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "the metrics from http://{addr}/metrics"),
            None => f.write_str("the metrics text"),
        }
    }
}

/// The HTTP client the scrapes share (plain HTTP: pods are scraped on the pod network).
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Empty<Bytes>>;

/// A client for [`scrape`], keeping one idle connection per pod between scrapes.
pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    // A GET is one small write; Nagle's delay would only add latency to it.
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(1)
        // Without a timer the pool evicts an expired idle connection only when it next looks
        // that pod up: a connection to a pod never scraped again would stay open until the
        // other side closed it.
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Reads the load of the pod whose gateway's health port is `addr`. `timeout` bounds the whole
/// scrape: connecting, the response's head and its body.
pub async fn scrape(
    client: &Client,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<PodLoad, ScrapeError> {
    match tokio::time::timeout(timeout, fetch(client, addr)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ScrapeError::Timeout { addr, timeout }),
    }
}

async fn fetch(client: &Client, addr: SocketAddr) -> Result<PodLoad, ScrapeError> {
    let unreachable = |reason: String| ScrapeError::Unreachable { addr, reason };
    let request = Request::get(format!("http://{addr}/metrics"))
        .body(Empty::new())
        .map_err(|err| unreachable(format!("invalid request: {err}")))?;

    let response = client
        .request(request)
        .await
        .map_err(|err| unreachable(causes(&err)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ScrapeError::Status {
            addr,
            status: status.as_u16(),
        });
    }

    let too_large = ScrapeError::TooLarge {
        addr: Some(addr),
        limit: MAX_BODY,
    };
    let body = response.into_body();
    // A declared length over the limit is refused before any of the body is read.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(too_large);
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large),
        Err(err) => return Err(unreachable(format!("reading the body: {}", causes(&*err)))),
    };
    // Only our series' names, numbers and label syntax matter, all ASCII: a stray invalid byte
    // elsewhere (another series' label value) must not fail the scrape.
    parse(&String::from_utf8_lossy(&bytes)).map_err(|err| err.at(addr))
}

/// An error and its sources, outermost first: hyper's own message ("client error (Connect)")
/// says little without the OS error under it.
fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The series read, by name.
#[derive(Debug, Clone, Copy)]
enum Series {
    Connections,
    InFlight,
    DurationSum,
    DurationCount,
}

impl Series {
    fn named(name: &str) -> Option<Self> {
        match name {
            "omnia_agent_connections_active" => Some(Self::Connections),
            "omnia_agent_requests_inflight" => Some(Self::InFlight),
            "omnia_agent_request_duration_seconds_sum" => Some(Self::DurationSum),
            "omnia_agent_request_duration_seconds_count" => Some(Self::DurationCount),
            _ => None,
        }
    }
}

/// Spaces and tabs: the format's token separators.
const BLANK: [char; 2] = [' ', '\t'];

/// Reads a pod's load from Prometheus text (format 0.0.4). Lines of other series are skipped
/// unread; a line of one of ours that does not parse is [`ScrapeError::Malformed`]. Samples
/// that are NaN or infinite are left out of the sums. No series at all is a load of zero.
pub fn parse(text: &str) -> Result<PodLoad, ScrapeError> {
    if text.len() > MAX_BODY {
        return Err(ScrapeError::TooLarge {
            addr: None,
            limit: MAX_BODY,
        });
    }
    let mut load = PodLoad::default();
    // `lines` also drops a `\r` before each `\n`.
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start_matches(BLANK);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..name_end];
        let Some(series) = Series::named(name) else {
            continue;
        };
        let value = sample_value(&line[name_end..]).map_err(|reason| ScrapeError::Malformed {
            addr: None,
            line: index + 1,
            reason: format!("{name}: {reason}"),
        })?;
        if !value.is_finite() {
            continue;
        }
        let total = match series {
            Series::Connections => &mut load.connections,
            Series::InFlight => &mut load.in_flight,
            Series::DurationSum => &mut load.duration_sum,
            Series::DurationCount => &mut load.duration_count,
        };
        *total += value;
    }
    Ok(load)
}

/// The value of a sample line after its name: `[{labels}] value [timestamp]`.
fn sample_value(rest: &str) -> Result<f64, String> {
    let rest = match rest.strip_prefix('{') {
        Some(labels) => skip_labels(labels)?,
        None => rest,
    };
    let mut tokens = rest.split(BLANK).filter(|token| !token.is_empty());
    let value = tokens.next().ok_or("no value")?;
    let value = value
        .parse::<f64>()
        .map_err(|_| format!("value {value:?} is not a number"))?;
    if let Some(timestamp) = tokens.next()
        && timestamp.parse::<i64>().is_err()
    {
        return Err(format!(
            "timestamp {timestamp:?} is not an integer (milliseconds)"
        ));
    }
    if let Some(extra) = tokens.next() {
        return Err(format!("unexpected {extra:?} after the timestamp"));
    }
    Ok(value)
}

/// Skips a label set whose `{` is already consumed; returns what follows its `}`.
fn skip_labels(mut rest: &str) -> Result<&str, String> {
    loop {
        rest = rest.trim_start_matches(BLANK);
        // `}` right after `{` or after a trailing comma.
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        if rest.is_empty() {
            return Err("label set not closed with '}'".to_owned());
        }
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            let found: String = rest.chars().take(16).collect();
            return Err(format!("expected a label name at {found:?}"));
        }
        rest = rest[name_len..].trim_start_matches(BLANK);
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("label {name}: expected '=' after the name"))?
            .trim_start_matches(BLANK);
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: value not in double quotes"))?;
        rest = skip_quoted(rest).map_err(|reason| format!("label {name}: {reason}"))?;
        rest = rest.trim_start_matches(BLANK);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        } else {
            return Err(format!(
                "label {name}: expected ',' or '}}' after the value"
            ));
        }
    }
}

/// Skips a label value whose opening quote is already consumed; returns what follows its
/// closing quote. The format's only escapes are `\\`, `\"` and `\n`.
fn skip_quoted(value: &str) -> Result<&str, String> {
    let bytes = value.as_bytes();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            // ASCII, so `i + 1` is a char boundary (no byte of a multi-byte char is ASCII).
            b'"' => return Ok(&value[i + 1..]),
            b'\\' => match bytes.get(i + 1) {
                Some(b'\\' | b'"' | b'n') => i += 2,
                Some(_) => {
                    let escape: String = value[i..].chars().take(2).collect();
                    return Err(format!("invalid escape {escape:?} in the value"));
                }
                None => return Err("value not closed with '\"'".to_owned()),
            },
            _ => i += 1,
        }
    }
    Err("value not closed with '\"'".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// What a gateway serving two agents writes (prometheus-client's text), trimmed.
    const GATEWAY: &str = r#"# HELP omnia_agent_connections_active Open client connections that carried a request for the agent.
# TYPE omnia_agent_connections_active gauge
omnia_agent_connections_active{agent="chat",namespace="prod"} 7
omnia_agent_connections_active{agent="search",namespace="prod"} 3
# HELP omnia_agent_connections Client connections that carried a request for the agent.
# TYPE omnia_agent_connections counter
omnia_agent_connections_total{agent="chat",namespace="prod"} 120
omnia_agent_connections_total{agent="search",namespace="prod"} 40
# HELP omnia_agent_requests_inflight Requests being served.
# TYPE omnia_agent_requests_inflight gauge
omnia_agent_requests_inflight{agent="chat",namespace="prod"} 2
omnia_agent_requests_inflight{agent="search",namespace="prod"} 0.5
# HELP omnia_agent_request_duration_seconds Request duration in seconds.
# TYPE omnia_agent_request_duration_seconds histogram
omnia_agent_request_duration_seconds_sum{agent="chat",handler="runtime",namespace="prod"} 30.25
omnia_agent_request_duration_seconds_count{agent="chat",handler="runtime",namespace="prod"} 12
omnia_agent_request_duration_seconds_bucket{agent="chat",handler="runtime",namespace="prod",le="0.1"} 0
omnia_agent_request_duration_seconds_bucket{agent="chat",handler="runtime",namespace="prod",le="+Inf"} 12
omnia_agent_request_duration_seconds_sum{agent="search",handler="echo",namespace="prod"} 1.75
omnia_agent_request_duration_seconds_count{agent="search",handler="echo",namespace="prod"} 4
omnia_agent_request_duration_seconds_bucket{agent="search",handler="echo",namespace="prod",le="+Inf"} 4
# HELP omnia_gateway_unrouted_requests Requests whose path names no served agent, by status class.
# TYPE omnia_gateway_unrouted_requests counter
omnia_gateway_unrouted_requests_total{status_class="4xx"} 9
# EOF
"#;

    fn load(connections: f64, in_flight: f64, duration_sum: f64, duration_count: f64) -> PodLoad {
        PodLoad {
            connections,
            in_flight,
            duration_sum,
            duration_count,
        }
    }

    /// The line number and reason of a malformed document.
    fn malformed(text: &str) -> (usize, String) {
        match parse(text) {
            Err(ScrapeError::Malformed {
                addr: None,
                line,
                reason,
            }) => (line, reason),
            other => panic!("{text:?}: expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn sums_every_series_of_a_gateway() {
        assert_eq!(parse(GATEWAY).unwrap(), load(10.0, 2.5, 32.0, 16.0));
    }

    #[test]
    fn unlabelled_series_and_label_set_forms() {
        let text = "omnia_agent_connections_active 1\n\
                    omnia_agent_connections_active{} 2\n\
                    omnia_agent_connections_active{agent=\"a\",} 4\n\
                    omnia_agent_connections_active{ agent = \"a\" , namespace=\"n\" }\t8\n\
                    omnia_agent_connections_active{agent=\"a\"}16\n\
                    \t  omnia_agent_requests_inflight   3  \r\n\
                    omnia_agent_requests_inflight{_x1=\"\"} 1\r\n";
        assert_eq!(parse(text).unwrap(), load(31.0, 4.0, 0.0, 0.0));
    }

    #[test]
    fn label_values_may_hold_braces_spaces_and_escapes() {
        let text = concat!(
            r#"omnia_agent_connections_active{agent="a} 99",namespace="x"} 1"#,
            "\n",
            r#"omnia_agent_connections_active{agent="say \"hi\" } 5",namespace="n"} 2"#,
            "\n",
            r#"omnia_agent_connections_active{agent="back\\",namespace="line\nbreak"} 4"#,
            "\n",
            r#"omnia_agent_connections_active{agent="\\\"}",namespace="é ünïcode #"} 8"#,
            "\n",
        );
        assert_eq!(parse(text).unwrap(), load(15.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn timestamps_are_accepted_and_ignored() {
        let text = "omnia_agent_requests_inflight{agent=\"a\"} 2 1712345678901\n\
                    omnia_agent_requests_inflight 3 -5\n\
                    omnia_agent_requests_inflight 4\t1712345678901  \n";
        assert_eq!(parse(text).unwrap(), load(0.0, 9.0, 0.0, 0.0));
    }

    #[test]
    fn values_in_any_float_form() {
        let text = "omnia_agent_request_duration_seconds_sum 1.5e1\n\
                    omnia_agent_request_duration_seconds_sum .5\n\
                    omnia_agent_request_duration_seconds_sum +2.\n\
                    omnia_agent_request_duration_seconds_sum -0.5E0\n\
                    omnia_agent_request_duration_seconds_count 0\n";
        assert_eq!(parse(text).unwrap(), load(0.0, 0.0, 17.0, 0.0));
    }

    #[test]
    fn nan_and_infinities_are_left_out() {
        let text = "omnia_agent_connections_active{agent=\"a\"} NaN\n\
                    omnia_agent_connections_active{agent=\"b\"} +Inf\n\
                    omnia_agent_connections_active{agent=\"c\"} -Inf\n\
                    omnia_agent_connections_active{agent=\"d\"} Inf\n\
                    omnia_agent_connections_active{agent=\"e\"} 6\n\
                    omnia_agent_request_duration_seconds_sum +Inf\n\
                    omnia_agent_request_duration_seconds_count 1\n";
        assert_eq!(parse(text).unwrap(), load(6.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn similar_names_are_not_counted() {
        let text = "omnia_agent_connections_active_total 100\n\
                    omnia_agent_connections 100\n\
                    omnia_agent_connections_activ 100\n\
                    xomnia_agent_connections_active 100\n\
                    omnia_agent_connections_active:rate5m 100\n\
                    omnia_agent_requests_inflight_max{agent=\"a\"} 100\n\
                    omnia_agent_request_duration_seconds 100\n\
                    omnia_agent_request_duration_seconds_bucket{le=\"+Inf\"} 100\n\
                    omnia_agent_request_duration_seconds_sum_total 100\n\
                    omnia_agent_request_duration_seconds_created 100\n\
                    # omnia_agent_connections_active 100\n\
                    omnia_agent_connections_active 1\n";
        assert_eq!(parse(text).unwrap(), load(1.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn no_series_of_ours_is_zero_load() {
        assert_eq!(parse("").unwrap(), PodLoad::default());
        assert_eq!(parse("\n\n  \n# EOF\n").unwrap(), PodLoad::default());
        let other = "# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 12.5\n";
        assert_eq!(parse(other).unwrap(), PodLoad::default());
    }

    #[test]
    fn malformed_lines_of_ours_are_errors_with_their_line() {
        let cases = [
            ("omnia_agent_connections_active", "no value"),
            ("omnia_agent_connections_active{agent=\"a\"}", "no value"),
            ("omnia_agent_connections_active  ", "no value"),
            ("omnia_agent_connections_active seven", "not a number"),
            ("omnia_agent_connections_active 0x10", "not a number"),
            ("omnia_agent_connections_active 1 12.5", "not an integer"),
            (
                "omnia_agent_connections_active 1 2 3",
                "after the timestamp",
            ),
            (
                "omnia_agent_connections_active{agent=\"a\" 1",
                "expected ','",
            ),
            ("omnia_agent_connections_active{agent=\"a} 1", "not closed"),
            ("omnia_agent_connections_active{agent=\"a\\", "not closed"),
            (
                "omnia_agent_connections_active{agent=\"\\t\"} 1",
                "invalid escape",
            ),
            ("omnia_agent_connections_active{agent=a} 1", "double quotes"),
            ("omnia_agent_connections_active{agent} 1", "expected '='"),
            ("omnia_agent_connections_active{=\"a\"} 1", "label name"),
            ("omnia_agent_connections_active{1a=\"a\"} 1", "label name"),
            ("omnia_agent_connections_active{,} 1", "label name"),
            ("omnia_agent_connections_active{a=\"1\",,} 1", "label name"),
            (
                "omnia_agent_connections_active{a-b=\"1\"} 1",
                "expected '='",
            ),
            (
                "omnia_agent_connections_active{a=\"1\"b=\"2\"} 1",
                "expected ','",
            ),
            ("omnia_agent_requests_inflight{", "not closed"),
            ("omnia_agent_request_duration_seconds_sum -", "not a number"),
            (
                "omnia_agent_request_duration_seconds_count{} 1 x",
                "not an integer",
            ),
        ];
        for (line, expected) in cases {
            let text = format!("# HELP x y\n\nomnia_agent_connections_active 1\n{line}\nfoo 1\n");
            let (number, reason) = malformed(&text);
            assert_eq!(number, 4, "{line:?}");
            assert!(reason.contains(expected), "{line:?}: {reason}");
            let name = &line[..line.find(['{', ' ']).unwrap_or(line.len())];
            assert!(reason.starts_with(name), "{line:?}: {reason}");
        }
    }

    #[test]
    fn the_first_malformed_line_is_reported() {
        let text = "omnia_agent_requests_inflight 1\r\n\
                    omnia_agent_requests_inflight one\r\n\
                    omnia_agent_requests_inflight two\r\n";
        assert_eq!(malformed(text).0, 2);
    }

    #[test]
    fn malformed_lines_of_other_series_are_ignored() {
        let text = "other_series{label=\"unclosed} 1\n\
                    other_series not-a-number\n\
                    other_series\n\
                    other_series{a=b} 1 2 3 4\n\
                    {\"utf8.name\"} 1\n\
                    omnia_agent_connections_active_total{ 1\n\
                    garbage line with spaces\n\
                    omnia_agent_requests_inflight 2\n";
        assert_eq!(parse(text).unwrap(), load(0.0, 2.0, 0.0, 0.0));
    }

    #[test]
    fn text_over_the_cap_is_too_large() {
        let mut text = "# padding\n".repeat(MAX_BODY / 10);
        assert!(parse(&text).is_ok());
        text.push_str("omnia_agent_connections_active 1\n");
        assert!(matches!(
            parse(&text),
            Err(ScrapeError::TooLarge {
                addr: None,
                limit: MAX_BODY
            })
        ));
    }

    #[test]
    fn messages_name_the_pod() {
        let addr: SocketAddr = "10.1.2.3:8081".parse().unwrap();
        let malformed = parse("omnia_agent_connections_active x")
            .unwrap_err()
            .at(addr);
        let text = malformed.to_string();
        assert!(
            text.contains("http://10.1.2.3:8081/metrics, line 1"),
            "{text}"
        );
        let status = ScrapeError::Status { addr, status: 503 }.to_string();
        assert!(status.contains("http://10.1.2.3:8081/metrics answered HTTP 503"));
        let timeout = ScrapeError::Timeout {
            addr,
            timeout: Duration::from_millis(200),
        };
        assert!(timeout.to_string().contains("10.1.2.3:8081"));
        let v6: SocketAddr = "[fd00::1]:8081".parse().unwrap();
        let unreachable = ScrapeError::Unreachable {
            addr: v6,
            reason: "refused".to_owned(),
        };
        assert!(
            unreachable
                .to_string()
                .contains("http://[fd00::1]:8081/metrics")
        );
    }

    /// A server on 127.0.0.1 answering every request with `status` and `body`.
    async fn serve(status: StatusCode, body: Bytes) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let body = body.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let body = body.clone();
                        async move {
                            assert_eq!(request.uri().path(), "/metrics");
                            let mut response = Response::new(Full::new(body));
                            *response.status_mut() = status;
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    const TIMEOUT: Duration = Duration::from_millis(200);

    fn assert_too_large(result: Result<PodLoad, ScrapeError>, addr: SocketAddr) {
        match result {
            Err(ScrapeError::TooLarge {
                addr: Some(at),
                limit: MAX_BODY,
            }) => assert_eq!(at, addr),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn scrape_reads_the_served_metrics() {
        let addr = serve(StatusCode::OK, Bytes::from_static(GATEWAY.as_bytes())).await;
        let client = client();
        assert_eq!(
            scrape(&client, addr, Duration::from_secs(5)).await.unwrap(),
            load(10.0, 2.5, 32.0, 16.0)
        );
        // Again, over the pooled connection.
        assert_eq!(
            scrape(&client, addr, Duration::from_secs(5)).await.unwrap(),
            load(10.0, 2.5, 32.0, 16.0)
        );
    }

    #[tokio::test]
    async fn scrape_of_a_malformed_body_names_the_pod() {
        let body = Bytes::from_static(b"# ok\nomnia_agent_requests_inflight{a=\"b\" 1\n");
        let addr = serve(StatusCode::OK, body).await;
        match scrape(&client(), addr, Duration::from_secs(5)).await {
            Err(ScrapeError::Malformed {
                addr: Some(at),
                line: 2,
                ..
            }) => assert_eq!(at, addr),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn scrape_of_an_error_status_is_status() {
        let addr = serve(
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from_static(b"boom"),
        )
        .await;
        match scrape(&client(), addr, Duration::from_secs(5)).await {
            Err(ScrapeError::Status { addr: at, status }) => {
                assert_eq!((at, status), (addr, 500));
            }
            other => panic!("expected Status, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn scrape_of_a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and holds each connection, never reading or answering.
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        match scrape(&client(), addr, TIMEOUT).await {
            Err(ScrapeError::Timeout { addr: at, timeout }) => {
                assert_eq!((at, timeout), (addr, TIMEOUT));
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
        server.abort();
    }

    #[tokio::test]
    async fn scrape_of_a_closed_port_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        match scrape(&client(), addr, Duration::from_secs(5)).await {
            Err(ScrapeError::Unreachable { addr: at, reason }) => {
                assert_eq!(at, addr);
                assert!(reason.contains("refused"), "{reason}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn scrape_of_a_declared_oversized_body_is_too_large() {
        let body = Bytes::from(vec![b'#'; MAX_BODY + 1]);
        let addr = serve(StatusCode::OK, body).await;
        assert_too_large(scrape(&client(), addr, Duration::from_secs(5)).await, addr);
    }

    #[tokio::test]
    async fn scrape_of_an_oversized_chunked_body_is_too_large() {
        // No Content-Length: the limit is found while reading.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            // The request first: hyper's client fails a response that arrives before its request.
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
                         transfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head).await.is_err() {
                return;
            }
            let chunk = format!("10000\r\n{}\r\n", "#".repeat(0x10000));
            // 65 chunks of 64 KiB: one more than 4 MiB. The client stops reading at the limit,
            // so later writes may fail.
            for _ in 0..=MAX_BODY / 0x10000 {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        });
        assert_too_large(scrape(&client(), addr, Duration::from_secs(5)).await, addr);
    }
}

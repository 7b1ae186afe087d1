#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The built `omnia-runtime` binary's `/metrics` listener: where it binds, what a scrape reads,
//! and how it is turned off.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use support::{LISTENING, PATIENCE, RuntimeProcess, example};

/// The binary on the echo example, gRPC on a free loopback port, with `args` and `env` on top of
/// a clean environment for the metrics settings.
fn process(args: &[&str], env: &[(&str, &str)]) -> RuntimeProcess {
    RuntimeProcess::new(example("echo-function"))
        .args(args)
        .env_remove("OMNIA_METRICS_LISTEN")
        .env_remove("OMNIA_METRICS_PORT")
        .envs(env)
}

/// The metrics listener binds before gRPC, so it has said where once the runtime has started.
const SERVING_METRICS: &str = "serving Prometheus metrics";

/// One HTTP/1.1 GET over a plain socket; returns the head and the body.
fn get(address: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {response:?}"));
    (head.to_owned(), body.to_owned())
}

#[test]
fn a_scrape_reads_runtime_info_for_the_agent_served() {
    let runtime = process(&["--metrics-listen", "127.0.0.1:0"], &[]).start();
    let address = runtime.logged_address(SERVING_METRICS);

    let (head, body) = get(address, "/metrics");

    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    let version = env!("CARGO_PKG_VERSION");
    let info = format!(
        "omnia_runtime_info{{agent=\"echo-function\",namespace=\"default\",version=\"{version}\"}} 1"
    );
    assert!(
        body.lines().any(|l| l == info),
        "{info} missing from\n{body}"
    );
    // No call was made: the provider families have no series, and so no lines at all.
    assert!(!body.contains("omnia_provider_"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");

    let (head, _) = get(address, "/");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[test]
fn omnia_metrics_listen_off_serves_no_metrics() {
    let runtime = process(&[], &[("OMNIA_METRICS_LISTEN", "off")]).start();

    let output = runtime.output();

    assert!(!output.contains(SERVING_METRICS), "{output}");
    assert!(!output.contains("cannot serve metrics"), "{output}");
}

#[test]
fn a_metrics_port_that_is_taken_stops_start_up_when_asked_for() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut runtime = process(&[], &[("OMNIA_METRICS_PORT", port.as_str())]).spawn();

    let (status, output) = runtime.exited();

    assert!(!status.success(), "{output}");
    assert!(
        output.contains("cannot serve metrics on 0.0.0.0:"),
        "{output}"
    );
    assert!(!output.contains(LISTENING), "{output}");
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The built `omnia-runtime` binary's `/metrics` listener: where it binds, what a scrape reads,
//! and how it is turned off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_omnia-runtime");

/// How long the runtime may take to start before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// The echo example's manifests.
fn echo_example() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/echo-function");
    ["agentruntime.yaml", "promptpack.yaml", "provider.yaml"]
        .iter()
        .map(|file| dir.join(file))
        .collect()
}

/// A runtime process whose output goes to a file; killed when dropped.
struct Runtime {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Runtime {
    /// Starts the binary on the echo example, gRPC on a free loopback port, with `args` and `env`
    /// on top of a clean environment for the listen settings.
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Runtime {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new(BIN);
        command.arg("--config").args(echo_example()).args(args);
        command
            .env_remove("OMNIA_RUNTIME_LISTEN")
            .env_remove("OMNIA_METRICS_LISTEN")
            .env_remove("OMNIA_METRICS_PORT")
            .env_remove("RUST_LOG")
            .env("OMNIA_RUNTIME_PORT", "0")
            // Plain text, so the test can read `local=ADDR`.
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = command.spawn().expect("cannot spawn omnia-runtime");
        Runtime {
            child,
            log,
            _dir: dir,
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the output until the gRPC listener is up (the metrics listener binds before it);
    /// returns the output so far.
    fn started(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let output = self.output();
            if output.contains("omnia-runtime listening") {
                return output;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("omnia-runtime exited ({status}):\n{output}");
            }
            assert!(
                Instant::now() < deadline,
                "omnia-runtime did not start:\n{output}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where the metrics listener says it listens.
    fn metrics_address(&mut self) -> SocketAddr {
        let output = self.started();
        let line = output
            .lines()
            .find(|l| l.contains("serving Prometheus metrics"))
            .unwrap_or_else(|| panic!("no metrics listener:\n{output}"));
        line.split_whitespace()
            .find_map(|word| word.strip_prefix("local="))
            .unwrap_or_else(|| panic!("no local= in {line:?}"))
            .parse()
            .unwrap()
    }

    /// Waits for the process to exit by itself; returns its status and output.
    fn exited(&mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.output());
            }
            assert!(
                Instant::now() < deadline,
                "omnia-runtime kept running:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let mut runtime = Runtime::spawn(&["--metrics-listen", "127.0.0.1:0"], &[]);
    let address = runtime.metrics_address();

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
    let mut runtime = Runtime::spawn(&[], &[("OMNIA_METRICS_LISTEN", "off")]);

    let output = runtime.started();

    assert!(!output.contains("serving Prometheus metrics"), "{output}");
    assert!(!output.contains("cannot serve metrics"), "{output}");
}

#[test]
fn a_metrics_port_that_is_taken_stops_start_up_when_asked_for() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut runtime = Runtime::spawn(&[], &[("OMNIA_METRICS_PORT", port.as_str())]);

    let (status, output) = runtime.exited();

    assert!(!status.success(), "{output}");
    assert!(
        output.contains("cannot serve metrics on 0.0.0.0:"),
        "{output}"
    );
    assert!(!output.contains("omnia-runtime listening"), "{output}");
}

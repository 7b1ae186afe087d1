#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The built `omnia-runtime` binary and where it listens: loopback unless told otherwise, and a
//! warning when told otherwise.
//!
//! Whether a non-loopback address of this machine reaches the runtime is checked with `bind`,
//! not `connect`: tests here may send traffic to loopback addresses only. The kernel refuses to
//! bind `HOST:PORT` while a socket listens on `HOST:PORT` or `0.0.0.0:PORT`, so a bind that
//! succeeds proves that nothing of the runtime's accepts connections there (and a bind that
//! fails, in the second test, shows the check can tell).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnia_proto::runtime::v1::HealthRequest;
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;

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
    /// Starts the binary on the echo example with `args` and `env` on top of a clean
    /// environment for the listen settings.
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Runtime {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new(BIN);
        command.arg("--config").args(echo_example()).args(args);
        command
            .env_remove("OMNIA_RUNTIME_LISTEN")
            .env_remove("OMNIA_RUNTIME_PORT")
            .env_remove("RUST_LOG")
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

    /// Polls the output until the runtime says where it listens; returns that address.
    async fn listening(&mut self) -> SocketAddr {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let output = self.output();
            if let Some(line) = output
                .lines()
                .find(|l| l.contains("omnia-runtime listening"))
            {
                let local = line
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("local="))
                    .unwrap_or_else(|| panic!("no local= in {line:?}"));
                return local.parse().unwrap();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("omnia-runtime exited ({status}):\n{output}");
            }
            assert!(
                Instant::now() < deadline,
                "omnia-runtime did not start:\n{output}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This machine's IPv4 addresses other than loopback, as `ip -4 addr` lists them (none when the
/// command is missing: the test then says it checked the reported address only).
fn host_addresses() -> Vec<Ipv4Addr> {
    let Ok(output) = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse::<Ipv4Addr>().ok()
        })
        .filter(|address| !address.is_loopback())
        .collect()
}

/// Whether `address:port` can be bound, i.e. no socket listens there (see the module docs).
fn bindable(address: Ipv4Addr, port: u16) -> bool {
    TcpListener::bind((address, port)).is_ok()
}

#[tokio::test]
async fn by_default_the_runtime_serves_loopback_only() {
    // Port 0: the default address with a port no other test can be using.
    let mut runtime = Runtime::spawn(&[], &[("OMNIA_RUNTIME_PORT", "0")]);

    let local = runtime.listening().await;

    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{local}");
    let mut client = RuntimeServiceClient::connect(format!("http://{local}"))
        .await
        .unwrap();
    let health = client.health(HealthRequest {}).await.unwrap().into_inner();
    assert!(health.healthy, "{health:?}");
    let hosts = host_addresses();
    for host in &hosts {
        assert!(
            bindable(*host, local.port()),
            "{host}:{} is taken: the runtime listens beyond loopback",
            local.port()
        );
    }
    if hosts.is_empty() {
        eprintln!("this machine has no non-loopback IPv4 address: checked the reported address");
    } else {
        eprintln!("checked the reported address and a bind on {hosts:?}");
    }
    assert!(
        !runtime.output().contains("beyond loopback"),
        "{}",
        runtime.output()
    );
}

#[tokio::test]
async fn listening_on_all_interfaces_logs_a_warning_at_start_up() {
    let mut runtime = Runtime::spawn(&["--listen", "0.0.0.0:0"], &[]);

    let local = runtime.listening().await;

    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED), "{local}");
    let output = runtime.output();
    let warning = output
        .lines()
        .find(|line| line.contains("beyond loopback"))
        .unwrap_or_else(|| panic!("no warning:\n{output}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("authenticates no one"), "{warning}");
    for host in host_addresses() {
        assert!(
            !bindable(host, local.port()),
            "{host}:{} could be bound although the runtime listens on every interface",
            local.port()
        );
    }
}

#[tokio::test]
async fn omnia_runtime_listen_chooses_the_address_too() {
    let mut runtime = Runtime::spawn(&[], &[("OMNIA_RUNTIME_LISTEN", "0.0.0.0:0")]);

    let local = runtime.listening().await;

    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED), "{local}");
    assert!(
        runtime.output().contains("beyond loopback"),
        "{}",
        runtime.output()
    );
}

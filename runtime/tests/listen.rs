#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The built `omnia-runtime` binary and where it listens: loopback unless told otherwise, and a
//! warning when told otherwise.
//!
//! Whether a non-loopback address of this machine reaches the runtime is checked with `bind`,
//! not `connect`: tests here may send traffic to loopback addresses only. The kernel refuses to
//! bind `HOST:PORT` while a socket listens on `HOST:PORT` or `0.0.0.0:PORT`, so a bind that
//! succeeds proves that nothing of the runtime's accepts connections there (and a bind that
//! fails, in the second test, shows the check can tell).

mod support;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Command;

use omnia_proto::runtime::v1::HealthRequest;
use support::{Runtime, RuntimeProcess, example};

/// Starts the binary on the echo example with `args` and `env` on top of a clean environment for
/// the listen settings, and waits until it listens.
fn start(args: &[&str], env: &[(&str, &str)]) -> Runtime {
    RuntimeProcess::new(example("echo-function"))
        .args(args)
        .env_remove("OMNIA_RUNTIME_PORT")
        .envs(env)
        .start()
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
    let runtime = start(&[], &[("OMNIA_RUNTIME_PORT", "0")]);

    let local = runtime.address();

    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{local}");
    let mut client = runtime.client().await;
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
    let runtime = start(&["--listen", "0.0.0.0:0"], &[]);

    let local = runtime.address();

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
    let runtime = start(&[], &[("OMNIA_RUNTIME_LISTEN", "0.0.0.0:0")]);

    let local = runtime.address();

    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED), "{local}");
    assert!(
        runtime.output().contains("beyond loopback"),
        "{}",
        runtime.output()
    );
}

//! The built `omnia-runtime` binary as the end-to-end tests run it: a [`RuntimeProcess`] builder
//! (manifests, arguments, environment) that starts the process with its output in a log file,
//! waits until it says where gRPC listens (or until it exits, the log in the panic message), and
//! a [`Runtime`] handle that connects, stops it with SIGTERM, and kills it when dropped.
//!
//! Each test file (`listen`, `metrics`, `tracing`, `provider_tls`, `redis_tls`) compiles this
//! module on its own and uses a different part of it, so what one file leaves unused is not dead.
#![allow(dead_code)]

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

/// How long the runtime may take to start or stop before the test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What the runtime logs once its gRPC listener is bound, with `local=ADDR`.
pub const LISTENING: &str = "omnia-runtime listening";

/// The three manifests of `examples/{name}`.
pub fn example(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    ["agentruntime.yaml", "promptpack.yaml", "provider.yaml"]
        .iter()
        .map(|file| dir.join(file))
        .collect()
}

/// A loopback port nothing listened on a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start `omnia-runtime`. By default gRPC binds a port of the kernel's choosing
/// (`OMNIA_RUNTIME_PORT=0`, `OMNIA_RUNTIME_LISTEN` and `RUST_LOG` removed) and the log is plain
/// text (`NO_COLOR`), so that [`Runtime::logged_address`] can read it; [`env`](Self::env) and
/// [`env_remove`](Self::env_remove) apply after these, and so win.
pub struct RuntimeProcess {
    configs: Vec<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
}

impl RuntimeProcess {
    /// The binary on these manifests (given to one `--config`).
    pub fn new(configs: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        RuntimeProcess {
            configs: configs.into_iter().map(Into::into).collect(),
            args: Vec::new(),
            env: Vec::new(),
        }
        .env_remove("OMNIA_RUNTIME_LISTEN")
        .env_remove("RUST_LOG")
        .env("OMNIA_RUNTIME_PORT", "0")
        .env("NO_COLOR", "1")
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), Some(value.into())));
        self
    }

    /// Each `(name, value)` of `vars`, as [`env`](Self::env).
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        for (name, value) in vars {
            self = self.env(name, value);
        }
        self
    }

    pub fn env_remove(mut self, name: impl Into<OsString>) -> Self {
        self.env.push((name.into(), None));
        self
    }

    /// The command line and the environment the test chose, for panic messages.
    fn describe(&self) -> String {
        let mut words = vec!["omnia-runtime".to_owned()];
        words.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        for (name, value) in &self.env {
            let name = name.to_string_lossy();
            words.push(match value {
                Some(value) => format!("{name}={}", value.to_string_lossy()),
                None => format!("-{name}"),
            });
        }
        words.join(" ")
    }

    /// Starts the process without waiting for it; stdout and stderr go to a log file.
    pub fn spawn(self) -> Runtime {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_omnia-runtime"));
        command.arg("--config").args(&self.configs).args(&self.args);
        for (name, value) in &self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = command.spawn().expect("cannot spawn omnia-runtime");
        Runtime {
            child,
            log,
            described: self.describe(),
            _dir: dir,
        }
    }

    /// Starts the process and waits until it logs [`LISTENING`]; panics with the log when it
    /// exits first or takes longer than [`PATIENCE`].
    pub fn start(self) -> Runtime {
        let mut runtime = self.spawn();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let output = runtime.output();
            if output.contains(LISTENING) {
                return runtime;
            }
            if let Some(status) = runtime.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{output}", runtime.described);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start:\n{output}",
                runtime.described
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `omnia-runtime`, killed when dropped.
pub struct Runtime {
    child: Child,
    log: PathBuf,
    described: String,
    _dir: tempfile::TempDir,
}

impl Runtime {
    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `local=ADDR` of the first log line that contains `marker`.
    pub fn logged_address(&self, marker: &str) -> SocketAddr {
        let output = self.output();
        let line = output
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no {marker:?} in\n{output}"));
        line.split_whitespace()
            .find_map(|word| word.strip_prefix("local="))
            .unwrap_or_else(|| panic!("no local= in {line:?}"))
            .parse()
            .unwrap()
    }

    /// Where gRPC listens, as the runtime logged it once [`RuntimeProcess::start`] returned.
    pub fn address(&self) -> SocketAddr {
        self.logged_address(LISTENING)
    }

    /// A client connected to [`address`](Self::address).
    pub async fn client(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::connect(format!("http://{}", self.address()))
            .await
            .unwrap()
    }

    /// Its status and output once it has exited; `None` while it runs, and a panic (with the
    /// log) when it is still running at `deadline`.
    fn exit_by(&mut self, deadline: Instant, when: &str) -> Option<(ExitStatus, String)> {
        if let Some(status) = self.child.try_wait().unwrap() {
            return Some((status, self.output()));
        }
        assert!(
            Instant::now() < deadline,
            "{} kept running{when}:\n{}",
            self.described,
            self.output()
        );
        None
    }

    /// Waits for the process to exit by itself; returns its status and output.
    pub fn exited(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(exit) = self.exit_by(deadline, "") {
                return exit;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit (without blocking the test's tasks, which may be
    /// receiving what the runtime sends on its way out); returns its status and output.
    pub async fn terminate(&mut self) -> (ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {}: {sent}", self.pid());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(exit) = self.exit_by(deadline, " after SIGTERM") {
                return exit;
            }
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

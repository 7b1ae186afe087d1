//! The Python servers the MCP and OpenAPI tool tests run (`tests/servers/*.py`), from the
//! virtualenv `./test.sh` creates (`$OMNIA_PYENV`, by default `~/.cache/omnia-rs/pyenv`):
//! without it a test fails, saying how to make it.
//!
//! Each test file compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start before a test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The virtualenv's Python; panics, saying how to make it, when it is missing.
pub fn python() -> PathBuf {
    let env = std::env::var_os("OMNIA_PYENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is not set"))
                .join(".cache/omnia-rs/pyenv")
        });
    let python = env.join("bin/python");
    assert!(
        python.exists(),
        "the tool tests need the Python virtualenv with mcp==2.3.0, fastapi==0.165.0 and \
         uvicorn==0.54.0 at {} ($OMNIA_PYENV): run ./test.sh, which creates it, or `python3 -m \
         venv {0} && {0}/bin/pip install mcp==2.3.0 fastapi==0.165.0 uvicorn==0.54.0`",
        env.display()
    );
    python
}

/// `tests/servers/{name}`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/servers")
        .join(name)
}

/// A loopback port nothing listened on a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Python server listening on a loopback port, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// `python <args>` with `envs`, once it accepts connections on `port`.
    pub fn start<I, S>(args: I, envs: &[(&str, &str)], port: u16) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let child = Command::new(python())
            .args(&args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start the Python server");
        let mut server = Server { child, port };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the Python server {args:?} exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the Python server {args:?} did not listen on {port} within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

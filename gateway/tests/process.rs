#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The built `omnia-gateway` binary: `serve` drains on a real SIGTERM and exits 0, `dev` serves
//! the embedded examples, and bad manifests stop start-up with the file and the field.

mod support;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_omnia-gateway");

/// A spawned gateway process, killed if the test ends without it having exited.
struct Process {
    child: Child,
    stderr: PathBuf,
}

impl Process {
    fn spawn(command: &mut Command, stderr: PathBuf) -> Self {
        let log = std::fs::File::create(&stderr).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stderr(Stdio::from(log))
            .env_remove("RUST_LOG")
            .spawn()
            .expect("cannot spawn omnia-gateway");
        Self { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The process's stdout, line by line. A thread drains it for the whole life of the process,
    /// so the process can never block on a full pipe or fail writing to a closed one.
    fn stdout_lines(&mut self) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let stdout = self.child.stdout.take().expect("stdout is piped");
        let (lines_tx, lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        lines
    }

    /// Sends a real SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit.
    async fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "omnia-gateway did not exit; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fails the test (with stderr) if the process has already exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "omnia-gateway exited early ({status}); stderr:\n{}",
                self.stderr()
            );
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port nothing listens on right now (the tiny race with other processes is accepted).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn write_manifest(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_in_flight_call_refuses_new_connections_and_exits_zero() {
    let runtime = FakeRuntime::start(Behaviour::Hold).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_manifest(dir.path(), "echo.yaml", &echo_yaml());
    let (facade, health) = (free_port(), free_port());
    let mut process = Process::spawn(
        Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", &facade.to_string()])
            .args(["--health-listen", &health.to_string()])
            .args(["--internal-listen", "127.0.0.1:0"])
            .env("OMNIA_RUNTIME_ADDRESS", runtime.address())
            .env("OMNIA_FACADE_ALLOW_UNAUTHENTICATED", "true")
            .stdout(Stdio::null()),
        dir.path().join("stderr.log"),
    );
    wait_ready(health).await;
    process.assert_running();
    let call = tokio::spawn(async move {
        post_json(
            facade,
            &format!("/functions/{ECHO}"),
            r#"{"message":"in flight"}"#,
        )
        .await
    });
    runtime.wait_for_calls(1).await;

    process.terminate();
    wait_for_readyz(health, StatusCode::SERVICE_UNAVAILABLE).await;
    // The listener closes right after readiness flips; give it until PATIENCE to do so.
    let deadline = Instant::now() + PATIENCE;
    loop {
        match tokio::net::TcpStream::connect(facade).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            other => assert!(
                Instant::now() < deadline,
                "a new connection was not refused while draining: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runtime.release();
    let reply = call.await.unwrap();

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "in flight");
    let status = process.wait().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        process.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_the_embedded_examples_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut process = Process::spawn(
        Command::new(BIN)
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--health-listen",
                "127.0.0.1:0",
                "--internal-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped()),
        dir.path().join("stderr.log"),
    );
    let mut lines = process.stdout_lines();
    let wanted = format!("/functions/{ECHO} ");
    let url = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.recv().await {
            if let Some(rest) = line.trim().strip_prefix("curl -s ")
                && rest.contains(&wanted)
            {
                return rest.split(' ').next().unwrap().to_owned();
            }
        }
        panic!(
            "dev exited without printing the curl line; stderr:\n{}",
            process.stderr()
        );
    })
    .await
    .expect("dev never printed the curl line for echo-function");
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let facade: SocketAddr = authority.parse().unwrap();

    let reply = post_json(facade, path, r#"{"message":"hello dev"}"#).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["output"]["echo"], "hello dev");
    // The guide's summarizer in the seed shape and in Omnia's current shape answer alike.
    for name in ["summarizer", "summarizer-omnia"] {
        let path = format!("/functions/{name}");
        let reply = post_json(facade, &path, r#"{"text":"A long text.","maxWords":20}"#).await;
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
        assert!(reply.json()["output"]["summary"].is_string(), "{reply:?}");
    }
    process.terminate();
    let status = process.wait().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        process.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_websocket_turn_in_flight_finish_then_closes_it_with_1001() {
    let dir = tempfile::tempdir().unwrap();
    let mut process = Process::spawn(
        Command::new(BIN)
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--health-listen",
                "127.0.0.1:0",
                "--internal-listen",
                "127.0.0.1:0",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo-agent"),
            ])
            // Omnia's own pacing: the password answer takes about a second.
            .env("OMNIA_DEMO_PACE", "1")
            .stdout(Stdio::piped()),
        dir.path().join("stderr.log"),
    );
    let mut lines = process.stdout_lines();
    let url = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.recv().await {
            if let Some(url) = line.trim().strip_prefix("ws://") {
                return url.to_owned();
            }
        }
        panic!(
            "dev exited without printing a ws:// URL; stderr:\n{}",
            process.stderr()
        );
    })
    .await
    .expect("dev never printed the demo agent's ws:// URL");
    let (authority, path) = url.split_at(url.find('/').unwrap());
    let facade: SocketAddr = authority.parse().unwrap();
    let mut client = support::ws::Client::connect(facade, path, &[]).await;
    assert_eq!(client.json().await["type"], "connected");
    client
        .send_text(r#"{"type":"message","content":"How do I reset my password?"}"#)
        .await;
    assert_eq!(client.json().await["type"], "chunk");

    process.terminate();

    let mut after = Vec::new();
    let code = loop {
        match client.recv().await {
            support::ws::Received::Text(frame) => {
                after.push(frame["type"].as_str().unwrap().to_owned());
            }
            support::ws::Received::Close(code) => break code,
            other => panic!("unexpected {other:?} before the close"),
        }
    };
    assert_eq!(after.last().map(String::as_str), Some("done"), "{after:?}");
    assert_eq!(code, Some(1001));
    let status = process.wait().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        process.stderr()
    );
}

async fn start_up_failure(yaml: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_manifest(dir.path(), "broken.yaml", yaml);
    let mut process = Process::spawn(
        Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--health-listen", "127.0.0.1:0"])
            .args(["--internal-listen", "127.0.0.1:0"])
            .env("OMNIA_RUNTIME_ADDRESS", "127.0.0.1:9")
            .stdout(Stdio::null()),
        dir.path().join("stderr.log"),
    );
    let status = process.wait().await;
    let stderr = process.stderr();
    assert!(
        !status.success(),
        "a broken manifest started; stderr:\n{stderr}"
    );
    (config.display().to_string(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_skipped_kinds_inert_fields_and_left_out_keys_once_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: demo}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad-key\n  labels:\n    \
         omnia.altairalabs.ai/credential-kind: agent-client-key\n    \
         omnia.altairalabs.ai/agent: {ECHO}\ndata:\n  keyHash: aGV4\n",
        echo_yaml().replace(
            "  mode: function\n",
            "  mode: function\n  serviceGroup: default\n  externalAuth: {clientKeys: {}}\n",
        )
    );
    let config = write_manifest(dir.path(), "agents.yaml", &yaml);
    let mut process = Process::spawn(
        Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--health-listen", "127.0.0.1:0"])
            .args(["--internal-listen", "127.0.0.1:0"])
            .env("OMNIA_RUNTIME_ADDRESS", "127.0.0.1:9")
            .stdout(Stdio::null()),
        dir.path().join("stderr.log"),
    );
    let seen = |needle: &str, stderr: &str| stderr.matches(needle).count();
    let wanted = [
        "skipped: kind Namespace (v1) configures nothing served here",
        "accepted, not yet acted on: spec.serviceGroup",
        "(Secret bad-key): data.keyHash: holds 3 bytes",
    ];
    let stderr = tokio::time::timeout(PATIENCE, async {
        loop {
            let stderr = process.stderr();
            if wanted.iter().all(|w| seen(w, &stderr) > 0) && stderr.contains("serving") {
                return stderr;
            }
            process.assert_running();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("start-up lines never appeared:\n{}", process.stderr()));
    for line in wanted {
        assert_eq!(seen(line, &stderr), 1, "{line}\n{stderr}");
    }
    process.terminate();
    assert!(process.wait().await.success());
}

#[tokio::test]
async fn serve_with_a_bad_value_exits_non_zero_naming_the_file_and_the_field() {
    let yaml = echo_yaml().replace("type: grpc", "type: socket");
    assert_ne!(yaml, echo_yaml(), "the fixture no longer has facade.type");

    let (file, stderr) = start_up_failure(&yaml).await;

    assert!(stderr.contains(&file), "{stderr}");
    assert!(stderr.contains("spec.facade.type"), "{stderr}");
}

#[tokio::test]
async fn serve_with_an_unknown_field_exits_non_zero_naming_the_file_and_the_field() {
    let yaml = echo_yaml().replace("  mode: function\n", "  mode: function\n  replicaz: 3\n");
    assert_ne!(
        yaml,
        echo_yaml(),
        "the fixture no longer has mode: function"
    );

    let (file, stderr) = start_up_failure(&yaml).await;

    assert!(stderr.contains(&file), "{stderr}");
    assert!(stderr.contains("spec.replicaz"), "{stderr}");
}

#[tokio::test]
async fn serve_with_an_unusable_input_schema_exits_non_zero_naming_the_function_and_field() {
    let yaml = echo_yaml().replace(
        "    type: object\n    required: [\"message\"]",
        "    type: not-a-type\n    required: [\"message\"]",
    );
    assert_ne!(
        yaml,
        echo_yaml(),
        "the fixture no longer has the input schema"
    );

    let (_, stderr) = start_up_failure(&yaml).await;

    assert!(stderr.contains(ECHO), "{stderr}");
    assert!(stderr.contains("spec.inputSchema"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_for_the_management_plane_on_omnia_internal_facade_port() {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let jwks = JwksServer::start(dashboard_jwks()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_manifest(dir.path(), "echo.yaml", &echo_yaml());
    let (facade, health, internal) = (free_port(), free_port(), free_port());
    let mut process = Process::spawn(
        Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", &facade.to_string()])
            .args(["--health-listen", &health.to_string()])
            .env("OMNIA_INTERNAL_FACADE_PORT", internal.port().to_string())
            .env("OMNIA_MGMT_PLANE_JWKS_URL", jwks.url())
            .env("OMNIA_RUNTIME_ADDRESS", runtime.address())
            .stdout(Stdio::null()),
        dir.path().join("stderr.log"),
    );
    wait_ready(health).await;
    let internal = SocketAddr::from(([127, 0, 0, 1], internal.port()));
    let mut request = post_request(&format!("/functions/{ECHO}"), r#"{"message":"admin"}"#);
    let token = format!("Bearer {}", dashboard_token(&dashboard_claims()));
    request
        .headers_mut()
        .insert("authorization", token.parse().unwrap());

    let admitted = send(internal, request).await;
    let anonymous = post_json(internal, &format!("/functions/{ECHO}"), "{}").await;

    assert_eq!(admitted.status, 200, "{admitted:?}");
    assert_eq!(admitted.json()["output"]["echo"], "admin");
    anonymous.expect_error(401, "unauthorized");
    process.terminate();
    let status = process.wait().await;
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        process.stderr()
    );
}

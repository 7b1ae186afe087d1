//! A context store on Redis over TLS (`rediss://`): the `omnia-runtime` binary against a real
//! `redis-server` with a TLS port and a certificate from a CA made for the test. The CA is
//! trusted the standard way, with `SSL_CERT_FILE` (read by rustls-native-certs), set for the
//! runtime's process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnia_proto::runtime::v1::HealthRequest;
use support::{RuntimeProcess, free_port};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is not installed");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A CA (`name`-ca.pem) and a server certificate it signed for 127.0.0.1.
fn certificates(dir: &Path, name: &str) {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "1",
            "-subj",
            &format!("/CN={name} test CA"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
}

fn manifests(dir: &Path, redis_port: u16) -> std::path::PathBuf {
    let path = dir.join("agent.yaml");
    std::fs::write(
        &path,
        format!(
            r#"apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {{name: chat}}
spec:
  promptPackRef: {{name: chat-pack}}
  facade: {{type: websocket, handler: runtime}}
  providers: [{{name: default, providerRef: {{name: chat-provider}}}}]
  context: {{type: redis, storeRef: {{name: tls-redis}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: tls-redis}}
stringData: {{url: "rediss://127.0.0.1:{redis_port}/0"}}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {{name: chat-provider}}
spec: {{type: mock, model: mock-chat}}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata: {{name: chat-pack}}
spec:
  source: {{type: configmap, configMapRef: {{name: chat-pack-contents}}}}
  version: "1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: chat-pack-contents}}
data:
  pack.json: |
    {{"id": "chat", "name": "Chat", "version": "1.0.0",
     "template_engine": {{"version": "v1", "syntax": "{{{{variable}}}}"}},
     "prompts": {{"default": {{"id": "default", "name": "Chat", "version": "1.0.0",
                             "system_template": "Be brief."}}}}}}
"#
        ),
    )
    .unwrap();
    path
}

/// The runtime for `config`, trusting the CA in `trusted` through `SSL_CERT_FILE`.
fn runtime(config: &Path, trusted: &Path) -> RuntimeProcess {
    RuntimeProcess::new([config]).env("SSL_CERT_FILE", trusted)
}

#[tokio::test]
async fn rediss_serves_when_the_servers_ca_is_trusted_and_stops_start_up_when_not() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), "server");
    certificates(dir.path(), "stranger");
    let redis_port = free_port();
    let _server = Server(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &redis_port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--save",
                "",
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
            ])
            .args([
                "--tls-ca-cert-file",
                "server-ca.pem",
                "--tls-auth-clients",
                "no",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: ./test.sh installs it"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let config = manifests(dir.path(), redis_port);

    // A server certificate from a CA nobody trusts: start-up stops, naming the Secret.
    let (status, output) = runtime(&config, &dir.path().join("stranger-ca.pem"))
        .spawn()
        .exited();
    assert!(!status.success(), "{output}");
    assert!(output.contains("`tls-redis`"), "{output}");

    // Trusted: the runtime starts, and its store (checked by Health) answers over TLS.
    let trusted = runtime(&config, &dir.path().join("server-ca.pem")).start();
    let mut client = trusted.client().await;
    let health = client.health(HealthRequest {}).await.unwrap().into_inner();
    assert!(health.healthy, "{}", health.status);
    drop(trusted);
}

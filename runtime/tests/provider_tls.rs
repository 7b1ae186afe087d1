//! A provider over HTTPS with a certificate from a CA made for the test: the `omnia-runtime`
//! binary calls a fake OpenAI API at `https://localhost:PORT`. The CA is trusted the standard
//! way, with `SSL_CERT_FILE` set for the runtime's process (reqwest's platform verifier reads
//! it when the client is built, at start-up); without it the call fails with a typed error that
//! names the Provider and the certificate, and never reaches the server. The proxy variables are
//! honoured the same way: a Provider at a host that does not resolve is reached through the
//! proxy `HTTP_PROXY` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use omnia_fakes::{FakeServer, Usage, openai};
use omnia_proto::runtime::v1::InvocationRequest;
use omnia_proto::runtime::v1::runtime_service_client::RuntimeServiceClient;
use omnia_runtime::{ERROR_SOURCE_METADATA, ERROR_SOURCE_PROVIDER};
use support::{Runtime, RuntimeProcess};
use tonic::transport::Channel;

const KEY: &str = "sk-tls-test-0123456789";
const ANSWER: &str = r#"{"echo":"hi"}"#;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not installed");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`ca.pem`) and a server certificate it signed (`server.pem`, `server.key`) for
/// `localhost` and 127.0.0.1.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=omnia provider test CA",
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
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
}

/// A function `tls-fn` on the OpenAI Provider `llm` at `base_url`, its key in a Secret.
fn manifests(dir: &Path, base_url: &str) -> PathBuf {
    let path = dir.join("function.yaml");
    std::fs::write(
        &path,
        format!(
            r#"apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {{name: tls-fn}}
spec:
  mode: function
  promptPackRef: {{name: tls-pack}}
  providers: [{{name: default, providerRef: {{name: llm}}}}]
  inputSchema: {{type: object, properties: {{message: {{type: string}}}}}}
  outputSchema: {{type: object, properties: {{echo: {{type: string}}}}}}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: Provider
metadata: {{name: llm}}
spec:
  type: openai
  model: gpt-4o-mini
  baseURL: {base_url}/v1
  credential: {{secretRef: {{name: llm-key, key: api-key}}}}
  defaults: {{requestTimeout: 5s}}
---
apiVersion: v1
kind: Secret
metadata: {{name: llm-key}}
stringData: {{api-key: {KEY}}}
---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: PromptPack
metadata: {{name: tls-pack}}
spec:
  source: {{type: configmap, configMapRef: {{name: tls-pack-contents}}}}
  version: "1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: tls-pack-contents}}
data:
  pack.json: |
    {{"id": "tls", "name": "TLS", "version": "1.0.0",
     "template_engine": {{"version": "v1", "syntax": "{{{{variable}}}}"}},
     "prompts": {{"default": {{"id": "default", "name": "TLS", "version": "1.0.0",
                             "system_template": "Echo the message as JSON.",
                             "user_template": "{{{{input}}}}",
                             "variables": [{{"name": "input", "type": "string", "required": true}}]}}}}}}
"#
        ),
    )
    .unwrap();
    path
}

/// Starts `omnia-runtime` for `config`, trusting `ca` through `SSL_CERT_FILE` (or, with `None`,
/// only the system's roots), with `env` on top of an environment without TLS or proxy settings,
/// and connects to it.
async fn start_runtime(
    config: &Path,
    ca: Option<&Path>,
    env: &[(&str, &str)],
) -> (Runtime, RuntimeServiceClient<Channel>) {
    let mut process = RuntimeProcess::new([config]).args(["--metrics-listen", "off"]);
    for name in [
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        process = process.env_remove(name);
    }
    process = process.envs(env);
    if let Some(ca) = ca {
        process = process.env("SSL_CERT_FILE", ca);
    }
    let runtime = process.start();
    let client = runtime.client().await;
    (runtime, client)
}

async fn invoke(client: &mut RuntimeServiceClient<Channel>) -> Result<String, tonic::Status> {
    let request = InvocationRequest {
        input_json: r#"{"message":"hi"}"#.into(),
        ..Default::default()
    };
    let response = tokio::time::timeout(Duration::from_secs(30), client.invoke(request))
        .await
        .expect("no answer from the runtime")?;
    Ok(String::from_utf8(response.into_inner().output_json.to_vec()).unwrap())
}

/// In a new directory: the CA (`ca.pem`), the server certificate, a fake OpenAI API serving it
/// with one answer queued, and the manifests of a function calling it.
async fn tls_provider() -> (tempfile::TempDir, FakeServer, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let cert = std::fs::read(dir.path().join("server.pem")).unwrap();
    let key = std::fs::read(dir.path().join("server.key")).unwrap();
    let fake = FakeServer::start_tls(&cert, &key).await;
    assert!(fake.base_url().starts_with("https://localhost:"));
    fake.push(openai::completion(ANSWER, Usage::default()));
    let config = manifests(dir.path(), &fake.base_url());
    (dir, fake, config)
}

#[tokio::test]
async fn a_provider_behind_a_private_ca_answers_when_ssl_cert_file_trusts_it() {
    let (dir, fake, config) = tls_provider().await;
    let ca = dir.path().join("ca.pem");
    let (_runtime, mut client) = start_runtime(&config, Some(&ca), &[]).await;

    let output = invoke(&mut client).await;

    assert_eq!(output.unwrap(), ANSWER);
    let sent = fake.request(0).await;
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(sent.json()["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn a_provider_behind_an_untrusted_ca_fails_naming_the_provider_and_the_certificate() {
    let (_dir, fake, config) = tls_provider().await;
    let (_runtime, mut client) = start_runtime(&config, None, &[]).await;

    let status = invoke(&mut client).await.unwrap_err();

    let message = status.message();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        message.starts_with("provider `llm` is unavailable: "),
        "{message}"
    );
    assert!(message.contains("certificate"), "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(!message.contains(KEY), "{message}");
    assert_eq!(
        status
            .metadata()
            .get(ERROR_SOURCE_METADATA)
            .and_then(|v| v.to_str().ok()),
        Some(ERROR_SOURCE_PROVIDER)
    );
    // The handshake failed: no request reached the server.
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn provider_calls_go_through_the_proxy_the_environment_names() {
    let dir = tempfile::tempdir().unwrap();
    // The fake stands in for the proxy: a proxied plain-HTTP request arrives with the target's
    // absolute URL, and the host the Provider names never has to resolve.
    let proxy = FakeServer::start().await;
    proxy.push(openai::completion(ANSWER, Usage::default()));
    let config = manifests(dir.path(), "http://llm.example.invalid");
    let proxy_url = proxy.base_url();
    let (_runtime, mut client) = start_runtime(&config, None, &[("HTTP_PROXY", &proxy_url)]).await;

    let output = invoke(&mut client).await;

    assert_eq!(output.unwrap(), ANSWER);
    let sent = proxy.request(0).await;
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("host"), Some("llm.example.invalid"));
}

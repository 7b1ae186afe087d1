#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The media surface over the `gcs` backend against gcp-storage-emulator (PyPI, in the tests'
//! virtualenv): the whole flow through V4 signed URLs, and confirmation refusing and deleting an
//! object that is not what was declared. The emulator does not check signatures; the signing
//! itself is checked against Google's conformance cases (`media::backend::gcs` unit tests).

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::media::*;
use support::*;

const BUCKET: &str = "media";
const ACCOUNT: &str = include_str!("fixtures/gcs/service-account.json");

/// `gcp-storage-emulator` on a loopback port, in memory, with the bucket; killed when dropped.
struct Emulator {
    child: Child,
    port: u16,
}

impl Emulator {
    fn start() -> Self {
        let env = std::env::var_os("OMNIA_PYENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/omnia-rs/pyenv")
            });
        let binary = env.join("bin/gcp-storage-emulator");
        assert!(
            binary.exists(),
            "the GCS tests need gcp-storage-emulator in the virtualenv {} ($OMNIA_PYENV): run \
             ./test.sh, which installs it",
            env.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .args(["start", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--in-memory", "--default-bucket", BUCKET, "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start gcp-storage-emulator");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "gcp-storage-emulator did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn yaml(gcs: &Emulator) -> String {
    let key = format!(
        "  GOOGLE_APPLICATION_CREDENTIALS_JSON: {}\n",
        serde_json::to_string(ACCOUNT).unwrap()
    );
    yaml_with_key(gcs, &key)
}

/// The agent's manifest, its Secret holding `key` (`stringData` lines).
fn yaml_with_key(gcs: &Emulator, key: &str) -> String {
    let spec = format!(
        "  media:
    storage:
      type: gcs
      gcs: {{bucket: {BUCKET}, prefix: uploads, endpoint: '{}'}}
      secretRef: {{name: gcs-key}}
",
        gcs.endpoint()
    );
    let secret =
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: gcs-key}}\nstringData:\n{key}");
    media_yaml("echo", &spec, &[secret])
}

async fn text_upload(gateway: &TestGateway, size: usize) -> Value {
    let body = json!({"session_id": "s-1", "filename": "notes.txt",
                      "mime_type": "text/plain", "size_bytes": size});
    let reply = request_upload(gateway, &body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

fn object_url(gcs: &Emulator, answer: &Value) -> String {
    let key = key_of(answer);
    format!(
        "{}/storage/v1/b/{BUCKET}/o/{}",
        gcs.endpoint(),
        key.replace('/', "%2F")
    )
}

#[tokio::test]
async fn the_bytes_go_through_signed_urls_to_the_bucket_and_back() {
    let gcs = Emulator::start();
    let (gateway, _runtime) = media_gateway(&yaml(&gcs)).await;
    let answer = text_upload(&gateway, 5).await;
    let url = answer["upload_url"].as_str().unwrap();
    assert!(url.starts_with(&gcs.endpoint()), "{url}");
    assert!(url.contains("X-Goog-Signature="), "{url}");
    assert!(
        url.contains("X-Goog-SignedHeaders=content-type%3Bhost%3Bx-goog-content-length-range"),
        "{url}"
    );
    assert_eq!(answer["headers"]["x-goog-content-length-range"], "5,5");
    let put = signed_put(&answer, &url_of(&answer), b"hello".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{:?}", put.text().await);

    let confirmed = confirm(&gateway, &answer).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_eq!(confirmed.json()["size_bytes"], 5);

    let fetched = reqwest::get(download_location(&gateway, &answer).await)
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        fetched.headers()["content-disposition"],
        "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    );
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"hello");
}

#[tokio::test]
async fn confirmation_refuses_and_deletes_an_object_of_another_size() {
    let gcs = Emulator::start();
    let (gateway, _runtime) = media_gateway(&yaml(&gcs)).await;
    let answer = text_upload(&gateway, 5).await;
    confirm(&gateway, &answer)
        .await
        .expect_error(400, "upload_failed");
    // The emulator does not enforce the signed length range (GCS does): store more.
    let put = signed_put(&answer, &url_of(&answer), b"hello, and more".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let object = object_url(&gcs, &answer);
    assert_eq!(reqwest::get(&object).await.unwrap().status(), 200);
    let refused = confirm(&gateway, &answer).await;
    let body = refused.expect_error(400, "upload_failed");
    assert!(
        body["detail"].as_str().unwrap().contains("declared 5"),
        "{body}"
    );
    assert_eq!(reqwest::get(&object).await.unwrap().status(), 404);
}

#[tokio::test]
async fn an_hmac_key_signs_instead_of_the_service_account() {
    let gcs = Emulator::start();
    let key = "  GCS_HMAC_ACCESS_ID: GOOGTS7C7FUP3AIRVJTE2BCD\n  GCS_HMAC_SECRET: bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ\n";
    let (gateway, _runtime) = media_gateway(&yaml_with_key(&gcs, key)).await;
    let answer = text_upload(&gateway, 5).await;
    let url = answer["upload_url"].as_str().unwrap();
    assert!(url.contains("X-Goog-Algorithm=GOOG4-HMAC-SHA256"), "{url}");
    assert!(
        url.contains("X-Goog-Credential=GOOGTS7C7FUP3AIRVJTE2BCD%2F"),
        "{url}"
    );
    let put = signed_put(&answer, &url_of(&answer), b"hello".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(confirm(&gateway, &answer).await.status, 200);
}

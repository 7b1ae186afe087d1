#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The media surface over the `s3` backend against `s3s-fs`, an S3 server that checks SigV4
//! signatures, presigned URLs and their expiry (`./test.sh` installs it): the whole flow with the
//! bytes going straight to the server; what the server refuses (a tampered signature, another
//! key in the path, another size than signed, an expired URL); confirmation refusing and deleting
//! an object that is not what was declared; downloads redirected to a signed GET.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::media::*;
use support::*;

const BUCKET: &str = "media";
const ACCESS_KEY: &str = "AKIAOMNIATEST";
const SECRET_KEY: &str = "omnia-test-secret-key";

/// `s3s-fs` on a loopback port over a temporary directory, killed when dropped.
struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl S3Server {
    fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "s3s-fs is not installed: ./test.sh installs it (cargo install s3s-fs --version \
                 0.14.1 --locked --features binary)",
            );
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, root }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where s3s-fs keeps the object `key`.
    fn file(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn yaml(s3: &S3Server, storage: &str) -> String {
    let spec = format!(
        "  media:
    storage:
      type: s3
      s3: {{bucket: {BUCKET}, region: us-east-1, prefix: uploads, endpoint: '{}'}}
      secretRef: {{name: s3-keys}}
      maxFileSizeBytes: 1048576
{storage}",
        s3.endpoint()
    );
    let keys = secret(
        "s3-keys",
        &[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ],
    );
    media_yaml("echo", &spec, &[keys])
}

#[tokio::test]
async fn the_bytes_go_to_the_bucket_and_come_back_through_a_signed_get() {
    let s3 = S3Server::start();
    let (gateway, _runtime) = media_gateway(&yaml(&s3, "")).await;
    let answer = pdf_upload(&gateway, 11).await;
    let url = url_of(&answer);
    assert!(url.starts_with(&s3.endpoint()), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert_eq!(answer["method"], "PUT");
    assert_eq!(answer["headers"]["content-type"], "application/pdf");
    assert_eq!(answer["headers"]["content-length"], "11");

    let put = signed_put(&answer, &url, b"%PDF-1.7 ok".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{:?}", put.text().await);
    assert_eq!(
        std::fs::read(s3.file(&key_of(&answer))).unwrap(),
        b"%PDF-1.7 ok"
    );

    let confirmed = confirm(&gateway, &answer).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let info = confirmed.json();
    assert_eq!(info["size_bytes"], 11);
    assert_eq!(info["mime_type"], "application/pdf");

    let location = download_location(&gateway, &answer).await;
    assert!(location.starts_with(&s3.endpoint()), "{location}");
    let fetched = reqwest::get(&location).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        fetched.headers()["content-disposition"],
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    );
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"%PDF-1.7 ok");
}

#[tokio::test]
async fn the_server_refuses_what_the_signature_does_not_cover() {
    let s3 = S3Server::start();
    let (gateway, _runtime) = media_gateway(&yaml(&s3, "")).await;
    let answer = pdf_upload(&gateway, 4).await;
    let url = url_of(&answer);
    let refused = |response: reqwest::Response| {
        assert_eq!(response.status(), 403, "{response:?}");
    };
    // A tampered signature.
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap().to_owned();
    let flipped: String = signature
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let tampered = url.replace(&signature, &flipped);
    refused(
        signed_put(&answer, &tampered, b"abcd".to_vec())
            .send()
            .await
            .unwrap(),
    );
    // Another object key in the path.
    let swapped = url.replace("/media/", "/media-other/");
    refused(
        signed_put(&answer, &swapped, b"abcd".to_vec())
            .send()
            .await
            .unwrap(),
    );
    // More bytes than were signed.
    let mut bigger = reqwest::Client::new().put(&url).body(b"abcdefgh".to_vec());
    bigger = bigger.header("content-type", "application/pdf");
    let response = bigger.send().await.unwrap();
    assert!(
        response.status() == 403 || response.status() == 400,
        "{response:?}"
    );
    // Another type than was signed.
    let other = reqwest::Client::new()
        .put(&url)
        .header("content-type", "text/html")
        .body(b"abcd".to_vec())
        .send()
        .await
        .unwrap();
    refused(other);
    assert!(!s3.file(&key_of(&answer)).exists());
    // The signed request itself still works.
    let ok = signed_put(&answer, &url, b"abcd".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn an_expired_upload_url_is_refused_by_the_server() {
    let s3 = S3Server::start();
    let (gateway, _runtime) = media_gateway(&yaml(&s3, "      uploadURLTTL: 1s\n")).await;
    let answer = pdf_upload(&gateway, 4).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = signed_put(&answer, &url_of(&answer), b"abcd".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "{response:?}");
}

#[tokio::test]
async fn confirmation_checks_the_stored_object_and_deletes_a_mismatch() {
    let s3 = S3Server::start();
    let (gateway, _runtime) = media_gateway(&yaml(&s3, "")).await;
    // Nothing uploaded yet: refused, and the upload stays pending.
    let answer = pdf_upload(&gateway, 4).await;
    confirm(&gateway, &answer)
        .await
        .expect_error(400, "upload_failed");
    // An object of another size under the key (written behind the signature's back).
    let file = s3.file(&key_of(&answer));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"much longer than four").unwrap();
    let refused = confirm(&gateway, &answer).await;
    let body = refused.expect_error(400, "upload_failed");
    assert!(
        body["detail"].as_str().unwrap().contains("declared 4"),
        "{body}"
    );
    assert!(!file.exists(), "the mismatched object was not deleted");
    // The upload is gone with it.
    confirm(&gateway, &answer)
        .await
        .expect_error(404, "upload_not_found");
}

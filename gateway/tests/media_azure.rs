#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The media surface over the `azure` backend against Azurite, Microsoft's Blob Storage emulator,
//! which recomputes every SAS signature from the account key and checks its permissions and
//! expiry (`./test.sh` installs it): the whole flow with the bytes going straight to the emulator;
//! what the emulator refuses (a tampered signature, an expired SAS, the download's read-only SAS
//! used to write, the upload SAS used to overwrite); confirmation refusing and deleting a blob of
//! another size than declared, which a SAS cannot prevent.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::media::*;

const ACCOUNT: &str = "devstoreaccount1";
const CONTAINER: &str = "media";
/// Azurite's well-known development account key (public: it is in Azurite's README).
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const INSTALL: &str = "npm install --prefix \"${OMNIA_NODE_PREFIX:-$HOME/.cache/omnia-rs/node}\" \
                       --no-audit --no-fund azurite@3.35.0";
/// Node takes a while to start Azurite on a busy machine.
const STARTUP: Duration = Duration::from_secs(60);

/// `azurite-blob` on a loopback port, in memory, killed when dropped.
struct Azurite {
    child: Child,
    port: u16,
    /// Its working directory, so nothing it writes lands in the clone.
    _dir: tempfile::TempDir,
}

impl Azurite {
    async fn start() -> Self {
        // reqwest is built without a TLS provider, and the container is made before a gateway
        // (which installs ring) runs.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let prefix = std::env::var_os("OMNIA_NODE_PREFIX")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").expect("HOME is not set"))
                    .join(".cache/omnia-rs/node")
            });
        let binary = prefix.join("node_modules/.bin/azurite-blob");
        assert!(
            binary.exists(),
            "Azurite is not installed at {}: ./test.sh installs it ({INSTALL})",
            binary.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--loose"])
            .arg("--disableTelemetry")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e} ({INSTALL})", binary.display()));
        let azurite = Self {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + STARTUP;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Azurite did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        azurite.create_container().await;
        azurite
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn blob_url(&self, blob: &str) -> String {
        format!("{}/{ACCOUNT}/{CONTAINER}/{blob}", self.endpoint())
    }

    /// An account SAS (test-only: the gateway signs service SAS for one blob) for `resource_types`
    /// (`c` container, `o` object) with `permissions`; the string-to-sign of version 2020-12-06
    /// and later, trailing newline included.
    fn account_sas(resource_types: &str, permissions: &str) -> String {
        let version = "2022-11-02";
        let expiry = "2099-01-01T00:00:00Z";
        let to_sign =
            format!("{ACCOUNT}\n{permissions}\nb\n{resource_types}\n\n{expiry}\n\n\n{version}\n\n");
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&STANDARD.decode(ACCOUNT_KEY).unwrap()).unwrap();
        mac.update(to_sign.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        form_urlencoded::Serializer::new(String::new())
            .append_pair("sv", version)
            .append_pair("ss", "b")
            .append_pair("srt", resource_types)
            .append_pair("sp", permissions)
            .append_pair("se", expiry)
            .append_pair("sig", &signature)
            .finish()
    }

    async fn create_container(&self) {
        let url = format!(
            "{}/{ACCOUNT}/{CONTAINER}?restype=container&{}",
            self.endpoint(),
            Self::account_sas("c", "cw")
        );
        let response = reqwest::Client::new().put(&url).send().await.unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }

    /// The status and length of the blob `blob`, as a HEAD of our own sees it.
    async fn head(&self, blob: &str) -> (u16, Option<String>) {
        let url = format!("{}?{}", self.blob_url(blob), Self::account_sas("o", "r"));
        let response = reqwest::Client::new().head(&url).send().await.unwrap();
        let length = response
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), length)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn yaml(azurite: &Azurite, storage: &str) -> String {
    let spec = format!(
        "  media:
    storage:
      type: azure
      azure: {{account: {ACCOUNT}, container: {CONTAINER}, prefix: uploads, endpoint: '{}'}}
      secretRef: {{name: azure-key}}
      maxFileSizeBytes: 1048576
{storage}",
        azurite.endpoint()
    );
    let key = secret("azure-key", &[("AZURE_STORAGE_KEY", ACCOUNT_KEY)]);
    media_yaml("echo", &spec, &[key])
}

/// A 403 from Azurite, for the reason `code` (`AuthorizationFailure`: the signature or its
/// times; `AuthorizationPermissionMismatch`: the SAS does not allow the operation).
fn refused(response: reqwest::Response, code: &str) {
    assert_eq!(response.status(), 403, "{response:?}");
    assert_eq!(response.headers()["x-ms-error-code"], code, "{response:?}");
}

#[tokio::test]
async fn the_bytes_go_to_the_container_and_come_back_through_a_signed_get() {
    let azurite = Azurite::start().await;
    let (gateway, _runtime) = media_gateway(&yaml(&azurite, "")).await;
    let answer = pdf_upload(&gateway, 11).await;
    let url = url_of(&answer);
    assert!(
        url.starts_with(&azurite.blob_url(&key_of(&answer))),
        "{url}"
    );
    assert!(url.contains("&sig="), "{url}");
    assert_eq!(answer["method"], "PUT");
    assert_eq!(answer["headers"]["x-ms-blob-type"], "BlockBlob");
    assert_eq!(answer["headers"]["content-type"], "application/pdf");

    let put = signed_put(&answer, &url, b"%PDF-1.7 ok".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "{:?}", put.text().await);

    let confirmed = confirm(&gateway, &answer).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let info = confirmed.json();
    assert_eq!(info["size_bytes"], 11);
    assert_eq!(info["mime_type"], "application/pdf");

    let location = download_location(&gateway, &answer).await;
    assert!(location.starts_with(&azurite.endpoint()), "{location}");
    assert!(location.contains("sp=r&"), "{location}");
    let fetched = reqwest::get(&location).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        fetched.headers()["content-disposition"],
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    );
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"%PDF-1.7 ok");
}

#[tokio::test]
async fn the_emulator_refuses_what_the_signature_does_not_allow() {
    let azurite = Azurite::start().await;
    let (gateway, _runtime) = media_gateway(&yaml(&azurite, "")).await;
    let answer = pdf_upload(&gateway, 4).await;
    let url = url_of(&answer);
    let blob = key_of(&answer);

    // A tampered signature (the encoded signature ends the URL).
    let (signed, signature) = url.split_once("&sig=").unwrap();
    let flipped: String = signature
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    refused(
        signed_put(
            &answer,
            &format!("{signed}&sig={flipped}"),
            b"abcd".to_vec(),
        )
        .send()
        .await
        .unwrap(),
        "AuthorizationFailure",
    );
    assert_eq!(azurite.head(&blob).await.0, 404);

    // The signed request itself works, once: the upload SAS creates and cannot overwrite.
    let ok = signed_put(&answer, &url, b"abcd".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201, "{:?}", ok.text().await);
    refused(
        signed_put(&answer, &url, b"wxyz".to_vec())
            .send()
            .await
            .unwrap(),
        "AuthorizationPermissionMismatch",
    );

    // The download's SAS reads, and cannot write.
    assert_eq!(confirm(&gateway, &answer).await.status, 200);
    let location = download_location(&gateway, &answer).await;
    refused(
        signed_put(&answer, &location, b"wxyz".to_vec())
            .send()
            .await
            .unwrap(),
        "AuthorizationPermissionMismatch",
    );
    let fetched = reqwest::get(&location).await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"abcd");
}

#[tokio::test]
async fn an_expired_upload_url_is_refused_by_the_emulator() {
    let azurite = Azurite::start().await;
    let (gateway, _runtime) = media_gateway(&yaml(&azurite, "      uploadURLTTL: 1s\n")).await;
    let answer = pdf_upload(&gateway, 4).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(
        signed_put(&answer, &url_of(&answer), b"abcd".to_vec())
            .send()
            .await
            .unwrap(),
        "AuthorizationFailure",
    );
    assert_eq!(azurite.head(&key_of(&answer)).await.0, 404);
}

#[tokio::test]
async fn confirmation_checks_the_stored_blob_and_deletes_a_mismatch() {
    let azurite = Azurite::start().await;
    let (gateway, _runtime) = media_gateway(&yaml(&azurite, "")).await;
    // Nothing uploaded yet: refused, and the upload stays pending.
    let answer = pdf_upload(&gateway, 4).await;
    confirm(&gateway, &answer)
        .await
        .expect_error(400, "upload_failed");
    // Another size than declared, through the upload SAS itself: a SAS cannot bind the length.
    let blob = key_of(&answer);
    let put = signed_put(&answer, &url_of(&answer), b"much longer than four".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "{:?}", put.text().await);
    assert_eq!(azurite.head(&blob).await, (200, Some("21".to_owned())));
    let refused = confirm(&gateway, &answer).await;
    let body = refused.expect_error(400, "upload_failed");
    assert!(
        body["detail"].as_str().unwrap().contains("declared 4"),
        "{body}"
    );
    assert_eq!(
        azurite.head(&blob).await.0,
        404,
        "the mismatched blob was not deleted"
    );
    // The upload is gone with it.
    confirm(&gateway, &answer)
        .await
        .expect_error(404, "upload_not_found");
}

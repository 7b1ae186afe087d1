#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The media REST surface over the `local` backend, through a whole gateway: the upload flow
//! (request, PUT, confirm, info, download), what is refused at request time (size, MIME
//! allowlist, bad names), uploads that are not what they declared, traversal attempts, another
//! session's media, expiry (410), 50 uploads at once, and a confirmation on a second gateway
//! that shares the first one's Redis and directory.

mod support;

use std::path::Path;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use support::media::*;
use support::*;

/// `media-agent` storing media under `dir`, with `storage` settings (YAML flow-map entries)
/// added and `session` lines after its media block.
fn yaml_with(dir: &Path, storage: &str, session: &str) -> String {
    let spec = format!(
        "  media:
    storage: {{type: local, local: {{basePath: '{}'}}, maxFileSizeBytes: 1024{storage}}}
{session}",
        dir.display()
    );
    media_yaml("echo", &spec, &[])
}

fn yaml(dir: &Path) -> String {
    yaml_with(dir, ", allowedMimeTypes: ['image/*', text/plain]", "")
}

/// `request-upload` of `cat.png` in `session`, declared `mime` and `size`.
async fn declare(gateway: &TestGateway, session: &str, mime: &str, size: u64) -> Reply {
    let body = json!({"session_id": session, "filename": "cat.png", "mime_type": mime,
                      "size_bytes": size});
    request_upload(gateway, &body).await
}

fn put_request(url: &str, mime: &str, bytes: &'static [u8]) -> Request<Full<Bytes>> {
    Request::put(url)
        .header("host", "localhost")
        .header("content-type", mime)
        .body(Full::new(Bytes::from_static(bytes)))
        .unwrap()
}

/// Requests, PUTs and confirms `bytes` as `image/png` in `session`: the confirm answer.
async fn upload(gateway: &TestGateway, session: &str, bytes: &'static [u8]) -> Value {
    let answer = declare(gateway, session, "image/png", bytes.len() as u64).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = answer.json();
    let url = answer["upload_url"].as_str().unwrap();
    let put = send(gateway.facade, put_request(url, "image/png", bytes)).await;
    assert_eq!(put.status, 204, "{put:?}");
    let confirmed = confirm(gateway, &answer).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    confirmed.json()
}

#[tokio::test]
async fn the_whole_flow_stores_and_serves_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _runtime) = media_gateway(&yaml(dir.path())).await;
    let answer = declare(&gateway, "s-1", "image/png", 4).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = answer.json();
    let id = answer["upload_id"].as_str().unwrap();
    assert_eq!(answer["method"], "PUT");
    assert_eq!(
        answer["upload_url"],
        format!("/media/upload/{id}?agent={AGENT}&namespace=default")
    );
    assert_eq!(answer["headers"], json!({"content-type": "image/png"}));
    let (sid, mid) = ref_parts(&answer["storage_ref"]);
    assert_eq!(sid, "s-1");
    assert!(mid.len() >= 32, "{mid}");
    assert!(answer["expires_at"].as_str().unwrap().ends_with('Z'));

    let url = answer["upload_url"].as_str().unwrap();
    let put = send(gateway.facade, put_request(url, "image/png", b"\x89PNG")).await;
    assert_eq!(put.status, 204, "{put:?}");
    let confirmed = confirm(&gateway, &answer).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let info = confirmed.json();
    assert_eq!(info["storage_ref"], answer["storage_ref"]);
    assert_eq!(info["filename"], "cat.png");
    assert_eq!(info["mime_type"], "image/png");
    assert_eq!(info["size_bytes"], 4);

    let got = get(gateway.facade, &format!("/media/info/{sid}/{mid}{Q}")).await;
    assert_eq!(got.json(), info);
    let download = get(gateway.facade, &format!("/media/download/{sid}/{mid}{Q}")).await;
    assert_eq!(download.status, 200, "{download:?}");
    assert_eq!(&download.body[..], b"\x89PNG");
    assert_eq!(download.header("content-type"), "image/png");
    assert_eq!(download.header("content-length"), "4");
    assert!(
        download
            .header("content-disposition")
            .starts_with("inline; filename=\"cat.png\"")
    );
    assert_eq!(download.header("x-content-type-options"), "nosniff");
    // The file is where the key says, and nothing else is left beside it.
    let stored = dir.path().join(format!("sessions/{sid}/media/{mid}"));
    assert_eq!(std::fs::read(&stored).unwrap(), b"\x89PNG");
    assert_eq!(
        std::fs::read_dir(stored.parent().unwrap()).unwrap().count(),
        1
    );
    // Confirming again answers the same record; uploading again is refused.
    let again = confirm(&gateway, &answer).await;
    assert_eq!(again.json(), info);
    send(gateway.facade, put_request(url, "image/png", b"\x89PNG"))
        .await
        .expect_error(400, "upload_failed");
}

#[tokio::test]
async fn declarations_are_checked_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _runtime) = media_gateway(&yaml(dir.path())).await;
    declare(&gateway, "s", "image/png", 1025)
        .await
        .expect_error(413, "payload_too_large");
    let refused = declare(&gateway, "s", "application/pdf", 10).await;
    let body = refused.expect_error(415, "mime_type_not_allowed");
    assert!(
        body["detail"].as_str().unwrap().contains("image/*"),
        "{body}"
    );
    declare(&gateway, "s", "text/plain", 10).await;
    declare(&gateway, "s", "image", 10)
        .await
        .expect_error(400, "bad_request");
    declare(&gateway, "s", "image/png", 0)
        .await
        .expect_error(400, "bad_request");
    declare(&gateway, "../other", "image/png", 10)
        .await
        .expect_error(400, "bad_request");
    post_json(
        gateway.facade,
        &format!("/media/request-upload{Q}"),
        "{not json",
    )
    .await
    .expect_error(400, "bad_request");
    let big = format!("{{\"filename\": \"{}\"}}", "x".repeat(20_000));
    post_json(gateway.facade, &format!("/media/request-upload{Q}"), big)
        .await
        .expect_error(413, "payload_too_large");
    // Without `?agent=`, a gateway of two agents cannot tell which is meant.
    post_json(gateway.facade, "/media/request-upload", "{}")
        .await
        .expect_error(404, "agent_not_found");
    // The echo function's agent stores no media.
    post_json(
        gateway.facade,
        "/media/request-upload?agent=echo-function",
        "{}",
    )
    .await
    .expect_error(404, "media_not_enabled");
    get(gateway.facade, &format!("/media/request-upload{Q}"))
        .await
        .expect_error(405, "method_not_allowed");
}

#[tokio::test]
async fn an_upload_that_is_not_what_it_declared_is_refused_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _runtime) = media_gateway(&yaml(dir.path())).await;
    let answer = declare(&gateway, "s", "image/png", 4).await.json();
    let url = answer["upload_url"].as_str().unwrap().to_owned();
    // Declared longer: refused before a byte is read.
    send(gateway.facade, put_request(&url, "image/png", b"12345"))
        .await
        .expect_error(413, "payload_too_large");
    // Shorter, or another type.
    send(gateway.facade, put_request(&url, "image/png", b"123"))
        .await
        .expect_error(400, "upload_failed");
    send(gateway.facade, put_request(&url, "text/plain", b"1234"))
        .await
        .expect_error(400, "upload_failed");
    // Chunked, so no length is declared: the stream is cut at the declared size.
    let chunked = format!(
        "PUT {url} HTTP/1.1\r\nhost: localhost\r\ncontent-type: image/png\r\n\
         transfer-encoding: chunked\r\n\r\n8\r\n12345678\r\n0\r\n\r\n"
    );
    raw(gateway.facade, chunked.into_bytes())
        .await
        .expect_error(413, "payload_too_large");
    // Nothing was confirmed, and no file (whole or partial) is left.
    confirm(&gateway, &answer)
        .await
        .expect_error(400, "upload_failed");
    let (sid, mid) = ref_parts(&answer["storage_ref"]);
    get(gateway.facade, &format!("/media/info/{sid}/{mid}{Q}"))
        .await
        .expect_error(404, "media_not_found");
    let sessions = dir.path().join(format!("sessions/{sid}/media"));
    let left = std::fs::read_dir(&sessions).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0);
    // The declared bytes still go through afterwards.
    let put = send(gateway.facade, put_request(&url, "image/png", b"1234")).await;
    assert_eq!(put.status, 204, "{put:?}");
}

#[tokio::test]
async fn traversal_and_other_sessions_media_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _runtime) = media_gateway(&yaml(dir.path())).await;
    let info = upload(&gateway, "s-a", b"data").await;
    let (sid, mid) = ref_parts(&info["storage_ref"]);
    // The same media id under another session is not that media.
    get(gateway.facade, &format!("/media/info/s-b/{mid}{Q}"))
        .await
        .expect_error(404, "media_not_found");
    get(gateway.facade, &format!("/media/download/s-b/{mid}{Q}"))
        .await
        .expect_error(404, "media_not_found");
    std::fs::write(dir.path().join("secret"), b"no").unwrap();
    for path in [
        format!("/media/download/../secret{Q}"),
        format!("/media/download/{sid}/..{Q}"),
        format!("/media/download/%2e%2e/secret{Q}"),
        format!("/media/download/{sid}/..%2f..%2f..%2fsecret{Q}"),
        format!("/media/info/{sid}/{mid}/extra{Q}"),
    ] {
        let reply = get(gateway.facade, &path).await;
        assert!(
            reply.status == 404 && !reply.body.starts_with(b"no"),
            "{path}: {reply:?}"
        );
    }
    for id in ["..", "..%2f..%2fsecret", "%2fetc%2fpasswd"] {
        send(
            gateway.facade,
            put_request(&format!("/media/upload/{id}{Q}"), "image/png", b"x"),
        )
        .await
        .expect_error(404, "upload_not_found");
    }
}

#[tokio::test]
async fn expired_media_answers_410() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _runtime) = media_gateway(&yaml_with(dir.path(), ", defaultTTL: 1s", "")).await;
    let info = upload(&gateway, "s", b"data").await;
    let (sid, mid) = ref_parts(&info["storage_ref"]);
    // Records count whole seconds: two of them are past a TTL of one.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    get(gateway.facade, &format!("/media/info/{sid}/{mid}{Q}"))
        .await
        .expect_error(410, "media_expired");
    get(gateway.facade, &format!("/media/download/{sid}/{mid}{Q}"))
        .await
        .expect_error(410, "media_expired");
}

#[tokio::test]
async fn fifty_uploads_at_once_each_store_their_own_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _runtime) = media_gateway(&yaml(dir.path())).await;
    let gateway = std::sync::Arc::new(gateway);
    let uploads = (0..50).map(|i| {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let body: &'static [u8] =
                Box::leak(format!("file {i:02}").into_bytes().into_boxed_slice());
            let info = upload(&gateway, &format!("s-{i}"), body).await;
            (info, body)
        })
    });
    for task in futures_util::future::join_all(uploads).await {
        let (info, body) = task.unwrap();
        let (sid, mid) = ref_parts(&info["storage_ref"]);
        let download = get(gateway.facade, &format!("/media/download/{sid}/{mid}{Q}")).await;
        assert_eq!(&download.body[..], body);
    }
}

#[tokio::test]
async fn a_second_gateway_sharing_redis_confirms_and_serves() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let session = "  session: {type: redis, ttl: 1h, storeRef: {name: media-redis}}\n";
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: media-redis}}\nstringData:\n  url: \
         redis://127.0.0.1:{}/0\n",
        redis.port
    );
    let yaml = format!("{}\n---\n{secret}", yaml_with(dir.path(), "", session));
    let (first, _runtime_a) = media_gateway(&yaml).await;
    let (second, _runtime_b) = media_gateway(&yaml).await;
    let answer = declare(&first, "s", "image/png", 4).await.json();
    let url = answer["upload_url"].as_str().unwrap();
    let put = send(second.facade, put_request(url, "image/png", b"abcd")).await;
    assert_eq!(put.status, 204, "{put:?}");
    let confirmed = confirm(&first, &answer).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let (sid, mid) = ref_parts(&answer["storage_ref"]);
    let download = get(first.facade, &format!("/media/download/{sid}/{mid}{Q}")).await;
    assert_eq!(&download.body[..], b"abcd");
}

#[tokio::test]
async fn the_media_routes_run_the_agents_auth_chain() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}\n---\n{}",
        yaml_with(dir.path(), "", "  externalAuth:\n    clientKeys: {}\n"),
        key_secret(GOOD_KEY_SECRET, AGENT, GOOD_KEY, "")
    );
    let (gateway, _runtime) = media_gateway(&yaml).await;
    let body = json!({"session_id": "s", "filename": "a.png", "mime_type": "image/png",
                      "size_bytes": 1})
    .to_string();
    post_json(
        gateway.facade,
        &format!("/media/request-upload{Q}"),
        body.clone(),
    )
    .await
    .expect_error(401, "unauthorized");
    get(gateway.facade, &format!("/media/info/s/abc{Q}"))
        .await
        .expect_error(401, "unauthorized");
    let mut request = post_request(&format!("/media/request-upload{Q}"), body);
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {GOOD_KEY}").parse().unwrap(),
    );
    let admitted = send(gateway.facade, request).await;
    assert_eq!(admitted.status, 200, "{admitted:?}");
}

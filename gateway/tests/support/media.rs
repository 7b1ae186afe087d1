//! What the media tests share: `media-agent`'s manifest (beside the echo function, so `?agent=`
//! is needed), its gateway, and the client's side of an upload.

use serde_json::Value;

use super::{Behaviour, FakeRuntime, Options, Reply, TestGateway, echo_yaml, post_json};

/// The agent the media tests configure.
pub const AGENT: &str = "media-agent";
/// The query naming it: the gateway also serves the echo function.
pub const Q: &str = "?agent=media-agent";

/// The echo function, `media-agent` (facade `handler`) with `spec` (lines indented by two
/// spaces: its `media` block, ...), its pack and provider, and the `extra` documents.
pub fn media_yaml(handler: &str, spec: &str, extra: &[String]) -> String {
    let agent = format!(
        "apiVersion: omnia.altairalabs.ai/v1alpha1
kind: AgentRuntime
metadata: {{name: {AGENT}}}
spec:
  promptPackRef: {{name: chat-pack}}
  facade: {{type: websocket, handler: {handler}}}
  providers: [{{name: default, providerRef: {{name: chat-provider}}}}]
{spec}"
    );
    let mut documents = vec![
        echo_yaml(),
        agent,
        include_str!("../../../examples/echo-agent/promptpack.yaml").to_owned(),
        include_str!("../../../examples/echo-agent/provider.yaml").to_owned(),
    ];
    documents.extend(extra.iter().cloned());
    documents.join("\n---\n")
}

/// A Secret `name` with these `stringData` entries.
pub fn secret(name: &str, entries: &[(&str, &str)]) -> String {
    let mut text =
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n");
    for (key, value) in entries {
        text.push_str(&format!(
            "  {key}: {}\n",
            serde_json::to_string(value).unwrap()
        ));
    }
    text
}

/// A gateway serving `yaml`, ready, in front of a fake runtime (kept alive with it).
pub async fn media_gateway(yaml: &str) -> (TestGateway, FakeRuntime) {
    let runtime = FakeRuntime::start(Behaviour::Echo).await;
    let gateway = TestGateway::start(yaml, runtime.address(), Options::default()).await;
    (gateway, runtime)
}

/// `POST /media/request-upload` with `body`.
pub async fn request_upload(gateway: &TestGateway, body: &Value) -> Reply {
    post_json(
        gateway.facade,
        &format!("/media/request-upload{Q}"),
        body.to_string(),
    )
    .await
}

/// `POST /media/confirm-upload/{id}` of the upload `answer` describes.
pub async fn confirm(gateway: &TestGateway, answer: &Value) -> Reply {
    let id = answer["upload_id"].as_str().unwrap();
    post_json(
        gateway.facade,
        &format!("/media/confirm-upload/{id}{Q}"),
        "",
    )
    .await
}

/// The signed upload as a client makes it: a PUT of `body` to `url` (the answer's
/// `upload_url`, or a tampered one) with the answer's `headers`.
pub fn signed_put(answer: &Value, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new().put(url).body(body);
    for (name, value) in answer["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    request
}

/// `(session, media)` of `omnia://sessions/{sid}/media/{mid}`.
pub fn ref_parts(storage_ref: &Value) -> (String, String) {
    let rest = storage_ref
        .as_str()
        .unwrap()
        .strip_prefix("omnia://sessions/")
        .unwrap();
    let (sid, mid) = rest.split_once("/media/").unwrap();
    (sid.to_owned(), mid.to_owned())
}

/// The object key of the upload `answer` describes, under the prefix `uploads`.
pub fn key_of(answer: &Value) -> String {
    let reference = answer["storage_ref"].as_str().unwrap();
    format!("uploads/{}", reference.strip_prefix("omnia://").unwrap())
}

/// The answer's `upload_url`.
pub fn url_of(answer: &Value) -> String {
    answer["upload_url"].as_str().unwrap().to_owned()
}

/// `GET /media/download/...` of the confirmed upload `answer`: where it redirects (307) to.
pub async fn download_location(gateway: &TestGateway, answer: &Value) -> String {
    let (sid, mid) = ref_parts(&answer["storage_ref"]);
    let download = super::get(gateway.facade, &format!("/media/download/{sid}/{mid}{Q}")).await;
    assert_eq!(download.status, 307, "{download:?}");
    download.header("location").to_owned()
}

/// `request-upload` of a `size`-byte `report.pdf` in session `s-1`, which must succeed.
pub async fn pdf_upload(gateway: &TestGateway, size: usize) -> Value {
    let body = serde_json::json!({"session_id": "s-1", "filename": "report.pdf",
                                  "mime_type": "application/pdf", "size_bytes": size});
    let reply = request_upload(gateway, &body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Media over the WebSocket (local backend, a recording runtime): `upload_request` answered
//! with `upload_ready`, `upload_complete` once the upload is stored, and a message part's
//! `media.storage_ref` reaching the runtime as `MediaContent.storage_ref`; parts naming another
//! session's media, or media that does not exist, refused without reaching the runtime.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use omnia_proto::Utf8Bytes;
use omnia_proto::runtime::v1::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use omnia_proto::runtime::v1::{
    ClientMessage, HasConversationRequest, HasConversationResponse, HealthRequest, HealthResponse,
    InvocationRequest, InvocationResponse, ServerMessage,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use support::asyncapi::AsyncApi;
use support::media::*;
use support::ws::Client;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

/// A runtime that keeps every message it is sent and answers each with `done`.
#[derive(Clone, Default)]
struct Recorder {
    messages: Arc<Mutex<Vec<ClientMessage>>>,
}

#[tonic::async_trait]
impl RuntimeService for Recorder {
    type ConverseStream = ReceiverStream<Result<ServerMessage, tonic::Status>>;

    async fn converse(
        &self,
        request: tonic::Request<tonic::Streaming<ClientMessage>>,
    ) -> Result<tonic::Response<Self::ConverseStream>, tonic::Status> {
        let mut inbound = request.into_inner();
        let (out, frames) = mpsc::channel(8);
        let messages = self.messages.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = inbound.next().await {
                messages.lock().push(message);
                let said = Utf8Bytes::from("seen".to_owned());
                let usage = omnia_proto::runtime::v1::Usage::default();
                let _ = out.send(Ok(ServerMessage::done(said, usage))).await;
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(frames)))
    }

    async fn invoke(
        &self,
        _: tonic::Request<InvocationRequest>,
    ) -> Result<tonic::Response<InvocationResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("conversations only"))
    }

    async fn health(
        &self,
        _: tonic::Request<HealthRequest>,
    ) -> Result<tonic::Response<HealthResponse>, tonic::Status> {
        Ok(tonic::Response::new(HealthResponse {
            healthy: true,
            status: "ok".into(),
            contract_version: "1.3.0".into(),
            capabilities: vec![],
        }))
    }

    async fn has_conversation(
        &self,
        _: tonic::Request<HasConversationRequest>,
    ) -> Result<tonic::Response<HasConversationResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("no"))
    }
}

async fn recorder() -> (Recorder, String) {
    let recorder = Recorder::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let service = RuntimeServiceServer::new(recorder.clone());
    tokio::spawn(
        tonic::transport::Server::builder().serve_with_incoming_shutdown(
            service,
            TcpListenerStream::new(listener),
            std::future::pending(),
        ),
    );
    (recorder, address)
}

fn yaml(dir: &std::path::Path) -> String {
    let spec = format!(
        "  media:
    storage: {{type: local, local: {{basePath: '{}'}}, maxFileSizeBytes: 1024}}
",
        dir.display()
    );
    media_yaml("runtime", &spec, &[])
}

async fn connect(gateway: &TestGateway) -> (Client, String) {
    let mut client = Client::connect(gateway.facade, &format!("/ws?agent={AGENT}"), &[]).await;
    let session = client.json().await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (client, session)
}

async fn upload_request(client: &mut Client, spec: &AsyncApi, size: u64) -> Value {
    let frame = json!({"type": "upload_request", "upload_request":
        {"filename": "cat.png", "mime_type": "image/png", "size_bytes": size}});
    client.send_text(&frame.to_string()).await;
    spec.check(client.json().await.to_string().as_bytes())
}

fn put(url: &str, bytes: &'static [u8]) -> Request<Full<Bytes>> {
    Request::put(url)
        .header("host", "localhost")
        .header("content-type", "image/png")
        .body(Full::new(Bytes::from_static(bytes)))
        .unwrap()
}

fn message_with(storage_ref: &str) -> String {
    json!({"type": "message", "parts": [
        {"type": "image", "media": {"storage_ref": storage_ref, "mime_type": "image/png"}},
        {"type": "text", "text": "what is this?"}
    ]})
    .to_string()
}

#[tokio::test]
async fn an_upload_over_the_websocket_reaches_the_runtime_as_a_storage_ref() {
    let spec = AsyncApi::load();
    let dir = tempfile::tempdir().unwrap();
    let (recorder, address) = recorder().await;
    let gateway = TestGateway::start(&yaml(dir.path()), address, Options::default()).await;
    let (mut client, session) = connect(&gateway).await;

    let ready = upload_request(&mut client, &spec, 4).await;
    assert_eq!(ready["type"], "upload_ready", "{ready}");
    let info = &ready["upload_ready"];
    let storage_ref = info["storage_ref"].as_str().unwrap().to_owned();
    assert!(
        storage_ref.starts_with(&format!("omnia://sessions/{session}/media/")),
        "{storage_ref}"
    );
    assert_eq!(info["method"], "PUT");
    let url = info["upload_url"].as_str().unwrap();
    let stored = send(gateway.facade, put(url, b"\x89PNG")).await;
    assert_eq!(stored.status, 204, "{stored:?}");

    let complete = spec.check(client.json().await.to_string().as_bytes());
    assert_eq!(complete["type"], "upload_complete", "{complete}");
    assert_eq!(
        complete["upload_complete"]["storage_ref"],
        storage_ref.as_str()
    );
    assert_eq!(complete["upload_complete"]["upload_id"], info["upload_id"]);
    assert_eq!(complete["upload_complete"]["size_bytes"], 4);

    client.send_text(&message_with(&storage_ref)).await;
    let done = spec.check(client.json().await.to_string().as_bytes());
    assert_eq!(done["type"], "done", "{done}");
    let messages = recorder.messages.lock().clone();
    let message = messages.last().unwrap();
    assert_eq!(message.content.as_ref(), b"what is this?");
    let part = &message.parts[0];
    assert_eq!(part.r#type, "image");
    let media = part.media.as_ref().unwrap();
    assert_eq!(media.storage_ref, storage_ref);
    assert_eq!(media.mime_type, "image/png");
}

#[tokio::test]
async fn parts_naming_media_the_session_does_not_have_are_refused() {
    let spec = AsyncApi::load();
    let dir = tempfile::tempdir().unwrap();
    let (recorder, address) = recorder().await;
    let gateway = TestGateway::start(&yaml(dir.path()), address, Options::default()).await;
    // Media stored by one session...
    let (mut owner, _) = connect(&gateway).await;
    let ready = upload_request(&mut owner, &spec, 4).await;
    let url = ready["upload_ready"]["upload_url"].as_str().unwrap();
    assert_eq!(send(gateway.facade, put(url, b"abcd")).await.status, 204);
    let theirs = ready["upload_ready"]["storage_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    // ...is not another session's to use.
    let (mut other, session) = connect(&gateway).await;
    for storage_ref in [
        theirs.clone(),
        format!("omnia://sessions/{session}/media/0123456789abcdef0123456789abcdef"),
        "omnia://sessions/../media/x".to_owned(),
    ] {
        other.send_text(&message_with(&storage_ref)).await;
        let error = spec.check(other.json().await.to_string().as_bytes());
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["error"]["code"], "INVALID_MESSAGE", "{error}");
    }
    assert!(recorder.messages.lock().is_empty());
    // An upload the agent's limits refuse is an UPLOAD_FAILED error.
    let refused = upload_request(&mut other, &spec, 2048).await;
    assert_eq!(refused["error"]["code"], "UPLOAD_FAILED", "{refused}");
}

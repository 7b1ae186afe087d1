//! Fixtures shared by the auth tests: committed keys (generated once with openssl; RSA key
//! generation in a debug build is too slow to do per test), token signing, and a tiny JWKS server
//! on a loopback port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const RSA1_KEY: &str = include_str!("testdata/rsa1.key.pem");
pub const RSA1_PUB: &str = include_str!("testdata/rsa1.pub.pem");
pub const RSA2_KEY: &str = include_str!("testdata/rsa2.key.pem");
pub const EC1_KEY: &str = include_str!("testdata/ec1.key.pem");
pub const RSA1_JWK: &str = include_str!("testdata/rsa1.jwk.json");
pub const RSA2_JWK: &str = include_str!("testdata/rsa2.jwk.json");
pub const EC1_JWK: &str = include_str!("testdata/ec1.jwk.json");

pub const ISSUER: &str = "https://idp.example.test";
pub const AUDIENCE: &str = "omnia-agents";

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/auth/testdata")
        .join(name)
}

pub fn jwks_json(jwks: &[&str]) -> String {
    let keys: Vec<Value> = jwks
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    json!({ "keys": keys }).to_string()
}

pub fn jwk_set(jwks: &[&str]) -> JwkSet {
    serde_json::from_str(&jwks_json(jwks)).unwrap()
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Claims of a token from `iss` for `aud`, expiring `exp_in` seconds from now.
pub fn claims(iss: &str, aud: &str, exp_in: i64) -> Value {
    json!({ "iss": iss, "aud": aud, "sub": "user-1", "exp": now() + exp_in, "iat": now() })
}

/// Signs `claims` with a private key PEM: RSA keys as RS256, EC keys as ES256.
pub fn sign(alg: Algorithm, private_pem: &str, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// HS256 with `secret` as the HMAC key; with a public key PEM that is the key-confusion attack.
pub fn sign_hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// An unsecured JWT (`alg: none`, empty signature), built by hand since no library signs those.
pub fn unsecured(kid: Option<&str>, claims: &Value) -> String {
    let header = match kid {
        Some(kid) => json!({ "alg": "none", "typ": "JWT", "kid": kid }),
        None => json!({ "alg": "none", "typ": "JWT" }),
    };
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Request parts carrying `Authorization: Bearer <token>` plus extra headers.
pub fn parts(token: Option<&str>, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::builder().uri("/functions/echo");
    if let Some(token) = token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

/// The reqwest client panics without a rustls provider; the gateway installs one at start-up.
pub fn install_crypto_provider() {
    // Err means another test already installed it.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A URL on a loopback port nothing listens on.
pub async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/jwks.json")
}

/// What a [`JwksServer`] answers: documents by path, the `Cache-Control` it sends, whether it
/// stalls, and the paths it was asked for.
#[derive(Default)]
struct Served {
    documents: HashMap<String, String>,
    cache_control: Option<String>,
    stall: bool,
    requests: Vec<String>,
}

/// An identity provider on a loopback port: JSON documents by path (the JWKS at `/jwks.json`),
/// one request per connection, counting requests. Unknown paths are 404.
pub struct JwksServer {
    addr: SocketAddr,
    state: Arc<watch::Sender<Served>>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub const JWKS_PATH: &str = "/jwks.json";

    /// Serves `body` as the JWKS at [`JwksServer::url`].
    pub async fn start(body: String) -> Self {
        let server = Self::empty().await;
        server.serve(body);
        server
    }

    /// Serves nothing until told to.
    pub async fn empty() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(watch::channel(Served::default()).0);
        let served = state.clone();
        let task = tokio::spawn(async move {
            // Stalled connections stay open until the server is dropped.
            let mut stalled = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let path = String::from_utf8_lossy(&request)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_owned();
                let mut answer = None;
                let mut stall = false;
                served.send_modify(|s| {
                    s.requests.push(path.clone());
                    stall = s.stall;
                    answer = Some((s.documents.get(&path).cloned(), s.cache_control.clone()));
                });
                if stall {
                    stalled.push(socket);
                    continue;
                }
                let (body, cache_control) = answer.unwrap();
                let response = match body {
                    Some(body) => {
                        let cache = cache_control
                            .map(|v| format!("cache-control: {v}\r\n"))
                            .unwrap_or_default();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{cache}\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\
                             connection: close\r\n\r\n"
                        .to_owned(),
                };
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`: the issuer, when this server plays one.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self) -> String {
        format!("{}{}", self.base(), Self::JWKS_PATH)
    }

    /// Replaces the JWKS served from now on (a key rotation at the identity provider).
    pub fn serve(&self, body: String) {
        self.serve_at(Self::JWKS_PATH, body);
    }

    /// Serves `body` at `path` from now on.
    pub fn serve_at(&self, path: &str, body: String) {
        self.state.send_modify(|s| {
            s.documents.insert(path.to_owned(), body);
        });
    }

    /// Sends `Cache-Control: value` with every document from now on.
    pub fn cache_control(&self, value: &str) {
        self.state
            .send_modify(|s| s.cache_control = Some(value.to_owned()));
    }

    /// From now on, accepts requests and never answers them.
    pub fn stall(&self) {
        self.state.send_modify(|s| s.stall = true);
    }

    pub fn hits(&self) -> usize {
        self.state.borrow().requests.len()
    }

    /// How many requests asked for `path`.
    pub fn hits_at(&self, path: &str) -> usize {
        self.state
            .borrow()
            .requests
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until `condition` holds, polling; panics after a generous deadline so a broken refresh
/// fails the test instead of hanging it.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

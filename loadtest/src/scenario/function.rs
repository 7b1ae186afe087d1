//! The `function` scenario: `POST {url}/functions/{name}` with a prebuilt body and headers. The
//! `media` scenario is the same exchange on `POST {url}/media/request-upload?agent=NAME` (one
//! signed upload per request), so it is this scenario under another name and path.
//!
//! Everything that does not change between requests (URI, headers, body) is built once; a
//! request costs a reference-count bump for the body and URI and one header-map clone, which hyper
//! needs because it takes the request by value.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::{ErrorKind, Exchange, Outcome, Scenario};

/// Everything needed to call one function, resolved at start-up.
#[derive(Debug)]
pub struct FunctionScenario {
    name: &'static str,
    addr: SocketAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    http2: bool,
    target: String,
}

/// Start-up settings of the `function` scenario.
#[derive(Debug)]
pub struct FunctionConfig<'a> {
    /// Base URL, `http://host:port[/prefix]`.
    pub url: &'a str,
    /// The route after the base URL: `/functions/{name}`, `/media/request-upload?agent=NAME`.
    pub path: &'a str,
    /// The scenario's name in reports (`function`, `media`).
    pub name: &'static str,
    /// Request body.
    pub body: Bytes,
    /// Content-Type header value.
    pub content_type: &'a str,
    /// Extra headers, sent on every request.
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// HTTP/2 with prior knowledge instead of HTTP/1.1.
    pub http2: bool,
}

impl FunctionScenario {
    /// Parses the URL, resolves the host once and prebuilds the request parts.
    pub async fn new(config: FunctionConfig<'_>) -> Result<Self, String> {
        let base: Uri = config
            .url
            .parse()
            .map_err(|e| format!("--url {}: {e}", config.url))?;
        if base.scheme_str() != Some("http") {
            return Err(format!(
                "--url {}: only plain http:// is supported",
                config.url
            ));
        }
        let authority = base
            .authority()
            .ok_or_else(|| format!("--url {}: no host", config.url))?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await
            .map_err(|e| format!("resolving {}: {e}", authority.host()))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", authority.host()))?;

        let prefix = base.path().trim_end_matches('/');
        let path = format!("{prefix}{}", config.path);
        let target = format!("http://{authority}{path}");
        // HTTP/2 needs scheme and authority in the URI (they become :scheme and :authority);
        // HTTP/1.1 sends the origin form with a Host header, as browsers and wrk do.
        let uri_text = if config.http2 { &target } else { &path };
        let uri: Uri = uri_text
            .parse()
            .map_err(|e| format!("request URI {uri_text}: {e}"))?;

        let mut headers = HeaderMap::with_capacity(4 + config.headers.len());
        if !config.http2 {
            let host = HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("host header {authority}: {e}"))?;
            headers.insert(HOST, host);
        }
        let content_type = HeaderValue::from_str(config.content_type)
            .map_err(|e| format!("--content-type {}: {e}", config.content_type))?;
        headers.insert(CONTENT_TYPE, content_type);
        headers.insert(USER_AGENT, HeaderValue::from_static("omnia-loadtest"));
        for (name, value) in config.headers {
            headers.append(name.clone(), value.clone());
        }
        Ok(Self {
            name: config.name,
            addr,
            uri,
            headers,
            body: config.body,
            http2: config.http2,
            target,
        })
    }

    /// The full URL requests go to, for reports.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Size of the body every request sends.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        if self.http2 {
            *request.version_mut() = Version::HTTP_2;
        }
        request
    }

    async fn connect(&self) -> Result<Sender, ErrorKind> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| ErrorKind::from_connect(&e))?;
        // Small requests must not wait for Nagle's algorithm: that would add up to 40 ms.
        stream.set_nodelay(true).map_err(|_| ErrorKind::Connect)?;
        let io = TokioIo::new(stream);
        if self.http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|_| ErrorKind::Handshake)?;
            // The connection task's own error also fails the pending request, which is where it
            // is counted; here it only needs driving.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Sender::H2(sender))
        } else {
            let (sender, connection) = http1::handshake(io)
                .await
                .map_err(|_| ErrorKind::Handshake)?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Sender::H1(sender))
        }
    }
}

impl Scenario for Arc<FunctionScenario> {
    type Worker = FunctionWorker;

    fn name(&self) -> &'static str {
        self.name
    }

    fn worker(&self) -> FunctionWorker {
        FunctionWorker {
            scenario: Arc::clone(self),
            sender: None,
        }
    }
}

/// One worker: one persistent connection, reopened when the server closes it.
#[derive(Debug)]
pub struct FunctionWorker {
    scenario: Arc<FunctionScenario>,
    sender: Option<Sender>,
}

#[derive(Debug)]
enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn ready(&mut self) -> bool {
        match self {
            Sender::H1(sender) => sender.ready().await.is_ok(),
            Sender::H2(sender) => sender.ready().await.is_ok(),
        }
    }

    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> hyper::Result<hyper::Response<hyper::body::Incoming>> {
        match self {
            Sender::H1(sender) => sender.send_request(request).await,
            Sender::H2(sender) => sender.send_request(request).await,
        }
    }
}

impl FunctionWorker {
    /// A sender ready for a request: the kept-alive one, or a fresh connection if the server
    /// closed it (a normal keep-alive event, not an error).
    async fn ready_sender(&mut self) -> Result<&mut Sender, ErrorKind> {
        let reusable = match self.sender.as_mut() {
            Some(sender) => sender.ready().await,
            None => false,
        };
        if !reusable {
            self.sender = None;
            let mut fresh = self.scenario.connect().await?;
            if !fresh.ready().await {
                return Err(ErrorKind::Handshake);
            }
            self.sender = Some(fresh);
        }
        self.sender.as_mut().ok_or(ErrorKind::Other)
    }
}

impl Exchange for FunctionWorker {
    async fn exchange(&mut self) -> Outcome {
        let request = self.scenario.request();
        let sender = match self.ready_sender().await {
            Ok(sender) => sender,
            Err(kind) => return Outcome::Failed(kind),
        };
        let response = match sender.send(request).await {
            Ok(response) => response,
            Err(error) => {
                self.sender = None;
                return Outcome::Failed(ErrorKind::from_hyper(&error));
            }
        };
        let status = response.status().as_u16();
        // The reply counts only once its whole body has arrived; frames are dropped unread so
        // nothing is copied or collected.
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(error) = frame {
                self.sender = None;
                return Outcome::Failed(ErrorKind::from_hyper(&error));
            }
        }
        Outcome::Reply { status }
    }

    fn abandon(&mut self) {
        self.sender = None;
    }
}

//! Where the WebSocket scenarios connect, resolved once, and the upgrade itself.
//!
//! The URL, host address and request headers are fixed for the run, so a connection costs a
//! header-map clone and a fresh `Sec-WebSocket-Key`, not a parse.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use fastwebsockets::WebSocket;
use http_body_util::Empty;
use hyper::header::{
    CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE, USER_AGENT,
};
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::Failure;

/// An open WebSocket, as the client handshake returns it.
pub type Socket = WebSocket<TokioIo<Upgraded>>;

/// The path used when the URL has none: Omnia's WebSocket endpoint.
const DEFAULT_PATH: &str = "/ws";

/// A resolved WebSocket endpoint of one agent.
#[derive(Debug)]
pub struct Target {
    addr: SocketAddr,
    uri: Uri,
    headers: HeaderMap,
    url: String,
}

impl Target {
    /// Parses `ws://host[:port][/path][?query]`, adds `agent=NAME` to the query, resolves the
    /// host once and prebuilds the upgrade headers. The path defaults to `/ws`.
    pub async fn new(
        url: &str,
        agent: &str,
        extra_headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Self, String> {
        let (authority, path_and_query) = split_url(url, agent)?;
        let base: Uri = format!("http://{authority}/")
            .parse()
            .map_err(|e| format!("--url {url}: {e}"))?;
        let host = base.host().unwrap_or_default();
        let port = base.port_u16().unwrap_or(80);
        // Brackets of an IPv6 literal are URI syntax, not part of the name to resolve.
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let addr = tokio::net::lookup_host((bare_host, port))
            .await
            .map_err(|e| format!("resolving {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))?;
        let uri: Uri = path_and_query
            .parse()
            .map_err(|e| format!("request URI {path_and_query}: {e}"))?;

        let mut headers = HeaderMap::with_capacity(6 + extra_headers.len());
        let host_header = HeaderValue::from_str(&authority)
            .map_err(|e| format!("host header {authority}: {e}"))?;
        headers.insert(HOST, host_header);
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        headers.insert(USER_AGENT, HeaderValue::from_static("omnia-loadtest"));
        for (name, value) in extra_headers {
            headers.append(name.clone(), value.clone());
        }
        Ok(Self {
            addr,
            uri,
            headers,
            url: format!("ws://{authority}{path_and_query}"),
        })
    }

    /// The full URL connections go to, for reports.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// TCP connect and the HTTP/1.1 upgrade. The `connected` frame is the caller's to read.
    pub async fn connect(&self) -> Result<Socket, Failure> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| Failure::from_connect(&e))?;
        // A turn's message is one small frame: it must not wait for Nagle's algorithm.
        stream.set_nodelay(true).map_err(|_| Failure::Connect)?;
        let mut request = Request::new(Empty::<Bytes>::new());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let key = HeaderValue::from_str(&fastwebsockets::handshake::generate_key())
            .map_err(|_| Failure::Handshake)?;
        request.headers_mut().insert(SEC_WEBSOCKET_KEY, key);
        let (socket, _response) =
            fastwebsockets::handshake::client(&TokioExecutor::new(), request, stream)
                .await
                .map_err(|e| Failure::from_handshake(&e))?;
        Ok(socket)
    }
}

/// `(authority, path?query)` of a `ws://` URL with `agent=NAME` appended to the query.
fn split_url(url: &str, agent: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| {
        if url.starts_with("wss://") {
            format!("--url {url}: wss:// (TLS) is not supported, only plain ws://")
        } else {
            format!("--url {url}: must start with ws://")
        }
    })?;
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("--url {url}: no host"));
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let path = if path.is_empty() || path == "/" {
        DEFAULT_PATH
    } else {
        path
    };
    let agent = percent_encode(agent);
    let query = match query.filter(|query| !query.is_empty()) {
        Some(query) => format!("{query}&agent={agent}"),
        None => format!("agent={agent}"),
    };
    Ok((authority.to_owned(), format!("{path}?{query}")))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so any agent name is one
/// query value.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_defaults_to_ws_and_the_agent_joins_the_query() {
        let split = |url| split_url(url, "support-bot").unwrap();
        assert_eq!(
            split("ws://127.0.0.1:8080"),
            ("127.0.0.1:8080".into(), "/ws?agent=support-bot".into())
        );
        assert_eq!(
            split("ws://h/"),
            ("h".into(), "/ws?agent=support-bot".into())
        );
        assert_eq!(
            split("ws://h:1/api/agents/ns/x/ws?namespace=prod"),
            (
                "h:1".into(),
                "/api/agents/ns/x/ws?namespace=prod&agent=support-bot".into()
            )
        );
        assert_eq!(
            split("ws://h?binary=true"),
            ("h".into(), "/ws?binary=true&agent=support-bot".into())
        );
    }

    #[test]
    fn agent_names_are_percent_encoded() {
        let (_, path) = split_url("ws://h", "a b&c=d/é").unwrap();
        assert_eq!(path, "/ws?agent=a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn only_plain_ws_urls_are_accepted() {
        assert!(split_url("http://h", "a").is_err());
        let tls = split_url("wss://h", "a").unwrap_err();
        assert!(tls.contains("not supported"), "{tls}");
        assert!(split_url("ws:///ws", "a").is_err());
    }

    #[tokio::test]
    async fn a_target_resolves_and_names_its_url() {
        let target = Target::new("ws://127.0.0.1:9", "echo", &[]).await.unwrap();
        assert_eq!(target.url(), "ws://127.0.0.1:9/ws?agent=echo");
        assert_eq!(target.headers[HOST], "127.0.0.1:9");
        // Port 9 (discard) has nothing listening on a test machine.
        let refused = target.connect().await.err();
        assert!(
            matches!(
                refused,
                Some(Failure::ConnectRefused | Failure::Connect | Failure::Timeout)
            ),
            "{refused:?}"
        );
    }
}

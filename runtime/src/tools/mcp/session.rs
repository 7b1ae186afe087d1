//! The MCP session of one handler: opening it (a child process over stdio, a streamable HTTP
//! session, a legacy SSE stream), noticing that it died, and opening it again.
//!
//! rmcp's client has no reconnect: a session whose transport is gone stays gone. So one
//! [`Sessions`] holds the current session and replaces it:
//! - lazily: a call or discovery that finds it dead (closed by rmcp, or its child exited) opens
//!   a new one; the adapter also drops one a call failed on, for the next attempt to replace;
//! - for stdio, also at once: a watcher task owns each child and waits for it; when a child that
//!   completed its handshake exits, a restart task opens a new session after a capped
//!   exponential backoff (counted up while children keep dying young, reset by one that lived
//!   [`STABLE_AFTER`]), so the server is back before the next call needs it.
//!
//! One open at a time (a tokio mutex): a call that arrives while a session is being opened
//! waits for it, within its deadline (the manager bounds every call), and then uses it.
//!
//! A child is killed when its session is dropped (replaced, or the adapter dropped): the watcher
//! task owning it is aborted, and the child is spawned with `kill_on_drop`, which kills it
//! without needing a runtime. Its stderr goes to the logs, never to ours.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use parking_lot::Mutex;
use reqwest::header::HeaderMap;
use reqwest::{Client, Url};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::DynamicTransportError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{RoleClient, ServiceExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::sse::SseTransport;
use crate::tools::retry::Backoff;

/// A child that lived this long before exiting was healthy: the restart backoff starts over.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long a background restart may take to complete its handshake.
const RESTART_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest stderr line logged whole; a longer one is logged in pieces.
const STDERR_LINE_BYTES: u64 = 4096;
/// The stderr lines kept to log when the child exits.
const STDERR_TAIL: usize = 8;
/// The most of an error from a server (or about one) quoted.
const ERROR_CHARS: usize = 500;

/// An rmcp client session.
pub(super) type Service = RunningService<RoleClient, ClientConfig>;

/// Where the server is.
#[derive(Debug)]
pub(super) enum Target {
    /// A child process speaking MCP on its stdin and stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        work_dir: Option<PathBuf>,
        env: Vec<(String, String)>,
    },
    /// Streamable HTTP (rmcp's client over our reqwest client).
    StreamableHttp { url: Url, client: Client },
    /// Legacy HTTP+SSE (our transport).
    Sse { url: Url, client: Client },
}

impl Target {
    /// The server, for logs and errors the model reads: its command (not its arguments) or its
    /// URL without credentials or query, either of which may carry a secret.
    pub(super) fn describe(&self) -> String {
        match self {
            Target::Stdio { command, .. } => format!("`{}`", bounded(command, 200)),
            Target::StreamableHttp { url, .. } | Target::Sse { url, .. } => {
                let mut url = url.clone();
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.set_query(None);
                format!("at {url}")
            }
        }
    }

    /// Whether sessions carry the caller's identity as headers.
    fn sends_headers(&self) -> bool {
        !matches!(self, Target::Stdio { .. })
    }
}

/// Who calls are made for (the agent and its namespace): on HTTP transports sent as headers
/// on every request of the session, so a session belongs to one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Caller {
    pub agent: String,
    pub namespace: String,
}

impl Caller {
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        [
            ("x-omnia-agent-name", &self.agent),
            ("x-omnia-namespace", &self.namespace),
        ]
        .into_iter()
        .filter_map(
            |(name, value)| match HeaderValue::try_from(value.as_str()) {
                Ok(value) => Some((HeaderName::from_static(name), value)),
                Err(_) => {
                    tracing::debug!(
                        header = name,
                        value = %value,
                        "identity value left out: not valid in a header"
                    );
                    None
                }
            },
        )
        .collect()
    }
}

/// The sessions of one handler.
pub(super) struct Sessions {
    handler: String,
    target: Target,
    /// The pause before the n-th restart in a row of a stdio child.
    restart: Backoff,
    current: Mutex<Option<Arc<Live>>>,
    /// Held while a session is being opened.
    opening: tokio::sync::Mutex<()>,
    /// Restarts since a child last lived [`STABLE_AFTER`].
    restarts: AtomicU32,
    /// This, for the tasks that must not keep it alive.
    me: Weak<Sessions>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("handler", &self.handler)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// One open session.
pub(super) struct Live {
    pub(super) service: Service,
    /// Whose identity its headers carry (HTTP transports).
    caller: Option<Caller>,
    /// Its child (stdio).
    child: Option<ChildGuard>,
}

/// The tasks of a stdio session's child: dropping them kills it.
struct ChildGuard {
    state: Arc<ChildState>,
    _watcher: AbortOnDrop,
    _stderr: AbortOnDrop,
}

#[derive(Debug, Default)]
struct ChildState {
    /// The child has exited.
    exited: AtomicBool,
    /// Its handshake completed: only then does its exit call for a restart (a child that dies
    /// during the handshake fails the open that started it).
    established: AtomicBool,
}

impl Live {
    /// Whether calls can still go through it.
    fn alive(&self) -> bool {
        !self.service.is_closed()
            && !self.service.peer().is_transport_closed()
            && !self
                .child
                .as_ref()
                .is_some_and(|c| c.state.exited.load(Ordering::SeqCst))
    }
}

/// A task aborted when this is dropped.
#[derive(Debug)]
pub(super) struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    pub(super) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> AbortOnDrop {
        AbortOnDrop(tokio::spawn(task))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Sessions {
    pub(super) fn new(handler: &str, target: Target, restart: Backoff) -> Arc<Sessions> {
        Arc::new_cyclic(|me| Sessions {
            handler: handler.to_owned(),
            target,
            restart,
            current: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            restarts: AtomicU32::new(0),
            me: me.clone(),
        })
    }

    pub(super) fn describe(&self) -> String {
        self.target.describe()
    }

    /// A live session, opened now if there is none (or the one there is carries another
    /// caller's headers). `caller` is `None` for discovery and restarts, which any session
    /// serves. The error says why the server could not be reached.
    pub(super) async fn session(&self, caller: Option<&Caller>) -> Result<Arc<Live>, String> {
        if let Some(live) = self.usable(caller) {
            return Ok(live);
        }
        let _opening = self.opening.lock().await;
        // Someone else may have opened one while this call waited.
        if let Some(live) = self.usable(caller) {
            return Ok(live);
        }
        // The old one goes first: its child is killed before another is started.
        let old = self.current.lock().take();
        drop(old);
        let live = Arc::new(self.open(caller).await?);
        *self.current.lock() = Some(live.clone());
        Ok(live)
    }

    fn usable(&self, caller: Option<&Caller>) -> Option<Arc<Live>> {
        let live = self.current.lock().clone()?;
        let addressed = match caller {
            Some(caller) if self.target.sends_headers() => live.caller.as_ref() == Some(caller),
            _ => true,
        };
        (addressed && live.alive()).then_some(live)
    }

    /// Drops `live` (a call failed on it), unless it was replaced already.
    pub(super) fn discard(&self, live: &Arc<Live>) {
        let old = {
            let mut current = self.current.lock();
            match &*current {
                Some(now) if Arc::ptr_eq(now, live) => current.take(),
                _ => None,
            }
        };
        drop(old);
    }

    async fn open(&self, caller: Option<&Caller>) -> Result<Live, String> {
        let handshake = |e: ClientInitializeError| {
            format!(
                "the MCP server {} did not complete the MCP handshake: {}",
                self.describe(),
                handshake_reason(&e)
            )
        };
        let headers = caller.map(Caller::headers).unwrap_or_default();
        match &self.target {
            Target::Stdio { .. } => self.open_child().await,
            Target::StreamableHttp { url, client } => {
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(headers.into_iter().collect::<HashMap<_, _>>())
                    // A restarted server does not know the old session: rmcp opens a new one
                    // and sends the request again.
                    .reinit_on_expired_session(true);
                let transport = StreamableHttpClientTransport::with_client(client.clone(), config);
                let service = client_config().serve(transport).await.map_err(handshake)?;
                Ok(Live {
                    service,
                    caller: caller.cloned(),
                    child: None,
                })
            }
            Target::Sse { url, client } => {
                let transport = SseTransport::connect(
                    client.clone(),
                    url,
                    headers.into_iter().collect::<HeaderMap>(),
                )
                .await
                .map_err(|e| format!("the MCP server {}: {e}", self.describe()))?;
                let service = client_config().serve(transport).await.map_err(handshake)?;
                Ok(Live {
                    service,
                    caller: caller.cloned(),
                    child: None,
                })
            }
        }
    }

    /// Starts the child and completes the handshake over its stdin and stdout.
    async fn open_child(&self) -> Result<Live, String> {
        let Target::Stdio {
            command,
            args,
            work_dir,
            env,
        } = &self.target
        else {
            return Err("not a stdio handler".to_owned());
        };
        let mut cmd = Command::new(command);
        // `env` is added to the runtime's own environment, so PATH, HOME and the like reach the
        // server (an npx or uvx launcher needs them). Omnia's Go `exec.Cmd` with `Env` set passes
        // only those variables; with none set it passes the parent's, as here.
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = work_dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|e| {
            let dir = work_dir
                .as_ref()
                .map(|d| format!(" in {}", d.display()))
                .unwrap_or_default();
            format!("cannot start the MCP server {}{dir}: {e}", self.describe())
        })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(format!(
                "the MCP server {} started without its stdin and stdout",
                self.describe()
            ));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr = match child.stderr.take() {
            Some(stderr) => AbortOnDrop::spawn(forward_stderr(
                self.handler.clone(),
                pid,
                stderr,
                tail.clone(),
            )),
            None => AbortOnDrop::spawn(async {}),
        };
        let state = Arc::new(ChildState::default());
        let watcher = AbortOnDrop::spawn(watch(
            child,
            self.me.clone(),
            self.handler.clone(),
            pid,
            state.clone(),
            tail.clone(),
        ));
        let guard = ChildGuard {
            state: state.clone(),
            _watcher: watcher,
            _stderr: stderr,
        };
        // rmcp bounds a line at 16 MiB: a longer one is dropped (logged), and the call it
        // answered runs into its deadline.
        let service = match client_config().serve((stdout, stdin)).await {
            Ok(service) => service,
            Err(e) => {
                tracing::warn!(
                    handler = %self.handler,
                    pid,
                    stderr = ?tail.lock().iter().collect::<Vec<_>>(),
                    "the MCP server process failed its handshake"
                );
                return Err(format!(
                    "the MCP server {} did not complete the MCP handshake: {}",
                    self.describe(),
                    handshake_reason(&e)
                ));
            }
        };
        state.established.store(true, Ordering::SeqCst);
        tracing::debug!(handler = %self.handler, pid, "MCP server process started");
        Ok(Live {
            service,
            caller: None,
            child: Some(guard),
        })
    }

    /// Called by a watcher when an established child exited after `lived`: restarts it in the
    /// background, pausing more between restarts in a row, until one comes up or the adapter
    /// is dropped.
    fn exited(&self, lived: Duration) {
        if lived >= STABLE_AFTER {
            self.restarts.store(0, Ordering::SeqCst);
        }
        let me = self.me.clone();
        tokio::spawn(async move {
            loop {
                let pause = {
                    let Some(sessions) = me.upgrade() else { return };
                    let n = sessions.restarts.fetch_add(1, Ordering::SeqCst) + 1;
                    sessions.restart.ceiling(n)
                };
                tokio::time::sleep(pause).await;
                let Some(sessions) = me.upgrade() else { return };
                match tokio::time::timeout(RESTART_TIMEOUT, sessions.session(None)).await {
                    Ok(Ok(_)) => {
                        tracing::info!(handler = %sessions.handler, "MCP server running again");
                        return;
                    }
                    Ok(Err(reason)) => tracing::warn!(
                        handler = %sessions.handler,
                        %reason,
                        "cannot restart the MCP server; trying again"
                    ),
                    Err(_) => tracing::warn!(
                        handler = %sessions.handler,
                        "the MCP server did not come up within {} s; trying again",
                        RESTART_TIMEOUT.as_secs()
                    ),
                }
            }
        });
    }
}

/// The client's side of the handshake. 2025-11-25 is the newest version with an `initialize`
/// handshake and sessions, which every server here speaks; rmcp's default, 2026-07-28, is the
/// stateless draft.
fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("omnia-runtime", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
}

/// Waits for the child to exit, then marks its session dead and, if it was established, has it
/// restarted. Aborting this task drops the child, which kills it.
async fn watch(
    mut child: Child,
    sessions: Weak<Sessions>,
    handler: String,
    pid: Option<u32>,
    state: Arc<ChildState>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let started = Instant::now();
    let status = child.wait().await;
    state.exited.store(true, Ordering::SeqCst);
    if !state.established.load(Ordering::SeqCst) {
        return;
    }
    let status = match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("cannot be waited for: {e}"),
    };
    tracing::warn!(
        handler = %handler,
        pid,
        %status,
        stderr = ?tail.lock().iter().collect::<Vec<_>>(),
        "the MCP server process exited; restarting it"
    );
    if let Some(sessions) = sessions.upgrade() {
        sessions.exited(started.elapsed());
    }
}

/// Logs the child's stderr line by line (debug), keeping the last lines for the exit warning.
async fn forward_stderr(
    handler: String,
    pid: Option<u32>,
    stderr: ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(STDERR_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                if text.is_empty() {
                    continue;
                }
                tracing::debug!(handler = %handler, pid, line = %text, "MCP server stderr");
                let mut tail = tail.lock();
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(text);
            }
        }
    }
}

/// Why the handshake failed, without rmcp's type names.
fn handshake_reason(error: &ClientInitializeError) -> String {
    let reason = match error {
        ClientInitializeError::TransportError { error, context } => {
            format!("{} ({context})", transport_reason(error))
        }
        ClientInitializeError::ConnectionClosed(context) => {
            format!("the server closed the connection ({context})")
        }
        other => error_chain(other),
    };
    bounded(&reason, ERROR_CHARS)
}

/// Why a transport failed, without rmcp's type names (nor a URL's query).
pub(super) fn transport_reason(error: &DynamicTransportError) -> String {
    match error
        .error
        .downcast_ref::<StreamableHttpError<reqwest::Error>>()
    {
        Some(StreamableHttpError::Client(e)) => {
            let what = if e.is_connect() {
                "cannot connect"
            } else if e.is_timeout() {
                "the request timed out"
            } else {
                "the request failed"
            };
            match std::error::Error::source(e) {
                Some(source) => format!("{what}: {}", error_chain(source)),
                None => what.to_owned(),
            }
        }
        Some(other) => error_chain(other),
        None => error_chain(error.error.as_ref()),
    }
}

/// `error` and its sources, each said once.
pub(super) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = inner.source();
    }
    text
}

/// `text` cut to at most `max` chars, `...` marking a cut.
pub(super) fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

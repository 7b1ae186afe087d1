//! The media surface: `/media/...` (DESIGN.md 4.3), for the agents whose `spec.media.storage`
//! stores media. Which agent a request is for comes from `?agent=NAME[&namespace=NS]`, or is the
//! only agent served; every route sits behind that agent's auth chain, like its WebSocket.
//!
//! Each agent has a [`Backend`] (where the bytes are), a [`MediaStore`] (pending uploads and
//! media records: Redis when the agent's session store is Redis, so replicas share them; memory
//! otherwise) and a sweeper ([`sweep`]) that removes expired media and abandoned uploads.

pub mod backend;
pub mod redis;
pub mod reference;
mod routes;
pub mod store;
pub mod sweep;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Method, Request, Response};
use omnia_api::{Agent, Media, MediaBackend, SessionStore};
use omnia_middleware::auth::AuthChain;
use omnia_middleware::{BoxError, GatewayError, ResponseBody};
use tower::Service;

use self::backend::Backend;
use self::backend::azure::AzureBackend;
use self::backend::gcs::GcsBackend;
use self::backend::local::LocalBackend;
use self::backend::s3::S3Backend;
use self::reference::MediaRef;
pub use self::routes::Ticket;
use self::store::{MediaStore, MemoryStore, Record};
use crate::agent::query::Query;

/// The path prefix of the media routes.
pub const MEDIA_PREFIX: &str = "/media/";

/// How long a `request-upload` body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a local upload may go without a byte arriving.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a WebSocket waiting on an upload looks at the store (for confirmations made on
/// another replica; this replica's wake it at once).
const CONFIRM_POLL: Duration = Duration::from_secs(2);

/// One agent's media, as the routes use it.
pub struct MediaAgent {
    pub name: String,
    pub namespace: String,
    pub auth: Arc<AuthChain>,
    pub media: Media,
    pub backend: Arc<dyn Backend>,
    pub store: Arc<dyn MediaStore>,
    /// The object key prefix (`s3.prefix`, ...; empty for local).
    pub prefix: String,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// Where a `local` upload goes, `{id}` standing for the upload id (set by
    /// [`MediaService::new`], which knows whether the agent must be named).
    pub upload_path: String,
    /// Upload ids confirmed in this process, for the WebSockets waiting on them.
    pub confirmed: tokio::sync::broadcast::Sender<String>,
}

impl MediaAgent {
    /// The media of `agent` behind `auth`; `None` when it stores none. The error says why the
    /// backend or store cannot be built.
    pub fn build(agent: &Agent, auth: Arc<AuthChain>) -> Result<Option<Self>, String> {
        let media = agent.media.clone();
        let (backend, prefix): (Arc<dyn Backend>, String) = match &media.backend {
            MediaBackend::None => return Ok(None),
            MediaBackend::Local { base_path } => {
                (Arc::new(LocalBackend::new(base_path)?), String::new())
            }
            MediaBackend::S3 {
                bucket,
                region,
                prefix,
                endpoint,
                credentials,
            } => (
                Arc::new(
                    S3Backend::new(bucket, region, endpoint.as_deref(), credentials.as_ref())
                        .map_err(|e| format!("agent {:?}: {e}", agent.name))?,
                ),
                prefix.clone(),
            ),
            MediaBackend::Azure {
                account,
                container,
                prefix,
                key,
                endpoint,
            } => (
                Arc::new(
                    AzureBackend::new(account, container, endpoint.as_deref(), key.as_ref())
                        .map_err(|e| format!("agent {:?}: {e}", agent.name))?,
                ),
                prefix.clone(),
            ),
            MediaBackend::Gcs {
                bucket,
                prefix,
                service_account,
                hmac,
                endpoint,
            } => (
                Arc::new(
                    GcsBackend::new(
                        bucket,
                        service_account.as_ref(),
                        hmac.as_ref(),
                        endpoint.as_deref(),
                    )
                    .map_err(|e| format!("agent {:?}: {e}", agent.name))?,
                ),
                prefix.clone(),
            ),
        };
        let store: Arc<dyn MediaStore> = match (&agent.session.kind, &agent.session.store_url) {
            (SessionStore::Redis, Some(url)) => Arc::new(self::redis::RedisStore::new(
                url,
                agent
                    .session
                    .store_ref
                    .as_deref()
                    .unwrap_or("session store"),
                &agent.namespace,
                &agent.name,
            )?),
            _ => Arc::new(MemoryStore::new()),
        };
        Ok(Some(Self {
            name: agent.name.clone(),
            namespace: agent.namespace.clone(),
            auth,
            media,
            backend,
            store,
            prefix,
            body_timeout: BODY_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            upload_path: format!("{MEDIA_PREFIX}upload/{{id}}"),
            confirmed: tokio::sync::broadcast::channel(64).0,
        }))
    }

    /// A new upload in `session` (the WebSocket's `upload_request`).
    pub async fn request(
        &self,
        session: &str,
        filename: &str,
        mime_type: &str,
        size_bytes: u64,
    ) -> Result<Ticket, GatewayError> {
        routes::create_upload(self, session, filename, mime_type, size_bytes).await
    }

    /// Waits until upload `upload_id` is confirmed (here or on another replica) and answers its
    /// record; `None` once it can no longer be (refused, forgotten, or past `until`, Unix
    /// seconds).
    pub async fn confirmed(&self, upload_id: &str, until: i64) -> Option<Record> {
        let mut heard = self.confirmed.subscribe();
        loop {
            match self.store.pending(upload_id).await {
                Ok(Some(pending)) if pending.confirmed => {
                    return self.store.record(&pending.reference()).await.ok().flatten();
                }
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => return None,
            }
            if time::OffsetDateTime::now_utc().unix_timestamp() > until {
                return None;
            }
            // A confirmation in this process wakes us at once; one on another replica is found
            // by the next look at the store.
            tokio::select! {
                _ = heard.recv() => {}
                () = tokio::time::sleep(CONFIRM_POLL) => {}
            }
        }
    }

    /// Whether `storage_ref` names media of `session` that is stored and not expired; the
    /// error says what is wrong, for the client.
    pub async fn check(&self, session: &str, storage_ref: &str) -> Result<(), String> {
        let reference = MediaRef::parse(storage_ref)
            .ok_or_else(|| format!("{storage_ref:?} is not a storage reference"))?;
        if reference.session != session {
            return Err(format!("{storage_ref} belongs to another session"));
        }
        routes::live_record(self, &reference)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The `/media/...` service, mounted by the path router.
#[derive(Clone)]
pub struct MediaService {
    agents: Arc<Vec<Arc<MediaAgent>>>,
    /// Agents served that store no media, so a request for one says so.
    without: Arc<Vec<(String, String)>>,
}

impl MediaService {
    /// The surface over `agents`; `without` names (name, namespace) the agents served that store
    /// no media.
    pub fn new(agents: Vec<MediaAgent>, without: Vec<(String, String)>) -> Self {
        // With several agents, a local upload's URL says which one it is for.
        let several = agents.len() + without.len() > 1;
        let agents = agents
            .into_iter()
            .map(|mut agent| {
                if several {
                    let query = form_urlencoded::Serializer::new(String::new())
                        .append_pair("agent", &agent.name)
                        .append_pair("namespace", &agent.namespace)
                        .finish();
                    agent.upload_path = format!("{MEDIA_PREFIX}upload/{{id}}?{query}");
                }
                Arc::new(agent)
            })
            .collect();
        Self {
            agents: Arc::new(agents),
            without: Arc::new(without),
        }
    }

    /// The media of agent `namespace/name`, if it stores any.
    pub fn agent_named(&self, name: &str, namespace: &str) -> Option<Arc<MediaAgent>> {
        self.agents
            .iter()
            .find(|a| a.name == name && a.namespace == namespace)
            .cloned()
    }

    /// The agents with media, for the sweeper.
    pub fn agents(&self) -> &[Arc<MediaAgent>] {
        &self.agents
    }

    fn agent(&self, query: &Query) -> Result<Arc<MediaAgent>, GatewayError> {
        let matches = |name: &str, namespace: &str| {
            query.agent.as_deref().is_none_or(|a| a == name)
                && query.namespace.as_deref().is_none_or(|n| n == namespace)
        };
        let total = self.agents.len() + self.without.len();
        if query.agent.is_none() && total > 1 {
            return Err(GatewayError::AgentNotFound {
                detail: "this gateway serves several agents: say which with `?agent=NAME`"
                    .to_owned(),
            });
        }
        if let Some(agent) = self.agents.iter().find(|a| matches(&a.name, &a.namespace)) {
            return Ok(agent.clone());
        }
        if let Some((name, _)) = self.without.iter().find(|(n, ns)| matches(n, ns)) {
            return Err(GatewayError::MediaNotEnabled {
                agent: name.clone(),
            });
        }
        Err(GatewayError::AgentNotFound {
            detail: format!(
                "no agent named {:?} on this gateway",
                query.agent.as_deref().unwrap_or_default()
            ),
        })
    }

    async fn handle<B>(self, request: Request<B>) -> Result<Response<ResponseBody>, GatewayError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError> + std::fmt::Display,
    {
        let query = Query::parse(request.uri().query());
        let agent = self.agent(&query)?;
        let (parts, body) = request.into_parts();
        agent.auth.authenticate(&parts).await?;
        let path = parts.uri.path().to_owned();
        let route = path.strip_prefix(MEDIA_PREFIX).unwrap_or_default();
        let segments: Vec<&str> = route.split('/').collect();
        let method = parts.method.clone();
        let wrong_method = |allow: &'static str| GatewayError::MethodNotAllowed {
            method: method.to_string(),
            allow,
        };
        match segments.as_slice() {
            ["request-upload"] if method == Method::POST => {
                routes::request_upload(&agent, body).await
            }
            ["upload", id] if method == Method::PUT => {
                routes::upload(&agent, &parts, Box::pin(body), id).await
            }
            ["confirm-upload", id] if method == Method::POST => routes::confirm(&agent, id).await,
            ["info", session, media] if method == Method::GET => {
                routes::info(&agent, &reference(session, media)?).await
            }
            ["download", session, media] if method == Method::GET => {
                routes::download(&agent, &reference(session, media)?).await
            }
            ["request-upload"] | ["confirm-upload", _] => Err(wrong_method("POST")),
            ["upload", _] => Err(wrong_method("PUT")),
            ["info", _, _] | ["download", _, _] => Err(wrong_method("GET")),
            _ => Err(GatewayError::NotFound { path }),
        }
    }
}

fn reference(session: &str, media: &str) -> Result<MediaRef, GatewayError> {
    MediaRef::from_parts(session, media).ok_or_else(|| GatewayError::MediaNotFound {
        detail: "not a media path: /media/{info|download}/{session_id}/{media_id}".to_owned(),
    })
}

impl<B> Service<Request<B>> for MediaService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + std::fmt::Display,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move {
            Ok(service
                .handle(request)
                .await
                .unwrap_or_else(GatewayError::into_response))
        })
    }
}

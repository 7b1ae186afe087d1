//! Agent-mode agents: conversations over `Converse`.
//!
//! Each agent-mode AgentRuntime is compiled at start-up like a function (its pack's prompt, its
//! templates, its provider), plus the store its sessions' histories live in. One `Converse`
//! stream carries every turn of a session ([`stream`]); a stream per turn, as Omnia's facade
//! opens them, works too, since the history is in the store.

mod stream;

use std::sync::Arc;

use omnia_api::{Agent, SessionStore};

use crate::RuntimeOptions;
use crate::context::{ContextStore, LazyRedis, MemoryStore};
use crate::function::CompileError;
use crate::metrics::Meter;
use crate::pack::{self, Validators};
use crate::provider::{self, Parameters, Provider};
use crate::template::PromptTemplates;
use crate::tools::{self, Toolbox};

pub(crate) use stream::run;

/// What `omnia-runtime` serves for one agent-mode agent, for logs and listings: the same as for
/// a function.
pub type ConversationInfo = crate::FunctionInfo;

/// A compiled agent-mode agent.
pub(crate) struct Conversation {
    pub(crate) info: ConversationInfo,
    templates: PromptTemplates,
    parameters: Parameters,
    provider: Arc<dyn Provider>,
    pub(crate) tools: Toolbox,
    meter: Meter,
    validators: Validators,
    pub(crate) store: Arc<dyn ContextStore>,
}

/// The context store `spec.session` (or `spec.context`) asks for.
fn store(agent: &Agent, options: &RuntimeOptions) -> Result<Arc<dyn ContextStore>, CompileError> {
    let session = &agent.session;
    let limits = options.context_limits;
    match session.kind {
        SessionStore::Memory => Ok(Arc::new(MemoryStore::new(
            session.ttl,
            options.context_memory_bytes,
            limits,
        ))),
        SessionStore::Redis => {
            let secret = session.store_ref.clone().unwrap_or_default();
            match &session.store_url {
                Some(url) => Ok(Arc::new(LazyRedis::new(
                    url.clone(),
                    secret,
                    session.ttl,
                    limits,
                ))),
                None => Err(CompileError::Store(if secret.is_empty() {
                    "a redis context store needs `storeRef` naming the Secret that holds its URL"
                        .to_owned()
                } else {
                    format!("the Secret `{secret}` that should hold the Redis URL was not found")
                })),
            }
        }
        SessionStore::Postgres => Err(CompileError::Store(
            "a postgres context store is not supported by this build: use memory or redis"
                .to_owned(),
        )),
    }
}

impl Conversation {
    /// Validates the agent's pack, compiles its templates, builds its provider (the mock
    /// pausing `options.mock_stream_delay` between streamed words) and its context store.
    pub(crate) fn compile(agent: &Agent, options: &RuntimeOptions) -> Result<Self, CompileError> {
        let pack = pack::load(&agent.pack.document).map_err(|source| CompileError::Pack {
            pack: agent.pack.name.clone(),
            origin: agent.pack.origin.clone(),
            source,
        })?;
        let built = provider::build_with(
            &agent.provider,
            options.dev,
            None,
            options.mock_stream_delay,
        )?;
        let store = store(agent, options)?;
        let meter = Meter::new(
            &options.metrics,
            agent,
            &*built.provider,
            built.stand_in.is_some(),
        );
        let tools = Toolbox::new(
            pack.prompt.tools.clone(),
            pack.prompt.tool_policy.clone(),
            tools::executor_for(agent, options)?,
        );
        Ok(Self {
            info: ConversationInfo {
                name: agent.name.clone(),
                namespace: agent.namespace.clone(),
                pack: agent.pack.name.clone(),
                prompt: pack.prompt_key.clone(),
                provider: built.provider.name().to_owned(),
                stand_in: built.stand_in,
            },
            templates: PromptTemplates::compile(&pack),
            validators: pack.prompt.validators.clone(),
            parameters: pack.prompt.parameters.or(agent.provider.defaults.into()),
            provider: built.provider,
            tools,
            meter,
            store,
        })
    }

    /// Whether `session` has a history to resume.
    pub(crate) async fn has(&self, session: &str) -> Result<bool, crate::context::StoreError> {
        self.store.has(session).await
    }
}

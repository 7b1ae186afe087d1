//! Agent-mode agents: conversations over `Converse`.
//!
//! Each agent-mode AgentRuntime is compiled at start-up like a function (its pack's prompt, its
//! templates, its provider), plus the store its sessions' histories live in. One `Converse`
//! stream carries every turn of a session ([`stream`]); a stream per turn, as Omnia's facade
//! opens them, works too, since the history is in the store.

mod stream;

use std::sync::Arc;
use std::time::Duration;

use omnia_api::Agent;

use crate::context::{ContextStore, MemoryStore};
use crate::function::CompileError;
use crate::pack;
use crate::provider::{self, Parameters, Provider, StandIn};
use crate::template::PromptTemplates;

pub(crate) use stream::run;

/// What `omnia-runtime` serves for one agent-mode agent, for logs and listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationInfo {
    /// The AgentRuntime's `metadata.name`: what `x-omnia-agent-name` selects.
    pub name: String,
    pub namespace: String,
    pub pack: String,
    pub prompt: String,
    pub provider: String,
    /// Set when the mock provider answers in the Provider's place (dev mode only).
    pub stand_in: Option<StandIn>,
}

/// A compiled agent-mode agent.
pub(crate) struct Conversation {
    pub(crate) info: ConversationInfo,
    templates: PromptTemplates,
    parameters: Parameters,
    provider: Arc<dyn Provider>,
    store: Arc<dyn ContextStore>,
}

impl Conversation {
    /// Validates the agent's pack, compiles its templates, builds its provider (the mock
    /// pausing `stream_delay` between streamed words) and its in-memory context store.
    pub(crate) fn compile(
        agent: &Agent,
        dev: bool,
        stream_delay: Duration,
    ) -> Result<Self, CompileError> {
        let pack = pack::load(&agent.pack.document).map_err(|source| CompileError::Pack {
            pack: agent.pack.name.clone(),
            origin: agent.pack.origin.clone(),
            source,
        })?;
        let built = provider::build_with(&agent.provider, dev, None, stream_delay)?;
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
            parameters: pack.prompt.parameters.or(agent.provider.defaults.into()),
            provider: built.provider,
            store: Arc::new(MemoryStore::new(agent.session.ttl)),
        })
    }

    /// Whether `session` has a history to resume.
    pub(crate) async fn has(&self, session: &str) -> Result<bool, crate::context::StoreError> {
        self.store.has(session).await
    }
}

//! Resolution: each AgentRuntime with its references followed and its rules checked, producing
//! the plain values of [`crate::resolved`].

mod auth;
mod facade;
mod inert;
mod media;
mod pack;
mod provider;
mod tools;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::index::{Entry, Index, Key, Origin};
use crate::manifest::agent_runtime::{ModeName, OutputFormatName, SessionSpec, SessionStoreName};
use crate::manifest::{AgentRuntime, MetadataExt as _};
use crate::resolved::{
    Agent, Mode, Notice, OutputFormat, ResolvedConfig, Session, SessionStore, ToolRegistry,
};

/// The seed documents' default for `spec.session.ttl`.
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(60 * 60);
/// Omnia's CRD default for `spec.context.ttl`.
const DEFAULT_CONTEXT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The key tried when `session.storeRef` names no key.
const DEFAULT_STORE_KEY: &str = "url";

/// Resolves every AgentRuntime of `index`, in file order.
pub(crate) fn resolve(index: &Index) -> Result<ResolvedConfig, ConfigError> {
    let mut notices = index.notices.clone();
    let registries = tools::resolve_all(index)?;
    let mut agents = Vec::with_capacity(index.agents.len());
    for entry in &index.agents {
        agents.push(resolve_agent(entry, index, &registries, &mut notices)?);
        notices.extend(inert::notice(
            &entry.origin,
            &inert::agent_runtime(&entry.obj.spec),
        ));
    }
    for entry in index.providers.values() {
        notices.extend(inert::notice(
            &entry.origin,
            &inert::provider(&entry.obj.spec),
        ));
    }
    for entry in index.packs.values() {
        notices.extend(inert::notice(
            &entry.origin,
            &inert::prompt_pack(&entry.obj.spec),
        ));
    }
    for entry in index.tool_registries.values() {
        notices.extend(inert::notice(
            &entry.origin,
            &inert::tool_registry(&entry.obj),
        ));
    }
    Ok(ResolvedConfig { agents, notices })
}

fn resolve_agent(
    entry: &Entry<AgentRuntime>,
    index: &Index,
    registries: &BTreeMap<Key, ToolRegistry>,
    notices: &mut Vec<Notice>,
) -> Result<Agent, ConfigError> {
    let origin = &entry.origin;
    let agent = &*entry.obj;
    let spec = &agent.spec;
    let namespace = agent.metadata.namespace_or_default();
    let mode = match spec.mode {
        Some(ModeName::Function) => Mode::Function,
        Some(ModeName::Agent) | None => Mode::Agent,
    };
    let (facades, primary) = facade::resolve(origin, agent, mode)?;
    let facade = facades[primary].clone();
    check_schemas(origin, agent, mode)?;
    let output_format = resolve_output_format(origin, agent, mode)?;
    let pack = pack::resolve(origin, namespace, &spec.prompt_pack_ref, index)?;
    let providers = provider::resolve(entry, mode, facade.handler, index)?;
    let tools = spec
        .tool_registry_ref
        .as_ref()
        .map(|r| tools::by_reference(origin, namespace, r, registries))
        .transpose()?;
    let auth = auth::resolve(entry, index, notices)?;
    let session = resolve_session(origin, namespace, agent, index)?;
    let replicas = resolve_replicas(origin, agent)?;
    let media = media::resolve(
        origin,
        namespace,
        spec.media.as_ref(),
        index,
        &media::process_env,
    )?;
    Ok(Agent {
        name: agent.metadata.name_str().to_owned(),
        namespace: namespace.to_owned(),
        source: origin.file.clone(),
        mode,
        facade,
        facades,
        output_format,
        input_schema: spec.input_schema.clone(),
        output_schema: spec.output_schema.clone(),
        pack,
        provider: providers.default,
        providers: providers.named,
        auth,
        session,
        replicas,
        tools,
        media,
    })
}

/// `spec.outputFormat`: function mode only (Omnia's CEL rule), default `json_schema`.
fn resolve_output_format(
    origin: &Origin,
    agent: &AgentRuntime,
    mode: Mode,
) -> Result<Option<OutputFormat>, ConfigError> {
    match (mode, agent.spec.output_format) {
        (Mode::Agent, Some(_)) => Err(origin.error(
            "spec.outputFormat",
            "only allowed when spec.mode is function (this AgentRuntime is in agent mode)",
        )),
        (Mode::Agent, None) => Ok(None),
        (Mode::Function, format) => Ok(Some(match format {
            Some(OutputFormatName::JsonSchema) | None => OutputFormat::JsonSchema,
            Some(OutputFormatName::Json) => OutputFormat::Json,
            Some(OutputFormatName::Text) => OutputFormat::Text,
        })),
    }
}

/// The CRD's CEL rules on the schemas, and that each schema compiles.
fn check_schemas(origin: &Origin, agent: &AgentRuntime, mode: Mode) -> Result<(), ConfigError> {
    let schemas = [
        ("spec.inputSchema", agent.spec.input_schema.as_ref()),
        ("spec.outputSchema", agent.spec.output_schema.as_ref()),
    ];
    for (field, schema) in schemas {
        match (mode, schema) {
            (Mode::Function, None) => {
                return Err(origin.error(field, "required when spec.mode is function"));
            }
            (Mode::Agent, Some(_)) => {
                return Err(origin.error(
                    field,
                    "only allowed when spec.mode is function (this AgentRuntime is in agent mode)",
                ));
            }
            (Mode::Function, Some(schema)) => compile_schema(origin, field, schema)?,
            (Mode::Agent, None) => {}
        }
    }
    Ok(())
}

fn compile_schema(origin: &Origin, field: &str, schema: &Value) -> Result<(), ConfigError> {
    crate::json_schema_validator(schema).map(drop).map_err(|e| {
        let at = e.instance_path().as_str();
        let at = if at.is_empty() {
            String::new()
        } else {
            format!(" (at {at})")
        };
        origin.error(field, format!("not a valid JSON Schema: {e}{at}"))
    })
}

/// The seed's `spec.session` or Omnia's `spec.context` (one of them), each with its own default
/// TTL.
fn resolve_session(
    origin: &Origin,
    namespace: &str,
    agent: &AgentRuntime,
    index: &Index,
) -> Result<Session, ConfigError> {
    let (field, spec, default_ttl) = match (&agent.spec.session, &agent.spec.context) {
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "spec.context",
                "set only one of spec.session (seed shape) and spec.context (Omnia's shape)",
            ));
        }
        (Some(s), None) => ("spec.session", Some(s), DEFAULT_SESSION_TTL),
        (None, Some(c)) => ("spec.context", Some(c), DEFAULT_CONTEXT_TTL),
        (None, None) => ("spec.context", None, DEFAULT_CONTEXT_TTL),
    };
    resolve_store(origin, namespace, field, spec, default_ttl, index)
}

fn resolve_store(
    origin: &Origin,
    namespace: &str,
    field: &str,
    spec: Option<&SessionSpec>,
    default_ttl: Duration,
    index: &Index,
) -> Result<Session, ConfigError> {
    let kind = match spec.and_then(|s| s.kind) {
        Some(SessionStoreName::Memory) | None => SessionStore::Memory,
        Some(SessionStoreName::Redis) => SessionStore::Redis,
        Some(SessionStoreName::Postgres) => SessionStore::Postgres,
    };
    let ttl = match spec.and_then(|s| s.ttl.as_deref()) {
        Some(text) => parse_duration(text).map_err(|e| origin.error(format!("{field}.ttl"), e))?,
        None => default_ttl,
    };
    let store = spec.and_then(|s| s.store_ref.as_ref());
    let store_url = match store {
        Some(store) => {
            let secret = index
                .secrets
                .get(&(namespace.to_owned(), store.name.clone()));
            match secret {
                // A missing Secret is not an error: the gateway may take the URL from its
                // environment instead.
                None => None,
                Some(secret) => {
                    let keys = store_keys(store.key.as_deref(), &secret.obj.keys());
                    provider::first_value(secret, &keys)?
                }
            }
        }
        None => None,
    };
    Ok(Session {
        kind,
        ttl,
        store_ref: store.map(|s| s.name.clone()),
        store_url,
    })
}

/// The key named, else `url`, else the Secret's only key.
fn store_keys(named: Option<&str>, present: &[&str]) -> Vec<String> {
    match (named, present) {
        (Some(key), _) => vec![key.to_owned()],
        (None, [only]) => vec![DEFAULT_STORE_KEY.to_owned(), (*only).to_owned()],
        (None, _) => vec![DEFAULT_STORE_KEY.to_owned()],
    }
}

/// `spec.replicas` (reference-doc shape) or `spec.runtime.replicas` (Omnia), default 1.
fn resolve_replicas(origin: &Origin, agent: &AgentRuntime) -> Result<u32, ConfigError> {
    let top = agent.spec.replicas;
    let runtime = agent.spec.runtime.as_ref().and_then(|r| r.replicas);
    match (top, runtime) {
        (Some(a), Some(b)) if a != b => Err(origin.error(
            "spec.runtime.replicas",
            format!("{b} conflicts with spec.replicas ({a}): set one of them"),
        )),
        (Some(n), _) | (None, Some(n)) => Ok(n),
        (None, None) => Ok(1),
    }
}

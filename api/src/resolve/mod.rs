//! Resolution: each AgentRuntime with its references followed and its rules checked, producing
//! the plain values of [`crate::resolved`].

mod auth;
mod pack;
mod provider;

use std::time::Duration;

use serde_json::Value;

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::index::{Entry, Index, Origin};
use crate::manifest::AgentRuntime;
use crate::manifest::agent_runtime::{
    FacadeTypeName, HandlerName, ModeName, SessionSpec, SessionStoreName,
};
use crate::resolved::{
    Agent, Facade, FacadeType, Handler, Mode, ResolvedConfig, Session, SessionStore,
};

/// Omnia's CRD default for `spec.session.ttl`.
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Omnia's CRD default for `spec.facade.port`.
const DEFAULT_FACADE_PORT: u16 = 8080;
/// The key tried when `session.storeRef` names no key.
const DEFAULT_STORE_KEY: &str = "url";

/// Resolves every AgentRuntime of `index`, in file order.
pub(crate) fn resolve(index: &Index) -> Result<ResolvedConfig, ConfigError> {
    let agents = index
        .agents
        .iter()
        .map(|entry| resolve_agent(entry, index))
        .collect::<Result<_, _>>()?;
    Ok(ResolvedConfig { agents })
}

fn resolve_agent(entry: &Entry<AgentRuntime>, index: &Index) -> Result<Agent, ConfigError> {
    let origin = &entry.origin;
    let agent = &*entry.obj;
    let spec = &agent.spec;
    let namespace = agent.metadata.namespace();
    let mode = match spec.mode {
        Some(ModeName::Function) => Mode::Function,
        Some(ModeName::Agent) | None => Mode::Agent,
    };
    let facade = resolve_facade(origin, agent, mode)?;
    check_schemas(origin, agent, mode)?;
    let pack = pack::resolve(origin, namespace, &spec.prompt_pack_ref, index)?;
    let providers = provider::resolve(entry, mode, facade.handler, index)?;
    if let Some(tools) = &spec.tool_registry_ref {
        let ns = tools.namespace.as_deref().unwrap_or(namespace);
        if !index
            .tool_registries
            .contains_key(&(ns.to_owned(), tools.name.clone()))
        {
            return Err(origin.error(
                "spec.toolRegistryRef.name",
                format!(
                    "ToolRegistry `{}` not found in namespace `{ns}`",
                    tools.name
                ),
            ));
        }
    }
    let auth = auth::resolve(entry, index)?;
    let session = resolve_session(origin, namespace, spec.session.as_ref(), index)?;
    let replicas = resolve_replicas(origin, agent)?;
    Ok(Agent {
        name: agent.metadata.name.clone(),
        namespace: namespace.to_owned(),
        source: origin.file.clone(),
        mode,
        facade,
        input_schema: spec.input_schema.clone(),
        output_schema: spec.output_schema.clone(),
        pack,
        provider: providers.default,
        providers: providers.named,
        auth,
        session,
        replicas,
    })
}

/// `spec.facade`, with the CRD's rule that functions are not served over WebSocket.
fn resolve_facade(
    origin: &Origin,
    agent: &AgentRuntime,
    mode: Mode,
) -> Result<Facade, ConfigError> {
    let spec = agent.spec.facade.as_ref();
    // Omnia defaults the type to websocket, which function mode then rejects; defaulting a
    // function to grpc instead spares users a field that has only one valid value.
    let kind = match spec.and_then(|f| f.kind) {
        Some(FacadeTypeName::Websocket) => FacadeType::Websocket,
        Some(FacadeTypeName::Grpc) => FacadeType::Grpc,
        Some(FacadeTypeName::Rest) => FacadeType::Rest,
        Some(FacadeTypeName::A2a) => FacadeType::A2a,
        None if mode == Mode::Function => FacadeType::Grpc,
        None => FacadeType::Websocket,
    };
    if mode == Mode::Function && kind == FacadeType::Websocket {
        return Err(origin.error(
            "spec.facade.type",
            "function mode cannot use the websocket facade: use grpc (or rest)",
        ));
    }
    let port = spec.and_then(|f| f.port).unwrap_or(DEFAULT_FACADE_PORT);
    if port == 0 {
        return Err(origin.error("spec.facade.port", "must be between 1 and 65535"));
    }
    let handler = match spec.and_then(|f| f.handler) {
        Some(HandlerName::Runtime) | None => Handler::Runtime,
        Some(HandlerName::Demo) => Handler::Demo,
        Some(HandlerName::Echo) => Handler::Echo,
    };
    Ok(Facade {
        kind,
        port,
        handler,
    })
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
    jsonschema::validator_for(schema).map(drop).map_err(|e| {
        let at = e.instance_path().as_str();
        let at = if at.is_empty() {
            String::new()
        } else {
            format!(" (at {at})")
        };
        origin.error(field, format!("not a valid JSON Schema: {e}{at}"))
    })
}

fn resolve_session(
    origin: &Origin,
    namespace: &str,
    spec: Option<&SessionSpec>,
    index: &Index,
) -> Result<Session, ConfigError> {
    let kind = match spec.and_then(|s| s.kind) {
        Some(SessionStoreName::Memory) | None => SessionStore::Memory,
        Some(SessionStoreName::Redis) => SessionStore::Redis,
        Some(SessionStoreName::Postgres) => SessionStore::Postgres,
    };
    let ttl = match spec.and_then(|s| s.ttl.as_deref()) {
        Some(text) => parse_duration(text).map_err(|e| origin.error("spec.session.ttl", e))?,
        None => DEFAULT_SESSION_TTL,
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

//! `spec.facade` (the seed's one facade) and `spec.facades[]` (Omnia's list), resolved to the
//! same [`Facade`] values, with Omnia's CEL rules on which facades each mode allows.

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::index::Origin;
use crate::manifest::AgentRuntime;
use crate::manifest::agent_runtime::{FacadeSpec, FacadeTypeName, HandlerName};
use crate::resolved::{Facade, FacadeType, Handler, Mode};

/// Omnia's CRD default for a facade's `port`.
const DEFAULT_FACADE_PORT: u16 = 8080;
/// Omnia's default port of an `mcp` facade, which listens beside the function's own.
const DEFAULT_MCP_PORT: u16 = 9998;
/// Omnia's CRD limit on `spec.facades`.
const MAX_FACADES: usize = 4;

/// The agent's facades in manifest order, and the index of the one clients reach it through.
pub(super) fn resolve(
    origin: &Origin,
    agent: &AgentRuntime,
    mode: Mode,
) -> Result<(Vec<Facade>, usize), ConfigError> {
    let spec = &agent.spec;
    let facades = match (&spec.facade, &spec.facades) {
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "spec.facades",
                "set only one of spec.facade (one facade) and spec.facades (Omnia's list)",
            ));
        }
        (Some(one), None) => vec![single(origin, one, mode)?],
        (None, Some(list)) => listed(origin, list, mode)?,
        (None, None) => vec![default_facade(mode)],
    };
    let primary = primary(&facades, mode);
    Ok((facades, primary))
}

/// The seed's `spec.facade`. Omnia defaults the type to websocket, which function mode then
/// rejects; defaulting a function to its one valid type spares users a field.
fn single(origin: &Origin, spec: &FacadeSpec, mode: Mode) -> Result<Facade, ConfigError> {
    let kind = match spec.kind {
        Some(name) => kind_of(name),
        None if mode == Mode::Function => FacadeType::Function,
        None => FacadeType::Websocket,
    };
    let facade = facade(origin, "spec.facade", spec, kind)?;
    check_mode(origin, "spec.facade.type", kind, mode)?;
    Ok(facade)
}

/// Omnia's `spec.facades[]`: non-empty, at most four, one per type, and what the mode allows.
fn listed(origin: &Origin, list: &[FacadeSpec], mode: Mode) -> Result<Vec<Facade>, ConfigError> {
    if list.is_empty() {
        return Err(origin.error("spec.facades", "must hold at least one facade"));
    }
    if list.len() > MAX_FACADES {
        return Err(origin.error(
            "spec.facades",
            format!("at most {MAX_FACADES} facades, found {}", list.len()),
        ));
    }
    let mut facades: Vec<Facade> = Vec::with_capacity(list.len());
    for (i, spec) in list.iter().enumerate() {
        let at = format!("spec.facades[{i}]");
        // The CRD defaults a missing type to websocket, as an API server would.
        let kind = spec.kind.map_or(FacadeType::Websocket, kind_of);
        if facades.iter().any(|f| f.kind == kind) {
            return Err(origin.error(
                format!("{at}.type"),
                "spec.facades must not contain duplicate facade types",
            ));
        }
        check_mode(origin, &format!("{at}.type"), kind, mode)?;
        if kind == FacadeType::Custom && spec.image.as_deref().is_none_or(str::is_empty) {
            return Err(origin.error(
                format!("{at}.image"),
                "facade type 'custom' requires spec.facades[].image",
            ));
        }
        facades.push(facade(origin, &at, spec, kind)?);
    }
    if mode == Mode::Function && !facades.iter().any(|f| f.kind == FacadeType::Function) {
        return Err(origin.error(
            "spec.facades",
            "mode 'function' requires exactly one 'rest' facade",
        ));
    }
    Ok(facades)
}

/// Omnia's CEL rules: agents take connection facades, functions take rest (and mcp).
fn check_mode(
    origin: &Origin,
    field: &str,
    kind: FacadeType,
    mode: Mode,
) -> Result<(), ConfigError> {
    let allowed = match mode {
        Mode::Agent => matches!(
            kind,
            FacadeType::Websocket | FacadeType::A2a | FacadeType::Custom
        ),
        Mode::Function => matches!(kind, FacadeType::Function | FacadeType::Mcp),
    };
    if allowed {
        return Ok(());
    }
    Err(origin.error(
        field,
        match mode {
            Mode::Agent => "mode 'agent' allows only 'websocket', 'a2a' and 'custom' facades",
            Mode::Function => "mode 'function' allows only 'rest' (or 'grpc') and 'mcp' facades",
        },
    ))
}

fn facade(
    origin: &Origin,
    at: &str,
    spec: &FacadeSpec,
    kind: FacadeType,
) -> Result<Facade, ConfigError> {
    let port = spec.port.unwrap_or(match kind {
        FacadeType::Mcp => DEFAULT_MCP_PORT,
        _ => DEFAULT_FACADE_PORT,
    });
    if port == 0 {
        return Err(origin.error(format!("{at}.port"), "must be between 1 and 65535"));
    }
    let duration = |field: &str, text: Option<&str>| {
        text.map(|t| parse_duration(t).map_err(|e| origin.error(format!("{at}.{field}"), e)))
            .transpose()
    };
    Ok(Facade {
        kind,
        port,
        handler: match spec.handler {
            Some(HandlerName::Runtime) | None => Handler::Runtime,
            Some(HandlerName::Demo) => Handler::Demo,
            Some(HandlerName::Echo) => Handler::Echo,
        },
        drain_timeout: duration("drainTimeout", spec.drain_timeout.as_deref())?,
        client_tool_timeout: duration("clientToolTimeout", spec.client_tool_timeout.as_deref())?,
        management_plane: spec.management_plane.unwrap_or(true),
    })
}

fn default_facade(mode: Mode) -> Facade {
    Facade {
        kind: match mode {
            Mode::Function => FacadeType::Function,
            Mode::Agent => FacadeType::Websocket,
        },
        port: DEFAULT_FACADE_PORT,
        handler: Handler::Runtime,
        drain_timeout: None,
        client_tool_timeout: None,
        management_plane: true,
    }
}

/// `grpc` (seed) and `rest` (Omnia) are both the function-mode HTTP facade.
fn kind_of(name: FacadeTypeName) -> FacadeType {
    match name {
        FacadeTypeName::Grpc | FacadeTypeName::Rest => FacadeType::Function,
        FacadeTypeName::Websocket => FacadeType::Websocket,
        FacadeTypeName::A2a => FacadeType::A2a,
        FacadeTypeName::Mcp => FacadeType::Mcp,
        FacadeTypeName::Custom => FacadeType::Custom,
    }
}

/// The facade clients reach the agent through: the function facade, else websocket, a2a,
/// custom, in that order (validation guarantees one of them exists).
fn primary(facades: &[Facade], mode: Mode) -> usize {
    let order: &[FacadeType] = match mode {
        Mode::Function => &[FacadeType::Function],
        Mode::Agent => &[FacadeType::Websocket, FacadeType::A2a, FacadeType::Custom],
    };
    order
        .iter()
        .find_map(|kind| facades.iter().position(|f| f.kind == *kind))
        .unwrap_or(0)
}

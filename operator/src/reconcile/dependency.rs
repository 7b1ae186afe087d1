//! The status of what agents reference: a PromptPack is checked against the PromptPack schema,
//! a Provider and a ToolRegistry by the presence of the Secrets they name. A change to any of
//! them also re-reconciles the agents that reference them (the watches in `controller`).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use omnia_api::crd::{DependencyStatus, PromptPack, Provider, ToolRegistry};
use omnia_api::manifest::prompt_pack::PackSourceType;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::conditions::{Observed, merge};
use super::{Context, Error};

/// The PromptPack schema the runtime validates packs with (promptpack-spec, MIT; see
/// `runtime/schema/NOTICE`).
const PACK_SCHEMA: &str = include_str!("../../../runtime/schema/promptpack.schema.json");
/// The ConfigMap key the pack is under, else the ConfigMap's only key (as the loader reads it).
const PACK_KEY: &str = "pack.json";
const RESYNC: Duration = Duration::from_secs(300);

static PACK_VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(PACK_SCHEMA).map_err(|e| e.to_string())?;
    omnia_api::json_schema_validator(&schema).map_err(|e| e.to_string())
});

/// A PromptPack: `Active` when its pack is found and valid, else `Failed` with why.
///
/// # Errors
/// When the API server refuses a request or cannot be reached.
pub async fn reconcile_pack(pack: Arc<PromptPack>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = pack.namespace().unwrap_or_else(|| "default".to_owned());
    let source = &pack.spec.source;
    let document = match (source.kind, &source.config_map_ref, &source.inline) {
        (PackSourceType::Inline, _, Some(inline)) => Ok(inline.clone()),
        (PackSourceType::Inline, _, None) => {
            Err(("SourceMissing", "spec.source.inline is not set".to_owned()))
        }
        (PackSourceType::Configmap, None, _) => Err((
            "SourceMissing",
            "spec.source.configMapRef is not set".to_owned(),
        )),
        (PackSourceType::Configmap, Some(r), _) => {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
            match api.get_opt(&r.name).await? {
                None => Err((
                    "SourceNotFound",
                    format!(
                        "ConfigMap `{}` not found in namespace `{namespace}`",
                        r.name
                    ),
                )),
                Some(cm) => pack_text(&cm).map_err(|why| ("SourceInvalid", why)),
            }
        }
    };
    let verdict = document.and_then(|doc| check_pack(&doc).map_err(|why| ("SchemaInvalid", why)));
    let (phase, condition) = match verdict {
        Ok(()) => (
            "Active",
            Observed::yes(
                "Ready",
                "Valid",
                format!("version {} is valid", pack.spec.version),
            ),
        ),
        Err((reason, why)) => ("Failed", Observed::no("Ready", reason, why)),
    };
    let status = DependencyStatus {
        phase: Some(phase.to_owned()),
        active_version: (phase == "Active").then(|| pack.spec.version.clone()),
        ..DependencyStatus::default()
    };
    write(
        pack.as_ref(),
        pack.status.as_ref(),
        &ctx,
        status,
        &condition,
    )
    .await?;
    ctx.succeeded(&super::key(pack.as_ref()));
    Ok(Action::requeue(RESYNC))
}

/// The pack document a ConfigMap holds.
fn pack_text(cm: &ConfigMap) -> Result<Value, String> {
    let data = cm.data.clone().unwrap_or_default();
    let text = match data.get(PACK_KEY) {
        Some(text) => text,
        None if data.len() == 1 => data.values().next().map(String::as_str).unwrap_or_default(),
        None => {
            return Err(format!(
                "ConfigMap `{}` has no `{PACK_KEY}` key and {} keys: cannot tell which holds the pack",
                cm.name_any(),
                data.len()
            ));
        }
    };
    let parsed: Result<Value, String> = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("the pack is not valid JSON: {e}"))
    } else {
        serde_yaml_ng::from_str(text)
            .map_err(|e| format!("the pack is not valid JSON or YAML: {e}"))
    };
    parsed
}

/// Checks a pack document against the PromptPack schema; the first failures, with their paths.
pub fn check_pack(document: &Value) -> Result<(), String> {
    let validator = PACK_VALIDATOR
        .as_ref()
        .map_err(|e| format!("the PromptPack schema does not compile: {e}"))?;
    let failures: Vec<String> = validator
        .iter_errors(document)
        .take(5)
        .map(|e| {
            format!(
                "{}: {e}",
                if e.instance_path().as_str().is_empty() {
                    "/"
                } else {
                    e.instance_path().as_str()
                }
            )
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the pack does not match the PromptPack schema: {}",
            failures.join("; ")
        ))
    }
}

/// A Provider: `Ready` when the Secret its credential names exists (with the key, if one is
/// named), else `Error`.
///
/// # Errors
/// When the API server refuses a request or cannot be reached.
pub async fn reconcile_provider(
    provider: Arc<Provider>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let spec = &provider.spec;
    let reference = spec
        .credential
        .as_ref()
        .or(spec.credentials_ref.as_ref())
        .and_then(|c| c.secret_ref.as_ref())
        .or(spec.secret_ref.as_ref());
    let named = reference
        .map(|r| (r.name.clone(), r.key.clone()))
        .into_iter()
        .collect::<Vec<_>>();
    let condition = secrets_condition(provider.as_ref(), &ctx, &named, "credential").await?;
    let status = DependencyStatus {
        phase: Some(if condition.ok { "Ready" } else { "Error" }.to_owned()),
        ..DependencyStatus::default()
    };
    write(
        provider.as_ref(),
        provider.status.as_ref(),
        &ctx,
        status,
        &condition,
    )
    .await?;
    ctx.succeeded(&super::key(provider.as_ref()));
    Ok(Action::requeue(RESYNC))
}

/// A ToolRegistry: `Ready` when every Secret its handlers name exists with its key.
///
/// # Errors
/// When the API server refuses a request or cannot be reached.
pub async fn reconcile_tools(tools: Arc<ToolRegistry>, ctx: Arc<Context>) -> Result<Action, Error> {
    let named: Vec<(String, Option<String>)> = tools
        .spec
        .handlers
        .iter()
        .flat_map(|h| {
            let http = h
                .http_config
                .as_ref()
                .and_then(|c| c.auth_secret_ref.as_ref());
            let openapi = h
                .open_api_config
                .as_ref()
                .and_then(|c| c.auth_secret_ref.as_ref());
            http.into_iter().chain(openapi)
        })
        .map(|r| (r.name.clone(), Some(r.key.clone())))
        .collect();
    let condition = secrets_condition(tools.as_ref(), &ctx, &named, "handler auth").await?;
    let status = DependencyStatus {
        phase: Some(if condition.ok { "Ready" } else { "Error" }.to_owned()),
        ..DependencyStatus::default()
    };
    write(
        tools.as_ref(),
        tools.status.as_ref(),
        &ctx,
        status,
        &condition,
    )
    .await?;
    ctx.succeeded(&super::key(tools.as_ref()));
    Ok(Action::requeue(RESYNC))
}

/// `Ready` when each `(Secret, key)` exists in the object's namespace.
async fn secrets_condition<K: ResourceExt>(
    object: &K,
    ctx: &Context,
    named: &[(String, Option<String>)],
    what: &str,
) -> Result<Observed, Error> {
    let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    for (name, key) in named {
        let Some(secret) = api.get_opt(name).await? else {
            return Ok(Observed::no(
                "Ready",
                "SecretNotFound",
                format!("Secret `{name}` ({what}) not found in namespace `{namespace}`"),
            ));
        };
        if let Some(key) = key {
            let has = secret.data.as_ref().is_some_and(|d| d.contains_key(key))
                || secret
                    .string_data
                    .as_ref()
                    .is_some_and(|d| d.contains_key(key));
            if !has {
                return Ok(Observed::no(
                    "Ready",
                    "SecretKeyNotFound",
                    format!("Secret `{name}` ({what}) has no key `{key}`"),
                ));
            }
        }
    }
    Ok(if named.is_empty() {
        Observed::yes("Ready", "NoSecretNeeded", "names no Secret")
    } else {
        Observed::yes(
            "Ready",
            "SecretsFound",
            format!("{} Secret(s) present", named.len()),
        )
    })
}

/// Writes a dependency's status when it changed.
async fn write<K>(
    object: &K,
    previous: Option<&DependencyStatus>,
    ctx: &Context,
    mut status: DependencyStatus,
    condition: &Observed,
) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    status.observed_generation = object.meta().generation;
    let before = previous
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    status.conditions = merge(
        before,
        std::slice::from_ref(condition),
        status.observed_generation,
        &(ctx.now)(),
    );
    if previous == Some(&status) {
        return Ok(());
    }
    super::patch_status(ctx, object, &status).await
}

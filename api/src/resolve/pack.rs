//! AgentRuntime -> PromptPack -> ConfigMap -> pack JSON.

use serde_json::Value;

use crate::error::ConfigError;
use crate::index::{Index, Origin};
use crate::manifest::agent_runtime::PromptPackRef;
use crate::manifest::prompt_pack::PackSourceType;
use crate::manifest::{MetadataExt as _, json_type};
use crate::resolved::PackSource;

/// The ConfigMap key Omnia's operator writes the compiled pack under.
const PACK_KEY: &str = "pack.json";

/// Follows `spec.promptPackRef` of the agent at `origin` to the pack document.
pub(super) fn resolve(
    origin: &Origin,
    namespace: &str,
    reference: &PromptPackRef,
    index: &Index,
) -> Result<PackSource, ConfigError> {
    let ns = reference.namespace.as_deref().unwrap_or(namespace);
    let Some(entry) = index.packs.get(&(ns.to_owned(), reference.name.clone())) else {
        return Err(origin.error(
            "spec.promptPackRef.name",
            format!(
                "PromptPack `{}` not found in namespace `{ns}`",
                reference.name
            ),
        ));
    };
    let pack = &*entry.obj;
    if let Some(version) = &reference.version
        && *version != pack.spec.version
    {
        return Err(origin.error(
            "spec.promptPackRef.version",
            format!(
                "`{version}` does not match PromptPack `{}` version `{}`",
                reference.name, pack.spec.version
            ),
        ));
    }
    let source = &pack.spec.source;
    let (document, origin_text) = match source.kind {
        PackSourceType::Configmap => {
            if source.inline.is_some() {
                return Err(entry.origin.error(
                    "spec.source.inline",
                    "only allowed when spec.source.type is inline",
                ));
            }
            let Some(cm_ref) = &source.config_map_ref else {
                return Err(entry.origin.error(
                    "spec.source.configMapRef",
                    "required when spec.source.type is configmap",
                ));
            };
            from_config_map(&entry.origin, ns, &cm_ref.name, index)?
        }
        PackSourceType::Inline => {
            if source.config_map_ref.is_some() {
                return Err(entry.origin.error(
                    "spec.source.configMapRef",
                    "only allowed when spec.source.type is configmap",
                ));
            }
            let Some(inline) = &source.inline else {
                return Err(entry.origin.error(
                    "spec.source.inline",
                    "required when spec.source.type is inline",
                ));
            };
            if !inline.is_object() {
                return Err(entry.origin.error(
                    "spec.source.inline",
                    format!("the pack must be a mapping, found {}", json_type(inline)),
                ));
            }
            let text = format!(
                "{}: PromptPack {} spec.source.inline",
                entry.origin.file.display(),
                pack.metadata.name_str()
            );
            (inline.clone(), text)
        }
    };
    Ok(PackSource {
        name: pack.metadata.name_str().to_owned(),
        version: pack.spec.version.clone(),
        document,
        origin: origin_text,
    })
}

/// The pack held by ConfigMap `name` (key `pack.json`, else its only key), parsed.
fn from_config_map(
    pack_origin: &Origin,
    namespace: &str,
    name: &str,
    index: &Index,
) -> Result<(Value, String), ConfigError> {
    let Some(cm) = index
        .config_maps
        .get(&(namespace.to_owned(), name.to_owned()))
    else {
        return Err(pack_origin.error(
            "spec.source.configMapRef.name",
            format!("ConfigMap `{name}` not found in namespace `{namespace}`"),
        ));
    };
    let keys = cm.obj.keys();
    let key = match keys.as_slice() {
        _ if keys.contains(&PACK_KEY) => PACK_KEY,
        [only] => only,
        [] => return Err(cm.origin.error("data", "empty: no pack JSON")),
        many => {
            return Err(cm.origin.error(
                "data",
                format!(
                    "no `{PACK_KEY}` key and {} keys ({}): cannot tell which holds the pack",
                    many.len(),
                    many.join(", ")
                ),
            ));
        }
    };
    let text = cm
        .obj
        .get_text(key)
        .map_err(|e| cm.origin.field_error(e))?
        .unwrap_or_default();
    let document =
        parse_pack_text(&text).map_err(|reason| cm.origin.error(format!("data.{key}"), reason))?;
    let origin = format!("{}: ConfigMap {name} key {key}", cm.origin.file.display());
    Ok((document, origin))
}

/// Pack text is JSON as Omnia's operator writes it, or YAML as people write it. Text that starts
/// like JSON must be JSON: YAML would read a JSON typo such as `{"id": }` as valid flow syntax.
fn parse_pack_text(text: &str) -> Result<Value, String> {
    let value = if text.trim_start().starts_with(['{', '[']) {
        serde_json::from_str::<Value>(text)
            .map_err(|e| format!("the pack is not valid JSON: {e}"))?
    } else {
        serde_yaml_ng::from_str::<Value>(text)
            .map_err(|e| format!("the pack is not valid JSON or YAML: {e}"))?
    };
    if value.is_object() {
        Ok(value)
    } else {
        Err(format!(
            "the pack must be a JSON object, found {}",
            json_type(&value)
        ))
    }
}

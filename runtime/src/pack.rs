//! PromptPacks: validation against the PromptPack schema and the choice of the prompt a function
//! runs.
//!
//! The schema is embedded and compiled once per process. Omnia's own packs put `user_template` in
//! their prompts, a PromptKit extension the schema does not list (its prompts forbid additional
//! properties); that one field is accepted and kept, anything else the schema rejects is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use crate::provider::Parameters;

/// The PromptPack schema (promptpack-spec, MIT; see `schema/NOTICE`).
const SCHEMA: &str = include_str!("../schema/promptpack.schema.json");

/// The compiled schema, or why it did not compile (a broken build, reported instead of a panic).
static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| e.to_string())?;
    jsonschema::validator_for(&schema).map_err(|e| e.to_string())
});

/// The prompt key a function runs when the pack has several.
pub const DEFAULT_PROMPT: &str = "default";
/// The user template when a prompt has none: the request body as it came.
pub const DEFAULT_USER_TEMPLATE: &str = "{{input}}";
/// PromptKit's extension to the prompt object, accepted although the schema does not list it.
const USER_TEMPLATE: &str = "user_template";

/// A validated pack, reduced to what function mode runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pack {
    /// The pack's `id`.
    pub id: String,
    /// The pack's `version`.
    pub version: String,
    /// The key of the chosen prompt in `prompts`.
    pub prompt_key: String,
    /// The chosen prompt.
    pub prompt: Prompt,
    /// Pack-level fragments: name -> text.
    pub fragments: BTreeMap<String, String>,
}

/// The parts of a prompt function mode uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// `system_template`.
    pub system_template: String,
    /// `user_template`, [`DEFAULT_USER_TEMPLATE`] when absent.
    pub user_template: String,
    /// Declared variables.
    pub variables: Vec<Variable>,
    /// `parameters` (temperature, max_tokens, top_p).
    pub parameters: Parameters,
}

/// A declared template variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// The name used in `{{name}}`.
    pub name: String,
    /// Whether rendering fails when no value is found.
    pub required: bool,
    /// The value used when the input does not give one.
    pub default: Option<Value>,
}

/// Why a pack cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PackError {
    /// The pack does not match the PromptPack schema.
    #[error("the PromptPack does not match the PromptPack schema: {}", list(.0))]
    Invalid(Vec<Violation>),
    /// Several prompts, none called `default`.
    #[error(
        "the PromptPack has several prompts and none is called `default`, so function mode cannot \
         pick one; available: {}",
        .0.join(", ")
    )]
    AmbiguousPrompt(Vec<String>),
    /// A prompt's `user_template` is not a string.
    #[error("prompts.{0}.user_template must be a string")]
    UserTemplateNotString(String),
    /// The embedded schema itself failed to load: a broken build, not a broken pack.
    #[error("the embedded PromptPack schema failed to compile: {0}")]
    Schema(String),
}

/// One schema failure: where in the pack, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// JSON pointer into the pack (`""` is the document itself).
    pub pointer: String,
    /// The validator's message.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document root)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(Violation::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Validates a pack document and picks the prompt function mode runs: `default`, else the only
/// one.
pub fn load(document: &Value) -> Result<Pack, PackError> {
    let validator = VALIDATOR
        .as_ref()
        .map_err(|e| PackError::Schema(e.clone()))?;
    let user_templates = user_templates(document)?;
    let stripped = strip_user_templates(document, &user_templates);
    let checked = stripped.as_ref().unwrap_or(document);
    if !validator.is_valid(checked) {
        let violations = validator
            .iter_errors(checked)
            .map(|e| Violation {
                pointer: e.instance_path().as_str().to_owned(),
                message: e.to_string(),
            })
            .collect();
        return Err(PackError::Invalid(violations));
    }

    // The schema guarantees the shape from here on, so the typed view cannot disagree with it.
    let raw = RawPack::deserialize(checked).map_err(|e| {
        PackError::Invalid(vec![Violation {
            pointer: String::new(),
            message: e.to_string(),
        }])
    })?;
    let prompt_key = choose(&raw.prompts)?;
    let Some(prompt) = raw.prompts.get(&prompt_key) else {
        return Err(PackError::AmbiguousPrompt(
            raw.prompts.into_keys().collect(),
        ));
    };
    let user_template = user_templates
        .get(prompt_key.as_str())
        .map_or(DEFAULT_USER_TEMPLATE, |t| t)
        .to_owned();
    let prompt = Prompt {
        system_template: prompt.system_template.clone(),
        user_template,
        variables: prompt
            .variables
            .iter()
            .map(|v| Variable {
                name: v.name.clone(),
                required: v.required,
                default: v.default.clone(),
            })
            .collect(),
        parameters: Parameters {
            temperature: prompt.parameters.temperature,
            max_tokens: prompt
                .parameters
                .max_tokens
                .map(|t| u32::try_from(t).unwrap_or(u32::MAX)),
            top_p: prompt.parameters.top_p,
        },
    };
    Ok(Pack {
        id: raw.id,
        version: raw.version,
        prompt_key,
        prompt,
        fragments: raw.fragments,
    })
}

/// `default`, else the only prompt, else an error naming them all.
fn choose(prompts: &BTreeMap<String, RawPrompt>) -> Result<String, PackError> {
    if prompts.contains_key(DEFAULT_PROMPT) {
        return Ok(DEFAULT_PROMPT.to_owned());
    }
    let mut keys = prompts.keys();
    match (keys.next(), keys.next()) {
        (Some(only), None) => Ok(only.clone()),
        _ => Err(PackError::AmbiguousPrompt(
            prompts.keys().cloned().collect(),
        )),
    }
}

/// Each prompt's `user_template`, by prompt key.
fn user_templates(document: &Value) -> Result<BTreeMap<&str, &str>, PackError> {
    let mut found = BTreeMap::new();
    let prompts = document.get("prompts").and_then(Value::as_object);
    for (key, prompt) in prompts.into_iter().flatten() {
        match prompt.get(USER_TEMPLATE) {
            None => {}
            Some(Value::String(t)) => {
                found.insert(key.as_str(), t.as_str());
            }
            Some(_) => return Err(PackError::UserTemplateNotString(key.clone())),
        }
    }
    Ok(found)
}

/// A copy of the document without the `user_template` fields, or `None` when it has none (the
/// usual pack is validated as it is, without a copy).
fn strip_user_templates(document: &Value, found: &BTreeMap<&str, &str>) -> Option<Value> {
    if found.is_empty() {
        return None;
    }
    let mut copy = document.clone();
    if let Some(prompts) = copy.get_mut("prompts").and_then(Value::as_object_mut) {
        for prompt in prompts.values_mut() {
            if let Some(prompt) = prompt.as_object_mut() {
                prompt.remove(USER_TEMPLATE);
            }
        }
    }
    Some(copy)
}

#[derive(Deserialize)]
struct RawPack {
    id: String,
    version: String,
    prompts: BTreeMap<String, RawPrompt>,
    #[serde(default)]
    fragments: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawPrompt {
    system_template: String,
    #[serde(default)]
    variables: Vec<RawVariable>,
    #[serde(default)]
    parameters: RawParameters,
}

#[derive(Deserialize)]
struct RawVariable {
    name: String,
    required: bool,
    default: Option<Value>,
}

#[derive(Deserialize, Default)]
struct RawParameters {
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    top_p: Option<f64>,
}

#[cfg(test)]
mod tests;

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

use crate::provider::{Parameters, ToolChoice, ToolSpec};

mod checks;

pub use checks::{Blocked, Pattern, Validators, VariableRules};

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
    /// The pack-level definitions of the tools the prompt lists, less the blocklisted ones:
    /// what the model is offered.
    pub tools: Vec<ToolSpec>,
    /// `tool_policy`, with the schema's defaults.
    pub tool_policy: ToolPolicy,
    /// `validators`, the enabled ones, compiled.
    pub validators: Validators,
}

/// `tool_policy`: how the tool loop may run in one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolPolicy {
    /// `tool_choice`; `required` holds for a turn's first round only (the model could never
    /// answer otherwise).
    pub choice: ToolChoice,
    /// `max_rounds`: model -> tools -> model cycles per turn (default 5).
    pub max_rounds: u32,
    /// `max_tool_calls_per_turn` (default 10).
    pub max_calls_per_turn: u32,
    /// `blocklist`: tools the model is neither offered nor allowed to run.
    pub blocklist: Vec<String>,
}

impl Default for ToolPolicy {
    fn default() -> Self {
        ToolPolicy {
            choice: ToolChoice::Auto,
            max_rounds: 5,
            max_calls_per_turn: 10,
            blocklist: Vec::new(),
        }
    }
}

/// One enabled validator of the prompt (`validators[]`), as the pack gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatorSpec {
    /// `type`.
    pub kind: String,
    /// `message`: what the user is told when it blocks an answer.
    pub message: Option<String>,
    /// `fail_on_violation`: a violation fails the call; otherwise it is logged.
    pub fail_on_violation: bool,
    /// `params`.
    pub params: Value,
    /// Where it sits in the pack, for errors (`/prompts/default/validators/0`).
    pub pointer: String,
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
    /// `type` and `validation`, when the variable has a `validation` block (without one the
    /// value is not checked, as the input reaches the template as it is).
    pub rules: Option<VariableRules>,
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
            .enumerate()
            .map(|(i, v)| {
                let pointer = format!("/prompts/{prompt_key}/variables/{i}");
                let rules = v
                    .validation
                    .as_ref()
                    .map(|rules| VariableRules::compile(&v.kind, Some(rules), &pointer))
                    .transpose()
                    .map_err(|violation| PackError::Invalid(vec![violation]))?;
                Ok(Variable {
                    name: v.name.clone(),
                    required: v.required,
                    default: v.default.clone(),
                    rules,
                })
            })
            .collect::<Result<_, PackError>>()?,
        parameters: Parameters {
            temperature: prompt.parameters.temperature,
            max_tokens: prompt
                .parameters
                .max_tokens
                .map(|t| u32::try_from(t).unwrap_or(u32::MAX)),
            top_p: prompt.parameters.top_p,
        },
        tools: tools(&prompt_key, prompt, &raw.tools)?,
        tool_policy: policy(prompt.tool_policy.as_ref()),
        validators: Validators::compile(
            &prompt
                .validators
                .iter()
                .enumerate()
                .filter(|(_, v)| v.enabled)
                .map(|(i, v)| ValidatorSpec {
                    kind: v.kind.clone(),
                    message: v.message.clone(),
                    fail_on_violation: v.fail_on_violation,
                    params: v.params.clone(),
                    pointer: format!("/prompts/{prompt_key}/validators/{i}"),
                })
                .collect::<Vec<_>>(),
        )
        .map_err(|violation| PackError::Invalid(vec![violation]))?,
    };
    Ok(Pack {
        id: raw.id,
        version: raw.version,
        prompt_key,
        prompt,
        fragments: raw.fragments,
    })
}

/// The definitions of the tools `prompt` lists, in its order, less the blocklisted ones; a name
/// the pack does not define is an error at its JSON pointer.
fn tools(
    key: &str,
    prompt: &RawPrompt,
    defined: &BTreeMap<String, RawTool>,
) -> Result<Vec<ToolSpec>, PackError> {
    let blocked = prompt
        .tool_policy
        .as_ref()
        .map(|p| p.blocklist.as_slice())
        .unwrap_or_default();
    let mut specs = Vec::new();
    for (i, name) in prompt.tools.iter().enumerate() {
        let Some(tool) = defined.get(name) else {
            return Err(PackError::Invalid(vec![Violation {
                pointer: format!("/prompts/{key}/tools/{i}"),
                message: format!(
                    "the tool `{name}` is not defined in the pack's `tools` ({})",
                    if defined.is_empty() {
                        "it defines none".to_owned()
                    } else {
                        defined.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            }]));
        };
        if blocked.contains(name) {
            continue;
        }
        specs.push(ToolSpec {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters: tool
                .parameters
                .clone()
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        });
    }
    Ok(specs)
}

fn policy(raw: Option<&RawToolPolicy>) -> ToolPolicy {
    let defaults = ToolPolicy::default();
    let Some(raw) = raw else {
        return defaults;
    };
    let count =
        |n: Option<u64>, default: u32| n.map_or(default, |n| u32::try_from(n).unwrap_or(u32::MAX));
    ToolPolicy {
        choice: raw.tool_choice.unwrap_or_default(),
        max_rounds: count(raw.max_rounds, defaults.max_rounds),
        max_calls_per_turn: count(raw.max_tool_calls_per_turn, defaults.max_calls_per_turn),
        blocklist: raw.blocklist.clone(),
    }
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
    #[serde(default)]
    tools: BTreeMap<String, RawTool>,
}

#[derive(Deserialize)]
struct RawTool {
    name: String,
    description: String,
    parameters: Option<Value>,
}

#[derive(Deserialize)]
struct RawToolPolicy {
    tool_choice: Option<ToolChoice>,
    max_rounds: Option<u64>,
    max_tool_calls_per_turn: Option<u64>,
    #[serde(default)]
    blocklist: Vec<String>,
}

#[derive(Deserialize)]
struct RawValidator {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    message: Option<String>,
    #[serde(default)]
    fail_on_violation: bool,
    #[serde(default)]
    params: Value,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct RawPrompt {
    system_template: String,
    #[serde(default)]
    variables: Vec<RawVariable>,
    #[serde(default)]
    parameters: RawParameters,
    #[serde(default)]
    tools: Vec<String>,
    tool_policy: Option<RawToolPolicy>,
    #[serde(default)]
    validators: Vec<RawValidator>,
}

#[derive(Deserialize)]
struct RawVariable {
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    required: bool,
    default: Option<Value>,
    validation: Option<Value>,
}

#[derive(Deserialize, Default)]
struct RawParameters {
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    top_p: Option<f64>,
}

#[cfg(test)]
mod tests;

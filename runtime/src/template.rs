//! `{{variable}}` templates, compiled once at start-up into literal text and placeholders so a
//! request only copies text into one `String` per template.
//!
//! A placeholder's value, first found wins: `input` is the raw request JSON; any other name is
//! the input object's top-level field of that name (strings verbatim, anything else as compact
//! JSON), else the declared variable's default, else the pack fragment of that name (itself a
//! template). Unknown placeholders stay as written: the template may mean them for someone else.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::Range;

use serde_json::{Map, Value};

use crate::pack::{Pack, VariableRules};

/// The placeholder for the raw request body.
const INPUT: &str = "input";
/// How deep fragments may include fragments; deeper references (a cycle, most likely) stay as
/// written.
const MAX_FRAGMENT_DEPTH: usize = 8;

/// A prompt's system and user templates, ready to render per request.
#[derive(Debug, Clone)]
pub struct PromptTemplates {
    system: Template,
    user: Template,
    /// Required variables only the input can satisfy (no default, no fragment).
    required_fields: Vec<Box<str>>,
    /// Variables whose input value must pass their `validation`.
    checked_fields: Vec<(Box<str>, VariableRules)>,
    /// Whether rendering looks at the input's fields at all; when not, the input is never parsed.
    needs_fields: bool,
}

/// Both templates of a prompt, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The system prompt.
    pub system: String,
    /// The user message.
    pub user: String,
}

/// Why a prompt could not be rendered for a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `required: true` variable found no value.
    #[error(
        "the prompt requires variable `{0}`, but the input has no top-level field `{0}` and the \
         prompt declares no default for it"
    )]
    MissingVariable(String),
    /// An input field breaks its variable's `validation`.
    #[error("the input field `{name}` {reason}")]
    InvalidVariable {
        /// The variable.
        name: String,
        /// What is wrong with its value.
        reason: String,
    },
}

impl PromptTemplates {
    /// Compiles a pack's chosen prompt.
    pub fn compile(pack: &Pack) -> PromptTemplates {
        let defaults: HashMap<&str, Box<str>> = pack
            .prompt
            .variables
            .iter()
            .filter_map(|v| v.default.as_ref().map(|d| (v.name.as_str(), text_of(d))))
            .collect();
        let context = Context {
            defaults: &defaults,
            fragments: &pack.fragments,
        };
        let system = Template::compile(&pack.prompt.system_template, &context, 0);
        let user = Template::compile(&pack.prompt.user_template, &context, 0);
        let required_fields: Vec<Box<str>> = pack
            .prompt
            .variables
            .iter()
            .filter(|v| v.required && v.name != INPUT)
            .filter(|v| !defaults.contains_key(v.name.as_str()))
            .filter(|v| !pack.fragments.contains_key(&v.name))
            .map(|v| v.name.as_str().into())
            .collect();
        let checked_fields: Vec<(Box<str>, VariableRules)> = pack
            .prompt
            .variables
            .iter()
            .filter_map(|v| Some((v.name.as_str().into(), v.rules.clone()?)))
            .collect();
        let needs_fields = !required_fields.is_empty()
            || !checked_fields.is_empty()
            || system.uses_fields()
            || user.uses_fields();
        PromptTemplates {
            system,
            user,
            required_fields,
            checked_fields,
            needs_fields,
        }
    }

    /// Renders both templates for one request's input.
    pub fn render(&self, input: &[u8]) -> Result<Rendered, TemplateError> {
        // Valid UTF-8 (every JSON body) is borrowed, not copied.
        let text = String::from_utf8_lossy(input);
        // Input that is not a JSON object simply has no fields: the gateway owns validation.
        let parsed: Option<Value> = if self.needs_fields {
            serde_json::from_slice(input).ok()
        } else {
            None
        };
        let fields = parsed.as_ref().and_then(Value::as_object);
        if let Some(missing) = self
            .required_fields
            .iter()
            .find(|name| !fields.is_some_and(|f| f.contains_key(&***name)))
        {
            return Err(TemplateError::MissingVariable(missing.to_string()));
        }
        for (name, rules) in &self.checked_fields {
            if let Some(value) = fields.and_then(|f| f.get(&**name)) {
                rules
                    .check(value)
                    .map_err(|reason| TemplateError::InvalidVariable {
                        name: name.to_string(),
                        reason,
                    })?;
            }
        }
        let values = Values {
            input: &text,
            fields,
        };
        Ok(Rendered {
            system: self.system.render(&values),
            user: self.user.render(&values),
        })
    }
}

/// What a request offers placeholders.
struct Values<'a> {
    input: &'a str,
    fields: Option<&'a Map<String, Value>>,
}

/// What start-up offers placeholders.
struct Context<'a> {
    defaults: &'a HashMap<&'a str, Box<str>>,
    fragments: &'a BTreeMap<String, String>,
}

/// One template: its text and where the placeholders are.
#[derive(Debug, Clone)]
struct Template {
    source: Box<str>,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    /// Literal text: a range of `source`.
    Text(Range<usize>),
    /// `{{input}}`.
    Input,
    /// `{{name}}`: `name` and `raw` (the placeholder as written) are ranges of `source`.
    Named {
        name: Range<usize>,
        raw: Range<usize>,
        fallback: Fallback,
    },
}

/// What a named placeholder renders when the input has no such field.
#[derive(Debug, Clone)]
enum Fallback {
    /// Nothing: the placeholder stays as written.
    None,
    /// The declared default, already rendered as text.
    Default(Box<str>),
    /// A pack fragment.
    Fragment(Box<Template>),
}

impl Template {
    fn compile(source: &str, context: &Context<'_>, depth: usize) -> Template {
        let mut segments = Vec::new();
        let mut literal_start = 0;
        let mut pos = 0;
        while let Some(open) = source[pos..].find("{{").map(|i| pos + i) {
            let inner_start = open + 2;
            let Some(close) = source[inner_start..].find("}}").map(|i| inner_start + i) else {
                break;
            };
            let inner = &source[inner_start..close];
            let name = inner.trim();
            if !is_name(name) {
                // Not a placeholder (`{{{x}}}`, `{{#if}}`): keep the first brace as text and
                // look again from the next one.
                pos = open + 1;
                continue;
            }
            if literal_start < open {
                segments.push(Segment::Text(literal_start..open));
            }
            let name_start = inner_start + (inner.len() - inner.trim_start().len());
            segments.push(if name == INPUT {
                Segment::Input
            } else {
                Segment::Named {
                    name: name_start..name_start + name.len(),
                    raw: open..close + 2,
                    fallback: fallback(name, context, depth),
                }
            });
            pos = close + 2;
            literal_start = pos;
        }
        if literal_start < source.len() {
            segments.push(Segment::Text(literal_start..source.len()));
        }
        Template {
            source: source.into(),
            segments,
        }
    }

    fn uses_fields(&self) -> bool {
        self.segments.iter().any(|s| match s {
            Segment::Named { .. } => true,
            Segment::Text(_) | Segment::Input => false,
        })
    }

    fn render(&self, values: &Values<'_>) -> String {
        let mut out = String::with_capacity(self.source.len() + values.input.len());
        self.render_into(&mut out, values);
        out
    }

    fn render_into(&self, out: &mut String, values: &Values<'_>) {
        for segment in &self.segments {
            match segment {
                Segment::Text(range) => out.push_str(&self.source[range.clone()]),
                Segment::Input => out.push_str(values.input),
                Segment::Named {
                    name,
                    raw,
                    fallback,
                } => match values
                    .fields
                    .and_then(|f| f.get(&self.source[name.clone()]))
                {
                    Some(Value::String(s)) => out.push_str(s),
                    // `Value`'s Display is compact JSON; writing into a String cannot fail.
                    Some(other) => {
                        let _ = write!(out, "{other}");
                    }
                    None => match fallback {
                        Fallback::Default(text) => out.push_str(text),
                        Fallback::Fragment(template) => template.render_into(out, values),
                        Fallback::None => out.push_str(&self.source[raw.clone()]),
                    },
                },
            }
        }
    }
}

fn fallback(name: &str, context: &Context<'_>, depth: usize) -> Fallback {
    if let Some(default) = context.defaults.get(name) {
        return Fallback::Default(default.clone());
    }
    match context.fragments.get(name) {
        Some(text) if depth < MAX_FRAGMENT_DEPTH => {
            Fallback::Fragment(Box::new(Template::compile(text, context, depth + 1)))
        }
        _ => Fallback::None,
    }
}

/// Placeholder names: letters, digits, `_`, `-` and `.`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A JSON value as template text: strings verbatim, anything else as compact JSON.
fn text_of(value: &Value) -> Box<str> {
    match value {
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests;

//! The checks a PromptPack declares: `validation` rules on a prompt's variables (applied to the
//! input) and `validators` on what the model answers. Both are compiled when the pack loads, so
//! a bad pattern or a missing parameter fails start-up at its JSON pointer.

use regex::Regex;
use serde_json::Value;

use super::{ValidatorSpec, Violation};

/// A regular expression that compares by its source (for the pack's `PartialEq`).
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Pattern {
    fn compile(source: &str, pointer: String) -> Result<Pattern, Violation> {
        Regex::new(source).map(Pattern).map_err(|e| Violation {
            pointer,
            message: format!("not a valid regular expression: {e}"),
        })
    }
}

/// A variable's `type` and `validation`, checked against the input's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariableRules {
    /// `type`: string, number, boolean, object or array (others are not checked).
    pub kind: String,
    pub pattern: Option<Pattern>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// `enum`.
    pub allowed: Option<Vec<Value>>,
}

impl VariableRules {
    /// The rules of a variable of type `kind` with `validation` (at `pointer`).
    pub(super) fn compile(
        kind: &str,
        validation: Option<&Value>,
        pointer: &str,
    ) -> Result<VariableRules, Violation> {
        let get = |key: &str| validation.and_then(|v| v.get(key));
        let pattern = get("pattern")
            .and_then(Value::as_str)
            .map(|p| Pattern::compile(p, format!("{pointer}/validation/pattern")))
            .transpose()?;
        Ok(VariableRules {
            kind: kind.to_owned(),
            pattern,
            min_length: get("min_length").and_then(Value::as_u64),
            max_length: get("max_length").and_then(Value::as_u64),
            minimum: get("minimum").and_then(Value::as_f64),
            maximum: get("maximum").and_then(Value::as_f64),
            allowed: get("enum").and_then(Value::as_array).cloned(),
        })
    }

    /// Why `value` breaks the rules, if it does.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let type_ok = match self.kind.as_str() {
            "string" => value.is_string(),
            "number" | "integer" => value.is_number(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            _ => true,
        };
        if !type_ok {
            return Err(format!("must be of type {}", self.kind));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("must be one of {}", list.join(", ")));
        }
        if let Some(text) = value.as_str() {
            let chars = text.chars().count() as u64;
            if let Some(min) = self.min_length
                && chars < min
            {
                return Err(format!("must be at least {min} characters long"));
            }
            if let Some(max) = self.max_length
                && chars > max
            {
                return Err(format!("must be at most {max} characters long"));
            }
            if let Some(Pattern(pattern)) = &self.pattern
                && !pattern.is_match(text)
            {
                return Err(format!("must match the pattern {}", pattern.as_str()));
            }
        }
        if let Some(number) = value.as_f64() {
            if let Some(min) = self.minimum
                && number < min
            {
                return Err(format!("must be at least {min}"));
            }
            if let Some(max) = self.maximum
                && number > max
            {
                return Err(format!("must be at most {max}"));
            }
        }
        Ok(())
    }
}

/// A prompt's output validators, compiled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq)]
struct Check {
    kind: String,
    rule: Rule,
    /// The user-facing message of a blocked answer.
    message: Option<String>,
    fail: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    /// None of these words, case-insensitively, as whole words.
    BannedWords(Vec<String>),
    /// At most this many characters, or (estimated at four bytes each) tokens.
    MaxLength {
        chars: Option<u64>,
        tokens: Option<u64>,
    },
    MinLength(u64),
    MaxSentences(u64),
    /// The answer must match.
    RegexMatch(Pattern),
    /// The answer is a JSON object with these fields.
    RequiredFields(Vec<String>),
}

/// An answer a validator refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer failed the `{kind}` validator: {message}")]
pub struct Blocked {
    /// The validator's `type`.
    pub kind: String,
    /// Its `message`, else what was wrong.
    pub message: String,
}

/// Validator types this runtime runs.
const KNOWN: &[&str] = &[
    "banned_words",
    "max_length",
    "min_length",
    "max_sentences",
    "regex_match",
    "required_fields",
];

impl Validators {
    /// Compiles a prompt's enabled validators. A type this runtime does not run is skipped
    /// with a warning, unless it must fail on violation: then the pack is refused, since its
    /// guardrail would silently be gone.
    pub(super) fn compile(specs: &[ValidatorSpec]) -> Result<Validators, Violation> {
        let mut checks = Vec::new();
        for spec in specs {
            let param = |key: &str| spec.params.get(key);
            let number = |keys: &[&str]| keys.iter().find_map(|k| param(k).and_then(Value::as_u64));
            let missing = |what: &str| Violation {
                pointer: format!("{}/params", spec.pointer),
                message: format!("the `{}` validator needs {what}", spec.kind),
            };
            let rule = match spec.kind.as_str() {
                "banned_words" => Rule::BannedWords(
                    param("words")
                        .and_then(Value::as_array)
                        .ok_or_else(|| missing("`words`, a list of strings"))?
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_lowercase)
                        .collect(),
                ),
                "max_length" => {
                    let chars = number(&["max_characters", "max_chars", "max"]);
                    let tokens = number(&["max_tokens"]);
                    if chars.is_none() && tokens.is_none() {
                        return Err(missing("`max_characters` or `max_tokens`"));
                    }
                    Rule::MaxLength { chars, tokens }
                }
                "min_length" => Rule::MinLength(
                    number(&["min_characters", "min_chars", "min"])
                        .ok_or_else(|| missing("`min_characters`"))?,
                ),
                "max_sentences" => Rule::MaxSentences(
                    number(&["max_sentences", "max"]).ok_or_else(|| missing("`max_sentences`"))?,
                ),
                "regex_match" => {
                    let source = param("pattern")
                        .and_then(Value::as_str)
                        .ok_or_else(|| missing("`pattern`"))?;
                    Rule::RegexMatch(Pattern::compile(
                        source,
                        format!("{}/params/pattern", spec.pointer),
                    )?)
                }
                "required_fields" => Rule::RequiredFields(
                    param("required_fields")
                        .or_else(|| param("fields"))
                        .and_then(Value::as_array)
                        .ok_or_else(|| missing("`required_fields`, a list of names"))?
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                ),
                other if spec.fail_on_violation => {
                    return Err(Violation {
                        pointer: format!("{}/type", spec.pointer),
                        message: format!(
                            "this runtime has no `{other}` validator (it runs {}), and \
                             fail_on_violation is set",
                            KNOWN.join(", ")
                        ),
                    });
                }
                other => {
                    tracing::warn!(
                        validator = other,
                        at = %spec.pointer,
                        "this runtime has no such validator; it is not applied"
                    );
                    continue;
                }
            };
            checks.push(Check {
                kind: spec.kind.clone(),
                rule,
                message: spec.message.clone(),
                fail: spec.fail_on_violation,
            });
        }
        Ok(Validators { checks })
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Checks an answer: the first failing validator that must fail blocks it; the others'
    /// violations are logged for `agent`.
    pub fn check(&self, agent: &str, answer: &str) -> Result<(), Blocked> {
        for check in &self.checks {
            let Some(problem) = check.rule.violation(answer) else {
                continue;
            };
            if check.fail {
                return Err(Blocked {
                    kind: check.kind.clone(),
                    message: check.message.clone().unwrap_or(problem),
                });
            }
            tracing::info!(agent, validator = %check.kind, %problem, "validator violation (allowed)");
        }
        Ok(())
    }
}

impl Rule {
    fn violation(&self, answer: &str) -> Option<String> {
        match self {
            Rule::BannedWords(words) => {
                let lower = answer.to_lowercase();
                let said: Vec<&str> = lower
                    .split(|c: char| !c.is_alphanumeric() && c != '\'')
                    .collect();
                words
                    .iter()
                    .find(|w| {
                        if w.contains(' ') {
                            lower.contains(w.as_str())
                        } else {
                            said.contains(&w.as_str())
                        }
                    })
                    .map(|w| format!("it contains the banned word `{w}`"))
            }
            Rule::MaxLength { chars, tokens } => {
                let count = answer.chars().count() as u64;
                if let Some(max) = chars
                    && count > *max
                {
                    return Some(format!("it has {count} characters, more than {max}"));
                }
                let estimate = (answer.len() as u64).div_ceil(4);
                match tokens {
                    Some(max) if estimate > *max => {
                        Some(format!("it has about {estimate} tokens, more than {max}"))
                    }
                    _ => None,
                }
            }
            Rule::MinLength(min) => {
                let count = answer.chars().count() as u64;
                (count < *min).then(|| format!("it has {count} characters, fewer than {min}"))
            }
            Rule::MaxSentences(max) => {
                let count = sentences(answer);
                (count > *max).then(|| format!("it has {count} sentences, more than {max}"))
            }
            Rule::RegexMatch(Pattern(regex)) => (!regex.is_match(answer))
                .then(|| format!("it does not match the pattern {}", regex.as_str())),
            Rule::RequiredFields(fields) => {
                let value: Option<Value> = serde_json::from_str(answer).ok();
                let object = value.as_ref().and_then(Value::as_object);
                fields
                    .iter()
                    .find(|f| !object.is_some_and(|o| o.contains_key(f.as_str())))
                    .map(|f| format!("it has no field `{f}`"))
            }
        }
    }
}

/// Sentences: runs of text ended by `.`, `!` or `?` (or by the end of the text).
fn sentences(text: &str) -> u64 {
    text.split(['.', '!', '?'])
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(kind: &str, params: Value, fail: bool) -> ValidatorSpec {
        ValidatorSpec {
            kind: kind.into(),
            message: None,
            fail_on_violation: fail,
            params,
            pointer: "/prompts/default/validators/0".into(),
        }
    }

    fn blocked(kind: &str, params: Value, answer: &str) -> Option<String> {
        let validators = Validators::compile(&[spec(kind, params, true)]).unwrap();
        validators.check("a", answer).err().map(|b| b.message)
    }

    #[test]
    fn each_validator_blocks_what_it_should_and_passes_the_rest() {
        let words = json!({"words": ["darn", "heck no"]});
        assert!(blocked("banned_words", words.clone(), "Well, DARN it.").is_some());
        assert!(blocked("banned_words", words.clone(), "heck no, I won't").is_some());
        assert!(blocked("banned_words", words, "darnation is fine").is_none());
        assert!(blocked("max_length", json!({"max_characters": 5}), "héllo").is_none());
        assert!(blocked("max_length", json!({"max_characters": 5}), "hello!").is_some());
        assert!(blocked("max_length", json!({"max_tokens": 2}), "123456789").is_some());
        assert!(blocked("min_length", json!({"min_characters": 3}), "hi").is_some());
        assert!(
            blocked(
                "max_sentences",
                json!({"max_sentences": 2}),
                "One. Two! Three?"
            )
            .is_some()
        );
        assert!(blocked("max_sentences", json!({"max_sentences": 2}), "One. Two...").is_none());
        assert!(blocked("regex_match", json!({"pattern": "^\\{"}), "{}").is_none());
        assert!(blocked("regex_match", json!({"pattern": "^\\{"}), "no").is_some());
        let fields = json!({"required_fields": ["a"]});
        assert!(blocked("required_fields", fields.clone(), r#"{"a":1}"#).is_none());
        assert!(blocked("required_fields", fields, r#"{"b":1}"#).is_some());
    }

    #[test]
    fn the_validators_message_is_what_the_user_is_told() {
        let mut spec = spec("min_length", json!({"min": 10}), true);
        spec.message = Some("Too short".into());
        let validators = Validators::compile(&[spec]).unwrap();
        let err = validators.check("a", "short").unwrap_err();
        assert_eq!(err.message, "Too short");
        assert_eq!(
            err.to_string(),
            "the answer failed the `min_length` validator: Too short"
        );
    }

    #[test]
    fn a_violation_without_fail_on_violation_is_allowed() {
        let validators =
            Validators::compile(&[spec("min_length", json!({"min": 10}), false)]).unwrap();
        assert_eq!(validators.check("a", "short"), Ok(()));
    }

    #[test]
    fn bad_validators_fail_at_their_pointer() {
        let err =
            Validators::compile(&[spec("regex_match", json!({"pattern": "("}), true)]).unwrap_err();
        assert_eq!(err.pointer, "/prompts/default/validators/0/params/pattern");
        let err = Validators::compile(&[spec("max_length", json!({}), false)]).unwrap_err();
        assert_eq!(err.pointer, "/prompts/default/validators/0/params");
        let err = Validators::compile(&[spec("sentiment", json!({}), true)]).unwrap_err();
        assert!(
            err.message.contains("no `sentiment` validator"),
            "{}",
            err.message
        );
        // Not required to hold: skipped, with a warning.
        assert!(
            Validators::compile(&[spec("sentiment", json!({}), false)])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn variable_rules_check_type_enum_length_pattern_and_range() {
        let rules = VariableRules::compile(
            "string",
            Some(&json!({"pattern": "^[a-z]+$", "min_length": 2, "max_length": 4})),
            "/prompts/default/variables/0",
        )
        .unwrap();
        assert_eq!(rules.check(&json!("abc")), Ok(()));
        assert!(rules.check(&json!("a")).unwrap_err().contains("at least 2"));
        assert!(
            rules
                .check(&json!("abcde"))
                .unwrap_err()
                .contains("at most 4")
        );
        assert!(rules.check(&json!("AB")).unwrap_err().contains("pattern"));
        assert!(rules.check(&json!(5)).unwrap_err().contains("type string"));
        let number = VariableRules::compile(
            "number",
            Some(&json!({"minimum": 1, "maximum": 10, "enum": [1, 5, 20]})),
            "/p",
        )
        .unwrap();
        assert_eq!(number.check(&json!(5)), Ok(()));
        assert!(number.check(&json!(2)).unwrap_err().contains("one of"));
        assert!(number.check(&json!(20)).unwrap_err().contains("at most 10"));
        let err =
            VariableRules::compile("string", Some(&json!({"pattern": "["})), "/p").unwrap_err();
        assert_eq!(err.pointer, "/p/validation/pattern");
    }
}

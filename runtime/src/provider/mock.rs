//! The mock provider: deterministic answers from `spec.mock.scenarios`, else an answer
//! synthesised from the function's output schema, so every function runs with no API key.

use std::time::Duration;

use futures_util::future::BoxFuture;
use omnia_api::{MockScenario, Pricing};
use omnia_proto::Utf8Bytes;
use serde_json::Value;

use super::{
    ChatEnd, ChatRequest, Completion, CompletionRequest, Deltas, FinishReason, Provider,
    ProviderError, Usage, mock_chat, synthesize,
};

/// The answer when no scenario matches and the function declares no output schema.
const DEFAULT_ANSWER: &str = r#"{"response":"mock response"}"#;

/// How many of the synthesised answer's schema failures a start-up error quotes.
const QUOTED_FAILURES: usize = 3;

/// Answers from scenarios (first match wins), else from the output schema, else with
/// `{"response": "mock response"}`.
#[derive(Debug, Clone)]
pub struct MockProvider {
    name: String,
    scenarios: Vec<Scenario>,
    /// The answer when no scenario matches: synthesised from the output schema and checked
    /// against it once, at start-up, then shared by every call.
    fallback: Utf8Bytes,
    pricing: Pricing,
    /// Between the words of a streamed conversation answer.
    stream_delay: Duration,
}

/// One scenario, prepared at start-up.
#[derive(Debug, Clone)]
struct Scenario {
    when: Option<Value>,
    output: Value,
    /// The serialised output when it has no `{{input...}}` reference: the common case answers
    /// with a shared buffer and serialises nothing per call.
    fixed: Option<Utf8Bytes>,
}

impl MockProvider {
    /// A mock provider named after its Provider resource, answering for a function whose
    /// `outputSchema` is `output_schema`.
    ///
    /// Unless a scenario without `when` answers every input, some inputs get the answer
    /// synthesised from `output_schema`; it is built here and must pass that schema, so a schema
    /// the synthesiser cannot satisfy (a `pattern`, a `not`, ...) fails start-up instead of
    /// failing calls with `output_invalid`.
    pub fn new(
        name: String,
        scenarios: &[MockScenario],
        pricing: Pricing,
        output_schema: Option<&Value>,
    ) -> Result<Self, ProviderError> {
        let catch_all = scenarios.iter().any(|s| s.when.is_none());
        let fallback = match output_schema {
            Some(schema) if !catch_all => synthesize_checked(&name, schema)?,
            _ => Utf8Bytes::from_static(DEFAULT_ANSWER),
        };
        let scenarios = scenarios
            .iter()
            .map(|s| Scenario {
                when: s.when.clone(),
                fixed: (!references_input(&s.output))
                    .then(|| serde_json::to_string(&s.output).ok().map(Utf8Bytes::from))
                    .flatten(),
                output: s.output.clone(),
            })
            .collect();
        Ok(MockProvider {
            name,
            scenarios,
            fallback,
            pricing,
            stream_delay: Duration::ZERO,
        })
    }

    /// This provider, pausing `delay` between the words it streams in a conversation.
    pub fn with_stream_delay(mut self, delay: Duration) -> Self {
        self.stream_delay = delay;
        self
    }

    /// The answer for one call.
    fn answer(&self, request: &CompletionRequest<'_>) -> Result<Utf8Bytes, ProviderError> {
        // Parse the input only when a scenario needs to look at it.
        let needs_input = self
            .scenarios
            .iter()
            .any(|s| s.when.is_some() || s.fixed.is_none());
        let input = if needs_input {
            parse_input(request.input_json.as_bytes())
        } else {
            Value::Null
        };
        let matched = self.scenarios.iter().find(|s| match &s.when {
            None => true,
            Some(when) => contains(&input, when),
        });
        let value = match matched {
            Some(Scenario {
                fixed: Some(bytes), ..
            }) => return Ok(bytes.clone()),
            Some(scenario) => substitute(&scenario.output, &input),
            None => return Ok(self.fallback.clone()),
        };
        serde_json::to_string(&value)
            .map(Utf8Bytes::from)
            .map_err(|e| ProviderError::Failed {
                provider: self.name.clone(),
                message: format!("could not serialise the mock answer: {e}"),
            })
    }
}

impl Provider for MockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: ChatRequest<'a>,
        deltas: Deltas,
    ) -> BoxFuture<'a, Result<ChatEnd, ProviderError>> {
        Box::pin(async move {
            let usage =
                |answer: usize| Usage::estimate(request.prompt_bytes(), answer, self.pricing);
            let text = match mock_chat::answer(
                self.scenarios.iter().map(|s| (s.when.as_ref(), &s.output)),
                &request,
            ) {
                mock_chat::Answer::Text(text) => text,
                mock_chat::Answer::ToolCalls(calls) => {
                    let used = usage(calls.iter().map(|c| c.arguments_json.len()).sum());
                    return Ok(ChatEnd {
                        text: String::new(),
                        tool_calls: calls,
                        finish: FinishReason::ToolCalls,
                        usage: used,
                    });
                }
            };
            for piece in mock_chat::words(&text) {
                if deltas
                    .send(Utf8Bytes::from(piece.to_owned()))
                    .await
                    .is_err()
                {
                    break;
                }
                if !self.stream_delay.is_zero() {
                    tokio::time::sleep(self.stream_delay).await;
                }
            }
            Ok(ChatEnd {
                usage: usage(text.len()),
                text,
                tool_calls: Vec::new(),
                finish: FinishReason::Stop,
            })
        })
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        let result = self.answer(&request).map(|content| Completion {
            tool_calls: Vec::new(),
            usage: Usage::estimate(
                request.system.len() + request.user.len(),
                content.len(),
                self.pricing,
            ),
            content,
        });
        Box::pin(std::future::ready(result))
    }
}

/// The answer synthesised from `schema`, serialised, after checking that it passes `schema` with
/// the same options the gateway validates outputs with.
fn synthesize_checked(provider: &str, schema: &Value) -> Result<Utf8Bytes, ProviderError> {
    let unsatisfiable = |reason: String| ProviderError::UnsatisfiableSchema {
        provider: provider.to_owned(),
        reason,
    };
    let validator = omnia_api::json_schema_validator(schema)
        .map_err(|e| unsatisfiable(format!("the outputSchema does not compile: {e}")))?;
    let answer = synthesize(schema);
    let failures: Vec<String> = validator
        .iter_errors(&answer)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/" } else { &at })
        })
        .collect();
    if !failures.is_empty() {
        let mut reason = format!("it synthesised {answer}, which fails it at ");
        reason.push_str(&failures[..failures.len().min(QUOTED_FAILURES)].join("; "));
        if failures.len() > QUOTED_FAILURES {
            reason.push_str(&format!(" (and {} more)", failures.len() - QUOTED_FAILURES));
        }
        return Err(unsatisfiable(reason));
    }
    serde_json::to_string(&answer)
        .map(Utf8Bytes::from)
        .map_err(|e| unsatisfiable(format!("the synthesised answer does not serialise: {e}")))
}

/// The input as JSON; input that is not JSON is matched and substituted as one string, so a
/// scenario can still echo it.
fn parse_input(input: &[u8]) -> Value {
    serde_json::from_slice(input)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(input).into_owned()))
}

/// Whether `input` contains `when`: objects by subset (every key of `when` present in `input`
/// with a matching value), arrays element by element, numbers by value, the rest by equality.
pub(crate) fn contains(input: &Value, when: &Value) -> bool {
    match (when, input) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(key, w)| have.get(key).is_some_and(|h| contains(h, w))),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| contains(h, w))
        }
        // 1 and 1.0 are the same number to anyone writing a scenario by hand.
        (Value::Number(w), Value::Number(h)) => w == h || w.as_f64() == h.as_f64(),
        _ => when == input,
    }
}

/// `output` with every string of the exact form `{{input}}` / `{{input.a.b}}` replaced by the
/// input's value at that path (JSON null where the path does not exist).
pub(crate) fn substitute(output: &Value, input: &Value) -> Value {
    match output {
        Value::String(s) => match input_path(s) {
            Some(path) => lookup(input, path).cloned().unwrap_or(Value::Null),
            None => output.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, input)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, input)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether any string in `output` is an input reference.
fn references_input(output: &Value) -> bool {
    match output {
        Value::String(s) => input_path(s).is_some(),
        Value::Array(items) => items.iter().any(references_input),
        Value::Object(map) => map.values().any(references_input),
        _ => false,
    }
}

/// For `{{input}}` the empty path, for `{{ input.a.b }}` the path `a.b`; `None` for any other
/// string.
fn input_path(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let rest = inner.strip_prefix("input")?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('.').filter(|p| !p.is_empty())
    }
}

/// The value at a dotted path; numeric segments index arrays.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

//! LLM providers: the [`Provider`] trait, its request and answer types, and [`build`], which turns
//! a resolved `Provider` resource into something the runtime can call.
//!
//! Two providers need no network: [`EchoProvider`] (output = input, for load tests and wiring
//! checks) and [`MockProvider`] (deterministic answers, for dev mode and tests). The LLM APIs
//! (OpenAI's Chat Completions and the servers that speak it, Anthropic's Messages, Gemini's
//! generateContent) share [`http`]'s client, timeouts and retries.

mod anthropic;
mod chat;
mod echo;
mod gemini;
mod http;
mod llm;
mod mock;
mod mock_chat;
mod openai;
mod price;
mod remote;
// Also the legacy MCP SSE transport's decoder (tools/mcp/sse.rs).
pub(crate) mod sse;
mod synth;
mod traced;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use omnia_api::ProviderType;
use omnia_proto::Utf8Bytes;
use serde_json::Value;

pub use chat::{
    ChatEnd, ChatMessage, ChatRequest, Deltas, FinishReason, Output, Stopped, ToolCallRequest,
    ToolChoice, ToolOutcome, ToolSpec,
};
pub use echo::EchoProvider;
pub use mock::MockProvider;
pub use price::{Rates, rates};
pub use synth::synthesize;

/// Something that turns a rendered prompt into an answer.
///
/// `complete` answers a function call in one piece. `chat` answers a conversation's turn,
/// streaming its pieces into `deltas`; its default sends the user's latest words through
/// `complete` and streams the answer as one piece, so a provider that cannot stream still
/// converses.
pub trait Provider: Send + Sync + 'static {
    /// The Provider resource this was built from, for logs and error messages.
    fn name(&self) -> &str;

    /// The model asked for, for metrics and traces; empty for providers without one.
    fn model(&self) -> &str {
        ""
    }

    /// Answers one rendered prompt.
    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;

    /// Answers one round of a conversation.
    fn chat<'a>(
        &'a self,
        request: ChatRequest<'a>,
        deltas: Deltas,
    ) -> BoxFuture<'a, Result<ChatEnd, ProviderError>> {
        Box::pin(async move {
            let said = Utf8Bytes::from(request.last_user_text().to_owned());
            let completion = self
                .complete(CompletionRequest {
                    system: request.system,
                    user: said.as_str(),
                    input_json: &said,
                    output: request.output,
                    parameters: request.parameters,
                    rounds: &[],
                    tools: &[],
                    tool_choice: ToolChoice::Auto,
                })
                .await?;
            // A reader that stopped ends the conversation, not this answer.
            let _ = deltas.send(completion.content.clone()).await;
            Ok(ChatEnd {
                text: completion.content.as_str().to_owned(),
                tool_calls: Vec::new(),
                finish: FinishReason::Stop,
                usage: completion.usage,
            })
        })
    }
}

/// One rendered prompt, borrowed from the invocation so nothing is copied to build it.
#[derive(Debug, Clone, Copy)]
pub struct CompletionRequest<'a> {
    /// The rendered system template.
    pub system: &'a str,
    /// The rendered user template.
    pub user: &'a str,
    /// The invocation's raw input, exactly as the caller sent it (the runtime refuses input that
    /// is not UTF-8).
    pub input_json: &'a Utf8Bytes,
    /// The form of the answer (the AgentRuntime's `outputFormat` and `outputSchema`), asked of
    /// the model in the provider's own way. The mock does not read it: it prepared its answer
    /// at start-up.
    pub output: Output<'a>,
    /// Generation parameters: the prompt's, else the provider's defaults.
    pub parameters: Parameters,
    /// The tool rounds of this invocation so far (calls and their results), after the user's
    /// message; empty on the first round.
    pub rounds: &'a [ChatMessage],
    /// The tools the model may call.
    pub tools: &'a [ToolSpec],
    /// Whether it must call one.
    pub tool_choice: ToolChoice,
}

/// Generation parameters; `None` leaves the choice to the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Parameters {
    /// Sampling temperature (0-2).
    pub temperature: Option<f64>,
    /// The most tokens the answer may use.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling (0-1).
    pub top_p: Option<f64>,
}

impl Parameters {
    /// These parameters, with each unset one taken from `defaults`.
    pub fn or(self, defaults: Parameters) -> Parameters {
        Parameters {
            temperature: self.temperature.or(defaults.temperature),
            max_tokens: self.max_tokens.or(defaults.max_tokens),
            top_p: self.top_p.or(defaults.top_p),
        }
    }
}

impl From<omnia_api::ProviderDefaults> for Parameters {
    fn from(defaults: omnia_api::ProviderDefaults) -> Self {
        Parameters {
            temperature: defaults.temperature,
            max_tokens: defaults.max_tokens,
            top_p: defaults.top_p,
        }
    }
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The answer text (for functions: the output JSON); the `InvocationResponse` shares this
    /// buffer, and encoding the response copies it into the gRPC frame. Text by type: it goes
    /// out in a field Omnia's Go peers read as a UTF-8 `string`.
    pub content: Utf8Bytes,
    /// What the call cost.
    pub usage: Usage,
    /// The model asks for these tool calls before it answers (then `content` is whatever text
    /// came with them).
    pub tool_calls: Vec<ToolCallRequest>,
}

/// Tokens and money one call used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Answer tokens.
    pub output_tokens: u32,
    /// The part of `input_tokens` the provider read from its prompt cache.
    pub cached_tokens: u32,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

impl Usage {
    /// An estimate for providers that do not count tokens: about four bytes per token, priced
    /// with the Provider's `spec.pricing`.
    pub fn estimate(input_bytes: usize, output_bytes: usize, pricing: omnia_api::Pricing) -> Usage {
        let input_tokens = tokens(input_bytes);
        let output_tokens = tokens(output_bytes);
        let cost_usd = f64::from(input_tokens) / 1000.0 * pricing.input_per_1k
            + f64::from(output_tokens) / 1000.0 * pricing.output_per_1k;
        Usage {
            input_tokens,
            output_tokens,
            cached_tokens: 0,
            cost_usd,
        }
    }

    /// Both calls' usage together (one turn of several provider rounds).
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            cached_tokens: self.cached_tokens.saturating_add(other.cached_tokens),
            cost_usd: self.cost_usd + other.cost_usd,
        }
    }
}

/// `ceil(bytes / 4)`, saturating: a counter must never wrap.
fn tokens(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(4)).unwrap_or(u32::MAX)
}

/// Why a provider could not be built or could not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The Provider's type has no implementation in this build.
    #[error(
        "Provider `{name}` has type `{kind}`, which this build cannot run: it supports `openai`, \
         `claude`, `gemini`, `ollama`, `vllm`, `mock` and `echo`; run with --dev to answer with \
         the mock provider instead"
    )]
    Unsupported {
        /// The Provider resource.
        name: String,
        /// Its `spec.type`.
        kind: &'static str,
    },
    /// The provider could not be reached or asked us to back off; a retry may succeed.
    #[error("provider `{provider}` is unavailable: {message}")]
    Unavailable {
        /// The Provider resource.
        provider: String,
        /// What went wrong, as the provider reported it.
        message: String,
    },
    /// The mock provider would answer some inputs from the function's `outputSchema`, and the
    /// answer it synthesises does not pass that schema.
    #[error(
        "the mock provider `{provider}` answers inputs no scenario matches from the outputSchema, \
         and cannot satisfy it: {reason}; add a spec.mock.scenarios entry without `when`, or a \
         schema without the keywords the synthesiser does not honour (pattern, not, if/then/else)"
    )]
    UnsatisfiableSchema {
        /// The Provider resource.
        provider: String,
        /// Why the synthesised answer does not do.
        reason: String,
    },
    /// The provider answered with something unusable, or the stream broke off.
    #[error("provider `{provider}` failed: {message}")]
    Failed {
        /// The Provider resource.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// The provider's API answered with an error status.
    #[error("provider `{provider}` answered HTTP {status}: {message}")]
    Http {
        /// The Provider resource.
        provider: String,
        status: u16,
        /// The provider's own message, shortened.
        message: String,
    },
    /// The provider did not answer in time, or its stream went silent.
    #[error("provider `{provider}` timed out: {message}")]
    Timeout {
        /// The Provider resource.
        provider: String,
        /// Which wait ran out, and after how long.
        message: String,
    },
    /// The Provider's API key could not be found (which Secret and key were tried is in
    /// `message`; the key itself never is).
    #[error("{message}; run with --dev to answer with the mock provider instead")]
    MissingCredential {
        /// What was looked for and where.
        message: String,
    },
}

impl ProviderError {
    /// Whether trying again later may succeed (maps to gRPC `Unavailable` rather than `Internal`).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Unavailable { .. } | ProviderError::Timeout { .. } => true,
            ProviderError::Http { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A provider built for one function, and whether it is the one its manifest asked for.
#[derive(Clone)]
pub struct Built {
    /// What answers the function's calls.
    pub provider: Arc<dyn Provider>,
    /// Set when the mock answers in place of the manifest's provider (dev mode only).
    pub stand_in: Option<StandIn>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("provider", &self.provider.name())
            .field("stand_in", &self.stand_in)
            .finish()
    }
}

/// The mock provider answering, in dev mode, for a provider this build cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandIn {
    /// The replaced provider's `spec.type`.
    pub kind: &'static str,
    /// Why it could not run.
    pub reason: &'static str,
}

/// Builds the provider a resolved `Provider` resource describes, for a function whose
/// `outputSchema` is `output_schema` (the mock answers from it; see [`MockProvider::new`]).
///
/// `echo` and `mock` always build. Every other type has no implementation yet: in dev mode
/// (`dev = true`) the mock provider answers in its place, with a warning saying why and a
/// [`StandIn`] the runtime's `Health` reports, so every function works locally with no API key;
/// otherwise this fails, naming the resource and type.
pub fn build(
    provider: &omnia_api::Provider,
    dev: bool,
    output_schema: Option<&Value>,
) -> Result<Built, ProviderError> {
    build_with(provider, dev, output_schema, Duration::ZERO)
}

/// [`build`], with the pause the mock provider makes between the words it streams in a
/// conversation (`stream_delay`; zero streams them at once).
pub fn build_with(
    provider: &omnia_api::Provider,
    dev: bool,
    output_schema: Option<&Value>,
    stream_delay: Duration,
) -> Result<Built, ProviderError> {
    let mock = || {
        MockProvider::new(
            provider.name.clone(),
            &provider.mock_scenarios,
            provider.pricing,
            output_schema,
        )
        .map(|mock| mock.with_stream_delay(stream_delay))
    };
    let stand_in = |reason: &'static str| -> Result<Built, ProviderError> {
        let kind = provider.kind.as_str();
        tracing::warn!(
            provider = %provider.name,
            kind,
            "dev mode: answering with the mock provider because {reason}"
        );
        Ok(Built {
            provider: traced::wrap(Arc::new(mock()?), ProviderType::Mock, &provider.model),
            stand_in: Some(StandIn { kind, reason }),
        })
    };
    let (kind, model) = (provider.kind, provider.model.as_str());
    let provider: Arc<dyn Provider> = match provider.kind {
        ProviderType::Echo => Arc::new(EchoProvider::new(provider.name.clone(), provider.pricing)),
        ProviderType::Mock => Arc::new(mock()?),
        kind => match remote::build(provider) {
            Ok(Some(remote)) => remote,
            // Dev mode runs every function locally, even one whose key is not at hand.
            Err(ProviderError::MissingCredential { .. }) if dev => {
                return stand_in("it has no usable credentials");
            }
            Err(error) => return Err(error),
            Ok(None) if dev => {
                return stand_in("this build does not support that provider type yet");
            }
            Ok(None) => {
                return Err(ProviderError::Unsupported {
                    name: provider.name.clone(),
                    kind: kind.as_str(),
                });
            }
        },
    };
    let stand_in = None;
    let provider = traced::wrap(provider, kind, model);
    Ok(Built { provider, stand_in })
}

#[cfg(test)]
mod tests;

//! A `chat {model}` span around every provider call (OpenTelemetry GenAI semantic conventions),
//! in one place for every provider: [`wrap`] puts it around what `build_with` built.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use omnia_api::ProviderType;
use tracing::Instrument as _;

use super::{ChatEnd, ChatRequest, Completion, CompletionRequest, Deltas, Provider, ProviderError};
use crate::telemetry;

/// `provider`, its calls traced, when tracing is on; `provider` itself otherwise (no wrapper, no
/// cost). `kind` gives `gen_ai.system`; `model` is the resolved model, for providers that keep
/// none of their own (mock, echo).
pub(crate) fn wrap(
    provider: Arc<dyn Provider>,
    kind: ProviderType,
    model: &str,
) -> Arc<dyn Provider> {
    if !telemetry::enabled() {
        return provider;
    }
    let model = match provider.model() {
        "" => model.to_owned(),
        own => own.to_owned(),
    };
    Arc::new(Traced {
        system: system(kind),
        // Only the LLM APIs report why they stopped; mock and echo always finish their answer.
        always_stops: matches!(kind, ProviderType::Mock | ProviderType::Echo),
        model,
        inner: provider,
    })
}

/// `gen_ai.system` of a provider type: the semantic conventions' names where they have one.
fn system(kind: ProviderType) -> &'static str {
    match kind {
        ProviderType::Claude => "anthropic",
        ProviderType::Openai => "openai",
        ProviderType::Gemini => "gemini",
        other => other.as_str(),
    }
}

struct Traced {
    inner: Arc<dyn Provider>,
    system: &'static str,
    model: String,
    always_stops: bool,
}

impl Provider for Traced {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        let span = telemetry::chat_span(self.system, &self.model);
        let call = self.inner.complete(request);
        let recorded = span.clone();
        Box::pin(
            async move {
                let result = call.await;
                match &result {
                    Ok(completion) => {
                        let usage = completion.usage;
                        telemetry::record_usage(&recorded, usage.input_tokens, usage.output_tokens);
                        // An LLM's `complete` records its own finish reason (llm.rs).
                        if self.always_stops {
                            telemetry::record_finish_reasons(&recorded, &["stop"]);
                        }
                    }
                    Err(error) => telemetry::record_error(&recorded, error_type(error), error),
                }
                result
            }
            .instrument(span),
        )
    }

    fn chat<'a>(
        &'a self,
        request: ChatRequest<'a>,
        deltas: Deltas,
    ) -> BoxFuture<'a, Result<ChatEnd, ProviderError>> {
        let span = telemetry::chat_span(self.system, &self.model);
        let call = self.inner.chat(request, deltas);
        let recorded = span.clone();
        Box::pin(
            async move {
                let result = call.await;
                match &result {
                    Ok(end) => {
                        telemetry::record_usage(
                            &recorded,
                            end.usage.input_tokens,
                            end.usage.output_tokens,
                        );
                        telemetry::record_finish_reasons(&recorded, &[end.finish.as_str()]);
                    }
                    Err(error) => telemetry::record_error(&recorded, error_type(error), error),
                }
                result
            }
            .instrument(span),
        )
    }
}

/// `error.type` of a provider failure: low-cardinality, as the conventions ask.
fn error_type(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::Http { .. } => "http",
        ProviderError::Timeout { .. } => "timeout",
        ProviderError::Unavailable { .. } => "unavailable",
        ProviderError::MissingCredential { .. } => "credentials",
        _ => "failed",
    }
}

//! Builds the LLM providers that answer over the network from a resolved `Provider` resource:
//! endpoint, model, authentication and prices.

use std::sync::Arc;

use omnia_api::ProviderType;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::anthropic::{self, Anthropic};
use super::gemini::Gemini;
use super::http::Http;
use super::llm::{Llm, Wire};
use super::openai::OpenAi;
use super::{Provider, ProviderError, price};

const OPENAI_BASE: &str = "https://api.openai.com/v1";
const OLLAMA_BASE: &str = "http://localhost:11434";
const VLLM_BASE: &str = "http://localhost:8000";
const ANTHROPIC_BASE: &str = "https://api.anthropic.com";
const GEMINI_BASE: &str = "https://generativelanguage.googleapis.com";

/// The model asked for when the Provider names none (ollama and vLLM serve whatever they
/// loaded, so they must be told).
fn default_model(kind: ProviderType) -> Option<&'static str> {
    match kind {
        ProviderType::Openai => Some("gpt-4o-mini"),
        ProviderType::Claude => Some("claude-sonnet-4-5"),
        ProviderType::Gemini => Some("gemini-2.5-flash"),
        _ => None,
    }
}

/// The provider for `spec`, or `None` when its type does not answer over an LLM API here.
pub(crate) fn build(
    spec: &omnia_api::Provider,
) -> Result<Option<Arc<dyn Provider>>, ProviderError> {
    let kind = spec.kind;
    if !matches!(
        kind,
        ProviderType::Openai
            | ProviderType::Ollama
            | ProviderType::Vllm
            | ProviderType::Claude
            | ProviderType::Gemini
    ) {
        return Ok(None);
    }
    let failed = |message: String| ProviderError::Failed {
        provider: spec.name.clone(),
        message,
    };
    let model = match (spec.model.as_str(), default_model(kind)) {
        ("", Some(model)) => model.to_owned(),
        ("", None) => {
            return Err(failed(format!(
                "spec.model is required for type `{}`: name the model the server serves",
                kind.as_str()
            )));
        }
        (model, _) => model.to_owned(),
    };
    let key = match &spec.api_key {
        Some(key) => Some(key.expose()),
        None if keyless(spec) => None,
        None => {
            return Err(ProviderError::MissingCredential {
                message: spec
                    .missing_credential()
                    .unwrap_or_else(|| format!("Provider `{}` has no API key", spec.name)),
            });
        }
    };
    let base = spec.base_url.as_deref().map(|b| b.trim_end_matches('/'));
    let http = Http::new(spec)?;
    let mut auth = HeaderMap::new();
    let mut secret = |name: &'static str, value: String| -> Result<(), ProviderError> {
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| failed("the API key is not a valid header value".to_owned()))?;
        // Kept out of reqwest's and hyper's debug output.
        value.set_sensitive(true);
        auth.insert(HeaderName::from_static(name), value);
        Ok(())
    };
    let provider: Arc<dyn Provider> = match kind {
        ProviderType::Claude => {
            if let Some(key) = key {
                secret("x-api-key", key.to_owned())?;
            }
            auth.insert(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(anthropic::VERSION),
            );
            let base = base.unwrap_or(ANTHROPIC_BASE);
            let url = if base.ends_with("/v1") {
                format!("{base}/messages")
            } else {
                format!("{base}/v1/messages")
            };
            llm(
                spec,
                Anthropic {
                    url,
                    model: model.clone(),
                },
                http,
                auth,
                &model,
            )
        }
        ProviderType::Gemini => {
            if let Some(key) = key {
                secret("x-goog-api-key", key.to_owned())?;
            }
            let base = base.unwrap_or(GEMINI_BASE);
            let root = if base.ends_with("/v1beta") || base.ends_with("/v1") {
                base.to_owned()
            } else {
                format!("{base}/v1beta")
            };
            // Gemini's own listings name models `models/...`; either spelling works here.
            let model_url = format!("{root}/models/{}", model.trim_start_matches("models/"));
            llm(spec, Gemini { model_url }, http, auth, &model)
        }
        _ => {
            if let Some(key) = key {
                secret("authorization", format!("Bearer {key}"))?;
            }
            let (base, field) = match kind {
                ProviderType::Openai => (
                    base.unwrap_or(OPENAI_BASE).to_owned(),
                    if base.is_none() {
                        "max_completion_tokens"
                    } else {
                        "max_tokens"
                    },
                ),
                // ollama and vLLM serve the OpenAI API under /v1.
                ProviderType::Ollama => (v1(base.unwrap_or(OLLAMA_BASE)), "max_tokens"),
                _ => (v1(base.unwrap_or(VLLM_BASE)), "max_tokens"),
            };
            let wire = OpenAi {
                url: format!("{base}/chat/completions"),
                model: model.clone(),
                max_tokens_field: field,
            };
            llm(spec, wire, http, auth, &model)
        }
    };
    Ok(Some(provider))
}

fn llm<W: Wire>(
    spec: &omnia_api::Provider,
    wire: W,
    http: Http,
    auth: HeaderMap,
    model: &str,
) -> Arc<dyn Provider> {
    let rates = price::rates(spec.pricing, model);
    if rates.is_none() {
        tracing::warn!(
            provider = %spec.name,
            model,
            "no price is known for this model: set spec.pricing, or cost_usd is reported as 0"
        );
    }
    Arc::new(Llm {
        wire,
        http,
        auth,
        rates,
        model: model.to_owned(),
    })
}

/// Local servers take no key; an OpenAI-compatible server given by `baseURL` with no credential
/// configured is taken to need none either.
fn keyless(spec: &omnia_api::Provider) -> bool {
    match spec.kind {
        ProviderType::Ollama | ProviderType::Vllm => true,
        ProviderType::Openai => spec.base_url.is_some() && spec.credential.is_none(),
        _ => false,
    }
}

fn v1(base: &str) -> String {
    if base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1")
    }
}

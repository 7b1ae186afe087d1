//! The echo provider: the answer is the input's own buffer, byte for byte (the runtime's gRPC
//! layer copies it once more when it encodes the response).

use futures_util::future::BoxFuture;
use omnia_api::Pricing;

use super::{Completion, CompletionRequest, Provider, ProviderError, Usage};

/// Answers every call with its own input: for load tests and wiring checks, where the model is
/// not what is being measured.
#[derive(Debug, Clone)]
pub struct EchoProvider {
    name: String,
    pricing: Pricing,
}

impl EchoProvider {
    /// An echo provider named after its Provider resource.
    pub fn new(name: String, pricing: Pricing) -> Self {
        EchoProvider { name, pricing }
    }
}

impl Provider for EchoProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        // A clone shares the caller's buffer: the request body goes back out untouched.
        let content = request.input_json.clone();
        let usage = Usage::estimate(
            request.system.len() + request.user.len(),
            content.len(),
            self.pricing,
        );
        Box::pin(std::future::ready(Ok(Completion {
            content,
            usage,
            tool_calls: Vec::new(),
        })))
    }
}

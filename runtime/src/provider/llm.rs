//! What the LLM APIs have in common, written once: a [`Wire`] knows one API's request and answer
//! shapes; [`Llm`] drives any of them through [`Http`], streams text to the conversation as each
//! event decodes, assembles tool calls, and prices the usage.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use omnia_proto::Utf8Bytes;
use reqwest::header::HeaderMap;
use serde::Deserialize as _;

use super::http::{Attempt, Http};
use super::price::Rates;
use super::sse::Event;
use super::{
    ChatEnd, ChatMessage, ChatRequest, Completion, CompletionRequest, Deltas, FinishReason, Output,
    Provider, ProviderError, ToolCallRequest, Usage,
};

/// The tool Anthropic is made to call in function mode: its arguments are the structured answer.
pub(crate) const OUTPUT_TOOL: &str = "output";

/// One provider API's shapes.
pub(crate) trait Wire: Send + Sync + 'static {
    /// Where a request goes.
    fn url(&self, stream: bool) -> String;
    /// The request body.
    fn body(&self, request: &ChatRequest<'_>, stream: bool) -> serde_json::Value;
    /// An unstreamed answer.
    fn answer(&self, body: &[u8]) -> Result<Answer, String>;
    /// One streamed event: updates `answer`, and returns the text it adds, if any.
    fn event(&self, event: &Event, answer: &mut Answer) -> Result<Option<String>, WireError>;
}

/// An error the provider reported inside a stream.
#[derive(Debug)]
pub(crate) struct WireError {
    pub message: String,
    /// Whether the provider says trying again may succeed (Anthropic's `overloaded_error`).
    pub retryable: bool,
}

impl From<String> for WireError {
    fn from(message: String) -> Self {
        WireError {
            message,
            retryable: false,
        }
    }
}

/// An answer as it is assembled.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub text: String,
    /// Tool calls, in the order the provider indexed them.
    pub calls: Vec<PartialCall>,
    pub finish: Option<FinishReason>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub cached_tokens: u32,
    /// The stream said it is complete (`[DONE]`, `message_stop`, a finish reason); a body that
    /// ends without it was cut off.
    pub complete: bool,
}

/// A tool call whose arguments may still be arriving in pieces.
#[derive(Debug, Default, Clone)]
pub(crate) struct PartialCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl Answer {
    /// The call at `index`, created (with those before it) when new.
    pub(crate) fn call(&mut self, index: usize) -> &mut PartialCall {
        if self.calls.len() <= index {
            self.calls.resize_with(index + 1, PartialCall::default);
        }
        &mut self.calls[index]
    }
}

/// An LLM provider: one API's wire, its client and its prices.
pub(crate) struct Llm<W> {
    pub wire: W,
    pub http: Http,
    /// The authentication headers (the API key); never logged.
    pub auth: HeaderMap,
    /// `None` when neither the Provider nor the built-in table prices the model: cost is 0.
    pub rates: Option<Rates>,
    pub model: String,
}

impl<W: Wire> Llm<W> {
    fn body(&self, request: &ChatRequest<'_>, stream: bool) -> Result<Bytes, ProviderError> {
        serde_json::to_vec(&self.wire.body(request, stream))
            .map(Bytes::from)
            .map_err(|e| self.http.malformed(e))
    }

    fn usage(&self, answer: &Answer) -> Usage {
        let cost_usd = self.rates.map_or(0.0, |rates| {
            rates.cost(
                answer.input_tokens,
                answer.output_tokens,
                answer.cached_tokens,
            )
        });
        Usage {
            input_tokens: answer.input_tokens,
            output_tokens: answer.output_tokens,
            cached_tokens: answer.cached_tokens,
            cost_usd,
        }
    }

    fn end(&self, answer: Answer) -> ChatEnd {
        let usage = self.usage(&answer);
        let tool_calls = answer
            .calls
            .into_iter()
            // Anthropic indexes calls among all content blocks: the text blocks' slots are empty.
            .filter(|call| !call.name.is_empty())
            .map(|call| ToolCallRequest {
                id: call.id,
                name: call.name,
                // A call with no arguments at all still passes an object.
                arguments_json: if call.arguments.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    call.arguments
                },
                consent_message: String::new(),
                categories: Vec::new(),
            })
            .collect::<Vec<_>>();
        let finish = answer.finish.unwrap_or(if tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
        ChatEnd {
            text: answer.text,
            tool_calls,
            finish,
            usage,
        }
    }

    /// One streamed round. Events that fail before any text reached the conversation are
    /// retried with the request; after that, never (the client has seen the answer begin).
    async fn stream(
        &self,
        request: ChatRequest<'_>,
        deltas: Deltas,
    ) -> Result<ChatEnd, ProviderError> {
        let body = self.body(&request, true)?;
        let url = self.wire.url(true);
        let answer = self
            .http
            .call(&url, &self.auth, body, |response| async {
                let mut events = self.http.events(response);
                let mut answer = Answer::default();
                let mut sent = false;
                let give_up = |error: ProviderError, retryable: bool, sent: bool| {
                    if retryable && !sent {
                        Attempt::Retry(error)
                    } else {
                        Attempt::Fatal(error)
                    }
                };
                loop {
                    let event = match events.next().await {
                        Ok(Some(event)) => event,
                        Ok(None) => break,
                        Err(error) => {
                            let retryable = error.is_retryable();
                            return Err(give_up(error, retryable, sent));
                        }
                    };
                    match self.wire.event(&event, &mut answer) {
                        Ok(None) => {}
                        Ok(Some(piece)) => {
                            if deltas.send(Utf8Bytes::from(piece)).await.is_err() {
                                // Nobody reads the answer: drop the stream so the provider
                                // stops generating (and billing) it.
                                return Err(Attempt::Fatal(self.stopped()));
                            }
                            sent = true;
                        }
                        Err(error) => {
                            let provider = self.http.provider().to_owned();
                            // An error the provider calls transient (overloaded) is one: the
                            // caller may try again, even when this call cannot.
                            let failed = if error.retryable {
                                ProviderError::Unavailable {
                                    provider,
                                    message: error.message,
                                }
                            } else {
                                ProviderError::Failed {
                                    provider,
                                    message: error.message,
                                }
                            };
                            return Err(give_up(failed, error.retryable, sent));
                        }
                    }
                }
                if !answer.complete {
                    let cut = ProviderError::Unavailable {
                        provider: self.http.provider().to_owned(),
                        message: "the stream ended before the answer was complete".to_owned(),
                    };
                    return Err(give_up(cut, true, sent));
                }
                Ok(answer)
            })
            .await?;
        Ok(self.end(answer))
    }

    /// One unstreamed round.
    async fn whole(&self, request: ChatRequest<'_>) -> Result<ChatEnd, ProviderError> {
        let body = self.body(&request, false)?;
        let url = self.wire.url(false);
        let answer = self
            .http
            .call(&url, &self.auth, body, |response| async {
                let body = self.http.body(response).await?;
                self.wire
                    .answer(&body)
                    .map_err(|e| Attempt::Fatal(self.http.malformed(e)))
            })
            .await?;
        Ok(self.end(answer))
    }

    fn stopped(&self) -> ProviderError {
        ProviderError::Failed {
            provider: self.http.provider().to_owned(),
            message: "the conversation stopped reading the answer".to_owned(),
        }
    }
}

impl<W: Wire> Provider for Llm<W> {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let mut history = Vec::with_capacity(1 + request.rounds.len());
            history.push(ChatMessage::User {
                content: request.user.to_owned(),
            });
            history.extend_from_slice(request.rounds);
            let chat = ChatRequest {
                system: request.system,
                history: &history,
                parameters: request.parameters,
                tools: request.tools,
                tool_choice: request.tool_choice,
                output: request.output,
            };
            let end = self.whole(chat).await?;
            // Completion carries no finish reason: it goes on the `chat` span around this call.
            crate::telemetry::record_finish_reasons(
                &tracing::Span::current(),
                &[end.finish.as_str()],
            );
            let mut tool_calls = end.tool_calls;
            let output = tool_calls.iter().position(|call| call.name == OUTPUT_TOOL);
            let content = match (request.output, output) {
                // Anthropic answers structured output as the arguments of the output tool.
                (Output::JsonSchema { .. }, Some(at)) => {
                    let call = tool_calls.remove(at);
                    tool_calls.clear();
                    call.arguments_json
                }
                _ => end.text,
            };
            Ok(Completion {
                content: Utf8Bytes::from(content),
                usage: end.usage,
                tool_calls,
            })
        })
    }

    fn chat<'a>(
        &'a self,
        request: ChatRequest<'a>,
        deltas: Deltas,
    ) -> BoxFuture<'a, Result<ChatEnd, ProviderError>> {
        Box::pin(self.stream(request, deltas))
    }
}

/// Text of a tool's outcome as it goes back to the model.
pub(crate) fn outcome_text(outcome: &super::ToolOutcome) -> String {
    match outcome {
        super::ToolOutcome::Result(result) => result.clone(),
        super::ToolOutcome::Rejected(reason) => format!("The tool was not run: {reason}"),
        super::ToolOutcome::Failed(error) => format!("The tool failed: {error}"),
    }
}

/// A field that some servers send as `null` and others leave out: both mean its default.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

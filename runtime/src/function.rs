//! One function-mode agent, compiled: its pack's prompt, its templates and its provider.

use std::sync::Arc;
use std::time::Instant;

use omnia_api::{Agent, OutputFormat};
use omnia_proto::Utf8Bytes;
use serde_json::Value;

use crate::RuntimeOptions;
use crate::metrics::Meter;
use crate::pack::{self, Blocked, PackError, Validators};
use crate::provider::{
    self, ChatMessage, Completion, CompletionRequest, Output, Parameters, Provider, ProviderError,
    StandIn, ToolOutcome, Usage,
};
use crate::template::{PromptTemplates, TemplateError};
use crate::tools::{self, Limit, ToolBuildError, ToolContext, Toolbox, TurnBudget};

/// What `omnia-runtime` serves for one agent, for logs and for callers that list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The AgentRuntime's `metadata.name`: what `x-omnia-agent-name` selects.
    pub name: String,
    /// The AgentRuntime's namespace.
    pub namespace: String,
    /// The PromptPack resource.
    pub pack: String,
    /// The prompt key chosen from the pack.
    pub prompt: String,
    /// The Provider resource that answers.
    pub provider: String,
    /// Set when the mock provider answers in the Provider's place (dev mode only).
    pub stand_in: Option<StandIn>,
}

/// A compiled function: everything a request needs except the request.
pub(crate) struct Function {
    pub(crate) info: FunctionInfo,
    templates: PromptTemplates,
    parameters: Parameters,
    output_schema: Option<Value>,
    output_format: OutputFormat,
    provider: Arc<dyn Provider>,
    meter: Meter,
    validators: Validators,
    pub(crate) tools: Toolbox,
}

/// Why a function could not be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    /// The PromptPack is invalid or has no prompt to run.
    #[error("PromptPack `{pack}` ({origin}): {source}")]
    Pack {
        /// The PromptPack resource.
        pack: String,
        /// Where its JSON came from.
        origin: String,
        /// What is wrong.
        source: PackError,
    },
    /// The provider could not be built.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The context store (`spec.session` / `spec.context`) cannot be built.
    #[error("context store: {0}")]
    Store(String),
    /// The agent's ToolRegistry has a handler that cannot work.
    #[error(transparent)]
    Tools(#[from] ToolBuildError),
}

/// Why one invocation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum InvokeError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A validator of the prompt refused the answer.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// The tool loop reached a limit of the prompt's tool policy.
    #[error(transparent)]
    Limit(#[from] Limit),
}

impl Function {
    /// Validates the agent's pack, compiles its templates and builds its provider.
    pub(crate) fn compile(
        agent: &Agent,
        options: &RuntimeOptions,
    ) -> Result<Function, CompileError> {
        let pack = pack::load(&agent.pack.document).map_err(|source| CompileError::Pack {
            pack: agent.pack.name.clone(),
            origin: agent.pack.origin.clone(),
            source,
        })?;
        let built = provider::build(&agent.provider, options.dev, agent.output_schema.as_ref())?;
        let meter = Meter::new(
            &options.metrics,
            agent,
            &*built.provider,
            built.stand_in.is_some(),
        );
        let provider = built.provider;
        let info = FunctionInfo {
            name: agent.name.clone(),
            namespace: agent.namespace.clone(),
            pack: agent.pack.name.clone(),
            prompt: pack.prompt_key.clone(),
            provider: provider.name().to_owned(),
            stand_in: built.stand_in,
        };
        Ok(Function {
            info,
            templates: PromptTemplates::compile(&pack),
            validators: pack.prompt.validators.clone(),
            // The prompt knows its task best; the Provider's defaults fill the gaps.
            parameters: pack.prompt.parameters.or(agent.provider.defaults.into()),
            output_schema: agent.output_schema.clone(),
            output_format: agent.output_format.unwrap_or(OutputFormat::JsonSchema),
            provider,
            meter,
            tools: Toolbox::new(
                pack.prompt.tools.clone(),
                pack.prompt.tool_policy.clone(),
                tools::executor_for(agent, options)?,
            ),
        })
    }

    /// The answer's form as the AgentRuntime asks for it: `outputFormat`, default `json_schema`
    /// when there is an `outputSchema` (Omnia's rule; without a schema it is plain JSON).
    fn output(&self) -> Output<'_> {
        match (self.output_format, &self.output_schema) {
            (OutputFormat::Text, _) => Output::Text,
            (OutputFormat::JsonSchema, Some(schema)) => Output::JsonSchema {
                name: &self.info.name,
                schema,
            },
            (OutputFormat::Json | OutputFormat::JsonSchema, _) => Output::Json,
        }
    }

    /// Renders the prompt for `input` and asks the provider; when the model asks for tools,
    /// runs them (server-side only: a function has no client) and asks again, within the
    /// prompt's tool policy.
    pub(crate) async fn invoke(
        &self,
        input: &Utf8Bytes,
        invocation_id: &str,
    ) -> Result<Completion, InvokeError> {
        let context = ToolContext {
            agent: &self.info.name,
            namespace: &self.info.namespace,
            session: invocation_id,
            deadline: None,
        };
        let mut budget = TurnBudget::new();
        let rendered = self.templates.render(input.as_bytes())?;
        let mut rounds = Vec::new();
        let mut usage = Usage::default();
        let mut calls = 0;
        let mut round = 0;
        loop {
            let (tools, tool_choice) = self.tools.offered(round);
            let request = CompletionRequest {
                system: &rendered.system,
                user: &rendered.user,
                input_json: input,
                output: self.output(),
                parameters: self.parameters,
                rounds: &rounds,
                tools,
                tool_choice,
            };
            let started = Instant::now();
            let completion = self.provider.complete(request).await;
            self.meter
                .provider(completion.as_ref().ok().map(|c| c.usage), started.elapsed());
            let completion = completion?;
            usage = usage.plus(completion.usage);
            if completion.tool_calls.is_empty() {
                self.validators
                    .check(&self.info.name, completion.content.as_str())?;
                return Ok(Completion {
                    usage,
                    ..completion
                });
            }
            self.tools.check_round(round)?;
            calls += completion.tool_calls.len();
            self.tools.check_calls(calls)?;
            if !completion.content.as_str().is_empty() {
                rounds.push(ChatMessage::Assistant {
                    content: completion.content.as_str().to_owned(),
                });
            }
            rounds.extend(
                completion
                    .tool_calls
                    .iter()
                    .cloned()
                    .map(ChatMessage::ToolCall),
            );
            for call in completion.tool_calls {
                let no_client = format!(
                    "no server-side tool `{}` is configured, and a function has no client to \
                     run it",
                    call.name
                );
                let outcome =
                    self.tools
                        .run(
                            &call,
                            context,
                            &mut budget,
                            &self.meter,
                            |_span| async move {
                                Ok::<_, InvokeError>(ToolOutcome::Rejected(no_client))
                            },
                        )
                        .await?;
                rounds.push(ChatMessage::ToolResult {
                    call_id: call.id,
                    name: call.name,
                    outcome,
                });
            }
            round += 1;
        }
    }
}

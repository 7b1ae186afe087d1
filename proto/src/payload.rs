//! Constructors for the messages our code fills whose payload fields are `bytes` here and `string`
//! in Omnia's proto: each takes the payload as [`Utf8Bytes`], so what goes on the wire is text a
//! Go peer accepts.

use crate::Utf8Bytes;
use crate::runtime::v1::server_message::Message;
use crate::runtime::v1::{
    Chunk, ClientMessage, ClientToolResult, Done, Error, InvocationRequest, InvocationResponse,
    RuntimeHello, ServerMessage, ToolCall, ToolExecution, Usage,
};

impl InvocationRequest {
    /// A call with `input_json` as its input and no extra metadata.
    pub fn new(input_json: Utf8Bytes, invocation_id: String) -> Self {
        InvocationRequest {
            input_json: input_json.into_bytes(),
            invocation_id,
            metadata: Default::default(),
        }
    }
}

impl InvocationResponse {
    /// The answer to one call.
    pub fn new(
        output_json: Utf8Bytes,
        usage: Usage,
        duration_ms: i32,
        invocation_id: String,
    ) -> Self {
        InvocationResponse {
            output_json: output_json.into_bytes(),
            usage: Some(usage),
            duration_ms,
            invocation_id,
        }
    }
}

impl ServerMessage {
    /// A piece of the answer as it streams.
    pub fn chunk(content: Utf8Bytes) -> Self {
        Self::of(Message::Chunk(Chunk {
            content: content.into_bytes(),
            role: String::new(),
        }))
    }

    /// The turn is over: its whole answer and what it cost.
    pub fn done(final_content: Utf8Bytes, usage: Usage) -> Self {
        Self::of(Message::Done(Done {
            final_content: final_content.into_bytes(),
            usage: Some(usage),
            parts: Vec::new(),
        }))
    }

    /// The turn (or the message) failed; the stream goes on.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self::of(Message::Error(Error {
            code: code.to_owned(),
            message: message.into(),
        }))
    }

    /// A tool call for the client to run (`TOOL_EXECUTION_CLIENT`).
    pub fn client_tool_call(
        id: String,
        name: String,
        arguments_json: Utf8Bytes,
        consent_message: String,
        categories: Vec<String>,
    ) -> Self {
        Self::of(Message::ToolCall(ToolCall {
            id,
            name,
            arguments_json: arguments_json.into_bytes(),
            execution: ToolExecution::Client.into(),
            consent_message,
            categories,
        }))
    }

    /// The first message of a stream: what this runtime can do.
    pub fn hello(capabilities: Vec<String>) -> Self {
        Self::of(Message::RuntimeHello(RuntimeHello {
            capabilities,
            media: None,
        }))
    }

    fn of(message: Message) -> Self {
        Self {
            message: Some(message),
        }
    }
}

impl ClientMessage {
    /// A user turn in `session_id` saying `content`.
    pub fn text(session_id: String, content: Utf8Bytes) -> Self {
        Self {
            session_id,
            content: content.into_bytes(),
            ..Self::default()
        }
    }

    /// The client's result of tool call `call_id`.
    pub fn tool_result(session_id: String, call_id: String, result_json: Utf8Bytes) -> Self {
        Self::tool(
            session_id,
            ClientToolResult {
                call_id,
                result_json: result_json.into_bytes(),
                is_rejected: false,
                rejection_reason: String::new(),
            },
        )
    }

    /// Tool call `call_id` did not run, and why.
    pub fn tool_rejection(session_id: String, call_id: String, reason: String) -> Self {
        Self::tool(
            session_id,
            ClientToolResult {
                call_id,
                result_json: Default::default(),
                is_rejected: true,
                rejection_reason: reason,
            },
        )
    }

    fn tool(session_id: String, result: ClientToolResult) -> Self {
        Self {
            session_id,
            client_tool_result: Some(result),
            ..Self::default()
        }
    }
}

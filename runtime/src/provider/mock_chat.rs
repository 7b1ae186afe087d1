//! What the mock provider says in a conversation, so agents stream and call client tools with
//! no API key.
//!
//! The Provider's `spec.mock.scenarios` serve conversations too: `when` is matched (as a subset)
//! against `{"content": <the user's words>, "metadata": {...}}`, and `output` is the answer:
//! - a string: the answer text (the exact string `{{input.content}}` is the user's words);
//! - `{"client_tool": {"name": ..., "arguments": {...}, "consent_message": ..., "categories":
//!   [...]}}`: the model asks the client to run that tool, and answers once it knows the outcome;
//! - any other JSON: the answer is that JSON as text.
//!
//! With no scenario matching, the answer is `Mock answer to: "<the user's words>"`, except for
//! `what did I say?`, answered with the user's earlier words in the session (`Earlier you said:
//! "a"; "b".`), so a test can see that a resumed conversation kept its history. After a tool
//! call, the answer says what became of it: `The <name> tool returned <result>.` or `The <name>
//! tool was not run: <reason>.`, which is how a test sees that the model was told.

use serde_json::{Value, json};

use super::mock::{contains, substitute};
use super::{ChatMessage, ChatRequest, ToolCallRequest, ToolOutcome};

/// What the mock answers a round with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Text(String),
    ToolCall(ToolCallRequest),
}

/// The answer to `request` from `scenarios` (`when`, `output` pairs; first match wins).
pub(crate) fn answer<'s>(
    scenarios: impl Iterator<Item = (Option<&'s Value>, &'s Value)>,
    request: &ChatRequest<'_>,
) -> Answer {
    if let Some(ChatMessage::ToolResult { name, outcome, .. }) = request.history.last() {
        return Answer::Text(match outcome {
            ToolOutcome::Result(result) => format!("The {name} tool returned {result}."),
            ToolOutcome::Rejected(reason) => format!("The {name} tool was not run: {reason}."),
        });
    }
    let said = request.last_user_text();
    let turn = json!({"content": said, "metadata": {}});
    let matched = scenarios
        .into_iter()
        .find(|(when, _)| when.is_none_or(|when| contains(&turn, when)));
    let Some((_, output)) = matched else {
        if said.trim().eq_ignore_ascii_case("what did I say?") {
            return Answer::Text(recall(request.history));
        }
        return Answer::Text(format!("Mock answer to: \"{said}\""));
    };
    match substitute(output, &turn) {
        Value::String(text) => Answer::Text(text),
        Value::Object(object) if object.contains_key("client_tool") => {
            tool_call(&object["client_tool"], request.history.len())
        }
        other => Answer::Text(other.to_string()),
    }
}

/// The user's words before the latest, as the mock reports them.
fn recall(history: &[ChatMessage]) -> String {
    let earlier: Vec<String> = history
        .iter()
        .filter_map(|m| match m {
            ChatMessage::User { content } => Some(format!("\"{content}\"")),
            _ => None,
        })
        .collect();
    match earlier.split_last() {
        Some((_, before)) if !before.is_empty() => {
            format!("Earlier you said: {}.", before.join("; "))
        }
        _ => "You have not said anything before.".to_owned(),
    }
}

/// The tool call a `client_tool` output describes; its id is unique within the conversation.
fn tool_call(spec: &Value, turn: usize) -> Answer {
    let text = |key: &str| spec.get(key).and_then(Value::as_str).unwrap_or_default();
    let arguments = spec.get("arguments").cloned().unwrap_or_else(|| json!({}));
    Answer::ToolCall(ToolCallRequest {
        id: format!("call_{turn}"),
        name: text("name").to_owned(),
        arguments_json: arguments.to_string(),
        consent_message: text("consent_message").to_owned(),
        categories: spec
            .get("categories")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// `text` in pieces of one word each, its following space included, so that joining the pieces
/// gives the text back exactly.
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(' ')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Parameters;

    fn request(history: &[ChatMessage]) -> ChatRequest<'_> {
        ChatRequest {
            system: "be brief",
            history,
            parameters: Parameters::default(),
            tools: &[],
            output: crate::provider::Output::Text,
        }
    }

    #[test]
    fn scenarios_answer_text_json_or_a_client_tool_call() {
        let greet = (
            Some(json!({"content": "hello"})),
            json!("Hi {{input.content}}!"),
        );
        let weather = (
            Some(json!({"content": "where am I?"})),
            json!({"client_tool": {"name": "get_location", "arguments": {"precise": true},
                   "categories": ["location"]}}),
        );
        let scenarios = [greet, weather];
        let all = || scenarios.iter().map(|(w, o)| (w.as_ref(), o));

        let hello = [ChatMessage::User {
            content: "hello".into(),
        }];
        assert_eq!(
            answer(all(), &request(&hello)),
            Answer::Text("Hi {{input.content}}!".into())
        );
        let other = [ChatMessage::User {
            content: "what?".into(),
        }];
        assert_eq!(
            answer(all(), &request(&other)),
            Answer::Text("Mock answer to: \"what?\"".into())
        );
        let located = [ChatMessage::User {
            content: "where am I?".into(),
        }];
        let Answer::ToolCall(call) = answer(all(), &request(&located)) else {
            panic!("no tool call");
        };
        assert_eq!(call.name, "get_location");
        assert_eq!(call.arguments_json, r#"{"precise":true}"#);
        assert_eq!(call.categories, ["location"]);
    }

    #[test]
    fn after_a_tool_call_the_answer_says_what_became_of_it() {
        let call = ToolCallRequest {
            id: "call_1".into(),
            name: "get_location".into(),
            arguments_json: "{}".into(),
            consent_message: String::new(),
            categories: vec![],
        };
        let mut history = vec![
            ChatMessage::User {
                content: "where am I?".into(),
            },
            ChatMessage::ToolCall(call),
            ChatMessage::ToolResult {
                call_id: "call_1".into(),
                name: "get_location".into(),
                outcome: ToolOutcome::Rejected("the user said no".into()),
            },
        ];
        assert_eq!(
            answer(std::iter::empty(), &request(&history)),
            Answer::Text("The get_location tool was not run: the user said no.".into())
        );
        history[2] = ChatMessage::ToolResult {
            call_id: "call_1".into(),
            name: "get_location".into(),
            outcome: ToolOutcome::Result(r#"{"city":"Denver"}"#.into()),
        };
        assert_eq!(
            answer(std::iter::empty(), &request(&history)),
            Answer::Text(r#"The get_location tool returned {"city":"Denver"}."#.into())
        );
    }

    #[test]
    fn what_did_i_say_recalls_the_earlier_turns() {
        let mut history = vec![ChatMessage::User {
            content: "what did I say?".into(),
        }];
        assert_eq!(
            answer(std::iter::empty(), &request(&history)),
            Answer::Text("You have not said anything before.".into())
        );
        history.insert(
            0,
            ChatMessage::User {
                content: "blue".into(),
            },
        );
        history.insert(
            1,
            ChatMessage::Assistant {
                content: "ok".into(),
            },
        );
        assert_eq!(
            answer(std::iter::empty(), &request(&history)),
            Answer::Text("Earlier you said: \"blue\".".into())
        );
    }

    #[test]
    fn words_join_back_into_the_text() {
        let text = "one two  three ";
        assert_eq!(
            words(text).collect::<Vec<_>>(),
            ["one ", "two ", " ", "three "]
        );
        assert_eq!(words(text).collect::<String>(), text);
    }
}

//! What the mock provider says in a conversation, so agents stream and call client tools with
//! no API key.
//!
//! The Provider's `spec.mock.scenarios` serve conversations too: `when` is matched (as a subset)
//! against `{"content": <the user's words>, "metadata": {...}}`, and `output` is the answer:
//! - a string: the answer text (the exact string `{{input.content}}` is the user's words);
//! - `{"client_tool": {"name": ..., "arguments": {...}, "consent_message": ..., "categories":
//!   [...]}}`: the model asks for that tool call, and answers once it knows the outcome;
//! - `{"tool_calls": [[call, ...], ...]}`: the model asks for each inner list's calls in one
//!   round, round after round, then answers (a flat list of calls is one round); a call is
//!   `{"name": ..., "arguments": {...}}`, as in `client_tool`;
//! - `{"tool_loop": call}`: the model asks for that call every round and never answers (for
//!   testing the tool policy's limits);
//! - any other JSON: the answer is that JSON as text.
//!
//! With no scenario matching, the answer is `Mock answer to: "<the user's words>"`, except for
//! `what did I say?`, answered with the user's earlier words in the session (`Earlier you said:
//! "a"; "b".`), so a test can see that a resumed conversation kept its history. After a tool
//! call, the answer says what became of each call of the turn: `The <name> tool returned
//! <result>.`, `The <name> tool was not run: <reason>.` or `The <name> tool failed: <error>.`,
//! joined by spaces, which is how a test sees that the model was told.

use serde_json::{Value, json};

use super::mock::{contains, substitute};
use super::{ChatMessage, ChatRequest, ToolCallRequest, ToolOutcome};

/// What the mock answers a round with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Text(String),
    ToolCalls(Vec<ToolCallRequest>),
}

/// The answer to `request` from `scenarios` (`when`, `output` pairs; first match wins).
pub(crate) fn answer<'s>(
    scenarios: impl Iterator<Item = (Option<&'s Value>, &'s Value)>,
    request: &ChatRequest<'_>,
) -> Answer {
    let history = request.history;
    let said = request.last_user_text();
    let turn = json!({"content": said, "metadata": {}});
    // This turn's entries: everything after the user's latest words.
    let this_turn = history
        .iter()
        .rposition(|m| matches!(m, ChatMessage::User { .. }))
        .map_or(history, |at| &history[at + 1..]);
    let rounds_done = this_turn
        .iter()
        .zip(this_turn.iter().skip(1).map(Some).chain([None]))
        .filter(|(m, next)| {
            matches!(m, ChatMessage::ToolCall(_)) && !matches!(next, Some(ChatMessage::ToolCall(_)))
        })
        .count();
    let output = scenarios
        .into_iter()
        .find(|(when, _)| when.is_none_or(|when| contains(&turn, when)))
        .map(|(_, output)| substitute(output, &turn));
    let first_id = history.len();
    match &output {
        Some(Value::Object(object)) if object.contains_key("tool_calls") => {
            let rounds = rounds_of(&object["tool_calls"]);
            if let Some(round) = rounds.get(rounds_done) {
                return Answer::ToolCalls(
                    round
                        .iter()
                        .enumerate()
                        .map(|(i, spec)| tool_call(spec, first_id + i))
                        .collect(),
                );
            }
        }
        Some(Value::Object(object)) if object.contains_key("tool_loop") => {
            return Answer::ToolCalls(vec![tool_call(&object["tool_loop"], first_id)]);
        }
        Some(Value::Object(object)) if object.contains_key("client_tool") && rounds_done == 0 => {
            return Answer::ToolCalls(vec![tool_call(&object["client_tool"], first_id)]);
        }
        _ => {}
    }
    if rounds_done > 0 {
        return Answer::Text(outcomes(this_turn));
    }
    match output {
        Some(Value::String(text)) => Answer::Text(text),
        Some(other) => Answer::Text(other.to_string()),
        None if said.trim().eq_ignore_ascii_case("what did I say?") => {
            Answer::Text(recall(history))
        }
        None => Answer::Text(format!("Mock answer to: \"{said}\"")),
    }
}

/// `tool_calls` as rounds: a list of lists, or a flat list as one round.
fn rounds_of(spec: &Value) -> Vec<Vec<Value>> {
    let Some(items) = spec.as_array() else {
        return vec![vec![spec.clone()]];
    };
    if items.iter().all(Value::is_array) {
        items
            .iter()
            .filter_map(Value::as_array)
            .map(|round| round.to_vec())
            .collect()
    } else {
        vec![items.clone()]
    }
}

/// What became of each tool call of the turn, as the mock reports it.
fn outcomes(this_turn: &[ChatMessage]) -> String {
    this_turn
        .iter()
        .filter_map(|m| match m {
            ChatMessage::ToolResult { name, outcome, .. } => Some(match outcome {
                ToolOutcome::Result(result) => format!("The {name} tool returned {result}."),
                ToolOutcome::Rejected(reason) => format!("The {name} tool was not run: {reason}."),
                ToolOutcome::Failed(error) => format!("The {name} tool failed: {error}."),
            }),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// The tool call a scripted call describes; `n` makes its id unique within the conversation.
fn tool_call(spec: &Value, n: usize) -> ToolCallRequest {
    let text = |key: &str| spec.get(key).and_then(Value::as_str).unwrap_or_default();
    let arguments = spec.get("arguments").cloned().unwrap_or_else(|| json!({}));
    ToolCallRequest {
        id: format!("call_{n}"),
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
    }
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
            tool_choice: crate::provider::ToolChoice::Auto,
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
        let Answer::ToolCalls(calls) = answer(all(), &request(&located)) else {
            panic!("no tool call");
        };
        let [call] = calls.as_slice() else {
            panic!("one call expected: {calls:?}");
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
    fn scripted_rounds_of_tool_calls_then_an_answer_about_each() {
        let script = json!({"tool_calls": [
            [{"name": "a", "arguments": {"n": 1}}, {"name": "b"}],
            [{"name": "c"}]
        ]});
        let scenarios = [(None, script)];
        let all = || scenarios.iter().map(|(w, o)| (w.as_ref(), o));
        let mut history = vec![ChatMessage::User {
            content: "go".into(),
        }];
        let mut asked = Vec::new();
        loop {
            match answer(all(), &request(&history)) {
                Answer::ToolCalls(calls) => {
                    asked.push(calls.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
                    history.extend(calls.iter().cloned().map(ChatMessage::ToolCall));
                    for call in calls {
                        history.push(ChatMessage::ToolResult {
                            call_id: call.id,
                            outcome: if call.name == "b" {
                                ToolOutcome::Failed("boom".into())
                            } else {
                                ToolOutcome::Result("1".into())
                            },
                            name: call.name,
                        });
                    }
                }
                Answer::Text(text) => {
                    assert_eq!(
                        text,
                        "The a tool returned 1. The b tool failed: boom. The c tool returned 1."
                    );
                    break;
                }
            }
        }
        assert_eq!(asked, [vec!["a", "b"], vec!["c"]]);
        let ids: Vec<&str> = history
            .iter()
            .filter_map(|m| match m {
                ChatMessage::ToolCall(c) => Some(c.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["call_1", "call_2", "call_5"]);
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

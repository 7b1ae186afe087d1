//! `handler: demo`: Omnia's canned demo agent, streamed with its pacing, for trying a client
//! without a model. The texts, tool calls and delays are Omnia's (`internal/agent/
//! demo_handler.go`); one thing differs on purpose: the greeting answers the words "hi", "hello"
//! and "help", where Omnia's substring match also greets "this" or "nothing".

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::super::protocol::outbound::ToolCall;
use super::{Conversation, Gone, Handler, Outcome, SessionInfo, Sink, Turn};

/// Omnia's demo answers, paced as in Omnia times `pace` (0: no delays, for tests).
#[derive(Debug, Clone, Copy)]
pub struct Demo {
    pace: f64,
}

impl Demo {
    /// A demo whose delays are Omnia's times `pace`; a negative or non-finite pace is 0.
    pub fn new(pace: f64) -> Self {
        Self {
            pace: if pace.is_finite() { pace.max(0.0) } else { 0.0 },
        }
    }
}

impl Handler for Demo {
    fn name(&self) -> &'static str {
        "demo"
    }

    fn open(&self, _: SessionInfo) -> Arc<dyn Conversation> {
        Arc::new(*self)
    }
}

impl Conversation for Demo {
    fn turn(self: Arc<Self>, turn: Turn, sink: Sink) -> BoxFuture<'static, Outcome> {
        let pace = self.pace;
        Box::pin(async move { answer(&turn.text, &sink, pace).await.into() })
    }
}

const PASSWORD_DONE: &str = "\n\nGreat news! I found your account. Here's how to reset your \
password:\n\n1. Go to the login page\n2. Click \"Forgot Password\"\n3. Enter your email: \
user@example.com\n4. Check your inbox for the reset link\n5. Create a new secure password\n\nThe \
reset link will expire in 24 hours. Let me know if you need any other help!";

const WEATHER_DONE: &str = "\n\nHere's the current weather in Denver, CO:\n\n\u{1F321}\u{FE0F} \
Temperature: 72°F\n\u{2600}\u{FE0F} Condition: Sunny\n\u{1F4A7} Humidity: 45%\n\u{1F4A8} Wind: 5 \
mph NW\n\nIt's a beautiful day! Perfect for outdoor activities.";

const GREETING: &str = "Hello! I'm the Omnia demo agent. I can help you with:\n\n• **Password \
resets** - Just ask \"How do I reset my password?\"\n• **Weather lookups** - Try \"What's the \
weather?\"\n• **General questions** - I'll do my best to help!\n\nThis is a demo mode with \
simulated responses. In production, I would connect to an LLM provider for real AI-powered \
conversations.\n\nHow can I help you today?";

/// What the demo says to `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Password,
    Weather,
    Greeting,
    Default,
}

fn reply_to(text: &str) -> Reply {
    let lower = text.to_lowercase();
    if lower.contains("password") {
        Reply::Password
    } else if lower.contains("weather") {
        Reply::Weather
    } else if lower
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| matches!(word, "hi" | "hello" | "help"))
    {
        Reply::Greeting
    } else {
        Reply::Default
    }
}

async fn answer(text: &str, sink: &Sink, pace: f64) -> Result<(), Gone> {
    let pause = |ms: u64| pause(ms, pace);
    // "Thinking".
    pause(200).await;
    match reply_to(text) {
        Reply::Password => {
            for piece in [
                "I can help you ",
                "reset your password. ",
                "Let me look up ",
                "your account...",
            ] {
                sink.chunk(piece).await?;
                pause(80).await;
            }
            let arguments = serde_json::json!({"session_id": sink.session_id()}).to_string();
            sink.tool_call(ToolCall {
                id: "call_001",
                name: "lookup-user",
                arguments: Some(&arguments),
                consent_message: None,
                categories: &[],
            })
            .await?;
            pause(400).await;
            let result =
                r#"{"status":"found","email":"user@example.com","account_type":"premium"}"#;
            sink.tool_result("call_001", Some(result), None).await?;
            sink.done(Some(PASSWORD_DONE), None).await
        }
        Reply::Weather => {
            sink.chunk("Checking the weather for you").await?;
            pause(100).await;
            for _ in 0..3 {
                sink.chunk(".").await?;
                pause(150).await;
            }
            sink.tool_call(ToolCall {
                id: "call_002",
                name: "weather",
                arguments: Some(r#"{"location":"Denver, CO"}"#),
                consent_message: None,
                categories: &[],
            })
            .await?;
            pause(500).await;
            let result =
                r#"{"temperature":"72°F","condition":"Sunny","humidity":"45%","wind":"5 mph NW"}"#;
            sink.tool_result("call_002", Some(result), None).await?;
            sink.done(Some(WEATHER_DONE), None).await
        }
        Reply::Greeting => stream_words(GREETING, sink, 30, pace).await,
        Reply::Default => {
            let text = format!(
                "I understand you're asking about: \"{text}\"\n\nIn demo mode, I have limited \
                 responses. Try asking about:\n• Password resets\n• Weather\n• Or just say \
                 \"hello\" for help!\n\nIn production with LLM mode, I would provide a real AI \
                 response."
            );
            stream_words(&text, sink, 25, pace).await
        }
    }
}

/// Streams `text` a word at a time, as Omnia does: a chunk per word, a `" "` chunk between
/// words, a pause after each word, then an empty `done`.
async fn stream_words(text: &str, sink: &Sink, pause_ms: u64, pace: f64) -> Result<(), Gone> {
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            sink.chunk(" ").await?;
        }
        sink.chunk(word).await?;
        pause(pause_ms, pace).await;
    }
    sink.done(None, None).await
}

/// Omnia's delay of `ms`, times `pace`. Dropping the turn (the client went away) cancels it.
async fn pause(ms: u64, pace: f64) {
    if pace > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(ms as f64 / 1000.0 * pace)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{Reply, reply_to};

    #[test]
    fn greetings_match_whole_words_only() {
        assert_eq!(reply_to("Hi!"), Reply::Greeting);
        assert_eq!(reply_to("hello there"), Reply::Greeting);
        assert_eq!(reply_to("can you HELP me"), Reply::Greeting);
        assert_eq!(reply_to("this is nothing"), Reply::Default);
        assert_eq!(reply_to("chips"), Reply::Default);
    }

    #[test]
    fn password_comes_before_weather_and_greetings() {
        assert_eq!(reply_to("hi, I forgot my Password"), Reply::Password);
        assert_eq!(reply_to("hello, what's the weather"), Reply::Weather);
        assert_eq!(reply_to("password and weather"), Reply::Password);
    }
}

//! `handler: echo`: one `done` saying the turn's text back, as Omnia's echo handler.

use futures_util::future::BoxFuture;

use std::sync::Arc;

use super::{Conversation, Handler, Outcome, SessionInfo, Sink, Turn};

/// Answers every turn with `done` `"Echo: " + text`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn open(&self, _: SessionInfo) -> Arc<dyn Conversation> {
        Arc::new(Echo)
    }
}

impl Conversation for Echo {
    fn turn(self: Arc<Self>, turn: Turn, sink: Sink) -> BoxFuture<'static, Outcome> {
        Box::pin(async move {
            // Omnia echoes `content` only; the turn's text also reads a text part, so a
            // parts-only message is echoed too.
            sink.done(Some(&format!("Echo: {}", turn.text)), None)
                .await
                .into()
        })
    }
}

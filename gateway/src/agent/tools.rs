//! Client-side tool calls waiting on a connection: the handler registers each call it sends to
//! the client, the connection delivers what the client says about it (`tool_call_ack`,
//! `tool_result`, `tool_call_nack`), and the wait ends in a result or a rejection, never
//! silently: an unacknowledged call, one unanswered in time, and a client that goes away all
//! become a rejection with its reason, for the model to hear.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

/// What the client said about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolEvent {
    /// It has the call and is working on it.
    Ack,
    /// Its result (JSON text), or the error it ran into.
    Result {
        result: Option<String>,
        error: Option<String>,
    },
    /// It will not run the call.
    Nack { reason: String },
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolOutcome {
    /// The result as JSON text.
    Result(String),
    /// It did not run, and why.
    Rejected(String),
}

/// The calls waiting on one connection. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct ClientTools {
    pending: Arc<Mutex<Pending>>,
}

#[derive(Debug, Default)]
struct Pending {
    calls: HashMap<String, mpsc::Sender<ToolEvent>>,
    /// The connection is gone: no call can be answered any more.
    disconnected: bool,
}

/// One registered call; dropping it forgets the call.
#[derive(Debug)]
pub struct ToolWait {
    tools: ClientTools,
    call_id: String,
    events: mpsc::Receiver<ToolEvent>,
}

impl ClientTools {
    /// Registers call `call_id` before it is sent to the client, so an answer that comes back
    /// at once finds it.
    pub fn expect(&self, call_id: &str) -> ToolWait {
        // Ack, then a result, then anything the client repeats: a few slots, and a full queue
        // drops the extra (the wait reads at most an ack and an answer).
        let (sender, events) = mpsc::channel(4);
        let mut pending = self.pending.lock();
        if !pending.disconnected {
            pending.calls.insert(call_id.to_owned(), sender);
        }
        ToolWait {
            tools: self.clone(),
            call_id: call_id.to_owned(),
            events,
        }
    }

    /// Hands `event` to the call it is for; false when no such call is waiting.
    pub fn deliver(&self, call_id: &str, event: ToolEvent) -> bool {
        let pending = self.pending.lock();
        match pending.calls.get(call_id) {
            Some(sender) => {
                let _ = sender.try_send(event);
                true
            }
            None => false,
        }
    }

    /// The connection is gone: every waiting call, and every call registered from now on, ends
    /// as rejected.
    pub fn disconnect(&self) {
        let mut pending = self.pending.lock();
        pending.disconnected = true;
        // Dropping the senders ends each wait.
        pending.calls.clear();
    }
}

impl ToolWait {
    /// Waits for the call's outcome: an ack within `ack_timeout` (a result or a nack counts as
    /// one, the ack being optional), then the answer within `result_timeout` of the call.
    pub async fn outcome(mut self, ack_timeout: Duration, result_timeout: Duration) -> ToolOutcome {
        let started = tokio::time::Instant::now();
        let first = match tokio::time::timeout(ack_timeout, self.events.recv()).await {
            Err(_) => {
                return ToolOutcome::Rejected(format!(
                    "the client did not acknowledge the call within {} s",
                    ack_timeout.as_secs_f64()
                ));
            }
            Ok(None) => return disconnected(),
            Ok(Some(event)) => event,
        };
        let answer = match first {
            ToolEvent::Ack => {
                let deadline = started + result_timeout;
                loop {
                    match tokio::time::timeout_at(deadline, self.events.recv()).await {
                        Err(_) => {
                            return ToolOutcome::Rejected(format!(
                                "the client did not answer the call within {} s",
                                result_timeout.as_secs_f64()
                            ));
                        }
                        Ok(None) => return disconnected(),
                        // A repeated ack changes nothing.
                        Ok(Some(ToolEvent::Ack)) => {}
                        Ok(Some(answer)) => break answer,
                    }
                }
            }
            answer => answer,
        };
        match answer {
            ToolEvent::Result {
                error: Some(error), ..
            } => ToolOutcome::Rejected(format!("the tool failed on the client: {error}")),
            ToolEvent::Result { result, .. } => {
                ToolOutcome::Result(result.unwrap_or_else(|| "null".to_owned()))
            }
            ToolEvent::Nack { reason } if reason.is_empty() => {
                ToolOutcome::Rejected("the client declined the call".to_owned())
            }
            ToolEvent::Nack { reason } => ToolOutcome::Rejected(reason),
            ToolEvent::Ack => {
                ToolOutcome::Rejected("the client only acknowledged the call".to_owned())
            }
        }
    }
}

impl Drop for ToolWait {
    fn drop(&mut self) {
        self.tools.pending.lock().calls.remove(&self.call_id);
    }
}

fn disconnected() -> ToolOutcome {
    ToolOutcome::Rejected("the client disconnected before answering".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACK: Duration = Duration::from_secs(5);
    const RESULT: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn an_acked_call_ends_with_its_result_and_is_then_forgotten() {
        let tools = ClientTools::default();
        let wait = tools.expect("c1");
        assert!(tools.deliver("c1", ToolEvent::Ack));
        assert!(tools.deliver(
            "c1",
            ToolEvent::Result {
                result: Some(r#"{"ok":true}"#.into()),
                error: None
            }
        ));
        assert_eq!(
            wait.outcome(ACK, RESULT).await,
            ToolOutcome::Result(r#"{"ok":true}"#.into())
        );
        assert!(
            !tools.deliver("c1", ToolEvent::Ack),
            "a finished call is no longer pending"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_without_an_ack_is_accepted() {
        let tools = ClientTools::default();
        let wait = tools.expect("c1");
        tools.deliver(
            "c1",
            ToolEvent::Result {
                result: None,
                error: None,
            },
        );
        assert_eq!(
            wait.outcome(ACK, RESULT).await,
            ToolOutcome::Result("null".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_nacks_errors_and_disconnects_are_rejections_with_a_reason() {
        let tools = ClientTools::default();
        let silent = tools.expect("c1").outcome(ACK, RESULT).await;
        assert!(
            matches!(&silent, ToolOutcome::Rejected(r) if r.contains("acknowledge")),
            "{silent:?}"
        );

        let wait = tools.expect("c2");
        tools.deliver("c2", ToolEvent::Ack);
        let slow = wait.outcome(ACK, RESULT).await;
        assert!(
            matches!(&slow, ToolOutcome::Rejected(r) if r.contains("within 60 s")),
            "{slow:?}"
        );

        let wait = tools.expect("c3");
        tools.deliver(
            "c3",
            ToolEvent::Nack {
                reason: "user said no".into(),
            },
        );
        assert_eq!(
            wait.outcome(ACK, RESULT).await,
            ToolOutcome::Rejected("user said no".into())
        );

        let wait = tools.expect("c4");
        tools.deliver(
            "c4",
            ToolEvent::Result {
                result: None,
                error: Some("boom".into()),
            },
        );
        let failed = wait.outcome(ACK, RESULT).await;
        assert!(
            matches!(&failed, ToolOutcome::Rejected(r) if r.contains("boom")),
            "{failed:?}"
        );

        let wait = tools.expect("c5");
        tools.disconnect();
        let gone = wait.outcome(ACK, RESULT).await;
        assert!(
            matches!(&gone, ToolOutcome::Rejected(r) if r.contains("disconnected")),
            "{gone:?}"
        );
        let late = tools.expect("c6").outcome(ACK, RESULT).await;
        assert!(
            matches!(&late, ToolOutcome::Rejected(r) if r.contains("disconnected")),
            "{late:?}"
        );
    }
}

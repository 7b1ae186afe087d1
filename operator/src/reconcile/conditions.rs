//! Status conditions: built fresh each reconcile, keeping `lastTransitionTime` from the previous
//! status while a condition's value holds (so `kubectl describe` shows when it really changed).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// One condition as this reconcile sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub kind: &'static str,
    pub ok: bool,
    pub reason: String,
    pub message: String,
}

impl Observed {
    pub fn yes(kind: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            ok: true,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    pub fn no(kind: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            ok: false,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// The conditions to write: `observed`, each stamped with `now` unless `previous` already had it
/// with the same status.
pub fn merge(
    previous: &[Condition],
    observed: &[Observed],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    observed
        .iter()
        .map(|o| {
            let status = if o.ok { "True" } else { "False" };
            let since = previous
                .iter()
                .find(|c| c.type_ == o.kind && c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            Condition {
                type_: o.kind.to_owned(),
                status: status.to_owned(),
                reason: o.reason.clone(),
                message: o.message.clone(),
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect()
}

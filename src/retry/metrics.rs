//! The retry layer's metric handles, resolved once when the layer is built.

use metrics::{Counter, Gauge};

use crate::observe;

/// The handles of one layer's series (see [`observe`] for the names).
pub(crate) struct RetryMetrics {
    pub(crate) attempts: Counter,
    pub(crate) retries_error: Counter,
    pub(crate) retries_response: Counter,
    pub(crate) refusals: Counter,
    /// Indexed by [`GiveUp`].
    pub(crate) give_ups: [Counter; 4],
    pub(crate) budget_level: Gauge,
}

impl RetryMetrics {
    /// Looks up every handle, labelled with the layer's `name`.
    pub(crate) fn new(name: &str) -> Self {
        let name = name.to_string();
        let give_up = |reason: GiveUp| metrics::counter!(observe::RETRY_GIVE_UPS_TOTAL, "name" => name.clone(), "reason" => reason.as_str());
        Self {
            attempts: metrics::counter!(observe::RETRY_ATTEMPTS_TOTAL, "name" => name.clone()),
            retries_error: metrics::counter!(observe::RETRY_RETRIES_TOTAL, "name" => name.clone(), "reason" => "error"),
            retries_response: metrics::counter!(observe::RETRY_RETRIES_TOTAL, "name" => name.clone(), "reason" => "response"),
            refusals: metrics::counter!(observe::RETRY_BUDGET_REFUSALS_TOTAL, "name" => name.clone()),
            give_ups: [
                give_up(GiveUp::MaxAttempts),
                give_up(GiveUp::Deadline),
                give_up(GiveUp::NotReplayable),
                give_up(GiveUp::Pushback),
            ],
            budget_level: metrics::gauge!(observe::RETRY_BUDGET_LEVEL, "name" => name.clone()),
        }
    }

    /// Counts a request given up on for `reason`.
    pub(crate) fn give_up(&self, reason: GiveUp) {
        self.give_ups[reason as usize].increment(1);
    }
}

/// Why a request that failed in a retryable way was not retried further (a
/// budget refusal aside); the index into [`RetryMetrics::give_ups`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum GiveUp {
    MaxAttempts = 0,
    Deadline = 1,
    NotReplayable = 2,
    Pushback = 3,
}

impl GiveUp {
    /// The `reason` label and event field.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::MaxAttempts => "max_attempts",
            Self::Deadline => "deadline",
            Self::NotReplayable => "not_replayable",
            Self::Pushback => "pushback",
        }
    }
}

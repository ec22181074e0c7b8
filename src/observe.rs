//! What seawall tells the outside world: metric names and events.
//!
//! # Metrics
//!
//! Recorded through the [`metrics`] crate, so any exporter (Prometheus,
//! StatsD, OpenTelemetry) picks them up. Every series carries a `name` label:
//! the name given to the breaker (or other layer) in its config. Handles are
//! resolved when the breaker is built, so install the recorder first.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `seawall_breaker_calls_total` | counter | `name`, `outcome` (`success`, `failure`, `slow_success`, `slow_failure`, `ignored`) | calls recorded by the breaker |
//! | `seawall_breaker_rejections_total` | counter | `name` | calls refused while open, forced open or half-open and full |
//! | `seawall_breaker_state` | gauge | `name` | the state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only |
//! | `seawall_breaker_transitions_total` | counter | `name`, `from`, `to` | state transitions |
//! | `seawall_breaker_failure_rate` | gauge | `name` | failure rate of the window, 0 to 1, at the last failure or transition |
//! | `seawall_breaker_slow_call_rate` | gauge | `name` | slow-call rate of the window, 0 to 1, likewise |
//! | `seawall_retry_attempts_total` | counter | `name` | attempts sent by a retry layer, first attempts included |
//! | `seawall_retry_retries_total` | counter | `name`, `reason` (`error`, `response`) | retries, by what was retried: an `Err` or a retryable response |
//! | `seawall_retry_budget_refusals_total` | counter | `name` | retries the budget refused |
//! | `seawall_retry_give_ups_total` | counter | `name`, `reason` (`max_attempts`, `deadline`, `not_replayable`, `pushback`) | requests that still failed and were not retried further (budget refusals are counted above) |
//! | `seawall_retry_budget_level` | gauge | `name` | the budget after the last retry decision: retries available (ratio) or tokens (token bucket) |
//!
//! Successes are counted on per-thread stripes and published to
//! `seawall_breaker_calls_total{outcome="success"}` every 1024 successes per
//! stripe and whenever anything else is recorded, so a quiet success path
//! never touches the recorder.
//!
//! A retry layer's handles are resolved when it is built ([`RetryLayer::new`](crate::retry::RetryLayer::new)).
//!
//! # Events
//!
//! Listeners registered on a [`Breaker`](crate::breaker::Breaker) receive an
//! [`Event`] for every transition, rejection and recorded call. With no
//! listener registered, none is built and the success path does not look for
//! one. A listener that panics is caught; the breaker carries on.
//! A retry layer sends [`Event::RetryScheduled`], [`Event::RetryBudgetExhausted`]
//! and [`Event::RetryGaveUp`] to the listeners given to its config
//! ([`RetryConfigBuilder::on_event`](crate::retry::RetryConfigBuilder::on_event));
//! a first attempt that succeeds sends none.

use std::time::Duration;

use crate::breaker::State;

/// Calls recorded by a breaker, by outcome.
pub const BREAKER_CALLS_TOTAL: &str = "seawall_breaker_calls_total";
/// Calls a breaker refused.
pub const BREAKER_REJECTIONS_TOTAL: &str = "seawall_breaker_rejections_total";
/// A breaker's current state as a number (see [`State::as_gauge`]).
pub const BREAKER_STATE: &str = "seawall_breaker_state";
/// A breaker's state transitions, by `from` and `to`.
pub const BREAKER_TRANSITIONS_TOTAL: &str = "seawall_breaker_transitions_total";
/// A breaker's failure rate, 0 to 1.
pub const BREAKER_FAILURE_RATE: &str = "seawall_breaker_failure_rate";
/// A breaker's slow-call rate, 0 to 1.
pub const BREAKER_SLOW_CALL_RATE: &str = "seawall_breaker_slow_call_rate";

/// Attempts sent by a retry layer.
pub const RETRY_ATTEMPTS_TOTAL: &str = "seawall_retry_attempts_total";
/// Retries, by `reason`.
pub const RETRY_RETRIES_TOTAL: &str = "seawall_retry_retries_total";
/// Retries the budget refused.
pub const RETRY_BUDGET_REFUSALS_TOTAL: &str = "seawall_retry_budget_refusals_total";
/// Requests given up on, by `reason`.
pub const RETRY_GIVE_UPS_TOTAL: &str = "seawall_retry_give_ups_total";
/// The retry budget's level.
pub const RETRY_BUDGET_LEVEL: &str = "seawall_retry_budget_level";

/// Something that happened in a seawall component.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig, State};
/// use seawall::observe::Event;
/// use std::sync::{Arc, Mutex};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// breaker.on_event(move |event: &Event<'_>| {
///     if let Event::StateTransition { from, to, .. } = event {
///         log.lock().unwrap().push((*from, *to));
///     }
/// });
/// breaker.force_open();
/// assert_eq!(*seen.lock().unwrap(), vec![(State::Closed, State::ForcedOpen)]);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A breaker changed state. Emitted once per transition, by the thread
    /// that made it.
    StateTransition {
        /// The breaker's name.
        name: &'a str,
        /// The state it left.
        from: State,
        /// The state it entered.
        to: State,
    },
    /// A breaker refused a call.
    Rejected {
        /// The breaker's name.
        name: &'a str,
        /// The state that refused it.
        state: State,
        /// How long until the breaker admits a probe, if known.
        retry_after: Option<Duration>,
    },
    /// A breaker recorded the outcome of a call.
    CallRecorded {
        /// The breaker's name.
        name: &'a str,
        /// How the call was classified.
        outcome: crate::classify::Outcome,
        /// Whether it took longer than the slow-call threshold.
        slow: bool,
        /// How long it took, when the breaker measured it.
        duration: Option<Duration>,
    },
    /// A retry layer will retry a request after `delay`.
    RetryScheduled {
        /// The retry layer's name.
        name: &'a str,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// `"error"` or `"response"`: what was retried.
        reason: &'static str,
        /// Whether the server chose the delay (`Retry-After`, gRPC pushback).
        pushback: bool,
    },
    /// A retry layer's budget refused a retry.
    RetryBudgetExhausted {
        /// The retry layer's name.
        name: &'a str,
        /// The attempt that failed.
        attempt: u32,
    },
    /// A retry layer gave up on a request that failed in a retryable way.
    RetryGaveUp {
        /// The retry layer's name.
        name: &'a str,
        /// Attempts made.
        attempts: u32,
        /// `"max_attempts"`, `"deadline"`, `"not_replayable"` or `"pushback"`.
        reason: &'static str,
    },
}

/// A registered event listener.
pub(crate) type Listener = std::sync::Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Calls each listener with `event`; a panicking listener is caught and skipped.
pub(crate) fn emit(listeners: &[Listener], event: &Event<'_>) {
    for listener in listeners {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener(event)));
    }
}

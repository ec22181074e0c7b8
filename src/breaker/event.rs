//! What a breaker tells its listeners.

use std::time::Duration;

use crate::classify::Outcome;

use super::state::State;

/// Something that happened in a breaker, for the listeners registered with
/// [`Breaker::on_event`](super::Breaker::on_event) (every event) and
/// [`Breaker::on_state_transition`](super::Breaker::on_state_transition)
/// (transitions only).
///
/// An event borrows from the breaker and lives only for the listener's call:
/// copy out what you keep. With no listener registered, none is built.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig, BreakerEvent, State};
/// use std::sync::{Arc, Mutex};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// breaker.on_event(move |event: &BreakerEvent<'_>| {
///     if let BreakerEvent::StateTransition { from, to, .. } = event {
///         log.lock().unwrap().push((*from, *to));
///     }
/// });
/// breaker.force_open();
/// assert_eq!(*seen.lock().unwrap(), vec![(State::Closed, State::ForcedOpen)]);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum BreakerEvent<'a> {
    /// The breaker changed state. Emitted once per transition, by the thread
    /// that made it.
    StateTransition {
        /// The breaker's name.
        name: &'a str,
        /// The state it left.
        from: State,
        /// The state it entered.
        to: State,
    },
    /// The breaker refused a call.
    Rejected {
        /// The breaker's name.
        name: &'a str,
        /// The state that refused it.
        state: State,
        /// How long until the breaker admits a probe, if known.
        retry_after: Option<Duration>,
    },
    /// The breaker recorded the outcome of a call.
    CallRecorded {
        /// The breaker's name.
        name: &'a str,
        /// How the call was classified.
        outcome: Outcome,
        /// Whether it took longer than the slow-call threshold.
        slow: bool,
        /// How long it took, when the breaker measured it.
        duration: Option<Duration>,
    },
}

/// A listener to a breaker's events, as the breaker keeps it.
pub(crate) type BreakerListener = dyn Fn(&BreakerEvent<'_>) + Send + Sync;

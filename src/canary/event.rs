//! What a rollout tells its listeners.

use super::decision::{Analysis, CanaryDecision, Reason};
use super::state::Phase;

/// Something a [`Canary`](super::Canary) did, as heard by the listeners given
/// to [`Canary::on_event`](super::Canary::on_event).
///
/// Decisions are rare (a few per step), so each carries the numbers it was
/// made on; requests never build an event.
///
/// ```
/// use seawall::canary::{Canary, CanaryConfig, CanaryDecision, CanaryEvent, Reason};
/// use std::sync::{Arc, Mutex};
///
/// let rollout = Canary::new(CanaryConfig::default());
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// rollout.on_event(move |event: &CanaryEvent<'_>| {
///     if let CanaryEvent::Decided { decision, reason, to_weight, .. } = event {
///         log.lock().unwrap().push((*decision, *reason, *to_weight));
///     }
/// });
/// rollout.roll_back();
/// assert_eq!(*seen.lock().unwrap(), [(CanaryDecision::RollBack, Reason::Manual, 0)]);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CanaryEvent<'a> {
    /// The rollout made a decision: promoted, rolled back, paused or resumed.
    Decided {
        /// The canary's name.
        name: &'a str,
        /// What it did.
        decision: CanaryDecision,
        /// Why.
        reason: Reason,
        /// The candidate's weight before, in basis points.
        from_weight: u16,
        /// The candidate's weight after, in basis points.
        to_weight: u16,
        /// The phase after.
        phase: Phase,
        /// The numbers of the step the decision ended (or looked at).
        analysis: &'a Analysis,
    },
}

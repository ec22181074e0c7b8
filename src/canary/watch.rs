//! The candidate's own health, watched beside its numbers.

use crate::breaker::{Breaker, State};

use super::decision::Reason;

/// A source of the candidate's health.
pub(crate) enum HealthWatch {
    Breaker(Breaker),
    #[cfg(feature = "health")]
    Component(Box<dyn crate::health::Component>),
}

/// Why the candidate's health, as `sources` tell it, calls for a roll-back,
/// if it does.
pub(crate) fn unhealthy(sources: &[HealthWatch]) -> Option<Reason> {
    for source in sources {
        match source {
            HealthWatch::Breaker(breaker) => {
                if breaker_is_open(breaker.state()) {
                    return Some(Reason::BreakerOpen);
                }
            }
            #[cfg(feature = "health")]
            HealthWatch::Component(component) => {
                if component.status() == Some(crate::health::Status::Down) {
                    return Some(Reason::Unhealthy);
                }
            }
        }
    }
    None
}

/// Whether a breaker in `state` calls for a roll-back.
pub(crate) fn breaker_is_open(state: State) -> bool {
    matches!(state, State::Open | State::ForcedOpen)
}

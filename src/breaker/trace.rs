//! The breaker's `tracing` events (feature `tracing`), listed with their
//! fields in [`observe`](crate::observe#tracing).

use std::time::Duration;

use tracing::Level;

use crate::observe::trace_event;

use super::state::State;

const TARGET: &str = "seawall::breaker";

/// A transition, told by the thread that made it: `WARN` into a state that
/// refuses calls (open, forced open), `INFO` otherwise.
pub(super) fn transition(name: &str, from: State, to: State) {
    let level = match to {
        State::Open | State::ForcedOpen => Level::WARN,
        _ => Level::INFO,
    };
    trace_event!(
        TARGET,
        level,
        "seawall.breaker.name" = name,
        "seawall.breaker.state.from" = from.as_str(),
        "seawall.breaker.state.to" = to.as_str(),
        "circuit breaker changed state"
    );
}

/// A refused call, at `INFO`: one per call while open, so a `WARN` filter
/// shows the transitions of an outage and not every call refused in it.
pub(super) fn rejected(name: &str, state: State, retry_after: Option<Duration>) {
    trace_event!(
        TARGET,
        Level::INFO,
        "seawall.breaker.name" = name,
        "seawall.breaker.state" = state.as_str(),
        "seawall.breaker.retry_after_seconds" = retry_after.map(|wait| wait.as_secs_f64()),
        "error.type" = crate::ErrorKind::BreakerOpen.as_str(),
        "circuit breaker rejected a call"
    );
}
